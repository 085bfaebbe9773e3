package master

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// TestServeWhileLoading: a master on a store with 20,000 finished jobs
// and 5 pending ones serves its workers before it has read the finished
// ones: a worker registers and runs the pending jobs while the load is
// held; a submit and the JSON API wait for the load (and say so when
// their deadline comes first); once the load is done every call works
// and the counts hold every job.
func TestServeWhileLoading(t *testing.T) {
	dir := t.TempDir()
	st, err := jobs.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-2 * time.Hour)
	const old, live = 20000, 5
	var batch []*jobs.Job
	for seq := uint64(1); seq <= old+live; seq++ {
		j := &jobs.Job{ID: strconv.FormatUint(seq, 10), Seq: seq, Spec: jobs.Spec{Type: "ok", Group: "g"},
			State: jobs.Succeeded, Submitted: at, Updated: at}
		if seq > old {
			j.State = jobs.Pending
		}
		batch = append(batch, j)
	}
	if err := st.Save(jobs.Records(batch...)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	hold := make(chan struct{})
	loadRestHook = func() { <-hold }
	t.Cleanup(func() { loadRestHook = nil })
	quiet := logrus.New()
	quiet.SetOutput(io.Discard)
	m, err := New(Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: quiet, HeartbeatInterval: 50 * time.Millisecond,
		DeadAfter: 10 * time.Second, Retain: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	held := true
	t.Cleanup(func() {
		if held {
			close(hold)
		}
		m.Close()
	})
	ran := make(chan string, live)
	startTestWorker(t, worker.Config{Master: m.Addr(), Name: "w", Slots: 2, Logger: quiet}, map[string]worker.HandlerFunc{
		"ok": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) { ran <- j.ID; return jobs.Result{}, nil },
	})
	for range live {
		select {
		case <-ran:
		case <-time.After(10 * time.Second):
			t.Fatal("the pending jobs did not run while the master loaded its history")
		}
	}
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(m.Addr())}
	defer mc.C.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "ok"}}})
	cancel()
	if !errors.Is(err, rpcapi.ErrUnavailable) {
		t.Fatalf("a submit while the master loads: %v, want unavailable", err)
	}
	hc := http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := hc.Get("http://" + m.Addr() + "/api/v1/status"); err == nil {
		resp.Body.Close()
		t.Fatalf("GET /api/v1/status while the master loads: %d, want it to wait", resp.StatusCode)
	}
	select {
	case <-m.Ready():
		t.Fatal("ready before the load was let go")
	default:
	}

	close(hold)
	held = false
	select {
	case <-m.Ready():
	case <-time.After(20 * time.Second):
		t.Fatal("not ready 20 s after the load was let go")
	}
	// The submit that gave up above still runs on the master once it is
	// ready (the gob call's end on the master does not see the client's
	// deadline), before or after this one: this one's ID is the next or
	// the one after.
	r, err := mc.Submit(context.Background(), &rpcapi.SubmitArgs{Specs: []jobs.Spec{{Type: "ok"}}})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.Atoi(r.IDs[0])
	if id != old+live+1 && id != old+live+2 {
		t.Fatalf("submit once ready: ID %s, want %d or %d", r.IDs[0], old+live+1, old+live+2)
	}
	testproc.PollErr(t, 10*time.Second, "the jobs to succeed once ready", func() error {
		c := m.Counts()
		if n := c[jobs.Succeeded]; n >= id && n <= old+live+2 && c[jobs.Pending]+c[jobs.Running] == 0 {
			return nil
		}
		return fmt.Errorf("counts %v, want %d to %d succeeded (the submit that gave up may land later)", c, id, old+live+2)
	})
	m.core.mu.Lock()
	ids := m.core.groups["g"]
	m.core.mu.Unlock()
	for i := 1; i < len(ids); i++ {
		if cmpIDs(ids[i-1], ids[i]) >= 0 {
			t.Fatalf("group g's jobs out of submission order at %d: %s, %s", i, ids[i-1], ids[i])
		}
	}
	if len(ids) != old+live {
		t.Fatalf("group g holds %d jobs in memory, want %d", len(ids), old+live)
	}
}
