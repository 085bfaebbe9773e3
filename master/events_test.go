package master_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// rawEvents reads the events of /api/v1/events as JSON objects, so a test
// sees which members an event has.
type rawEvents struct {
	t      *testing.T
	events <-chan map[string]json.RawMessage
	done   <-chan error
}

func openRawEvents(t *testing.T, m *master.Master, query string) *rawEvents {
	t.Helper()
	r := &rawEvents{t: t}
	_, r.events, r.done = readEvents[map[string]json.RawMessage](t, m, query)
	return r
}

// next returns the next event, failing the test after 20 s.
func (r *rawEvents) next(what string) map[string]json.RawMessage {
	r.t.Helper()
	select {
	case ev := <-r.events:
		return ev
	case err := <-r.done:
		r.t.Fatalf("event stream ended waiting for %s: %v", what, err)
	case <-time.After(20 * time.Second):
		r.t.Fatalf("no event: %s", what)
	}
	return nil
}

// collect returns the events that come within d.
func (r *rawEvents) collect(d time.Duration) []map[string]json.RawMessage {
	r.t.Helper()
	var evs []map[string]json.RawMessage
	end := time.After(d) // the window observed
	for {
		select {
		case ev := <-r.events:
			evs = append(evs, ev)
		case err := <-r.done:
			r.t.Fatalf("event stream ended: %v", err)
		case <-end:
			return evs
		}
	}
}

// buffered returns the events received and not read yet.
func (r *rawEvents) buffered() []map[string]json.RawMessage {
	var evs []map[string]json.RawMessage
	for {
		select {
		case ev := <-r.events:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

// evText is an event as its JSON, for a failure's message.
func evText(ev map[string]json.RawMessage) string {
	b, _ := json.Marshal(ev)
	return string(b)
}

func member[T any](t *testing.T, ev map[string]json.RawMessage, name string) (v T, ok bool) {
	t.Helper()
	raw, ok := ev[name]
	if !ok {
		return v, false
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("event member %s: %v in %s", name, err, raw)
	}
	return v, true
}

type eventWorker struct {
	ID            string    `json:"id"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

type eventJob struct {
	ID      string     `json:"id"`
	State   jobs.State `json:"state"`
	Updated time.Time  `json:"updated"`
}

// TestAPIEventsCarryWhatChanged follows the contract of docs/api.md: the
// first event has every member; a later one only what changed; a
// heartbeat alone sends nothing unless the stream asked for heartbeats; a
// change of a job comes once; a burst says it is truncated; a bad query
// is a 400.
func TestAPIEventsCarryWhatChanged(t *testing.T) {
	m := startAPIMaster(t, master.Config{}) // heartbeats every 100 ms
	c := newHTTPAPI(t, m)
	w := startWorker(t, m.Addr(), "beating", 2, map[string]worker.HandlerFunc{"echo": echo})
	quiet := openRawEvents(t, m, "")
	beats := openRawEvents(t, m, "?heartbeats=true")

	first := quiet.next("the first event")
	for _, name := range []string{"status", "workers", "changes"} {
		if _, ok := first[name]; !ok {
			t.Fatalf("the first event has no %s: %s", name, evText(first))
		}
	}
	ws, _ := member[[]eventWorker](t, beats.next("the first event"), "workers")
	if len(ws) != 1 || ws[0].ID != w.ID() {
		t.Fatalf("the first event's workers: %+v", ws)
	}

	// The worker heartbeats 30 times: nothing to send on the quiet stream;
	// the other sends its newer heartbeat, and nothing else.
	if evs := quiet.collect(3 * time.Second); len(evs) > 0 {
		t.Fatalf("heartbeats alone made %d events, the first %s", len(evs), evText(evs[0]))
	}
	evs := beats.buffered()
	if len(evs) == 0 || len(evs) > 3 {
		t.Fatalf("a stream with heartbeats got %d events in 3 s; want one every 2 s", len(evs))
	}
	for _, ev := range evs {
		got, _ := member[map[string]time.Time](t, ev, "heartbeats")
		// A minute that turns in the window starts a new throughput
		// bucket: the status changed, and may come along.
		want := 1
		if _, status := ev["status"]; status {
			want = 2
			if st, _ := member[apiStatus](t, ev, "status"); st.Total != 0 || st.Counts[jobs.Pending] != 0 {
				t.Fatalf("an event of heartbeats has a status with jobs, before any was submitted: %s", evText(ev))
			}
		}
		if len(ev) != want || len(got) != 1 || !got[w.ID()].After(ws[0].LastHeartbeat) {
			t.Fatalf("an event of heartbeats: %s", evText(ev))
		}
	}

	// Jobs: each change comes once; the event that brings a job's final
	// state brings the new counts with it.
	sent := map[string]bool{}
	finished := 0
	for n := range 2 {
		var sub struct{ IDs []string }
		c.call("POST", "jobs", fmt.Sprintf(`{"type": "echo", "args": {"name": "%d"}}`, n), 201, &sub)
		for done := false; !done; {
			ev := quiet.next("job " + sub.IDs[0] + " succeeded")
			cs, _ := member[[]eventJob](t, ev, "changes")
			for _, j := range cs {
				key := j.ID + "@" + j.Updated.Format(time.RFC3339Nano)
				if sent[key] {
					t.Fatalf("job %s's change at %s sent twice", j.ID, j.Updated)
				}
				sent[key] = true
				if j.ID == sub.IDs[0] && j.State == jobs.Succeeded {
					finished++
					st, ok := member[apiStatus](t, ev, "status")
					if done = true; !ok || st.Counts[jobs.Succeeded] != finished {
						t.Fatalf("the event of job %s's end has status %v (%v)", j.ID, st, ok)
					}
				}
			}
		}
	}

	// A burst of 120 jobs: the 50 newest, and truncated.
	specs := make([]string, 120)
	for i := range specs {
		specs[i] = `{"type": "nobody-runs-this"}`
	}
	c.call("POST", "jobs", `{"jobs": [`+strings.Join(specs, ",")+`]}`, 201, nil)
	ev := quiet.next("the burst")
	for _, ok := ev["changes"]; !ok; _, ok = ev["changes"] {
		ev = quiet.next("the burst")
	}
	cs, _ := member[[]eventJob](t, ev, "changes")
	truncated, _ := member[bool](t, ev, "truncated")
	if len(cs) != 50 || !truncated {
		t.Fatalf("the burst's event: %d changes, truncated %v", len(cs), truncated)
	}

	for _, q := range []string{"heartbeats=maybe", "heartbeats=1", "view=jobs"} {
		if status, b := c.do("GET", "events?"+q, ""); status != 400 || !strings.Contains(string(b), "bad_request") {
			t.Errorf("events?%s: %d %s", q, status, b)
		}
	}
}
