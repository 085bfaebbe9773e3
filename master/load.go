package master

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
)

// load rebuilds the in-memory state from the store. Running jobs keep their
// leases under placeholder workers until their worker re-registers and
// reports them (adoption) or dead_after passes (lost).
//
// Every record is read, but only the jobs that stay in memory are decoded
// (retain.go, stays): live jobs, jobs of groups, jobs held by their
// unique_for or a job_failed notice not yet sent, and of the other
// finished jobs that finished less than Retain ago the RetainJobs that
// finished last. The rest are history: counted, their jobs-file keys and
// their schedules' last fire keys kept, read from the store when asked
// for (history.go). A restart so costs a peek per finished job on disk
// (jobs.PeekRecord), not a decode.
func (c *core) load() error {
	l, err := c.loadLive()
	if err != nil {
		return err
	}
	return c.loadRest(l)
}

// loadLive is the first part of load: with a store that can read its live
// jobs apart (jobs.LiveLoader), it loads those (pending and running jobs,
// the running ones under placeholder workers), so that the master can
// serve its workers; loadRest then reads every other record, while the
// master serves. With any other store it does nothing: loadRest reads
// everything.
func (c *core) loadLive() (*loader, error) {
	l := &loader{core: c, now: c.now(), began: time.Now(), fires: make(map[string]fireRef)}
	l.hs, _ = c.store.(jobs.HistoryStore)
	if err := errors.Join(l.loadNotices(), l.loadLeft()); err != nil {
		return nil, fmt.Errorf("master: load: %w", err)
	}
	ll, ok := c.store.(jobs.LiveLoader)
	if !ok {
		return l, nil
	}
	l.first = make(map[uint64]bool)
	if !l.takeWarm() {
		if err := ll.LoadLive(l.liveRecord); err != nil {
			return nil, fmt.Errorf("master: load: %w", err)
		}
	}
	// Job IDs are never handed out twice, even for jobs the store lost
	// or deleted: the next is above the highest ever saved.
	c.seq = max(c.seq, jobs.HighWater(c.store))
	l.upTo = c.seq
	c.log.WithFields(logrus.Fields{"live": len(l.first), "running": l.restored,
		"warm": l.warm, "took": time.Since(l.began).Round(time.Millisecond).String()}).Info("store: live jobs loaded")
	return l, nil
}

// loadRestHook, when set (tests), runs before loadRest reads the store
// while the master serves.
var loadRestHook func()

// loadRest reads the store's records that loadLive did not (all of them
// for a store that cannot tell live jobs apart). After loadLive the master
// may be serving: it then takes mu for each change, and leaves alone the
// jobs loadLive loaded and any job newer than the load.
func (c *core) loadRest(l *loader) error {
	l.concurrent = l.first != nil
	if l.concurrent && loadRestHook != nil {
		loadRestHook()
	}
	if err := c.store.Load(l.record); err != nil {
		return fmt.Errorf("master: load: %w", err)
	}
	if err := l.finish(); err != nil {
		return fmt.Errorf("master: load: %w", err)
	}
	l.lock()
	c.seq = max(c.seq, jobs.HighWater(c.store))
	inMem := c.byseq.len()
	l.unlock()
	c.log.WithFields(logrus.Fields{"jobs": l.loaded, "in_memory": inMem, "history": l.history,
		"running": l.restored, "took": time.Since(l.began).Round(time.Millisecond).String()}).Info("store loaded")
	return nil
}

// loader is load's state while it reads the store.
type loader struct {
	core  *core
	now   time.Time // the master's time (clock)
	began time.Time // when the load began, for its log lines
	// notices holds the IDs of failed jobs whose job_failed notice is
	// not sent yet (groups.go): they stay in memory until it is.
	notices map[string]bool
	// recent holds the finished jobs younger than Retain that may stay
	// in memory: the RetainJobs that finished last. They are decoded at
	// the end, read again from the store (or from copies of their
	// records, kept here, when it cannot read single records).
	recent recentHeap
	hs     jobs.HistoryStore
	// fires holds, per schedule, the newest fire job that stays on disk
	// only (the scheduler looks its last fire up by key).
	fires  map[string]fireRef
	finals []retireEntry
	// left holds the spans of each group that has left memory.
	left map[string][][2]uint64
	// first holds the Seqs loadLive loaded (nil: it loaded none), and
	// upTo the highest Seq when it ended: loadRest leaves those, and
	// newer jobs, alone. concurrent says the master serves meanwhile:
	// every change takes mu.
	first      map[uint64]bool
	upTo       uint64
	warm       bool // loadLive took the live jobs from memory (takeWarm)
	concurrent bool
	loaded     int
	history    int // jobs on disk only
	restored   int // running jobs, under placeholder workers
	idBuf      [20]byte
}

// fireRef is a schedule's fire job: its Seq and key.
type fireRef struct {
	seq uint64
	key string
}

// loadNotices reads which failed jobs wait for their job_failed notice.
func (l *loader) loadNotices() error {
	ms, ok := l.core.store.(jobs.MetaStore)
	if !ok {
		return nil
	}
	return ms.LoadMeta(metaNotify, func(k string, _ []byte) error {
		if id, ok := strings.CutPrefix(k, "job/"); ok {
			if l.notices == nil {
				l.notices = make(map[string]bool)
			}
			l.notices[id] = true
		}
		return nil
	})
}

// lock takes mu when the master serves while the loader runs.
func (l *loader) lock() {
	if l.concurrent {
		l.core.mu.Lock()
	}
}

func (l *loader) unlock() {
	if l.concurrent {
		l.core.mu.Unlock()
	}
}

// head reads and checks a stored record's head.
func (l *loader) head(seq uint64, data []byte) (jobs.RecordHead, error) {
	h, err := jobs.PeekRecord(data)
	if err != nil {
		return h, fmt.Errorf("jobs: stored job seq %d: %w", seq, err)
	}
	if h.Seq != seq {
		return h, fmt.Errorf("jobs: stored job seq %d: %w: it says seq %d", seq, jobs.ErrRecord, h.Seq)
	}
	if h.Seq == 0 || !bytes.Equal(h.ID, strconv.AppendUint(l.idBuf[:0], h.Seq, 10)) || !h.State.Valid() {
		return h, fmt.Errorf("master: stored job seq %d is corrupt (id %q, state %q)", h.Seq, h.ID, h.State)
	}
	return h, nil
}

// liveRecord takes one record of loadLive: a live job's is loaded, others
// are left to loadRest.
func (l *loader) liveRecord(seq uint64, data []byte) error {
	h, err := l.head(seq, data)
	if err != nil || h.State.Final() {
		return err
	}
	j, err := jobs.DecodeRecord(data)
	if err != nil {
		return fmt.Errorf("jobs: stored job seq %d: %w", seq, err)
	}
	l.loaded++
	l.core.seq = max(l.core.seq, h.Seq)
	l.first[seq] = true
	l.add(j)
	return nil
}

// takeWarm takes the live jobs from a store that kept them decoded (a
// raft member's, elected: jobs.WarmLive), and reports whether it did.
// Each is checked as liveRecord checks a record's head.
func (l *loader) takeWarm() bool {
	ws, ok := l.core.store.(jobs.WarmLive)
	if !ok {
		return false
	}
	js, err := ws.TakeLive()
	for _, j := range js {
		if err == nil && (j.Seq == 0 || j.ID != strconv.FormatUint(j.Seq, 10) || !j.State.Valid() || j.State.Final()) {
			err = fmt.Errorf("master: kept job seq %d is corrupt (id %q, state %q)", j.Seq, j.ID, j.State)
		}
	}
	if err != nil {
		if !errors.Is(err, jobs.ErrNotWarm) {
			l.core.log.WithError(err).Warn("store: the live jobs kept in memory are not whole; reading them from the store")
		}
		return false
	}
	for _, j := range js {
		l.loaded++
		l.first[j.Seq] = true
		l.add(j)
	}
	l.warm = true
	return true
}

// record takes one stored record, in Seq order. data is valid only until
// it returns.
func (l *loader) record(seq uint64, data []byte) error {
	if l.first[seq] || (l.upTo != 0 && seq > l.upTo) {
		return nil // loaded by loadLive, or newer than the load: in memory
	}
	h, err := l.head(seq, data)
	if err != nil {
		return err
	}
	// Seqs have gaps (a failed submit, jobs deleted after history):
	// the store checks its records (jobs.ErrCorrupt) instead.
	l.loaded++
	notice := l.notices[string(h.ID)]
	switch {
	case !notice && l.leftCovers(&h):
		// Its group left memory with it (groupdisk.go).
		l.out(h.Seq, h.State, h.Key)
	case l.core.stays(&h, l.now, notice):
		j, err := jobs.DecodeRecord(data)
		if err != nil {
			return fmt.Errorf("jobs: stored job seq %d: %w", seq, err)
		}
		l.add(j)
	case !l.now.Before(h.Updated.Add(l.core.cfg.Retain)):
		l.out(h.Seq, h.State, h.Key)
	default:
		l.recentJob(&h, data)
	}
	return nil
}

// loadLeft reads the spans of the groups that have left memory (their
// entries, groupdisk.go), before the records: the store's records are
// read in one read transaction, which must not open another.
func (l *loader) loadLeft() error {
	ms, ok := l.core.store.(jobs.MetaStore)
	if !ok {
		return nil
	}
	return ms.LoadMeta(metaLeft, func(k string, v []byte) error {
		var e leftGroup
		if err := json.Unmarshal(v, &e); err != nil || len(e.Spans) == 0 {
			return fmt.Errorf("group %q: entry on disk unreadable: %q", k, v)
		}
		if l.left == nil {
			l.left = make(map[string][][2]uint64)
		}
		l.left[k] = e.Spans
		return nil
	})
}

// leftCovers reports whether the final job whose head is h lies in the
// spans of its group's entry: the group left memory, and the job with
// it.
func (l *loader) leftCovers(h *jobs.RecordHead) bool {
	if len(h.Group) == 0 || !h.State.Final() {
		return false
	}
	for _, sp := range l.left[string(h.Group)] {
		if sp[0] <= h.Seq && h.Seq <= sp[1] {
			return true
		}
	}
	return false
}

// recentJob offers a finished job younger than Retain to the ones that
// stay in memory: the RetainJobs that finished last.
func (l *loader) recentJob(h *jobs.RecordHead, data []byte) {
	e := recentRec{seq: h.Seq, at: h.Updated, state: h.State}
	r := &l.recent
	if len(*r) >= l.core.cfg.RetainJobs {
		if len(*r) == 0 || !(*r)[0].before(e) {
			l.out(h.Seq, h.State, h.Key) // it finished before every one kept
			return
		}
	}
	if keptKey(h.Key) {
		e.key = string(h.Key)
	}
	if l.hs == nil {
		e.data = slices.Clone(data)
	}
	if len(*r) < l.core.cfg.RetainJobs {
		r.push(e)
		return
	}
	old := r.replaceMin(e)
	l.out(old.seq, old.state, []byte(old.key))
}

// keptKey reports whether key stays known when its job stays on disk
// only (out).
func keptKey(key []byte) bool {
	return bytes.HasPrefix(key, []byte(jobsFileKeyPrefix)) || bytes.HasPrefix(key, []byte(schedKeyPrefix))
}

// out counts a job that stays on disk only. What must stay known of it
// does: a jobs file's key (the file is submitted again at every start),
// and the key of a schedule's newest fire (its scheduler looks the fire
// up, and would submit it again if it were not found).
func (l *loader) out(seq uint64, state jobs.State, key []byte) {
	c := l.core
	l.lock()
	defer l.unlock()
	c.seq = max(c.seq, seq)
	c.ret.outside = true
	c.counts.add(state, 1)
	l.history++
	switch {
	case bytes.HasPrefix(key, []byte(jobsFileKeyPrefix)):
		c.keys.byKey[string(key)] = strconv.FormatUint(seq, 10)
	case bytes.HasPrefix(key, []byte(schedKeyPrefix)):
		name := key[len(schedKeyPrefix):]
		if i := bytes.LastIndexByte(name, '@'); i >= 0 {
			name = name[:i]
		}
		if f, ok := l.fires[string(name)]; !ok || f.seq < seq {
			l.fires[string(name)] = fireRef{seq: seq, key: string(key)}
		}
	}
}

// add puts a decoded job in memory.
func (l *loader) add(j *jobs.Job) {
	c := l.core
	l.lock()
	defer l.unlock()
	c.seq = max(c.seq, j.Seq)
	c.insert(j)
	if j.State.Final() {
		c.ret.finishedMem++
		if j.Spec.Group == "" {
			at := j.Updated.UnixNano()
			l.finals = append(l.finals, retireEntry{seq: j.Seq, at: at, fin: at})
		}
	}
	switch j.State {
	case jobs.Pending:
		c.enqueue(j)
	case jobs.Running:
		if j.Spec.Broadcast {
			break // a broadcast job runs nothing itself
		}
		w := c.reg.placeholder(j.Worker, l.now)
		w.leases[j.ID] = &lease{job: j, attempt: j.Attempt, acked: l.now, deadline: c.deadline(j, l.now)}
		l.restored++
	}
}

// finish decodes the recent finished jobs that stay, in Seq order, and
// queues every finished job in memory for retirement, in the order they
// finished.
func (l *loader) finish() error {
	c := l.core
	recent := []recentRec(l.recent)
	l.recent = nil
	// The finished jobs that stay for another reason (stays) count toward
	// RetainJobs, as they do once the master runs (retirePass): of the
	// rest, the ones that finished first leave now, not in the first
	// retire pass.
	l.lock()
	held := c.ret.finishedMem
	l.unlock()
	if over := min(len(recent), len(recent)+held-c.cfg.RetainJobs); over > 0 {
		slices.SortFunc(recent, func(a, b recentRec) int {
			if a.before(b) {
				return -1
			}
			return 1
		})
		for _, e := range recent[:over] {
			l.out(e.seq, e.state, []byte(e.key))
		}
		recent = recent[over:]
	}
	slices.SortFunc(recent, func(a, b recentRec) int { return cmp.Compare(a.seq, b.seq) })
	if err := l.readRecent(recent); err != nil {
		return err
	}
	l.lock()
	defer l.unlock()
	for _, f := range l.fires {
		if _, ok := c.keys.byKey[f.key]; !ok {
			c.keys.byKey[f.key] = strconv.FormatUint(f.seq, 10)
		}
	}
	slices.SortFunc(l.finals, func(a, b retireEntry) int { return cmp.Compare(a.at, b.at) })
	for _, e := range l.finals {
		c.ret.retiring.push(e)
	}
	if l.first != nil {
		// loadLive put a group's live jobs first: back to submission
		// order.
		for _, ids := range c.groups {
			slices.SortFunc(ids, cmpIDs)
		}
	}
	return nil
}
