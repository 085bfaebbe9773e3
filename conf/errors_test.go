package conf

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func parseMasterErr(name string, data []byte) error { _, err := ParseMaster(name, data); return err }
func parseWorkerErr(name string, data []byte) error { _, err := ParseWorker(name, data); return err }
func parseJobsErr(name string, data []byte) error   { _, err := ParseJobs(name, data); return err }

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestErrors(t *testing.T) {
	masterFile := readTestdata(t, "master.toml")
	workerFile := readTestdata(t, "worker.toml")
	jobsFile := readTestdata(t, "jobs.toml")
	kinds := map[string]func(string, []byte) error{
		"master.toml": parseMasterErr, "worker.toml": parseWorkerErr, "jobs.toml": parseJobsErr,
	}
	for _, c := range []struct {
		file, src string
		want      string // the whole message when it starts with the file name, else a substring
	}{
		// Master.
		{"master.toml", strings.Replace(masterFile, `"1s"`, `"1x"`, 1),
			`master.toml:4: heartbeat_interval: invalid duration "1x" (use e.g. "500ms", "3s", "1m")`},
		{"master.toml", masterFile + "lisen = \"x\"\n", `master.toml:9: lisen: unknown key (did you mean "listen"?)`},
		{"master.toml", "LISTEN = \"x\"\n", `master.toml:1: LISTEN: unknown key (did you mean "listen"?)`},
		{"master.toml", "\n[server]\nport = 1\n", `master.toml:2: server: unknown key`},
		{"master.toml", "store = \"sqlite\"\n", `master.toml:1: store: invalid value "sqlite" (want "bolt" or "memory")`},
		{"master.toml", "\nclient_cancel = \"mine\"\n", `master.toml:2: client_cancel: invalid value "mine" (want "own" or "any")`},
		{"master.toml", "\nlog_level = \"verbose\"\n", `master.toml:2: log_level: invalid value "verbose" (want "debug", "info", "warn" or "error")`},
		{"master.toml", "log_format = \"xml\"\n", `master.toml:1: log_format: invalid value "xml" (want "text" or "json")`},
		{"master.toml", "assign_batch = \"64\"\n", `master.toml:1: assign_batch: want an integer, got string`},
		{"master.toml", "assign_batch = 1.5\n", `master.toml:1: assign_batch: want an integer, got float`},
		{"master.toml", "assign_batch = -1\n", `master.toml:1: assign_batch: must not be negative, got -1`},
		{"master.toml", "gc_percent = 20000\n", `master.toml:1: gc_percent: 20000 is out of range 0..10000`},
		{"master.toml", "retry_backoff = 5\n", `master.toml:1: retry_backoff: want a duration string such as "30s", got integer`},
		{"master.toml", "max_backoff = \"-1s\"\n", `master.toml:1: max_backoff: must not be negative, got "-1s"`},
		{"master.toml", "listen = 7070\n", `master.toml:1: listen: want a string, got integer`},
		{"master.toml", "jobs_file = [\"a\"]\n", `master.toml:1: jobs_file: want a string, got array`},
		{"master.toml", "heartbeat_interval = \"2s\"\ndead_after = \"2s\"\n",
			`master.toml:2: dead_after: 2s must be more than heartbeat_interval (2s)`},
		{"master.toml", "dead_after = \"1s\"\n", `master.toml:1: dead_after: 1s must be more than heartbeat_interval (1s)`},
		{"master.toml", "listen = \n", `master.toml:1:10: expected value but found '\n' instead`},
		{"master.toml", "listen = \"a\"\nlisten = \"b\"\n", `master.toml:2:1: Key 'listen' has already been defined.`},
		{"master.toml", "data_dir = \"\xff\"\n", `master.toml:1:12: invalid UTF-8 byte: 0xff`},
		{"master.toml", "allowed_hosts = \"x\"\n", `master.toml:1: allowed_hosts: want an array of strings, got string`},
		{"master.toml", "allowed_hosts = [1]\n", `master.toml:1: allowed_hosts[1]: want a string, got integer`},
		{"master.toml", "\nallowed_hosts = [\"ok\",\n  \"http://x:1\"]\n", `master.toml:3: allowed_hosts[2]: "http://x:1": want a host name`},
		{"master.toml", "worker_hosts = \"10.0.0.5\"\n", `master.toml:1: worker_hosts: want an array of strings, got string`},
		{"master.toml", "\nworker_hosts = [\"10.0.0.5\",\n  \"http://10.0.0.6:7071/x\"]\n",
			`master.toml:3: worker_hosts[2]: "http://10.0.0.6:7071/x": want "*", an IP address, a CIDR prefix`},
		{"master.toml", "worker_hosts = [\"w1:7071\"]\n", `master.toml:1: worker_hosts[1]: "w1:7071": want "*", an IP address, a CIDR prefix`},
		{"master.toml", "worker_hosts = [\"10.0.0.0/33\"]\n", `master.toml:1: worker_hosts[1]: "10.0.0.0/33": not a CIDR prefix`},
		// Worker.
		{"worker.toml", "allowed_hosts = [\"x:7071\"]\n", `worker.toml:1: allowed_hosts[1]: "x:7071": want a host name`},
		{"worker.toml", strings.Replace(workerFile, "argv =", "argvv =", 1),
			`worker.toml:7: commands.sleep.argvv: unknown key (did you mean "argv"?)`},
		{"worker.toml", "slots = \"4\"\n", `worker.toml:1: slots: want an integer, got string`},
		{"worker.toml", "\nslots = -2\n", `worker.toml:2: slots: must not be negative, got -2`},
		{"worker.toml", "output_limit = -1\n", `worker.toml:1: output_limit: must not be negative`},
		{"worker.toml", "kill_grace = \"5\"\n", `worker.toml:1: kill_grace: invalid duration "5"`},
		{"worker.toml", "fence = \"no\"\n", `worker.toml:1: fence: want true or false, got string`},
		{"worker.toml", "log_level = \"trace\"\n", `worker.toml:1: log_level: invalid value "trace"`},
		{"worker.toml", "[commands.sleep]\nargv = []\n", `worker.toml:2: commands.sleep.argv: must not be empty`},
		{"worker.toml", "[commands.sleep]\nargv = [\"\", \"x\"]\n", `worker.toml:2: commands.sleep.argv[1]: empty program name`},
		{"worker.toml", "[commands.sleep]\ntimeout = \"1s\"\n", `worker.toml:1: commands.sleep.argv: missing`},
		{"worker.toml", "[commands.sleep]\nargv = [\n  \"sleep\",\n  3,\n]\n", `worker.toml:4: commands.sleep.argv[2]: want a string, got integer`},
		{"worker.toml", "[commands.sleep]\nargv = \"sleep 1\"\n", `worker.toml:2: commands.sleep.argv: want an array of strings, got string`},
		{"worker.toml", "[commands.sleep]\nargv = [\"sleep\"]\ntimeout = \"forever\"\n", `worker.toml:3: commands.sleep.timeout: invalid duration "forever"`},
		{"worker.toml", "commands = 3\n", `worker.toml:1: commands: want a table, got integer`},
		{"worker.toml", "[commands]\nsleep = \"sleep\"\n", `worker.toml:2: commands.sleep: want a table, got string`},
		{"worker.toml", "\n[commands.\"a b\"]\nargv = [\"x\"]\n", `worker.toml:2: commands."a b": worker: command name "a b"`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\", \"{oops\"]\n", `worker.toml:1: commands.e: worker: command "e": argv[1] "{oops": bad placeholder`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\n[commands.e.env]\nDROVER_TOKEN = \"x\"\n", `worker.toml:1: commands.e: worker: command "e": env name "DROVER_TOKEN": DROVER_* variables are set by the worker`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\n[commands.e.env]\nA = 1\n", `worker.toml:4: commands.e.env.A: want a string, got integer`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\nenv = { A = \"{x\" }\n", `worker.toml:1: commands.e: worker: command "e": env A "{x": bad placeholder`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\nfail_if = [\"(\"]\n", `worker.toml:1: commands.e: worker: command "e": fail_if[0] "(": error parsing regexp`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\npermanent_exit_codes = [2, 256]\n", `worker.toml:3: commands.e.permanent_exit_codes[2]: 256 is out of range 1..255`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\npermanent_exit_codes = [2]\nretry_exit_codes = [2]\n", `worker.toml:1: commands.e: worker: command "e": exit code 2 is in both permanent_exit_codes and retry_exit_codes`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\nkind = \"spider\"\n", `worker.toml:3: commands.e.kind: invalid value "spider"`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\nmin_items = 3\n", `worker.toml:1: commands.e: worker: command "e": min_items and max_errors need kind = "scrapy"`},
		{"worker.toml", "[commands.e]\nargv = [\"echo\"]\nmax_errors = -1\nkind = \"scrapy\"\n", `worker.toml:3: commands.e.max_errors: must not be negative`},
		{"worker.toml", "name = \"\"\"\n[commands.x]\nfoo = 1\n\"\"\"\nslot = 1\n", `worker.toml:5: slot: unknown key (did you mean "slots"?)`},
		{"worker.toml", "# crlf\r\nslots = 1\r\nslotz = 2\r\n", `worker.toml:3: slotz: unknown key`},
		{"worker.toml", "[commands.sleep\nargv = []\n", `worker.toml:1:16: expected '.' or ']' to end table name`},
		// Jobs.
		{"jobs.toml", strings.Replace(jobsFile, "priority = 5", "priority = \"5\"", 1),
			`jobs.toml:5: job[1].priority: want an integer, got string`},
		{"jobs.toml", jobsFile + "\n[[job]]\ntype = \"a\"\nprio = 1\n", `jobs.toml:11: job[2].prio: unknown key (did you mean "priority"?)`},
		{"jobs.toml", jobsFile + "\n[[job]]\nargs = { a = \"1\" }\n", `jobs.toml:9: job[2].type: missing: every job needs a type`},
		{"jobs.toml", "[[job]]\ntype = \"\"\n", `jobs.toml:1: job[1]: jobs: spec has no type`},
		{"jobs.toml", "[[job]]\ntype = 5\n", `jobs.toml:2: job[1].type: want a string, got integer`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\nretries = 101\n", `jobs.toml:3: job[1].retries: 101 is out of range 0..100`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\ntimeout = \"10\"\n", `jobs.toml:3: job[1].timeout: invalid duration "10"`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\nargs = { when = 2024-01-01 }\n", `jobs.toml:3: job[1].args.when: want a string, number or boolean, got datetime`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\n[job.args]\nx = \"1\"\ny = [1]\n", `jobs.toml:5: job[1].args.y: want a string, number or boolean, got array`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\nargs = \"x=1\"\n", `jobs.toml:3: job[1].args: want a table, got string`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\nargs = { \"\" = \"1\" }\n", `jobs.toml:1: job[1]: jobs: arg with an empty name`},
		{"jobs.toml", "[[jobs]]\ntype = \"a\"\n", `jobs.toml:1: jobs: unknown key (did you mean "job"?)`},
		{"jobs.toml", "job = \"a\"\n", `jobs.toml:1: job: want an array of tables ([[job]]), got string`},
		{"jobs.toml", "job = [{type = \"a\"},\n  {typo = \"b\"}]\n", `jobs.toml:2: job[2].typo: unknown key (did you mean "type"?)`},
		{"jobs.toml", "job = [{type = \"a\"}, 3]\n", `jobs.toml:1: job[2]: want a table, got integer`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\nkey = \"k\"\n[[job]]\ntype = \"b\"\nkey = \"k\"\n", `jobs.toml:6: job[2].key: key "file:k" is also the key of job[1]`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\nkey = \"\"\n", `jobs.toml:3: job[1].key: must not be empty`},
		{"jobs.toml", "[[job]]\nname = \"n\"\ntype = \"a\"\nschedule = \"@every 5s\"\n[[job]]\nname = \"n\"\ntype = \"b\"\nschedule = \"@daily\"\n",
			`jobs.toml:6: job[2].name: schedule "n" is also the name of job[1]`},
		{"jobs.toml", "[[job]]\ntype = \"a\"\ntype = \"b\"\n", `jobs.toml:3:1: Key 'job.type' has already been defined.`},
	} {
		parse := kinds[c.file]
		err := parse(c.file, []byte(c.src))
		if err == nil {
			t.Errorf("%s:\n%s\nno error, want %q", c.file, c.src, c.want)
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) || ce.File != c.file || ce.Line == 0 {
			t.Errorf("%q: error %T %+v is not an *Error with file and line", c.want, err, err)
		}
		if got := err.Error(); !strings.Contains(got, c.want) || (strings.HasSuffix(c.want, ")") && got != c.want) {
			t.Errorf("%s:\n%s\n got %q\nwant %q", c.file, c.src, got, c.want)
		}
	}
}

// TestFirstError checks that, of several problems, the one on the first
// line is reported, every time (the decoder visits keys in map order).
func TestFirstError(t *testing.T) {
	const src = `
slots = "x"
[commands.a]
argv = ["a"]
timeout = "bad"
[commands.b]
argv = ["b"]
bogus = 1
[commands.c]
argv = [1]
`
	for range 50 {
		_, err := ParseWorker("w.toml", []byte(src))
		if err == nil || err.Error() != "w.toml:2: slots: want an integer, got string" {
			t.Fatalf("got %v", err)
		}
	}
	const jobsSrc = "[[job]]\ntype = 1\n[[job]]\nprio = 1\n[[job]]\ntype = \"a\"\nretries = -1\n"
	for range 50 {
		if _, err := ParseJobs("j.toml", []byte(jobsSrc)); err == nil || !strings.HasPrefix(err.Error(), "j.toml:2: job[1].type:") {
			t.Fatalf("got %v", err)
		}
	}
}

// TestLines checks the line of keys in the less common TOML forms.
func TestLines(t *testing.T) {
	const src = `# header
a = 'it''s' # comment with [brackets] and "quotes"
b = """
[not.a.table]
c = 1
"""
"quoted.key" = { x = 1, y = [
  1,
  { z = 2 },
] }
t = {
  u = 1,
}
[[arr]]
k = 1
[arr.sub]
m = 1
[[arr]]
k = '''
x'''
[arr.sub]
m = 2
[[arr.sub.deep]]
n = 1
dotted . "key\u0041" = 1
`
	lines := indexLines(src)
	for _, c := range []struct {
		p    path
		line int
	}{
		{path{"a"}, 2}, {path{"b"}, 3}, {path{"c"}, 0}, {path{"not"}, 0},
		{path{"quoted.key"}, 7}, {path{"quoted.key", "x"}, 7}, {path{"quoted.key", "y"}.index(1), 9},
		{path{"quoted.key", "y"}.index(1).key("z"), 9}, {path{"t", "u"}, 12},
		{path{"arr"}, 14}, {path{"arr"}.index(0), 14}, {path{"arr"}.index(0).key("k"), 15},
		{path{"arr"}.index(0).key("sub", "m"), 17}, {path{"arr"}.index(1), 18},
		{path{"arr"}.index(1).key("k"), 19}, {path{"arr"}.index(1).key("sub"), 21},
		{path{"arr"}.index(1).key("sub", "m"), 22},
		{path{"arr"}.index(1).key("sub").key("deep").index(0).key("n"), 24},
		{path{"arr"}.index(1).key("sub").key("deep").index(0).key("dotted", "keyA"), 25},
	} {
		if got := lines[c.p.id()]; got != c.line {
			t.Errorf("line of %s = %d, want %d", c.p, got, c.line)
		}
	}
	if got := (path{"quoted.key", "y"}.index(1).key("z")).String(); got != `"quoted.key".y[2].z` {
		t.Errorf("path String = %s", got)
	}
}
