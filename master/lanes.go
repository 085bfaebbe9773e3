package master

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
)

// Rate is a rate limit: at most N dispatches per Per, with bursts up to N.
type Rate struct {
	N   int
	Per time.Duration
}

// ParseRate parses "10/s", "100/m", "5/h" or "3/250ms".
func ParseRate(s string) (Rate, error) {
	n, per, ok := strings.Cut(s, "/")
	var r Rate
	if _, err := fmt.Sscanf(n, "%d", &r.N); !ok || err != nil || r.N <= 0 {
		return Rate{}, fmt.Errorf("rate %q: want N/unit, e.g. \"10/s\" or \"100/m\"", s)
	}
	switch per {
	case "s":
		r.Per = time.Second
	case "m":
		r.Per = time.Minute
	case "h":
		r.Per = time.Hour
	default:
		d, err := time.ParseDuration(per)
		if err != nil || d <= 0 {
			return Rate{}, fmt.Errorf("rate %q: unit must be s, m, h or a duration", s)
		}
		r.Per = d
	}
	return r, nil
}

func (r Rate) String() string {
	if r.N == 0 {
		return "none"
	}
	return fmt.Sprintf("%d/%s", r.N, r.Per)
}

// Limit bounds the jobs of one limit key or one type: Concurrency running
// at once fleet-wide (0: no bound) and a dispatch Rate (zero: no bound).
type Limit struct {
	Concurrency int
	Rate        Rate
}

func (l Limit) zero() bool { return l.Concurrency == 0 && l.Rate.N == 0 }

// bucket is a token bucket for a Rate.
type bucket struct {
	tokens float64
	last   time.Time
}

// bucketOf returns the bucket of k in bs, adding an empty one.
func bucketOf(bs map[string]*bucket, k string) *bucket {
	b := bs[k]
	if b == nil {
		b = &bucket{}
		bs[k] = b
	}
	return b
}

// take reports whether a token is there now, and if not, when one will
// be. It takes the token when there is one.
func (b *bucket) ready(r Rate, now time.Time) (bool, time.Time) {
	if b.last.IsZero() {
		b.tokens, b.last = float64(r.N), now
	}
	per := float64(r.Per) / float64(r.N)
	b.tokens = min(float64(r.N), b.tokens+float64(now.Sub(b.last))/per)
	b.last = now
	if b.tokens >= 1 {
		return true, time.Time{}
	}
	return false, now.Add(time.Duration((1 - b.tokens) * per))
}

// full reports whether the bucket has refilled to its burst by now, so
// that dropping it changes nothing.
func (b *bucket) full(r Rate, now time.Time) bool {
	if b.last.IsZero() || r.N <= 0 {
		return true
	}
	per := float64(r.Per) / float64(r.N)
	return b.tokens+float64(now.Sub(b.last))/per >= float64(r.N)
}

// lane is a set of pending jobs that share every dispatch constraint.
type lane struct {
	name string
	typ  string
	tags []string
	key  string
	pin  string // a broadcast copy's worker name
	// limited: a type or key limit applies (set here and by SetLimits), so
	// blocked and took have work to do.
	limited bool
}

// limits holds the state of the dispatch limits (Config.Limits,
// DefaultLimit, TypeLimits): the lanes pending jobs wait in, the running
// counts by type and by limit key, and the rate buckets. Guarded by
// Master.mu.
type limits struct {
	// The limits, from the Config (New) or SetLimits.
	typeLimits   map[string]Limit
	keyLimits    map[string]Limit
	defaultLimit Limit

	lanes      map[string]*lane // by name
	plainLanes map[string]*lane // the lanes of jobs without tags, limit key or pin, by type
	// running jobs by type and by limit key, and rate buckets
	runningType map[string]int
	runningKey  map[string]int
	typeBuckets map[string]*bucket
	keyBuckets  map[string]*bucket
	// books keeps, by lane name, what the queues view shows of a lane
	// beside the queue's counts: its running jobs and its throughput
	// (queues.go).
	books map[string]*laneBook
}

func newLimits(cfg *Config) limits {
	return limits{
		typeLimits:   cfg.TypeLimits,
		keyLimits:    cfg.Limits,
		defaultLimit: cfg.DefaultLimit,
		lanes:        make(map[string]*lane),
		plainLanes:   make(map[string]*lane),
		runningType:  make(map[string]int),
		runningKey:   make(map[string]int),
		typeBuckets:  make(map[string]*bucket),
		keyBuckets:   make(map[string]*bucket),
		books:        make(map[string]*laneBook),
	}
}

// laneOf returns the lane of j, creating it.
func (lim *limits) laneOf(j *jobs.Job) *lane {
	plain := len(j.Spec.Tags) == 0 && j.Spec.LimitKey == "" && j.Pin == ""
	if plain {
		if l := lim.plainLanes[j.Spec.Type]; l != nil {
			return l
		}
	}
	var buf [laneNameBuf]byte
	name := appendLaneName(buf[:0], j)
	l := lim.lanes[string(name)]
	if l == nil {
		l = lim.newLane(string(name), j.Spec.Type, laneTags(j.Spec.Tags), j.Spec.LimitKey, j.Pin)
	}
	if plain {
		lim.plainLanes[j.Spec.Type] = l
	}
	return l
}

// newLane makes the lane of that name and adds it to lanes.
func (lim *limits) newLane(name, typ string, tags []string, key, pin string) *lane {
	l := &lane{name: name, typ: typ, tags: tags, key: key, pin: pin}
	l.limited = !lim.typeLimits[l.typ].zero() || (l.key != "" && !lim.keyLimit(l.key).zero())
	lim.lanes[name] = l
	return l
}

// laneNameBuf is the room on the stack for a lane's name while it is
// looked up; a longer name takes the heap.
const laneNameBuf = 256

// appendLaneName appends to b the name of j's lane: its type, its tags
// sorted without repeats and joined by commas, its limit key and its pin,
// joined by NULs.
func appendLaneName(b []byte, j *jobs.Job) []byte {
	b = append(append(b, j.Spec.Type...), 0)
	tags := j.Spec.Tags
	if !sortedSet(tags) {
		tags = laneTags(tags)
	}
	for i, t := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, t...)
	}
	b = append(append(b, 0), j.Spec.LimitKey...)
	return append(append(b, 0), j.Pin...)
}

// laneTags returns a sorted copy of tags without repeats, as a lane keeps
// them.
func laneTags(tags []string) []string {
	t := slices.Clone(tags)
	slices.Sort(t)
	return slices.Compact(t)
}

// sortedSet reports whether tags are sorted without repeats.
func sortedSet(tags []string) bool {
	for i := 1; i < len(tags); i++ {
		if tags[i-1] >= tags[i] {
			return false
		}
	}
	return true
}

// enqueue puts a pending job in its lane. The caller holds mu.
func (c *core) enqueue(j *jobs.Job) {
	l := c.lim.laneOf(j)
	c.queue.PushLane(j, l.name)
	c.lim.bookOf(l)
}

// keyLimit is the limit of a limit key.
func (lim *limits) keyLimit(key string) Limit {
	if l, ok := lim.keyLimits[key]; ok {
		return l
	}
	return lim.defaultLimit
}

// blocked says why a lane cannot take one more job now ("" if it can),
// and when a rate limit lets it next.
func (lim *limits) blocked(l *lane, now time.Time) (string, time.Time) {
	if !l.limited {
		return "", time.Time{}
	}
	tl := lim.typeLimits[l.typ]
	if tl.Concurrency > 0 && lim.runningType[l.typ] >= tl.Concurrency {
		return fmt.Sprintf("type %q is at its limit of %d running", l.typ, tl.Concurrency), time.Time{}
	}
	var kl Limit
	if l.key != "" {
		kl = lim.keyLimit(l.key)
		if kl.Concurrency > 0 && lim.runningKey[l.key] >= kl.Concurrency {
			return fmt.Sprintf("limit key %q is at its limit of %d running", l.key, kl.Concurrency), time.Time{}
		}
	}
	if tl.Rate.N > 0 {
		if ok, next := bucketOf(lim.typeBuckets, l.typ).ready(tl.Rate, now); !ok {
			return fmt.Sprintf("type %q is at its rate of %s", l.typ, tl.Rate), next
		}
	}
	if kl.Rate.N > 0 {
		if ok, next := bucketOf(lim.keyBuckets, l.key).ready(kl.Rate, now); !ok {
			return fmt.Sprintf("limit key %q is at its rate of %s", l.key, kl.Rate), next
		}
	}
	return "", time.Time{}
}

// took records a dispatch from lane l against its rate buckets. The caller
// has checked blocked.
func (lim *limits) took(l *lane) {
	if !l.limited {
		return
	}
	if b := lim.typeBuckets[l.typ]; b != nil && lim.typeLimits[l.typ].Rate.N > 0 {
		b.tokens--
	}
	if b := lim.keyBuckets[l.key]; b != nil && l.key != "" && lim.keyLimit(l.key).Rate.N > 0 {
		b.tokens--
	}
}

// account keeps the running counts by type and limit key as a job moves
// from state before to its current state.
func (lim *limits) account(j *jobs.Job, before jobs.State) {
	if j.Spec.Broadcast {
		return // runs nothing itself
	}
	was, is := before == jobs.Running, j.State == jobs.Running
	if was == is {
		return
	}
	d := 1
	if was {
		d = -1
	}
	if len(lim.typeLimits) > 0 { // only type limits read runningType
		lim.runningType[j.Spec.Type] += d
		if lim.runningType[j.Spec.Type] == 0 {
			delete(lim.runningType, j.Spec.Type)
			if len(lim.runningType) == 0 {
				lim.runningType = make(map[string]int) // see release
			}
		}
	}
	if j.Spec.LimitKey != "" {
		lim.runningKey[j.Spec.LimitKey] += d
		if lim.runningKey[j.Spec.LimitKey] == 0 {
			delete(lim.runningKey, j.Spec.LimitKey)
			if len(lim.runningKey) == 0 {
				lim.runningKey = make(map[string]int) // see release
			}
		}
	}
}

// release drops the lanes that hold no ready job in q and the rate buckets
// that are full again (sweep), then rebuilds each of those maps that
// lost more entries in the sweep than it kept: a Go map keeps the memory
// of its deleted entries, so a map that once held a hundred thousand
// limit keys would keep their room for good. A copy costs no more than
// the deletes that made it due. (The running counts by key and type are
// made anew in account when they empty.)
func (lim *limits) release(q *jobs.Queue, now time.Time) {
	lanes, keys, types, books := len(lim.lanes), len(lim.keyBuckets), len(lim.typeBuckets), len(lim.books)
	lim.sweep(q, now)
	lim.sweepBooks(q, now)
	if books-len(lim.books) > len(lim.books) {
		lim.books = copyMap(lim.books)
	}
	if lanes-len(lim.lanes) > len(lim.lanes) {
		lim.lanes, lim.plainLanes = copyMap(lim.lanes), copyMap(lim.plainLanes)
	}
	if keys-len(lim.keyBuckets) > len(lim.keyBuckets) {
		lim.keyBuckets = copyMap(lim.keyBuckets)
	}
	if types-len(lim.typeBuckets) > len(lim.typeBuckets) {
		lim.typeBuckets = copyMap(lim.typeBuckets)
	}
}

// sweep drops lanes that hold no ready job in q and rate buckets that are
// full again, so that a hundred thousand limit keys used once cost nothing
// once their jobs are done. A lane is made again when a job needs it
// (laneOf, and dispatch for a lane whose jobs come back from a delay).
func (lim *limits) sweep(q *jobs.Queue, now time.Time) {
	if len(lim.lanes) > 2*len(q.ReadyTypes())+64 {
		for name, l := range lim.lanes {
			if q.Ready(name) == 0 {
				delete(lim.lanes, name)
				if lim.plainLanes[l.typ] == l {
					delete(lim.plainLanes, l.typ)
				}
			}
		}
	}
	for key, b := range lim.keyBuckets {
		if r := lim.keyLimit(key).Rate; r.N == 0 || b.full(r, now) {
			delete(lim.keyBuckets, key)
		}
	}
	for typ, b := range lim.typeBuckets {
		if r := lim.typeLimits[typ].Rate; r.N == 0 || b.full(r, now) {
			delete(lim.typeBuckets, typ)
		}
	}
}

// copyMap returns a new map with m's entries, sized for them.
func copyMap[K comparable, V any](m map[K]V) map[K]V {
	c := make(map[K]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// hasTags reports whether w has every tag in want.
func (w *workerRec) hasTags(want []string) bool {
	for _, t := range want {
		if !w.tagSet[t] {
			return false
		}
	}
	return true
}

func (l Limit) check() error {
	if l.Concurrency < 0 || l.Rate.N < 0 || (l.Rate.N > 0 && l.Rate.Per <= 0) {
		return fmt.Errorf("negative concurrency or bad rate %s", l.Rate)
	}
	return nil
}
