package conf

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
)

var fuzzSeeds = []string{
	"",
	"[[job]]\ntype = \"sleep\"\nargs = { seconds = \"1\" }\npriority = 5\nretries = 3\ntimeout = \"10s\"\n",
	"[[job]]\ntype = \"a\"\n[[job]]\ntype = \"a\"\n[[job]]\ntype = \"b\"\nkey = \"k\"\n",
	"[[job]]\ntype = \"a\"\n[job.args]\nn = 1\nf = 1.5\nb = false\n",
	"job = [{type = \"a\", args = {x = \"1\"}}, {type = \"b\"}]\n",
	"[[job]]\ntype = 5\n[[job]]\nprio = 1\n",
	"[[job]]\n\"ty\\u0070e\" = 'a'\n'group' = \"\"\"\nmulti\n\"\"\"\n",
	"master = \"127.0.0.1:7070\"\nslots = 4\n[commands.sleep]\nargv = [\"sleep\", \"{seconds}\"]\ntimeout = \"30s\"\n",
	"[commands.\"a.b\"]\nargv = [\n  \"x\", # c\n  \"{y}\",\n]\ndir = '{d}'\n",
	"[commands]\nx = { argv = [\"x\"], timeout = \"1s\" }\n",
	"slots = -1\nkill_grace = \"1x\"\n[commands.e]\nargv = []\n",
	"a = 1\r\n[b]\r\nc = '''\r\nd\r\n'''\r\n",
}

// checkErr fails unless err is an *Error naming file and, when it is about
// a key, a line.
func checkErr(t *testing.T, name string, err error) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not an *Error: %v", err, err)
	}
	if ce.File != name || (ce.Key != "" && ce.Line == 0) || !strings.HasPrefix(err.Error(), name+":") {
		t.Fatalf("error without file or line: %+v", ce)
	}
}

// fuzzParse fuzzes parse, reading the file called name, from fuzzSeeds
// and extra: what it refuses must get a good *Error (checkErr), and what
// it accepts, from data, must pass check.
func fuzzParse[T any](f *testing.F, name string, parse func(string, []byte) (T, error), check func(t *testing.T, data []byte, v T), extra ...string) {
	for _, s := range append(slices.Clone(fuzzSeeds), extra...) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parse(name, data)
		if err != nil {
			checkErr(t, name, err)
			return
		}
		check(t, data, v)
	})
}

func FuzzParseJobs(f *testing.F) {
	fuzzParse(f, "j.toml", ParseJobs, func(t *testing.T, data []byte, specs []jobs.Spec) {
		again, err := ParseJobs("j.toml", data)
		if err != nil || len(again) != len(specs) {
			t.Fatalf("second parse: %v", err)
		}
		seen := map[string]bool{}
		for i, s := range specs {
			if !strings.HasPrefix(s.Key, KeyPrefix) || len(s.Key) == len(KeyPrefix) || seen[s.Key] {
				t.Fatalf("spec %d: bad or repeated key %q", i, s.Key)
			}
			if again[i].Key != s.Key {
				t.Fatalf("spec %d: key %q, then %q", i, s.Key, again[i].Key)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("spec %d: %v", i, err)
			}
			seen[s.Key] = true
		}
	})
}

func FuzzParseWorker(f *testing.F) {
	fuzzParse(f, "w.toml", ParseWorker, func(t *testing.T, _ []byte, w *Worker) {
		if err := w.Config.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
	})
}

func FuzzParseMaster(f *testing.F) {
	fuzzParse(f, "m.toml", ParseMaster, func(t *testing.T, _ []byte, m *Master) {
		if err := m.Config.Validate(); err != nil {
			t.Fatalf("accepted config does not validate: %v", err)
		}
	}, "listen = \":1\"\nheartbeat_interval = \"2s\"\ndead_after = \"3s\"\nstore = \"memory\"\n")
}
