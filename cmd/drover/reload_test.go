package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/internal/testnet"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// listType lists the jobs of type typ, nil when the master does not
// answer.
func listType(mc rpcapi.MasterClient, typ string) []jobs.Job {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := mc.ListJobs(ctx, &rpcapi.ListJobsArgs{Type: typ})
	if err != nil {
		return nil
	}
	return r.Jobs
}

// waiting is the master's "why waiting" of job id.
func waiting(t *testing.T, mc rpcapi.MasterClient, id string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := mc.GetJob(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return info.Waiting
}

// TestSIGHUPReloadsMaster runs master and worker processes; the master's
// file sets type_limits (slow = 1), log_level info and a jobs file. After
// the file is edited (slow = 2, log_level debug, retain, a new jobs-file
// entry), a SIGHUP makes two slow jobs run at once, logs at debug level,
// submits the new entry, and logs a line for each of these and one naming
// retain as waiting for a restart. A file that does not load (a bad value,
// then a bad jobs file) is logged as an error naming file and line, and
// changes nothing: the limit stays 2 and the master keeps serving.
func TestSIGHUPReloadsMaster(t *testing.T) {
	dir := t.TempDir()
	release := filepath.Join(dir, "release")
	jobsFile := filepath.Join(dir, "jobs.toml")
	entryA := "[[job]]\ntype = \"slow\"\nkey = \"a\"\n"
	writeFile(t, jobsFile, entryA)
	const limits = "log_level = \"info\"\n[type_limits]\nslow = 1\n"
	c := testproc.StartCluster(t, testproc.ClusterConfig{Workers: 1, Slots: 4,
		Master: "jobs_file = " + `"` + jobsFile + `"` + "\n" + limits,
		Worker: `[commands.slow]
argv = ["sh", "-c", "while [ ! -e \"$0\" ]; do sleep 0.05; done", "` + release + `"]
[commands.other]
argv = ["true"]
`})
	t.Cleanup(func() { // let every job end, so that no job process is left
		os.WriteFile(release, nil, 0o600)
		testproc.Poll(t, 20*time.Second, "every job to end", func() bool {
			n := c.Counts()
			return n != nil && n[jobs.Pending]+n[jobs.Running] == 0
		})
	})
	ids := c.Submit(jobs.Spec{Type: "slow"}, jobs.Spec{Type: "slow"})
	running := func(n int) func() bool { return func() bool { return c.Counts()[jobs.Running] == n } }
	testproc.Poll(t, 10*time.Second, "one slow job running of three", running(1))
	testproc.Poll(t, 10*time.Second, "a slow job to wait on the limit of 1", func() bool {
		return strings.Contains(waiting(t, c.MC, ids[1]), `type "slow" is at its limit of 1 running`) ||
			strings.Contains(waiting(t, c.MC, ids[0]), `type "slow" is at its limit of 1 running`)
	})
	if strings.Contains(c.Master.Output(), "job dispatched") {
		t.Fatal("a debug line at log_level info")
	}

	confPath := filepath.Join(c.Dir, "master.toml")
	old, err := os.ReadFile(confPath)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(old), limits, "log_level = \"debug\"\nretain = \"2h\"\n[type_limits]\nslow = 2\n", 1)
	writeFile(t, confPath, edited)
	writeFile(t, jobsFile, entryA+"[[job]]\ntype = \"other\"\nkey = \"b\"\n")
	c.Master.Signal(syscall.SIGHUP)
	testproc.Poll(t, 10*time.Second, "two slow jobs running under the new limit", running(2))
	if to := c.Master.LogField("SIGHUP: log level changed", "to", 10*time.Second); to != "debug" {
		t.Errorf("log level changed to %q; want debug", to)
	}
	c.Master.WaitFor("job dispatched", 10*time.Second) // a debug line: the third slow job
	if keys := c.Master.LogField("SIGHUP: limits changed", "keys", time.Second); keys != "type_limits" {
		t.Errorf("limits changed: keys %q; want type_limits", keys)
	}
	if n := c.Master.LogField("SIGHUP: jobs file submitted", "new", time.Second); n != "1" {
		t.Errorf("jobs file submitted: new %q; want 1", n)
	}
	if keys := c.Master.LogField("SIGHUP: these keys changed but take effect only at a restart", "keys", time.Second); keys != "retain" {
		t.Errorf("restart keys %q; want retain", keys)
	}
	testproc.Poll(t, 10*time.Second, "the jobs file's new entry to run", func() bool {
		js := listType(c.MC, "other")
		return len(js) == 1 && js[0].Spec.Key == "file:b" && js[0].State == jobs.Succeeded
	})
	if n := len(listType(c.MC, "slow")); n != 3 {
		t.Errorf("%d slow jobs; want 3 (the jobs file's a is not submitted again)", n)
	}

	fourth := c.Submit(jobs.Spec{Type: "slow"})[0]
	for i, bad := range []struct{ conf, jobs, logged string }{
		{strings.NewReplacer("slow = 2", "slow = 5", `"debug"`, `"loud"`).Replace(edited), "", ": log_level: invalid value"},
		{strings.Replace(edited, "slow = 2", "slow = 5", 1), "[[job]]\ntype = 7\n", "jobs.toml:2: job[1].type"},
	} {
		writeFile(t, confPath, bad.conf)
		if bad.jobs != "" {
			writeFile(t, jobsFile, bad.jobs)
		}
		c.Master.Signal(syscall.SIGHUP)
		testproc.Poll(t, 10*time.Second, "the refused reload to be logged", func() bool {
			return strings.Count(c.Master.Output(), "SIGHUP: conf not reloaded; nothing changed") == i+1
		})
		if line := c.Master.WaitFor(bad.logged, time.Second); !strings.Contains(line, `"level":"error"`) {
			t.Errorf("the refused reload is not an error: %s", line)
		}
		if w := waiting(t, c.MC, fourth); !strings.Contains(w, `type "slow" is at its limit of 2 running`) {
			t.Errorf("after a refused reload, the fourth slow job waits: %q; want the limit of 2", w)
		}
	}
	if c.Master.Exited() {
		t.Fatalf("the master exited: %v", c.Master.Err())
	}
}

// TestSIGHUPWorker: a worker process keeps running through SIGHUPs; one
// with its file unchanged says so, one after log_level and slots changed
// applies the level and names slots as waiting for a restart, and the
// worker still runs jobs.
func TestSIGHUPWorker(t *testing.T) {
	c := testproc.StartCluster(t, testproc.ClusterConfig{Workers: 1, Worker: "[commands.ok]\nargv = [\"true\"]\n"})
	w := c.Workers[0]
	w.Signal(syscall.SIGHUP)
	w.WaitFor("SIGHUP: conf reloaded; nothing changed", 10*time.Second)
	old, err := os.ReadFile(c.Confs[0])
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, c.Confs[0], strings.Replace(string(old), "slots = 4", "slots = 2\nlog_level = \"debug\"", 1))
	w.Signal(syscall.SIGHUP)
	if to := w.LogField("SIGHUP: log level changed", "to", 10*time.Second); to != "debug" {
		t.Errorf("log level changed to %q; want debug", to)
	}
	if keys := w.LogField("SIGHUP: these keys changed but take effect only at a restart", "keys", time.Second); keys != "slots" {
		t.Errorf("restart keys %q; want slots", keys)
	}
	ids := c.Submit(jobs.Spec{Type: "ok"})
	if r := testproc.WaitAll(t, c.MC, ids, 10*time.Second); r.Counts[jobs.Succeeded] != 1 {
		t.Errorf("a job after the SIGHUPs: %v", r.Counts)
	}
	w.WaitFor("job finished", 10*time.Second) // a debug line
	if w.Exited() {
		t.Fatalf("the worker exited: %v", w.Err())
	}
}

// takenAddr returns the address of a listener the test holds open.
func takenAddr(t *testing.T) string {
	t.Helper()
	ln := testnet.Listen(t)
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

// TestWorkerIgnoresMasterListen: a worker started where DROVER_LISTEN and
// DROVER_MASTER_LISTEN name an address that is taken (the master's)
// listens on its own, registers, and says that it does not read
// DROVER_LISTEN.
func TestWorkerIgnoresMasterListen(t *testing.T) {
	taken := takenAddr(t)
	c := testproc.StartCluster(t, testproc.ClusterConfig{})
	wconf := filepath.Join(t.TempDir(), "worker.toml")
	writeFile(t, wconf, "[commands.ok]\nargv = [\"true\"]\n")
	w := testproc.Options{Name: "worker", Env: []string{"DROVER_LISTEN=" + taken, "DROVER_MASTER_LISTEN=" + taken,
		"DROVER_MASTER=" + c.Addr, "DROVER_WORKER_LISTEN=", "DROVER_TOKEN=", "DROVER_WORKER_TOKEN="}}.Start(t, testproc.Drover(t),
		"worker", "--config", wconf, "--name", "w-env", "--log-format", "json")
	testproc.Poll(t, 20*time.Second, "the worker to register", func() bool { return c.Alive() == 1 })
	w.WaitFor("$DROVER_LISTEN is set but a worker does not read it", time.Second)
}

// TestListenTakenNamesSource: a master or worker whose listen address is
// taken fails, and the error says where the address came from: the
// --listen flag, the role's variable, the deprecated DROVER_LISTEN or the
// conf file's line.
func TestListenTakenNamesSource(t *testing.T) {
	taken := takenAddr(t)
	dir := t.TempDir()
	confPath := filepath.Join(dir, "master.toml")
	writeFile(t, confPath, "store = \"memory\"\nlisten = \""+taken+"\"\n")
	wconf := filepath.Join(dir, "worker.toml")
	writeFile(t, wconf, "[commands.ok]\nargv = [\"true\"]\n")
	clear := []string{"DROVER_LISTEN=", "DROVER_MASTER_LISTEN=", "DROVER_WORKER_LISTEN=", "DROVER_TOKEN=",
		"DROVER_MASTER_TOKEN=", "DROVER_WORKER_TOKEN=", "DROVER_MASTER=" + takenAddr(t)}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"master flag", nil, []string{"master", "--store", "memory", "--listen", taken}, "from --listen"},
		{"master env", []string{"DROVER_MASTER_LISTEN=" + taken}, []string{"master", "--store", "memory"}, "from $DROVER_MASTER_LISTEN"},
		{"master old env", []string{"DROVER_LISTEN=" + taken}, []string{"master", "--store", "memory"}, "from $DROVER_LISTEN"},
		{"master file", nil, []string{"master", "--config", confPath}, "from " + confPath + ":2"},
		{"worker env", []string{"DROVER_WORKER_LISTEN=" + taken}, []string{"worker", "--config", wconf}, "from $DROVER_WORKER_LISTEN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testproc.Options{Env: append(clear[:len(clear):len(clear)], tc.env...), Timeout: 20 * time.Second}.Run(t, testproc.Drover(t), tc.args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, "address already in use") || !strings.Contains(r.Stderr, "(the listen address is "+tc.want+")") {
				t.Errorf("exit %d, stderr:\n%s\nwant a failure naming the address's source %q", r.Code, r.Stderr, tc.want)
			}
		})
	}
}
