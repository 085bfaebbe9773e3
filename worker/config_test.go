package worker

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigAllowedHosts(t *testing.T) {
	c := Config{AllowedHosts: []string{"*", "w.example.com"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = Config{AllowedHosts: []string{"http://w.example.com"}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "allowed_hosts") {
		t.Errorf("a URL in AllowedHosts: %v", err)
	}
}

// TestConfigIdentity: a worker's identity defaults to what stays the same
// when it restarts: its name and listen address, or, without a name
// (the default one holds the pid), its log_dir and listen address.
func TestConfigIdentity(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Name: "crawler-1", Listen: "10.0.0.2:7071"}, "name crawler-1 listen 10.0.0.2:7071"},
		{Config{LogDir: "/var/log/drover", Listen: "10.0.0.2:7071"}, "log_dir /var/log/drover listen 10.0.0.2:7071"},
		{Config{Name: "crawler-1", Identity: "mine"}, "mine"},
	} {
		cfg := c.cfg
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		if cfg.Identity != c.want {
			t.Errorf("%+v: identity %q, want %q", c.cfg, cfg.Identity, c.want)
		}
	}
}

// TestConfigNegative: each size, count and duration of Config that is
// negative is refused with an error naming the field (and its conf key)
// and its value; with several bad fields, the first in Validate's order
// is the one named; positive values pass.
func TestConfigNegative(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Slots: -1}, "worker: slots -1 is negative"},
		{Config{Slots: 100001}, "worker: slots 100001 is above the master's maximum of 100000"},
		{Config{OutputLimit: -2}, "worker: OutputLimit (output_limit) -2 is negative"},
		{Config{MaxRequestBody: -3}, "worker: MaxRequestBody (max_request_body) -3 is negative"},
		{Config{MaxCallsInFlight: -4}, "worker: MaxCallsInFlight (max_calls_in_flight) -4 is negative"},
		{Config{MaxResultBytes: -5}, "worker: MaxResultBytes (max_result_bytes) -5 is negative"},
		{Config{LogMaxBytes: -6}, "worker: LogMaxBytes (log_max_bytes) -6 is negative"},
		{Config{LogMaxAge: -time.Hour}, "worker: LogMaxAge (log_max_age) -1h0m0s is negative"},
		{Config{KillGrace: -time.Second}, "worker: KillGrace (kill_grace) -1s is negative"},
		{Config{ShutdownGrace: -time.Minute}, "worker: ShutdownGrace (shutdown_grace) -1m0s is negative"},
		{Config{ReportDelay: -time.Millisecond}, "worker: ReportDelay (report_delay) -1ms is negative"},
		{Config{ReportDelay: MaxReportDelay + 1}, "worker: ReportDelay (report_delay) " + (MaxReportDelay + 1).String() + " is above the maximum of " + MaxReportDelay.String()},
		{Config{Mode: "poll", Slots: -1}, `worker: mode "poll": want "push" or "pull"`},
		{Config{Slots: -1, ReportDelay: -1}, "worker: slots -1 is negative"},
		{Config{KillGrace: -1, LogMaxBytes: -1}, "worker: LogMaxBytes (log_max_bytes) -1 is negative"},
	} {
		cfg := tc.cfg
		if err := cfg.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: Validate() = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	ok := Config{Slots: 1, OutputLimit: 1, MaxRequestBody: 1, MaxCallsInFlight: 1, MaxResultBytes: 1,
		LogMaxBytes: MinLogMaxBytes, LogMaxAge: 1, KillGrace: 1, ShutdownGrace: 1, ReportDelay: MaxReportDelay}
	if err := ok.Validate(); err != nil {
		t.Errorf("positive values: %v", err)
	}
}

// TestConfigDefaults: Validate fills each zero field of Config with the
// default its comment documents, and keeps each field that is set.
func TestConfigDefaults(t *testing.T) {
	var c Config
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	want := Config{Master: "127.0.0.1:7070", Listen: "127.0.0.1:0", Slots: 4, OutputLimit: 64 << 10, MaxResultBytes: 1 << 20,
		LogMaxBytes: 1 << 30, LogMaxAge: 7 * 24 * time.Hour, MaxRequestBody: 16 << 20, MaxCallsInFlight: 256,
		KillGrace: 5 * time.Second, ShutdownGrace: 30 * time.Second, ReportDelay: 500 * time.Microsecond}
	got := Config{Master: c.Master, Listen: c.Listen, Slots: c.Slots, OutputLimit: c.OutputLimit, MaxResultBytes: c.MaxResultBytes,
		LogMaxBytes: c.LogMaxBytes, LogMaxAge: c.LogMaxAge, MaxRequestBody: c.MaxRequestBody, MaxCallsInFlight: c.MaxCallsInFlight,
		KillGrace: c.KillGrace, ShutdownGrace: c.ShutdownGrace, ReportDelay: c.ReportDelay}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if c.Name == "" || c.LogDir == "" || c.Logger == nil {
		t.Errorf("defaults: Name %q, LogDir %q, Logger %v; want all set", c.Name, c.LogDir, c.Logger)
	}
	set := Config{Master: "10.0.0.1:7070", Listen: "10.0.0.2:0", Name: "w", Slots: 1, OutputLimit: 2, MaxResultBytes: 3, LogDir: "/l",
		LogMaxBytes: 4096, LogMaxAge: 5, MaxRequestBody: 6, MaxCallsInFlight: 7, KillGrace: 8, ShutdownGrace: 9, ReportDelay: 10, Identity: "i"}
	c = set
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Logger = nil
	if !reflect.DeepEqual(c, set) {
		t.Errorf("set fields changed:\n got %+v\nwant %+v", c, set)
	}
}

// TestConfigMasterList: Master may list masters separated by commas,
// spaces around them ignored; an empty element is refused, naming the
// field.
func TestConfigMasterList(t *testing.T) {
	c := Config{Master: "127.0.0.1:7070, 127.0.0.1:7080 ,127.0.0.1:7090"}
	if err := c.Validate(); err != nil {
		t.Errorf("a list of three: %v", err)
	}
	for _, bad := range []string{"127.0.0.1:7070,", "127.0.0.1:7070,,127.0.0.1:7080", " ,127.0.0.1:7070"} {
		c := Config{Master: bad}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "Master (master)") || !strings.Contains(err.Error(), "empty") {
			t.Errorf("Master %q: %v; want an error naming the field and the empty element", bad, err)
		}
		if _, err := New(Config{Master: bad}); err == nil {
			t.Errorf("New with Master %q succeeded", bad)
		}
	}
}
