package master_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
)

// TestConfigDefaults: the zero Config gets the documented defaults of the
// retention and reply fields, and the defaults that follow other fields.
func TestConfigDefaults(t *testing.T) {
	c := master.Config{Store: master.StoreMemory}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Retain != time.Hour || c.RetainJobs != 100000 || c.History != 720*time.Hour || c.HistoryJobs != 1000000 ||
		c.MaxReplyBytes != 16<<20 || c.MetricTypes != 1000 || c.ClientCancel != master.ClientCancelAny {
		t.Errorf("defaults: retain %s, retain_jobs %d, history %s, history_jobs %d, max_reply_bytes %d, metric_types %d, client_cancel %q",
			c.Retain, c.RetainJobs, c.History, c.HistoryJobs, c.MaxReplyBytes, c.MetricTypes, c.ClientCancel)
	}
	if c.HeartbeatInterval != time.Second || c.DeadAfter != 3*time.Second || c.RetryBackoff != time.Second || c.MaxBackoff != 5*time.Minute {
		t.Errorf("defaults: heartbeat %s, dead_after %s, backoff %s..%s", c.HeartbeatInterval, c.DeadAfter, c.RetryBackoff, c.MaxBackoff)
	}

	// Defaults that follow: history from a longer retain, history_jobs from
	// more retain_jobs, retry_backoff from a shorter max_backoff.
	c = master.Config{Retain: 1000 * time.Hour, RetainJobs: 2000000, MaxBackoff: 300 * time.Millisecond}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.History != 1000*time.Hour || c.HistoryJobs != 2000000 || c.RetryBackoff != 300*time.Millisecond {
		t.Errorf("following defaults: history %s, history_jobs %d, retry_backoff %s", c.History, c.HistoryJobs, c.RetryBackoff)
	}

	// The floors themselves are accepted.
	c = master.Config{HeartbeatInterval: master.MinHeartbeatInterval, Retain: master.MinRetain, History: master.MinRetain,
		RetainJobs: master.MinRetainJobs, HistoryJobs: master.MinRetainJobs, MaxReplyBytes: master.MinMaxReplyBytes,
		MetricTypes: master.MinMetricTypes, RetryBackoff: time.Minute, MaxBackoff: time.Minute}
	if err := c.Validate(); err != nil {
		t.Errorf("the floors: %v", err)
	}
	if c.DeadAfter != 3*master.MinHeartbeatInterval {
		t.Errorf("dead_after %s", c.DeadAfter)
	}
}

// TestConfigFloors: each value that cannot work is refused with a
// *ConfigError that names the Go field, the key and the floor.
func TestConfigFloors(t *testing.T) {
	for _, c := range []struct {
		cfg        master.Config
		field, key string
		msg        string // a substring of the message
	}{
		{master.Config{HeartbeatInterval: time.Nanosecond}, "HeartbeatInterval", "heartbeat_interval", "1ns is below the minimum of 50ms"},
		{master.Config{HeartbeatInterval: 49 * time.Millisecond}, "HeartbeatInterval", "heartbeat_interval", "below the minimum of 50ms"},
		{master.Config{HeartbeatInterval: -time.Second}, "HeartbeatInterval", "heartbeat_interval", "must not be negative"},
		{master.Config{HeartbeatInterval: time.Second, DeadAfter: time.Second}, "DeadAfter", "dead_after", "1s must be more than heartbeat_interval (1s)"},
		{master.Config{RetryBackoff: 10 * time.Minute}, "RetryBackoff", "retry_backoff", "10m0s is more than max_backoff (5m0s)"},
		{master.Config{RetryBackoff: 2 * time.Second, MaxBackoff: time.Second}, "RetryBackoff", "retry_backoff", "more than max_backoff (1s)"},
		{master.Config{MaxBackoff: -time.Second}, "MaxBackoff", "max_backoff", "must not be negative"},
		{master.Config{Notify: master.Notify{RetryBackoff: time.Hour, MaxBackoff: time.Minute}},
			"Notify.RetryBackoff", "notify.retry_backoff", "1h0m0s is more than notify.max_backoff (1m0s)"},
		{master.Config{Store: "sqlite"}, "Store", "store", `invalid value "sqlite"`},
		{master.Config{ClientCancel: "mine"}, "ClientCancel", "client_cancel", `invalid value "mine" (want "own" or "any")`},
		{master.Config{GCPercent: 5}, "GCPercent", "gc_percent", "want 10 to 10000"},
		{master.Config{MaxResultBytes: -1}, "MaxResultBytes", "max_result_bytes", "must not be negative, got -1"},
		{master.Config{MaxConnections: -1}, "MaxConnections", "max_connections", "must not be negative"},
		{master.Config{AssignBatch: -1}, "AssignBatch", "assign_batch", "must not be negative"},
		{master.Config{MaxReplyBytes: 1000}, "MaxReplyBytes", "max_reply_bytes", "1000 is below the minimum of 65536"},
		{master.Config{MaxReplyBytes: -1}, "MaxReplyBytes", "max_reply_bytes", "must not be negative"},
		{master.Config{Retain: 500 * time.Millisecond}, "Retain", "retain", "500ms is below the minimum of 1s"},
		{master.Config{Retain: -time.Hour}, "Retain", "retain", "must not be negative"},
		{master.Config{RetainJobs: 99}, "RetainJobs", "retain_jobs", "99 is below the minimum of 100"},
		{master.Config{History: time.Minute}, "History", "history", "1m0s is less than retain (1h0m0s)"},
		{master.Config{Retain: 2 * time.Hour, History: time.Hour}, "History", "history", "less than retain (2h0m0s)"},
		{master.Config{HistoryJobs: 1000}, "HistoryJobs", "history_jobs", "1000 is less than retain_jobs (100000)"},
		{master.Config{HistoryJobs: -1}, "HistoryJobs", "history_jobs", "must not be negative"},
		{master.Config{MetricTypes: -1}, "MetricTypes", "metric_types", "must not be negative"},
		{master.Config{AllowedHosts: []string{"ok", "drover.example.com:7070"}}, "AllowedHosts", "allowed_hosts", `"drover.example.com:7070": want a host name`},
	} {
		err := c.cfg.Validate()
		var fe *master.ConfigError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v (%T), want a *ConfigError", c.key, err, err)
			continue
		}
		if fe.Field != c.field || fe.Key != c.key || !strings.Contains(fe.Msg, c.msg) {
			t.Errorf("got %+v, want field %s, key %s, message with %q", fe, c.field, c.key, c.msg)
		}
		if want := "master: " + c.field + " (" + c.key + "): "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
	}
}

// TestConfigScheduleFloor: an initial job's schedule is checked like one
// submitted: "@every" below MinEvery, or not in whole seconds (robfig/cron
// would round it), and a schedule that never fires are refused.
func TestConfigScheduleFloor(t *testing.T) {
	for expr, want := range map[string]string{
		"@every 1ns":    `schedule "@every 1ns": the interval 1ns is below the minimum of 1s`,
		"@every 999ms":  `the interval 999ms is below the minimum of 1s`,
		"@every 1500ms": `the interval 1.5s is not a whole number of seconds (it would run every 1s)`,
		"@every -5s":    `the interval -5s is below the minimum of 1s`,
		"0 0 30 2 *":    `schedule "0 0 30 2 *" never fires`,
		"* * *":         `schedule "* * *"`,
	} {
		if err := master.CheckSchedule(expr, ""); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckSchedule(%q) = %v, want %q", expr, err, want)
		}
		c := master.Config{Jobs: []jobs.Spec{{Name: "s", Type: "x", Key: "k", Schedule: expr}}}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `initial job 1 (schedule "s")`) || !strings.Contains(err.Error(), want) {
			t.Errorf("initial job %q: %v, want %q", expr, err, want)
		}
	}
	for _, expr := range []string{"@every 1s", "@every 1m30s", " @every 5m ", "* * * * * *", "0 2 * * *", "@daily"} {
		if err := master.CheckSchedule(expr, "Europe/Paris"); err != nil {
			t.Errorf("CheckSchedule(%q): %v", expr, err)
		}
	}
}
