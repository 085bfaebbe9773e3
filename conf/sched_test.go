package conf

import (
	"slices"
	"testing"
	"time"

	"github.com/drover/drover/master"
)

func TestLimitsConf(t *testing.T) {
	m, err := ParseMaster("m.toml", []byte(`default_limit = 4
[limits]
"example.com" = 2
"api.example.com" = { concurrency = 3, rate = "10/s" }
[type_limits]
crawl = { rate = "100/m" }
`))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.DefaultLimit.Concurrency != 4 || c.Limits["example.com"].Concurrency != 2 ||
		c.Limits["api.example.com"] != (master.Limit{Concurrency: 3, Rate: master.Rate{N: 10, Per: time.Second}}) ||
		c.TypeLimits["crawl"].Rate != (master.Rate{N: 100, Per: time.Minute}) {
		t.Fatalf("limits %+v %+v %+v", c.DefaultLimit, c.Limits, c.TypeLimits)
	}
	wantRefused(t, ParseMaster, "m.toml", map[string]string{
		"[limits]\n\"a\" = { rate = \"10/x\" }\n":   "m.toml:2: limits.a.rate: rate \"10/x\"",
		"[limits]\n\"a\" = \"2\"\n":                 "m.toml:2: limits.a: want a number",
		"[type_limits]\nx = { concurency = 2 }\n":   "m.toml:2: type_limits.x.concurency: unknown key",
		"default_limit = -1\n":                      "m.toml:1: default_limit",
		"[limits]\n\"a\" = { concurrency = 1.5 }\n": "m.toml:2: limits.a.concurrency",
	})
}

func TestSchedulingJobFields(t *testing.T) {
	specs, err := ParseJobs("j.toml", []byte(`[[job]]
type = "crawl"
tags = ["region=eu", "gpu"]
broadcast = true
limit_key = "example.com"
unique_key = "crawl-example"
unique_for = "1h"
run_at = 2026-11-24T02:00:00Z
delay = "5m"
`))
	if err != nil {
		t.Fatal(err)
	}
	s := specs[0]
	if !slices.Equal(s.Tags, []string{"region=eu", "gpu"}) || !s.Broadcast || s.LimitKey != "example.com" || s.UniqueKey != "crawl-example" ||
		s.UniqueFor != time.Hour || !s.RunAt.Equal(time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)) || s.Delay != 5*time.Minute {
		t.Fatalf("spec %+v", s)
	}
	plain, _ := ParseJobs("j.toml", []byte("[[job]]\ntype = \"crawl\"\n"))
	if plain[0].Key == s.Key {
		t.Error("new fields do not change the key")
	}
	wantRefused(t, ParseJobs, "j.toml", map[string]string{
		"[[job]]\ntype = \"a\"\nrun_at = 2026-11-24T02:00:00\n": "j.toml:3: job[1].run_at: a date-time without an offset",
		"[[job]]\ntype = \"a\"\nrun_at = \"tomorrow\"\n":        "j.toml:3: job[1].run_at: invalid date-time",
		"[[job]]\ntype = \"a\"\ntags = \"gpu\"\n":               "j.toml:3: job[1].tags: want an array",
		"[[job]]\ntype = \"a\"\nunique_for = \"1h\"\n":          "unique_for without a unique_key",
	})
	w, err := ParseWorker("w.toml", []byte("tags = [\"region=eu\"]\n[commands.x]\nargv = [\"true\"]\n"))
	if err != nil || !slices.Equal(w.Config.Tags, []string{"region=eu"}) {
		t.Fatalf("worker tags: %+v %v", w, err)
	}
}

func TestScheduleAndThenFields(t *testing.T) {
	specs, err := ParseJobs("j.toml", []byte(`[[job]]
name = "nightly"
type = "crawl"
schedule = "@every 5m"
overlap = "queue"
timezone = "Europe/Paris"
catch_up = "one"

[[job]]
type = "crawl"
group = "g"
input = "seed"
then = { type = "merge", args = { out = "all.json" } }
`))
	if err != nil {
		t.Fatal(err)
	}
	s, g := specs[0], specs[1]
	if s.Name != "nightly" || s.Schedule != "@every 5m" || s.Overlap != "queue" || s.Timezone != "Europe/Paris" || s.CatchUp != "one" {
		t.Fatalf("schedule spec %+v", s)
	}
	if g.Then == nil || g.Then.Type != "merge" || g.Then.Args["out"] != "all.json" || g.Input != "seed" {
		t.Fatalf("group spec %+v", g)
	}
	wantRefused(t, ParseJobs, "j.toml", map[string]string{
		"[[job]]\ntype = \"a\"\nschedule = \"@daily\"\n":                                            "a schedule needs a name",
		"[[job]]\nname = \"n\"\ntype = \"a\"\nschedule = \"@daily\"\noverlap = \"sometimes\"\n":     "j.toml:5: job[1].overlap",
		"[[job]]\ntype = \"a\"\ngroup = \"g\"\nthen = { typ = \"b\" }\n":                            "j.toml:4: job[1].then.typ: unknown key",
		"[[job]]\ntype = \"a\"\nthen = { type = \"b\" }\n":                                          "then (a group's follow-up) needs a group",
		"[[job]]\nname = \"n\"\ntype = \"a\"\nschedule = \"@daily\"\ntimezone = \"Mars/Olympus\"\n": "timezone",
	})
}

// TestJobKeyStable: a spec's key is the same at every load, whatever
// fields it sets.
func TestJobKeyStable(t *testing.T) {
	src := []byte("[[job]]\ntype = \"x\"\nname = \"n\"\nschedule = \"@daily\"\ntimezone = \"UTC\"\noverlap = \"queue\"\ncatch_up = \"one\"\n" +
		"[[job]]\ntype = \"y\"\nlimit_key = \"a\"\nunique_key = \"b\"\n")
	first, err := ParseJobs("j.toml", src)
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		again, _ := ParseJobs("j.toml", src)
		for i := range first {
			if again[i].Key != first[i].Key {
				t.Fatalf("job %d: key %s, then %s", i+1, first[i].Key, again[i].Key)
			}
		}
	}
}
