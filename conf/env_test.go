package conf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// TestEnv: each role reads its own variables over the file's values
// (README, "Environment variables"): the role's name wins over the
// deprecated shared one, which still works with a notice; a worker does
// not read DROVER_LISTEN, and says so; empty means unset.
func TestEnv(t *testing.T) {
	type want struct{ listen, dataDir, token, master, notice string }
	cases := []struct {
		name   string
		env    map[string]string
		master want // Listen, DataDir, Token and a notice
		worker want // Listen, Token, Master and a notice
	}{
		{"nothing set", nil,
			want{listen: "file", dataDir: "file", token: "file"}, want{listen: "file", token: "file", master: "file"}},
		{"role names", map[string]string{EnvMasterListen: "m:1", EnvMasterDataDir: "/d", EnvMasterToken: "mt",
			EnvWorkerListen: "w:1", EnvWorkerToken: "wt", EnvMaster: "m:2"},
			want{listen: "m:1", dataDir: "/d", token: "mt"}, want{listen: "w:1", token: "wt", master: "m:2"}},
		{"role names over shared ones", map[string]string{EnvMasterListen: "m:1", EnvListen: "old:1", EnvMasterDataDir: "/d",
			EnvDataDir: "/old", EnvMasterToken: "mt", EnvWorkerToken: "wt", EnvToken: "old"},
			want{listen: "m:1", dataDir: "/d", token: "mt"},
			want{listen: "file", token: "wt", master: "file", notice: "$DROVER_LISTEN is set but a worker does not read it"}},
		{"shared listen: the master's only", map[string]string{EnvListen: "old:1"},
			want{listen: "old:1", dataDir: "file", token: "file", notice: "$DROVER_LISTEN is deprecated for the listen key here: set $DROVER_MASTER_LISTEN instead"},
			want{listen: "file", token: "file", master: "file", notice: "set $DROVER_WORKER_LISTEN for the worker's listen address"}},
		{"shared data dir and token", map[string]string{EnvDataDir: "/old", EnvToken: "old"},
			want{listen: "file", dataDir: "/old", token: "old", notice: "$DROVER_DATA_DIR is deprecated for the data_dir key here: set $DROVER_MASTER_DATA_DIR instead"},
			want{listen: "file", token: "old", master: "file", notice: "$DROVER_TOKEN is deprecated for the token key here: set $DROVER_WORKER_TOKEN instead"}},
		{"one role's names do not reach the other", map[string]string{EnvMasterListen: "m:1", EnvMasterToken: "mt", EnvWorkerListen: "w:1", EnvWorkerToken: "wt"},
			want{listen: "m:1", dataDir: "file", token: "mt"}, want{listen: "w:1", token: "wt", master: "file"}},
		{"empty is unset", map[string]string{EnvMasterListen: "", EnvListen: "", EnvWorkerListen: "", EnvToken: "", EnvMaster: ""},
			want{listen: "file", dataDir: "file", token: "file"}, want{listen: "file", token: "file", master: "file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			mc := master.Config{Listen: "file", DataDir: "file", Token: "file"}
			me := ApplyMasterEnv(&mc, lookup)
			if got := (want{listen: mc.Listen, dataDir: mc.DataDir, token: mc.Token}); got != (want{tc.master.listen, tc.master.dataDir, tc.master.token, "", ""}) {
				t.Errorf("master: %+v; want %+v", got, tc.master)
			}
			checkNotice(t, "master", me.Notices, tc.master.notice)
			wc := worker.Config{Listen: "file", Token: "file", Master: "file"}
			we := ApplyWorkerEnv(&wc, lookup)
			if got := (want{listen: wc.Listen, token: wc.Token, master: wc.Master}); got != (want{listen: tc.worker.listen, token: tc.worker.token, master: tc.worker.master}) {
				t.Errorf("worker: %+v; want %+v", got, tc.worker)
			}
			checkNotice(t, "worker", we.Notices, tc.worker.notice)
		})
	}
}

// checkNotice fails the test unless notices has one line holding want,
// or none when want is "".
func checkNotice(t *testing.T, role string, notices []string, want string) {
	t.Helper()
	switch {
	case want == "" && len(notices) > 0:
		t.Errorf("%s: notices %q; want none", role, notices)
	case want != "" && !strings.Contains(strings.Join(notices, "\n"), want):
		t.Errorf("%s: notices %q; want one with %q", role, notices, want)
	}
}

// TestSource: Source names where listen came from: the variable, else
// the file and line, else nothing (the default).
func TestSource(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "master.toml")
	if err := os.WriteFile(path, []byte("# the master\nstore = \"memory\"\nlisten = \"127.0.0.1:7171\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMaster(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Source("listen"), path+":3"; got != want {
		t.Errorf("listen from the file: Source %q; want %q", got, want)
	}
	if got := m.Source("data_dir"); got != "" {
		t.Errorf("data_dir unset: Source %q; want \"\"", got)
	}
	t.Setenv(EnvListen, "127.0.0.1:7272")
	if m, err = LoadMaster(path); err != nil || m.Source("listen") != "$DROVER_LISTEN" || m.Config.Listen != "127.0.0.1:7272" {
		t.Errorf("listen from DROVER_LISTEN: %v, Source %q, listen %q", err, m.Source("listen"), m.Config.Listen)
	}
	t.Setenv(EnvWorkerListen, "127.0.0.1:7373")
	w, err := LoadWorker("testdata/worker.toml")
	if err != nil || w.Source("listen") != "$DROVER_WORKER_LISTEN" || w.Source("master") != "testdata/worker.toml:2" {
		t.Errorf("worker: %v, listen from %q, master from %q", err, w.Source("listen"), w.Source("master"))
	}
	if n := w.EnvNotices(); len(n) != 1 || !strings.Contains(n[0], "DROVER_LISTEN") {
		t.Errorf("worker with DROVER_LISTEN set: notices %q", n)
	}
}

// TestChanged: Changed names each key whose value differs between two
// loads of a master's or a worker's file, and none when they are the same.
func TestChanged(t *testing.T) {
	parse := func(src string) *Master {
		t.Helper()
		m, err := ParseMaster("m.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	base := "listen = \"127.0.0.1:7070\"\nretain = \"1h\"\nlog_level = \"info\"\n[type_limits]\nx = 1\n"
	if got := parse(base).Changed(parse(base)); len(got) != 0 {
		t.Errorf("the same file: Changed %q; want none", got)
	}
	edited := "listen = \"127.0.0.1:7071\"\nretain = \"2h\"\nlog_level = \"debug\"\nstore = \"memory\"\ntls_ca = \"ca.pem\"\n[type_limits]\nx = 2\n"
	if got, want := parse(edited).Changed(parse(base)), []string{"listen", "log_level", "retain", "store", "tls", "type_limits"}; !slices.Equal(got, want) {
		t.Errorf("Changed %q; want %q", got, want)
	}
	pw := func(src string) *Worker {
		t.Helper()
		w, err := ParseWorker("w.toml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	wb := "slots = 2\nlog_format = \"text\"\n[commands.e]\nargv = [\"echo\"]\n"
	we := "slots = 3\nlog_format = \"json\"\n[commands.e]\nargv = [\"echo\", \"hi\"]\n"
	if got, want := pw(we).Changed(pw(wb)), []string{"commands", "log_format", "slots"}; !slices.Equal(got, want) {
		t.Errorf("worker: Changed %q; want %q", got, want)
	}
	wt := "tls_ca = \"ca.pem\"\ntransport = \"xmlrpc\"\n" + wb
	if got, want := pw(wt).Changed(pw(wb)), []string{"tls", "transport"}; !slices.Equal(got, want) {
		t.Errorf("worker: Changed %q; want %q", got, want)
	}
	if got := pw(wt).Changed(pw(wt)); len(got) != 0 {
		t.Errorf("the same worker file: Changed %q; want none", got)
	}
}
