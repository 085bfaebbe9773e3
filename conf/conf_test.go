package conf

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

var hashKey = regexp.MustCompile(`^file:[0-9a-f]{64}#[0-9]+$`)

// clearEnv makes the DROVER_* variables empty, which Load* ignore.
func clearEnv(t *testing.T) {
	for _, k := range []string{EnvMaster, EnvListen, EnvDataDir, EnvToken, EnvMasterListen, EnvMasterDataDir, EnvMasterToken,
		EnvWorkerListen, EnvWorkerToken} {
		t.Setenv(k, "")
	}
}

func TestLoadExamples(t *testing.T) {
	clearEnv(t)
	m, err := LoadMaster("testdata/master.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Config.Jobs) != 1 || !hashKey.MatchString(m.Config.Jobs[0].Key) || !strings.HasSuffix(m.Config.Jobs[0].Key, "#0") {
		t.Fatalf("jobs = %+v", m.Config.Jobs)
	}
	wantJob := jobs.Spec{Type: "sleep", Args: map[string]string{"seconds": "1"}, Priority: 5, Retries: 3,
		Timeout: 10 * time.Second, Key: m.Config.Jobs[0].Key}
	want := &Master{
		Config: master.Config{
			Listen: "127.0.0.1:7070", DataDir: "./drover-data",
			HeartbeatInterval: time.Second, DeadAfter: 3 * time.Second,
			Jobs: []jobs.Spec{wantJob},
		},
		JobsFile: filepath.Join("testdata", "jobs.toml"), LogLevel: "info", LogFormat: "text",
		jobsFileLine: 6,
		sources:      sources{file: "testdata/master.toml", lines: map[string]int{"listen": 2, "data_dir": 3}},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("LoadMaster:\n got %+v\nwant %+v", m, want)
	}

	w, err := LoadWorker("testdata/worker.toml")
	if err != nil {
		t.Fatal(err)
	}
	wantW := &Worker{Config: worker.Config{
		Master: "127.0.0.1:7070", Listen: "127.0.0.1:0", Name: "worker-a", Slots: 4,
		Commands: map[string]worker.Command{"sleep": {Argv: []string{"sleep", "{seconds}"}, Timeout: 30 * time.Second}},
	}, sources: sources{file: "testdata/worker.toml", lines: map[string]int{"master": 2, "listen": 3}}}
	if !reflect.DeepEqual(w, wantW) {
		t.Errorf("LoadWorker:\n got %+v\nwant %+v", w, wantW)
	}

	specs, err := LoadJobs("testdata/jobs.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(specs, []jobs.Spec{wantJob}) {
		t.Errorf("LoadJobs: %+v", specs)
	}
}

func TestParseAllKeys(t *testing.T) {
	m, err := ParseMaster("m.toml", []byte(`
listen = ":7000"
data_dir = "/var/lib/drover"
store = "memory"
heartbeat_interval = "500ms"
dead_after = "2s"
retry_backoff = "1.5s"
max_backoff = "1m"
assign_batch = 16
gc_percent = 150
jobs_file = "j.toml"
log_level = "debug"
log_format = "json"
allowed_hosts = ["drover.example.com", "*"]
worker_hosts = ["10.0.0.5", "10.1.0.0/16", "crawler-*.internal", "fd00::7"]
client_cancel = "own"
`))
	if err != nil {
		t.Fatal(err)
	}
	wantM := master.Config{Listen: ":7000", DataDir: "/var/lib/drover", Store: "memory",
		HeartbeatInterval: 500 * time.Millisecond, DeadAfter: 2 * time.Second,
		RetryBackoff: 1500 * time.Millisecond, MaxBackoff: time.Minute, AssignBatch: 16, GCPercent: 150,
		AllowedHosts: []string{"drover.example.com", "*"},
		WorkerHosts:  []string{"10.0.0.5", "10.1.0.0/16", "crawler-*.internal", "fd00::7"}, ClientCancel: master.ClientCancelOwn}
	if !reflect.DeepEqual(m.Config, wantM) || m.JobsFile != "j.toml" || m.LogLevel != "debug" || m.LogFormat != "json" {
		t.Errorf("ParseMaster: %+v", m)
	}

	w, err := ParseWorker("w.toml", []byte(`
master = "10.0.0.1:7070"
listen = "0.0.0.0:7071"
advertise = "10.0.0.2:7071"
name = "w"
slots = 8
output_limit = 1024
kill_grace = "2s"
shutdown_grace = "1m"
report_delay = "1ms"
log_dir = "/var/log/drover-jobs"
log_max_bytes = 2048
log_max_age = "48h"
fence = false
identity = "crawler-1"
log_level = "warn"
log_format = "text"
allowed_hosts = ["w.example.com"]

[commands.echo]
argv = ["echo", "{msg}"]
dir = "/tmp/{sub}"

[commands."fetch.url"]
argv = [
  "curl",   # a comment
  "{url}",
]
timeout = "1m30s"

[commands.crawl]
argv = ["scrapy", "crawl", "{spider}", "-a", "allow={allow:}", "-s", "DEPTH_LIMIT={depth:2}"]
kind = "scrapy"
min_items = 5
max_errors = 3
fail_if = ["Traceback", "^ERROR:"]
permanent_exit_codes = [2]
retry_exit_codes = [1, 3]
env = { SCRAPY_FEED = "out/{job_id}-{attempt}.jl", LANG = "C.UTF-8" }
`))
	if err != nil {
		t.Fatal(err)
	}
	wantW := worker.Config{Master: "10.0.0.1:7070", Listen: "0.0.0.0:7071", Advertise: "10.0.0.2:7071",
		AllowedHosts: []string{"w.example.com"}, Name: "w", Slots: 8, OutputLimit: 1024, KillGrace: 2 * time.Second, ShutdownGrace: time.Minute,
		ReportDelay: time.Millisecond, LogDir: "/var/log/drover-jobs", LogMaxBytes: 2048, LogMaxAge: 48 * time.Hour,
		NoFence: true, Identity: "crawler-1",
		Commands: map[string]worker.Command{
			"echo":      {Argv: []string{"echo", "{msg}"}, Dir: "/tmp/{sub}"},
			"fetch.url": {Argv: []string{"curl", "{url}"}, Timeout: 90 * time.Second},
			"crawl": {Argv: []string{"scrapy", "crawl", "{spider}", "-a", "allow={allow:}", "-s", "DEPTH_LIMIT={depth:2}"},
				Kind: worker.KindScrapy, MinItems: 5, MaxErrors: 3, FailIf: []string{"Traceback", "^ERROR:"},
				PermanentExitCodes: []int{2}, RetryExitCodes: []int{1, 3},
				Env: map[string]string{"SCRAPY_FEED": "out/{job_id}-{attempt}.jl", "LANG": "C.UTF-8"}},
		}}
	if !reflect.DeepEqual(w.Config, wantW) || w.LogLevel != "warn" || w.LogFormat != "text" {
		t.Errorf("ParseWorker: %+v", w)
	}
}

func TestJobArgs(t *testing.T) {
	specs, err := ParseJobs("j.toml", []byte(`
[[job]]
type = "t"
group = "g"
args = { s = "x", i = 42, neg = -7, f = 0.5, big = 1e6, b = true }
[job.args.more]
`))
	if err == nil {
		t.Fatalf("a table in args: no error, %+v", specs)
	}
	specs, err = ParseJobs("j.toml", []byte(`
[[job]]
type = "t"
group = "g"
[job.args]
s = "x"
i = 42
neg = -7
f = 0.5
big = 1e6
b = true
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s": "x", "i": "42", "neg": "-7", "f": "0.5", "big": "1000000", "b": "true"}
	if !reflect.DeepEqual(specs[0].Args, want) || specs[0].Group != "g" {
		t.Errorf("spec = %+v", specs[0])
	}
}

func TestStableKeys(t *testing.T) {
	const base = `
[[job]]
type = "a"
args = { x = "1", y = "2" }
timeout = "10s"

[[job]]
type = "a"
args = { x = "1", y = "2" }
timeout = "10s"

[[job]]
type = "b"

[[job]]
type = "c"
key = "nightly"
`
	keys := func(src string) []string {
		t.Helper()
		specs, err := ParseJobs("j.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range specs {
			out = append(out, s.Key)
		}
		return out
	}
	k1, k2 := keys(base), keys(base)
	if !reflect.DeepEqual(k1, k2) {
		t.Fatalf("two parses differ: %v %v", k1, k2)
	}
	for _, k := range k1[:3] {
		if !hashKey.MatchString(k) {
			t.Errorf("key %q is not file:<sha256>#n", k)
		}
	}
	if !strings.HasSuffix(k1[0], "#0") || !strings.HasSuffix(k1[1], "#1") || k1[0][:len(k1[0])-2] != k1[1][:len(k1[1])-2] {
		t.Errorf("duplicates: %q %q, want the same hash with #0 and #1", k1[0], k1[1])
	}
	if k1[2] == k1[0] || !strings.HasSuffix(k1[2], "#0") {
		t.Errorf("distinct spec: %q", k1[2])
	}
	if k1[3] != "file:nightly" {
		t.Errorf("explicit key: %q", k1[3])
	}

	// The same content written differently has the same keys.
	const same = `
[[job]]
timeout = "10000ms"
type = "a"
[job.args]
y = "2"
x = 1

[[job]]
type = 'a'
args.x = "1"
args.y = "2"
timeout = "10s"

[[job]]
type = "b"
priority = 0

[[job]]
key = "nightly"
type = "c"
`
	if got := keys(same); !reflect.DeepEqual(got, k1) {
		t.Errorf("rewritten file: keys %v, want %v", got, k1)
	}

	// Every field counts; editing one entry changes only its key, and its
	// twin becomes the first of its kind.
	for _, e := range []struct{ old, new string }{
		{`type = "a"`, `type = "b"`},
		{`y = "2" }`, `y = "3" }`},
		{`, y = "2" }`, ` }`},
		{`timeout = "10s"`, `timeout = "11s"`},
		{`timeout = "10s"`, "timeout = \"10s\"\npriority = 1"},
		{`timeout = "10s"`, "timeout = \"10s\"\nretries = 1"},
		{`timeout = "10s"`, "timeout = \"10s\"\ngroup = \"g\""},
	} {
		got := keys(strings.Replace(base, e.old, e.new, 1))
		if got[0] == k1[0] || got[0] == k1[1] {
			t.Errorf("edit %q: key of the edited job unchanged: %q", e.new, got[0])
		}
		if !reflect.DeepEqual(got[1:], append([]string{k1[0]}, k1[2:]...)) {
			t.Errorf("edit %q: other keys %v, want %v", e.new, got[1:], append([]string{k1[0]}, k1[2:]...))
		}
	}
}

func TestJobsFileRelative(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "etc")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, s string) string {
		p := filepath.Join(sub, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("jobs.toml", "[[job]]\ntype = \"x\"\n")
	mp := write("master.toml", "jobs_file = \"jobs.toml\"\n")
	m, err := LoadMaster(mp)
	if err != nil {
		t.Fatal(err)
	}
	if m.JobsFile != filepath.Join(sub, "jobs.toml") || len(m.Config.Jobs) != 1 || m.Config.Jobs[0].Type != "x" {
		t.Errorf("relative jobs_file: %+v", m)
	}

	abs := write("abs.toml", "jobs_file = \""+filepath.Join(sub, "jobs.toml")+"\"\n")
	if m, err = LoadMaster(abs); err != nil || len(m.Config.Jobs) != 1 {
		t.Errorf("absolute jobs_file: %v %+v", err, m)
	}

	missing := write("missing.toml", "# jobs\njobs_file = \"nope.toml\"\n")
	if _, err = LoadMaster(missing); err == nil || !strings.Contains(err.Error(), "missing.toml:2: jobs_file: ") {
		t.Errorf("missing jobs file: %v", err)
	}

	write("bad.toml", "[[job]]\ntype = 3\n")
	badRef := write("badref.toml", "jobs_file = \"bad.toml\"\n")
	if _, err = LoadMaster(badRef); err == nil || !strings.Contains(err.Error(), "bad.toml:2: job[1].type: want a string") {
		t.Errorf("bad jobs file: %v", err)
	}

	if _, err = LoadMaster(filepath.Join(dir, "none.toml")); err == nil {
		t.Error("missing master file: no error")
	}
}

func TestEmptyPath(t *testing.T) {
	clearEnv(t)
	m, err := LoadMaster("")
	if err != nil || !reflect.DeepEqual(m, &Master{}) {
		t.Errorf("LoadMaster(\"\") = %+v, %v", m, err)
	}
	w, err := LoadWorker("")
	if err != nil || !reflect.DeepEqual(w, &Worker{}) {
		t.Errorf("LoadWorker(\"\") = %+v, %v", w, err)
	}
	for _, src := range []string{"", "# nothing\n"} {
		if m, err := ParseMaster("m.toml", []byte(src)); err != nil || !reflect.DeepEqual(m, &Master{}) {
			t.Errorf("ParseMaster(%q) = %+v, %v", src, m, err)
		}
		if specs, err := ParseJobs("j.toml", []byte(src)); err != nil || len(specs) != 0 {
			t.Errorf("ParseJobs(%q) = %+v, %v", src, specs, err)
		}
	}
}

func TestLogger(t *testing.T) {
	l, err := Logger("", "")
	if err != nil || l.Level != logrus.InfoLevel || l.Out != os.Stderr {
		t.Fatalf("Logger defaults: %v %+v", err, l)
	}
	if _, ok := l.Formatter.(*logrus.TextFormatter); !ok {
		t.Errorf("default formatter %T", l.Formatter)
	}
	l, err = Logger("debug", "json")
	if err != nil || l.Level != logrus.DebugLevel {
		t.Fatalf("Logger(debug, json): %v", err)
	}
	if _, ok := l.Formatter.(*logrus.JSONFormatter); !ok {
		t.Errorf("json formatter %T", l.Formatter)
	}
	for _, c := range []struct{ level, format, want string }{
		{"verbose", "", `log_level: invalid value "verbose"`},
		{"", "xml", `log_format: invalid value "xml"`},
	} {
		if _, err := Logger(c.level, c.format); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Logger(%q, %q) = %v, want %q", c.level, c.format, err, c.want)
		}
	}
}
