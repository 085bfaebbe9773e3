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
	// limited: a type or key limit applies (limits are fixed at New), so
	// blocked and took have work to do.
	limited bool
}

// laneOf returns the lane of j, creating it. The caller holds mu.
func (m *Master) laneOf(j *jobs.Job) *lane {
	plain := len(j.Spec.Tags) == 0 && j.Spec.LimitKey == "" && j.Pin == ""
	if plain {
		if l := m.plainLanes[j.Spec.Type]; l != nil {
			return l
		}
	}
	tags := slices.Clone(j.Spec.Tags)
	slices.Sort(tags)
	tags = slices.Compact(tags)
	name := j.Spec.Type + "\x00" + strings.Join(tags, ",") + "\x00" + j.Spec.LimitKey + "\x00" + j.Pin
	l := m.lanes[name]
	if l == nil {
		l = &lane{name: name, typ: j.Spec.Type, tags: tags, key: j.Spec.LimitKey, pin: j.Pin}
		l.limited = !m.cfg.TypeLimits[l.typ].zero() || (l.key != "" && !m.keyLimit(l.key).zero())
		m.lanes[name] = l
	}
	if plain {
		m.plainLanes[j.Spec.Type] = l
	}
	return l
}

// enqueue puts a pending job in its lane. The caller holds mu.
func (m *Master) enqueue(j *jobs.Job) {
	m.queue.PushLane(j, m.laneOf(j).name)
}

// keyLimit is the limit of a limit key.
func (m *Master) keyLimit(key string) Limit {
	if l, ok := m.cfg.Limits[key]; ok {
		return l
	}
	return m.cfg.DefaultLimit
}

// blocked says why a lane cannot take one more job now ("" if it can),
// and when a rate limit lets it next. The caller holds mu.
func (m *Master) blocked(l *lane, now time.Time) (string, time.Time) {
	if !l.limited {
		return "", time.Time{}
	}
	tl := m.cfg.TypeLimits[l.typ]
	if tl.Concurrency > 0 && m.runningType[l.typ] >= tl.Concurrency {
		return fmt.Sprintf("type %q is at its limit of %d running", l.typ, tl.Concurrency), time.Time{}
	}
	var kl Limit
	if l.key != "" {
		kl = m.keyLimit(l.key)
		if kl.Concurrency > 0 && m.runningKey[l.key] >= kl.Concurrency {
			return fmt.Sprintf("limit key %q is at its limit of %d running", l.key, kl.Concurrency), time.Time{}
		}
	}
	if tl.Rate.N > 0 {
		if ok, next := bucketOf(m.typeBuckets, l.typ).ready(tl.Rate, now); !ok {
			return fmt.Sprintf("type %q is at its rate of %s", l.typ, tl.Rate), next
		}
	}
	if kl.Rate.N > 0 {
		if ok, next := bucketOf(m.keyBuckets, l.key).ready(kl.Rate, now); !ok {
			return fmt.Sprintf("limit key %q is at its rate of %s", l.key, kl.Rate), next
		}
	}
	return "", time.Time{}
}

// took records a dispatch from lane l against its rate buckets. The caller
// holds mu and has checked blocked.
func (m *Master) took(l *lane) {
	if !l.limited {
		return
	}
	if b := m.typeBuckets[l.typ]; b != nil && m.cfg.TypeLimits[l.typ].Rate.N > 0 {
		b.tokens--
	}
	if b := m.keyBuckets[l.key]; b != nil && l.key != "" && m.keyLimit(l.key).Rate.N > 0 {
		b.tokens--
	}
}

// account keeps the running counts by type and limit key as a job moves
// from state before to its current state. The caller holds mu.
func (m *Master) account(j *jobs.Job, before jobs.State) {
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
	if len(m.cfg.TypeLimits) > 0 { // only type limits read runningType
		m.runningType[j.Spec.Type] += d
		if m.runningType[j.Spec.Type] == 0 {
			delete(m.runningType, j.Spec.Type)
			if len(m.runningType) == 0 {
				m.runningType = make(map[string]int) // see releaseLanes
			}
		}
	}
	if j.Spec.LimitKey != "" {
		m.runningKey[j.Spec.LimitKey] += d
		if m.runningKey[j.Spec.LimitKey] == 0 {
			delete(m.runningKey, j.Spec.LimitKey)
			if len(m.runningKey) == 0 {
				m.runningKey = make(map[string]int) // see releaseLanes
			}
		}
	}
}

// releaseLanes drops the lanes that hold no ready job and the rate buckets
// that are full again (sweepLanes), then rebuilds each of those maps that
// lost more entries in the sweep than it kept: a Go map keeps the memory
// of its deleted entries, so a map that once held a hundred thousand
// limit keys would keep their room for good. A copy costs no more than
// the deletes that made it due. (The running counts by key and type are
// made anew in account when they empty.) The caller holds mu.
func (m *Master) releaseLanes(now time.Time) {
	lanes, keys, types := len(m.lanes), len(m.keyBuckets), len(m.typeBuckets)
	m.sweepLanes(now)
	if lanes-len(m.lanes) > len(m.lanes) {
		m.lanes, m.plainLanes = copyMap(m.lanes), copyMap(m.plainLanes)
	}
	if keys-len(m.keyBuckets) > len(m.keyBuckets) {
		m.keyBuckets = copyMap(m.keyBuckets)
	}
	if types-len(m.typeBuckets) > len(m.typeBuckets) {
		m.typeBuckets = copyMap(m.typeBuckets)
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
