package master

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/drover/drover/internal/buildinfo"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The live view: /api/v1/status and the server-sent events of
// /api/v1/events, which the dashboard renders.

// apiStatus is the master at a glance.
type apiStatus struct {
	// Now is the master's clock when the view was taken: clients measure
	// ages (last heartbeat, last change) against it, not their own clock.
	Now        time.Time          `json:"now"`
	Started    time.Time          `json:"started"`
	Counts     map[jobs.State]int `json:"counts"`
	Total      int                `json:"total"`
	Workers    workerCounts       `json:"workers"`
	Dropped    int64              `json:"dropped"`
	Reaped     int64              `json:"reaped"`
	Throughput throughput         `json:"throughput"`
	Version    rpcapi.BuildInfo   `json:"version"`
	// Attention lists what needs a person, most pressing first
	// (queues_attention.go); never nil.
	Attention []rpcapi.Attention `json:"attention"`
}

// workerCounts counts workers by state, and the slots of the live ones
// (alive and draining).
type workerCounts struct {
	Alive    int `json:"alive"`
	Draining int `json:"draining"`
	Dead     int `json:"dead"`
	Slots    int `json:"slots"`
	Busy     int `json:"busy"`
}

// throughput counts the jobs that became final in each of the last
// throughputBuckets minutes, oldest first; the last bucket is the current,
// partial minute. A job counts once, in the minute of its last change.
type throughput struct {
	BucketSeconds int                `json:"bucket_seconds"`
	Buckets       []throughputBucket `json:"buckets"`
}

type throughputBucket struct {
	Start     time.Time `json:"start"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
	Cancelled int       `json:"cancelled"`
}

const (
	throughputBuckets = 15
	bucketWidth       = time.Minute
)

// apiEvent is one server-sent event: the status, every worker, and the jobs
// that changed since the previous event of the stream.
type apiEvent struct {
	Status  apiStatus           `json:"status"`
	Workers []rpcapi.WorkerInfo `json:"workers"`
	// Changes lists jobs changed since the previous event (newest first, at
	// most maxChanges; the first event of a stream has the latest ones). A
	// job may appear in two events in a row.
	Changes []rpcapi.JobView `json:"changes"`
}

const (
	maxChanges = 50
	// changeSlack widens each event's window into the past: a change is
	// stamped with a time taken just before the master's lock, so it can
	// land in memory a little after a view taken later than its stamp.
	changeSlack = time.Second
	// eventGap is the least time between two events of a stream, so a
	// burst of changes makes at most 4 events a second.
	eventGap = 250 * time.Millisecond
	// eventRefresh is how often a stream repeats the view while workers
	// are live or jobs run, so heartbeat ages and run times stay current.
	eventRefresh = 2 * time.Second
	// keepaliveEvery is the most a stream stays silent: a comment line
	// keeps proxies and the browser from dropping an idle connection.
	keepaliveEvery = 15 * time.Second
)

// thruMinute counts the jobs that became final in one minute.
type thruMinute struct {
	minute                       int64 // Unix minutes; 0: unused
	succeeded, failed, cancelled int
}

// change is a job that changed, and when.
type change struct {
	j  *jobs.Job
	at time.Time
}

// recentChanges is how many of the latest changes the master keeps for
// the live view (a ring): the view shows at most maxChanges of them.
const recentChanges = 4 * maxChanges

// liveCounters keeps what the live view shows that it cannot read from the
// jobs without walking them: the jobs that became final in each of the
// last throughputBuckets minutes, and a ring of the latest changes.
// Guarded by Master.mu.
type liveCounters struct {
	thru     [throughputBuckets]thruMinute
	recent   []change // made at the first change
	recentAt int      // where the next change goes in recent
}

// note keeps the counters as j changes from state before: the throughput
// of the current minute, and the ring of recent changes. O(1): the live
// view never walks the jobs.
func (lc *liveCounters) note(j *jobs.Job, before jobs.State) {
	if lc.recent == nil {
		lc.recent = make([]change, recentChanges)
	}
	lc.recent[lc.recentAt] = change{j: j, at: j.Updated}
	lc.recentAt = (lc.recentAt + 1) % recentChanges
	if !j.State.Final() || before.Final() {
		return
	}
	min := j.Updated.Unix() / 60
	r := &lc.thru[min%throughputBuckets]
	if r.minute != min {
		*r = thruMinute{minute: min}
	}
	switch j.State {
	case jobs.Succeeded:
		r.succeeded++
	case jobs.Failed:
		r.failed++
	default:
		r.cancelled++
	}
}

// throughput fills bs, the throughputBuckets minutes from start, with the
// counts of the minutes it keeps.
func (lc *liveCounters) throughput(bs []throughputBucket, start time.Time) {
	for _, r := range lc.thru {
		if t := time.Unix(r.minute*60, 0); !t.Before(start) && r.minute != 0 {
			b := &bs[min(int(t.Sub(start)/bucketWidth), throughputBuckets-1)]
			b.Succeeded, b.Failed, b.Cancelled = r.succeeded, r.failed, r.cancelled
		}
	}
}

// changedSince returns the jobs of the ring changed after since (zero:
// any), newest first, at most maxChanges.
func (lc *liveCounters) changedSince(since time.Time) []*jobs.Job {
	var top []*jobs.Job // newest first, at most maxChanges
	after := since.Add(-changeSlack)
	for _, c := range lc.recent {
		if c.j != nil && (since.IsZero() || c.at.After(after)) && !slices.Contains(top, c.j) {
			top = insertNewest(top, c.j)
		}
	}
	return top
}

// liveView takes the live view in one pass under mu. With full, it also
// lists the workers and the jobs changed after since (zero: the latest).
// It reports whether anything ages on screen (live workers, running jobs).
func (c *core) liveView(since time.Time, full bool) (ev apiEvent, ageing bool) {
	now := time.Now()
	st := &ev.Status
	start := now.Truncate(bucketWidth).Add(-(throughputBuckets - 1) * bucketWidth)
	st.Throughput = throughput{BucketSeconds: int(bucketWidth / time.Second), Buckets: make([]throughputBucket, throughputBuckets)}
	for i := range st.Throughput.Buckets {
		st.Throughput.Buckets[i].Start = start.Add(time.Duration(i) * bucketWidth)
	}
	st.Counts = make(map[jobs.State]int, len(jobs.States))

	c.mu.Lock()
	defer c.mu.Unlock()
	st.Now, st.Started, st.Version = now, c.start, buildinfo.Get()
	st.Dropped, st.Reaped = c.dropped.Load(), c.reg.reaped.Load()
	for _, s := range jobs.States {
		st.Counts[s] = c.counts.of(s)
		st.Total += c.counts.of(s)
	}
	for _, w := range c.reg.workers {
		switch {
		case w.restored:
			continue
		case w.state == rpcapi.WorkerDead:
			st.Workers.Dead++
			continue
		case w.state == rpcapi.WorkerDraining:
			st.Workers.Draining++
		default:
			st.Workers.Alive++
		}
		st.Workers.Slots += w.slots
		st.Workers.Busy += len(w.leases)
	}
	c.live.throughput(st.Throughput.Buckets, start)
	st.Attention = c.attention(c.now())
	ageing = st.Workers.Alive+st.Workers.Draining > 0 || st.Counts[jobs.Running] > 0
	if !full {
		return ev, ageing
	}
	top := c.live.changedSince(since)
	ev.Workers = c.reg.workerInfos()
	ev.Changes = make([]rpcapi.JobView, len(top))
	for i, j := range top {
		ev.Changes[i] = rpcapi.ViewJob(j)
	}
	return ev, ageing
}

// insertNewest adds j to top (newest first) if it is among the maxChanges
// most recently updated.
func insertNewest(top []*jobs.Job, j *jobs.Job) []*jobs.Job {
	if len(top) == maxChanges && !j.Updated.After(top[len(top)-1].Updated) {
		return top
	}
	i := sort.Search(len(top), func(i int) bool { return top[i].Updated.Before(j.Updated) })
	if len(top) == maxChanges {
		top = top[:len(top)-1]
	}
	return slices.Insert(top, i, j)
}

// serveEvents streams the live view as server-sent events: one event at
// once, then one after each change (at most one per eventGap), a repeat
// every eventRefresh while something ages, and a keepalive comment after
// keepaliveEvery of silence. It returns when the client goes away, the
// master closes, or the request's token may no longer read (the master's
// tokens were replaced: the browser reconnects and is asked again).
func (a httpAPI) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc, ok := startEvents(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	refresh := time.NewTimer(eventRefresh)
	defer refresh.Stop()
	keepalive := time.NewTimer(keepaliveEvery)
	defer keepalive.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	var since time.Time
	for {
		if !mayRead(ctx) {
			return
		}
		changed := a.view.Changed()
		ev, ageing := a.view.liveView(since, true)
		since = ev.Status.Now
		data, err := json.Marshal(ev)
		if err != nil {
			a.log.WithError(err).Error("events: encode")
			return
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
		gap.Reset(eventGap)
		keepalive.Reset(keepaliveEvery)
		refresh.Reset(eventRefresh)
		tick := refresh.C
		if !ageing {
			tick = nil
		}
	wait:
		for {
			select {
			case <-changed:
				break wait
			case <-tick:
				break wait
			case <-keepalive.C:
				if !mayRead(ctx) {
					return
				}
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
					return
				}
				keepalive.Reset(keepaliveEvery)
			case <-ctx.Done():
				return
			case <-a.stopped:
				return
			}
		}
		select {
		case <-gap.C:
		case <-ctx.Done():
			return
		case <-a.stopped:
			return
		}
	}
}

// mayRead reports whether the token of ctx's request may still read, as
// the master's tokens are now.
func mayRead(ctx context.Context) bool {
	id, err := rpcapi.IdentityFrom(ctx)
	return err == nil && rpcapi.Allows(rpcapi.ReadRoles, id.Role)
}

// startEvents answers an event stream's request: an error for a bad
// query, else the stream's headers and its retry line, with the server's
// timeouts lifted. It reports whether events are to follow.
func startEvents(w http.ResponseWriter, r *http.Request) (*http.ResponseController, bool) {
	if _, err := queryParams(r); err != nil {
		status, code := errorStatus(err)
		writeError(w, status, code, errorMessage(err))
		return nil, false
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil, false
	}
	// The server's read and write timeouts are for requests, not for a
	// stream that lasts as long as the page is open: lift them. (An
	// expired read deadline would end the stream by cancelling ctx.)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil, false
	}
	return rc, true
}
