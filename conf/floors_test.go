package conf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// TestRetentionKeys: the retention and reply keys reach master.Config, and
// leaving them out leaves them zero (the library's defaults).
func TestRetentionKeys(t *testing.T) {
	m, err := ParseMaster("m.toml", []byte(`
retain = "10m"
retain_jobs = 5000
history = "168h"
history_jobs = 50000
max_reply_bytes = 1048576
metric_types = 50
`))
	if err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Retain != 10*time.Minute || c.RetainJobs != 5000 || c.History != 168*time.Hour || c.HistoryJobs != 50000 ||
		c.MaxReplyBytes != 1<<20 || c.MetricTypes != 50 {
		t.Errorf("ParseMaster: %+v", c)
	}
	// The floors themselves are accepted.
	if _, err := ParseMaster("m.toml", []byte("heartbeat_interval = \"50ms\"\nretain = \"1s\"\nhistory = \"1s\"\n"+
		"retain_jobs = 100\nhistory_jobs = 100\nmax_reply_bytes = 65536\nmetric_types = 1\n")); err != nil {
		t.Errorf("the floors: %v", err)
	}
	if m, err := ParseMaster("m.toml", []byte("# nothing\n")); err != nil || m.Config.Retain != 0 || m.Config.MaxReplyBytes != 0 {
		t.Errorf("empty file: %v %+v", err, m)
	}
}

// TestFloors: a value below its floor, or two keys that do not agree, is an
// *Error naming the file, the line and the key.
func TestFloors(t *testing.T) {
	kinds := map[string]func(string, []byte) error{
		"master.toml": parseMasterErr, "worker.toml": parseWorkerErr, "jobs.toml": parseJobsErr,
	}
	for _, c := range []struct {
		file, src string
		want      string // the whole message
	}{
		// The report: a heartbeat of 1ns, retry_backoff above max_backoff.
		{"master.toml", "store = \"memory\"\nheartbeat_interval = \"1ns\"\n",
			`master.toml:2: heartbeat_interval: 1ns is below the minimum of 50ms`},
		{"master.toml", "heartbeat_interval = \"49ms\"\ndead_after = \"1s\"\n",
			`master.toml:1: heartbeat_interval: 49ms is below the minimum of 50ms`},
		{"master.toml", "max_backoff = \"1m\"\n\nretry_backoff = \"2m\"\n",
			`master.toml:3: retry_backoff: 2m0s is more than max_backoff (1m0s)`},
		{"master.toml", "retry_backoff = \"10m\"\n",
			`master.toml:1: retry_backoff: 10m0s is more than max_backoff (5m0s)`},
		{"master.toml", "[notify]\nwebhooks = [\"https://h.example.com/\"]\nretry_backoff = \"1h\"\nmax_backoff = \"1m\"\n",
			`master.toml:3: notify.retry_backoff: 1h0m0s is more than notify.max_backoff (1m0s)`},
		{"master.toml", "gc_percent = 5\n", `master.toml:1: gc_percent: 5: want 10 to 10000, or 0 for the process's setting`},
		// The new keys.
		{"master.toml", "retain = \"500ms\"\n", `master.toml:1: retain: 500ms is below the minimum of 1s`},
		{"master.toml", "retain = \"-1h\"\n", `master.toml:1: retain: must not be negative, got "-1h"`},
		{"master.toml", "retain = 3600\n", `master.toml:1: retain: want a duration string such as "30s", got integer`},
		{"master.toml", "retain_jobs = 99\n", `master.toml:1: retain_jobs: 99 is below the minimum of 100`},
		{"master.toml", "retain_jobs = -1\n", `master.toml:1: retain_jobs: must not be negative, got -1`},
		{"master.toml", "retain = \"2h\"\nhistory = \"1h\"\n",
			`master.toml:2: history: 1h0m0s is less than retain (2h0m0s): a finished job leaves the store before it leaves memory`},
		{"master.toml", "history = \"30m\"\n",
			`master.toml:1: history: 30m0s is less than retain (1h0m0s): a finished job leaves the store before it leaves memory`},
		{"master.toml", "history = \"1 day\"\n", `master.toml:1: history: invalid duration "1 day" (use e.g. "500ms", "3s", "1m")`},
		{"master.toml", "retain_jobs = 2000\nhistory_jobs = 1000\n",
			`master.toml:2: history_jobs: 1000 is less than retain_jobs (2000): the store would keep fewer finished jobs than memory`},
		{"master.toml", "max_reply_bytes = 65535\n", `master.toml:1: max_reply_bytes: 65535 is below the minimum of 65536 (64 KiB)`},
		{"master.toml", "max_reply_bytes = \"16MiB\"\n", `master.toml:1: max_reply_bytes: want an integer, got string`},
		{"master.toml", "metric_types = -1\n", `master.toml:1: metric_types: must not be negative, got -1`},
		{"master.toml", "metric_type = 1\n", `master.toml:1: metric_type: unknown key (did you mean "metric_types"?)`},
		// Schedules in a jobs file.
		{"jobs.toml", "[[job]]\nname = \"n\"\ntype = \"a\"\nschedule = \"@every 1ns\"\n",
			`jobs.toml:4: job[1].schedule: schedule "@every 1ns": the interval 1ns is below the minimum of 1s`},
		{"jobs.toml", "[[job]]\nname = \"n\"\ntype = \"a\"\nschedule = \"@every 1500ms\"\n",
			`jobs.toml:4: job[1].schedule: schedule "@every 1500ms": the interval 1.5s is not a whole number of seconds (it would run every 1s)`},
		{"jobs.toml", "[[job]]\ntype = \"b\"\n\n[[job]]\nschedule = \"* * *\"\nname = \"n\"\ntype = \"a\"\n",
			`jobs.toml:5: job[2].schedule: schedule "* * *": expected 5 to 6 fields, found 3: [* * *]`},
		{"jobs.toml", "[[job]]\nname = \"n\"\ntype = \"a\"\nschedule = \"0 0 30 2 *\"\n",
			`jobs.toml:4: job[1].schedule: schedule "0 0 30 2 *" never fires`},
		// Worker.
		{"worker.toml", "slots = 2\nreport_delay = \"2s\"\n", `worker.toml:2: report_delay: 2s is above the maximum of 1s`},
		{"worker.toml", "report_delay = \"-1ms\"\n", `worker.toml:1: report_delay: must not be negative, got "-1ms"`},
	} {
		err := kinds[c.file](c.file, []byte(c.src))
		var ce *Error
		if !errors.As(err, &ce) || ce.File != c.file || ce.Line == 0 || ce.Key == "" {
			t.Errorf("%q: error %T %+v is not an *Error with file, line and key", c.want, err, err)
			continue
		}
		if got := err.Error(); got != c.want {
			t.Errorf("%s:\n%s\n got %q\nwant %q", c.file, c.src, got, c.want)
		}
	}
}

// TestFloorErrorUnwraps: an error from master.Config.Validate keeps the
// library's *ConfigError, with the Go field.
func TestFloorErrorUnwraps(t *testing.T) {
	err := parseMasterErr("m.toml", []byte("heartbeat_interval = \"1ns\"\n"))
	var fe *master.ConfigError
	if !errors.As(err, &fe) || fe.Field != "HeartbeatInterval" {
		t.Errorf("got %v, want a *master.ConfigError for HeartbeatInterval", err)
	}
}

// TestJobsFileScheduleLine: a bad schedule in the jobs file that
// master.toml names is reported at the jobs file's line, not the master's.
func TestJobsFileScheduleLine(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	jf := filepath.Join(dir, "jobs.toml")
	mf := filepath.Join(dir, "master.toml")
	if err := os.WriteFile(jf, []byte("[[job]]\nname = \"tick\"\ntype = \"a\"\nschedule = \"@every 1ns\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, []byte("jobs_file = \"jobs.toml\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadMaster(mf)
	if err == nil || !strings.HasPrefix(err.Error(), jf+":4: job[1].schedule: ") || !strings.Contains(err.Error(), "below the minimum of 1s") {
		t.Errorf("got %v, want %s:4: job[1].schedule: ...", err, jf)
	}
}

// TestWorkerValidateNames: worker.Config.Validate names the Go field and
// the key of what it refuses.
func TestWorkerValidateNames(t *testing.T) {
	for _, c := range []struct {
		cfg  worker.Config
		want string
	}{
		{worker.Config{ReportDelay: 2 * time.Second}, "worker: ReportDelay (report_delay) 2s is above the maximum of 1s"},
		{worker.Config{ReportDelay: -time.Millisecond}, "worker: ReportDelay (report_delay) -1ms is negative"},
		{worker.Config{KillGrace: -time.Second}, "worker: KillGrace (kill_grace) -1s is negative"},
		{worker.Config{OutputLimit: -1}, "worker: OutputLimit (output_limit) -1 is negative"},
	} {
		if err := c.cfg.Validate(); err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	ok := worker.Config{ReportDelay: worker.MaxReportDelay}
	if err := ok.Validate(); err != nil {
		t.Errorf("report_delay at the maximum: %v", err)
	}
}
