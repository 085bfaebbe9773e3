package master

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Groups on disk. A group leaves memory with its last job (retain.go,
// retireGroup). The master then writes an entry for it in the store's
// meta bucket metaLeft: the spans of Seqs its jobs lie in, and its
// on_done record; and its place among the groups (its first job's Seq) in
// metaLeftOrder. A group that has left memory is read from its records:
// a walk of its spans, where records of other groups are skipped by their
// heads. Its entry goes when history or purge deletes its last record
// (pruneLeft). A group that gets jobs again (a new submit to its name, a
// retry of one of its jobs) is its jobs in memory and its records on disk
// together; when it leaves memory again its spans grow.
const (
	metaLeft      = "group-left"  // group name → leftGroup
	metaLeftOrder = "group-order" // leftOrderKey(first Seq, name) → nothing
)

// maxSpans bounds a group's spans: past it the two nearest merge (the
// walk then reads the records between them too).
const maxSpans = 32

// leftGroup is a group's entry on disk.
type leftGroup struct {
	Spans  [][2]uint64   `json:"spans"` // sorted, disjoint [first, last] Seqs
	OnDone *onDoneRecord `json:"on_done,omitempty"`
}

func (g *leftGroup) first() uint64 { return g.Spans[0][0] }
func (g *leftGroup) last() uint64  { return g.Spans[len(g.Spans)-1][1] }

// add merges o's spans into g's; o's on_done record, when it has one,
// replaces g's (it is the newer).
func (g *leftGroup) add(o *leftGroup) {
	if o.OnDone != nil {
		g.OnDone = o.OnDone
	}
	s := append(slices.Clone(g.Spans), o.Spans...)
	slices.SortFunc(s, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })
	out := s[:0]
	for _, sp := range s {
		if n := len(out); n > 0 && sp[0] <= out[n-1][1]+1 {
			out[n-1][1] = max(out[n-1][1], sp[1])
			continue
		}
		out = append(out, sp)
	}
	for len(out) > maxSpans {
		at := 0 // the gap to close: after out[at]
		for i := 1; i < len(out)-1; i++ {
			if out[i+1][0]-out[i][1] < out[at+1][0]-out[at][1] {
				at = i
			}
		}
		out[at][1] = out[at+1][1]
		out = slices.Delete(out, at+1, at+2)
	}
	g.Spans = out
}

// leftOrderKey is a group's key in metaLeftOrder: keys sort as Seqs.
func leftOrderKey(first uint64, name string) string {
	return fmt.Sprintf("%020d/%s", first, name)
}

// parseLeftOrderKey reverses leftOrderKey.
func parseLeftOrderKey(k string) (uint64, string, bool) {
	if len(k) < 21 || k[20] != '/' {
		return 0, "", false
	}
	first, err := strconv.ParseUint(k[:20], 10, 64)
	return first, k[21:], err == nil
}

// groupLeft notes that group g has left memory, its jobs lying between
// Seqs lo and hi: its entry is written by the next writeLeft, and until
// then read from m.left. The caller holds mu.
func (c *core) groupLeft(g string, lo, hi uint64, onDone *onDoneRecord) {
	if _, ok := c.store.(jobs.MetaStore); !ok {
		return
	}
	e := &leftGroup{Spans: [][2]uint64{{lo, hi}}, OnDone: onDone}
	if old := c.left[g]; old != nil {
		e.add(old) // a fresh value: writeLeft tells it from the one it wrote
		e.OnDone = onDone
	}
	if c.left == nil {
		c.left = make(map[string]*leftGroup)
	}
	c.left[g] = e
}

// writeLeft writes the entries of the groups that left memory since the
// last call, each merged with the entry on disk, in one commit; the group
// on_done records they replace go in the same commit. It must be called
// without mu; a failed write is tried again by the next call.
func (c *core) writeLeft() error {
	ms, ok := c.store.(jobs.MetaStore)
	if !ok {
		return nil
	}
	c.leftMu.Lock()
	defer c.leftMu.Unlock()
	c.mu.Lock()
	pend := make(map[string]*leftGroup, len(c.left))
	for g, e := range c.left {
		pend[g] = e
	}
	c.mu.Unlock()
	if len(pend) == 0 {
		return nil
	}
	var recs []jobs.MetaRecord
	for g, e := range pend {
		merged := &leftGroup{}
		old, err := c.diskLeft(ms, g)
		if err != nil {
			return err
		}
		if old != nil {
			merged.add(old)
			if old.first() != min(old.first(), e.first()) {
				recs = append(recs, jobs.MetaRecord{Bucket: metaLeftOrder, Key: leftOrderKey(old.first(), g)})
			}
		}
		merged.add(e)
		v, _ := json.Marshal(merged)
		recs = append(recs,
			jobs.MetaRecord{Bucket: metaLeft, Key: g, Val: v},
			jobs.MetaRecord{Bucket: metaLeftOrder, Key: leftOrderKey(merged.first(), g), Val: []byte{}},
			jobs.MetaRecord{Bucket: metaGroups, Key: g}) // its on_done record is in the entry now
	}
	if err := ms.SaveMetas(recs); err != nil {
		return fmt.Errorf("groups that left memory: %w", err)
	}
	c.mu.Lock()
	for g, e := range pend {
		if c.left[g] == e {
			delete(c.left, g)
		}
	}
	c.mu.Unlock()
	return nil
}

// diskLeft reads group g's entry from ms: nil when it has none.
func (c *core) diskLeft(ms jobs.MetaStore, g string) (*leftGroup, error) {
	v, err := ms.GetMeta(metaLeft, g)
	if err != nil || v == nil {
		return nil, err
	}
	e := new(leftGroup)
	if err := json.Unmarshal(v, e); err != nil || len(e.Spans) == 0 {
		return nil, fmt.Errorf("%w: group %q: entry on disk unreadable: %q", rpcapi.ErrInternal, g, v)
	}
	return e, nil
}

// leftOnDone reports whether group g has left memory before (its entry
// is on disk, or waits to be written), with its on_done record then. The
// caller holds mu; it reads the store's meta.
func (c *core) leftOnDone(g string) (*onDoneRecord, bool) {
	var e *leftGroup
	if ms, ok := c.store.(jobs.MetaStore); ok {
		var err error
		if e, err = c.diskLeft(ms, g); err != nil {
			c.log.WithError(err).WithField("group", g).Warn("group: entry on disk unreadable")
		}
	}
	if p := c.left[g]; p != nil {
		if e == nil {
			e = &leftGroup{}
		}
		e.add(p)
	}
	if e == nil {
		return nil, false
	}
	if e.OnDone != nil {
		return e.OnDone.clone(), true
	}
	return nil, true
}

// groupBack is called when group g, with no job in memory, gets one. A
// group that left memory before was final then, and its on_done has run:
// jobs added later are counted but do not run it again. It is marked
// fired, with its record, and closed, to leave memory again once its
// jobs are final. The caller holds mu.
func (c *core) groupBack(g string) {
	h := c.hooks
	if h == nil || h.fired[g] {
		return // the load's groups: resumeGroups looks at them
	}
	rec, ok := c.leftOnDone(g)
	if !ok {
		return
	}
	h.fired[g] = true
	if rec != nil && h.recs[g] == nil {
		h.recs[g] = rec
	}
	c.ret.groupClosed(g, c.now())
}

// leftEntry returns group g's entry, written or not yet: nil when g has
// never left memory (or its records have all left the disk). It must be
// called without mu.
func (c *core) leftEntry(g string) (*leftGroup, error) {
	ms, ok := c.store.(jobs.MetaStore)
	if !ok {
		return nil, nil
	}
	e, err := c.diskLeft(ms, g)
	if err != nil {
		return nil, fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	c.mu.Lock()
	if p := c.left[g]; p != nil {
		if e == nil {
			e = &leftGroup{}
		}
		e.add(p)
	}
	c.mu.Unlock()
	return e, nil
}

// walkLeft calls fn with the head of every record of group g in e's
// spans, by Seq, until fn returns false.
func walkLeft(hs jobs.HistoryStore, e *leftGroup, g string, fn func(h *jobs.RecordHead) bool) error {
	for _, sp := range e.Spans {
		stop := false
		err := hs.Ascend(sp[0]-1, func(seq uint64, data []byte) bool {
			if seq > sp[1] {
				return false
			}
			h, ok := jobs.PeekHead(data)
			if ok && string(h.Group) == g && !fn(&h) {
				stop = true
				return false
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
		}
		if stop {
			return nil
		}
	}
	return nil
}

// groupAcc adds jobs up into a group's view.
type groupAcc struct {
	g      rpcapi.GroupInfo
	detail int      // the most unsuccessful jobs to list
	bad    []uint64 // the unsuccessful jobs' Seqs
}

func newGroupAcc(name string, detail int) *groupAcc {
	a := &groupAcc{g: rpcapi.GroupInfo{Name: name, Counts: make(map[jobs.State]int, len(jobs.States))}, detail: detail}
	for _, s := range jobs.States {
		a.g.Counts[s] = 0
	}
	if detail > 0 {
		a.g.Unsuccessful = []string{}
	}
	return a
}

// add counts one job.
func (a *groupAcc) add(seq uint64, state jobs.State, submitted, updated time.Time) {
	g := &a.g
	g.Total++
	g.Counts[state]++
	if state.Final() {
		g.Done++
		if state != jobs.Succeeded {
			a.bad = append(a.bad, seq)
		}
	}
	if !submitted.IsZero() && (g.Submitted.IsZero() || submitted.Before(g.Submitted)) {
		g.Submitted = submitted
	}
	if updated.After(g.Updated) {
		g.Updated = updated
	}
}

// done returns the view, and every unsuccessful job's ID in Seq order.
func (a *groupAcc) done() (rpcapi.GroupInfo, []string) {
	g := a.g
	g.Final = g.Total > 0 && g.Done == g.Total
	if g.Total > 0 {
		g.Progress = float64(g.Done) / float64(g.Total)
	}
	slices.Sort(a.bad)
	bad := make([]string, len(a.bad))
	for i, q := range a.bad {
		bad[i] = strconv.FormatUint(q, 10)
	}
	if a.detail > 0 {
		g.Unsuccessful = bad[:min(len(bad), a.detail)]
	}
	return g, bad
}

// readGroup computes group name's view from its jobs in memory and, for a
// group that has left memory, its records on disk; detail bounds the
// unsuccessful jobs listed (0: none). It also returns every unsuccessful
// job's ID, and whether the group has any job at all. It must be called
// without mu.
func (c *core) readGroup(name string, detail int) (rpcapi.GroupInfo, []string, bool, error) {
	e, err := c.leftEntry(name)
	if err != nil {
		return rpcapi.GroupInfo{}, nil, false, err
	}
	a := newGroupAcc(name, detail)
	c.mu.Lock()
	inMem := make(map[uint64]bool)
	for _, id := range c.groups[name] {
		if j := c.job(id); j != nil {
			inMem[j.Seq] = true
			a.add(j.Seq, j.State, j.Submitted, j.Updated)
		}
	}
	onDone := c.onDoneStatus(name)
	hs, _ := c.store.(jobs.HistoryStore)
	c.mu.Unlock()
	if e != nil && hs != nil {
		if err := c.gateReads(); err != nil {
			return rpcapi.GroupInfo{}, nil, false, err
		}
		err := walkLeft(hs, e, name, func(h *jobs.RecordHead) bool {
			if !inMem[h.Seq] {
				a.add(h.Seq, h.State, h.Submitted, h.Updated)
			}
			return true
		})
		c.ungateReads()
		if err != nil {
			return rpcapi.GroupInfo{}, nil, false, err
		}
		if onDone == nil {
			onDone = e.OnDone
		}
	}
	g, bad := a.done()
	g.OnDone = onDone.view()
	if g.OnDone != nil && g.OnDone.Then != "" {
		st, err := c.jobState(g.OnDone.Then)
		if err != nil {
			return rpcapi.GroupInfo{}, nil, false, err
		}
		g.OnDone.ThenState = st
	}
	return g, bad, g.Total > 0, nil
}

// jobState returns the state of job id, in memory or in history (from the
// head of its record: a group listing may ask for many); "" for a job the
// master no longer has (purged, or gone after history). It must be called
// without mu.
func (c *core) jobState(id string) (jobs.State, error) {
	c.mu.Lock()
	if j := c.job(id); j != nil {
		st := j.State
		c.mu.Unlock()
		return st, nil
	}
	c.mu.Unlock()
	hs, ok := c.store.(jobs.HistoryStore)
	seq, err := strconv.ParseUint(id, 10, 64)
	if !ok || err != nil {
		return "", nil
	}
	data, err := hs.Get(seq)
	if err != nil {
		return "", fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	if data == nil {
		return "", nil
	}
	h, ok := jobs.PeekHead(data)
	if !ok {
		return "", fmt.Errorf("%w: job %s: stored record unreadable", rpcapi.ErrInternal, id)
	}
	return h.State, nil
}

// pruneLeft drops the entries of those groups of names none of whose
// records is left on disk (history and purge call it with the groups of
// the records they deleted). It must be called without mu.
func (c *core) pruneLeft(names map[string]bool) error {
	ms, ok := c.store.(jobs.MetaStore)
	hs, ok2 := c.store.(jobs.HistoryStore)
	if !ok || !ok2 || len(names) == 0 {
		return nil
	}
	c.leftMu.Lock()
	defer c.leftMu.Unlock()
	var recs []jobs.MetaRecord
	dropped := make(map[string]*leftGroup) // entries not written yet, dropped with the written ones
	var marked []string                    // groups this call made gone
	for g := range names {
		disk, err := c.diskLeft(ms, g)
		if err != nil {
			return err
		}
		c.mu.Lock()
		pend := c.left[g]
		c.mu.Unlock()
		if disk == nil && pend == nil {
			continue
		}
		e := &leftGroup{}
		if disk != nil {
			e.add(disk)
		}
		if pend != nil {
			e.add(pend)
		}
		any := false
		if err := walkLeft(hs, e, g, func(*jobs.RecordHead) bool { any = true; return false }); err != nil {
			return err
		}
		if any {
			continue
		}
		if disk != nil {
			recs = append(recs, jobs.MetaRecord{Bucket: metaLeft, Key: g},
				jobs.MetaRecord{Bucket: metaLeftOrder, Key: leftOrderKey(disk.first(), g)})
		}
		if pend != nil {
			dropped[g] = pend
		}
	}
	if len(dropped) > 0 {
		// Their on_done records are still where the groups left them
		// (writeLeft moves them into the entries): they go too, unless a
		// new group of the name has run its own since (fired). gone
		// holds a new group's on_done back until they are deleted.
		c.mu.Lock()
		if h := c.hooks; h != nil {
			for g := range dropped {
				if !h.fired[g] && !h.gone[g] {
					h.gone[g] = true
					marked = append(marked, g)
					recs = append(recs, jobs.MetaRecord{Bucket: metaGroups, Key: g})
				}
			}
		}
		c.mu.Unlock()
	}
	if len(recs) == 0 {
		return nil
	}
	err := ms.SaveMetas(recs)
	c.mu.Lock()
	for g, pend := range dropped {
		if err == nil && c.left[g] == pend { // else the group left memory again since
			delete(c.left, g)
		}
	}
	for _, g := range marked {
		delete(c.hooks.gone, g)
	}
	c.mu.Unlock()
	return err
}

// knownGroup returns an error when group g has no jobs, in memory or on
// disk. It must be called without mu.
func (c *core) knownGroup(g string) error {
	c.mu.Lock()
	inMem := len(c.groups[g]) > 0
	c.mu.Unlock()
	if inMem {
		return nil
	}
	e, err := c.leftEntry(g)
	if err != nil {
		return err
	}
	if e == nil {
		return fmt.Errorf("%w: group %q has no jobs", rpcapi.ErrNotFound, g)
	}
	return nil
}

// pruneGroups is pruneLeft for history and purge, which log its error: the
// entries it could not drop stay until their groups' records are deleted
// again, and read as groups without jobs meanwhile.
func (c *core) pruneGroups(names map[string]bool) {
	if err := c.pruneLeft(names); err != nil {
		c.log.WithError(err).Warn("groups that left memory: entries of deleted groups not dropped")
	}
}
