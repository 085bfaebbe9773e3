package master

import (
	"slices"
	"sort"
	"time"

	"github.com/drover/drover/internal/buildinfo"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The live view: /api/v1/status, and what the server-sent events of
// /api/v1/events (events.go) send of it; the dashboard renders both.

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
	// SchedulesRev counts the changes of schedules since the master
	// started (made, changed, paused, resumed, run now, deleted): a page
	// that shows them fetches them again when it moves.
	SchedulesRev uint64 `json:"schedules_rev"`
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

// liveSnap is the live view at one moment: the status, every worker, and
// the jobs that changed since a time (events.go sends what of it changed).
type liveSnap struct {
	Status  apiStatus
	Workers []rpcapi.WorkerInfo
	// Shared numbers the taking of Status and Workers, which event
	// streams share (liveShared): a stream that sent the same one has
	// nothing new to send of them. Read-only.
	Shared uint64
	// Changes lists jobs changed since the time asked (newest first, at
	// most maxChanges; from the zero time, the latest ones). A job may
	// appear in two snapshots in a row.
	Changes []rpcapi.JobView
	// Truncated says that more jobs changed than Changes lists.
	Truncated bool
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
	// eventRefresh is how often a stream that asked for heartbeats sends
	// the workers again while one is live, so their ages stay current.
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
// any), newest first, at most maxChanges. With a since, more says that
// some jobs changed after it are not in top: left out for the bound, or
// gone from the ring already.
func (lc *liveCounters) changedSince(since time.Time) (top []*jobs.Job, more bool) {
	after := since.Add(-changeSlack)
	for _, c := range lc.recent {
		if c.j == nil || (!since.IsZero() && !c.at.After(after)) || slices.Contains(top, c.j) {
			continue
		}
		if len(top) == maxChanges {
			more = true
		}
		top = insertNewest(top, c.j)
	}
	if len(lc.recent) > 0 {
		// The oldest change kept is after since: older ones, overwritten,
		// may have been too.
		oldest := lc.recent[lc.recentAt]
		more = more || (oldest.j != nil && oldest.at.After(after))
	}
	return top, more && !since.IsZero()
}

// liveShared is the status and workers of the live view as last taken
// in full, for the event streams to share: every stream looks at the view
// at least every eventRefresh and after each change, and taking it walks
// every worker and lane under mu, so one taking serves them all while no
// job or worker changed and for at most eventGap. Guarded by mu.
type liveShared struct {
	seq     uint64 // 0: none yet
	gen     uint64 // core.gen when taken
	at      time.Time
	status  apiStatus
	workers []rpcapi.WorkerInfo
	live    bool
}

// liveView takes the live view in one pass under mu. With full, it also
// lists the workers and the jobs changed after since (zero: the latest);
// its status and workers may be those of a full view taken less than
// eventGap before with no change since (liveShared). It reports whether
// a worker is live.
func (c *core) liveView(since time.Time, full bool) (ev liveSnap, live bool) {
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
	sh := &c.liveShared
	if full && sh.seq != 0 && sh.gen == c.gen && now.Sub(sh.at) < eventGap {
		ev = liveSnap{Status: sh.status, Workers: sh.workers, Shared: sh.seq}
		c.liveChanges(&ev, since)
		return ev, sh.live
	}
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
	st.SchedulesRev = c.schedRev
	live = st.Workers.Alive+st.Workers.Draining > 0
	if !full {
		return ev, live
	}
	ev.Workers = c.reg.workerInfos()
	sh.seq++
	sh.gen, sh.at, sh.status, sh.workers, sh.live = c.gen, now, ev.Status, ev.Workers, live
	ev.Shared = sh.seq
	c.liveChanges(&ev, since)
	return ev, live
}

// liveChanges sets ev's jobs changed after since. The caller holds mu.
func (c *core) liveChanges(ev *liveSnap, since time.Time) {
	top, more := c.live.changedSince(since)
	ev.Truncated = more
	ev.Changes = make([]rpcapi.JobView, len(top))
	for i, j := range top {
		ev.Changes[i] = rpcapi.ViewJob(j)
	}
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
