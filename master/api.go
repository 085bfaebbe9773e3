package master

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// This file holds the read-only queries behind the listings of the HTTP
// API (/api/v1/) and of RPC; the views they return are rpcapi's (views.go
// there). The queries read the master's state under mu and copy what they
// return, so nothing handed to a handler is shared.

// Listing bounds. Every listing (jobs, workers, groups; JSON API and RPC
// alike) returns one page and a cursor to the next. A page ends when it has
// its limit, when the next item would bring the page's estimated size past
// maxReplyBytes (a first item bigger than that is still returned, alone),
// or when the call has examined maxExamined jobs that the filters skip.
const (
	// maxExamined bounds the jobs one listing call looks at under the
	// lock, matched or not.
	maxExamined = 100_000
)

// maxReplyBytes bounds the estimated size of one listing page.
func (c *core) maxReplyBytes() int {
	if n := c.cfg.MaxReplyBytes; n > 0 {
		return n
	}
	return 16 << 20
}

// jobQuery selects a page of jobs. Empty fields match everything.
type jobQuery struct {
	State  jobs.State
	Type   string
	Group  string
	Worker string // any attempt ran (or runs) on this worker ID
	Text   string // lower case; a substring of some "key=value" of the args
	Error  string // lower case; a substring of the latest attempt's error
	// Before, when set, selects the jobs last changed before it (a
	// finished job: that finished before it).
	Before time.Time
	Asc    bool   // oldest first; default newest first
	Cursor string // the next_cursor of the previous page; "" for the first
	Limit  int    // jobs per page, at least 1
	// MaxBytes bounds the page's estimated size, Size of each job
	// (jobReplyBytes when nil); 0: no bound.
	MaxBytes int
	Size     func(*jobs.Job) int
	// Examine bounds the jobs examined; 0: maxExamined.
	Examine int

	// lo and hi bound the Seqs a walk of the store reads (0: no bound):
	// the spans of a group that has left memory.
	lo, hi uint64
}

func (q *jobQuery) match(j *jobs.Job) bool {
	switch {
	case q.State != "" && j.State != q.State,
		q.Type != "" && j.Spec.Type != q.Type,
		q.Group != "" && j.Spec.Group != q.Group,
		q.Error != "" && !strings.Contains(strings.ToLower(rpcapi.JobError(j)), q.Error),
		!q.Before.IsZero() && !j.Updated.Before(q.Before):
		return false
	}
	if q.Worker != "" && j.Worker != q.Worker &&
		!slices.ContainsFunc(j.Attempts, func(a jobs.Attempt) bool { return a.Worker == q.Worker }) {
		return false
	}
	if q.Text != "" {
		for k, v := range j.Spec.Args {
			if strings.Contains(strings.ToLower(k+"="+v), q.Text) {
				return true
			}
		}
		return false
	}
	return true
}

// pageArgs checks the paging arguments common to every listing: limit (0
// is DefaultPageSize) and order ("", "desc" or "asc"). It returns the page
// size and whether the order is ascending.
func pageArgs(limit int, order string) (int, bool, error) {
	var asc bool
	switch order {
	case "", rpcapi.OrderDesc:
	case rpcapi.OrderAsc:
		asc = true
	default:
		return 0, false, fmt.Errorf("%w: order %q: want asc or desc", rpcapi.ErrBadRequest, order)
	}
	switch {
	case limit == 0:
		limit = DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		return 0, false, fmt.Errorf("%w: limit %d: want 1..%d (0: %d)", rpcapi.ErrBadRequest, limit, MaxPageSize, DefaultPageSize)
	}
	return limit, asc, nil
}

// pageJobs is the one walk behind every job listing (GET /api/v1/jobs and
// list_jobs over both transports). Under mu, it walks the jobs in memory
// from q's cursor in q's order and calls take with each job of the page
// (take runs under mu and must copy what it keeps); it returns the cursor
// of the next page, "" when the walk reached the end.
//
// Without a group filter it walks the Seq index; with one, the group's
// jobs in the order the master recorded them (submission order). A cursor
// is a position in that order, so a walk never repeats a job, and lists
// every job that was in memory when it started (and stays there); a job
// submitted meanwhile comes at most once (in desc order, jobs submitted
// after the first page never do). The page ends early, with a cursor:
//   - before a job that would bring the page's estimated size
//     (jobReplyBytes) past q.MaxBytes, unless the page is empty: a job
//     bigger than that alone is returned alone;
//   - after q.Examine jobs examined (matched or not): the cursor is at the
//     last one examined, so a page may be short, or empty, and still have
//     a cursor.
func (c *core) pageJobs(q *jobQuery, take func(*jobs.Job)) (string, error) {
	budget := q.Examine
	if budget <= 0 {
		budget = maxExamined
	}
	size := q.Size
	if size == nil {
		size = jobReplyBytes
	}
	var left *leftGroup // the group's entry, if it has left memory
	if q.Group != "" {
		var err error
		if left, err = c.leftEntry(q.Group); err != nil {
			return "", err
		}
	}
	// Every live job is in memory: a filter on a live state needs no
	// walk of the store.
	liveOnly := q.State != "" && !q.State.Final() && q.Group == ""
	c.mu.Lock()
	if !liveOnly && (q.Group == "" || len(c.groups[q.Group]) == 0 || left != nil) {
		if hs := c.historyStore(); hs != nil {
			if left != nil {
				q.lo = left.first()
				if len(c.groups[q.Group]) == 0 {
					q.hi = left.last() // else its newer jobs are past it
				}
			}
			c.mu.Unlock()
			return c.pageStored(hs, q, size, budget, take)
		}
	}
	defer c.mu.Unlock()
	w := memWalk{pg: pager{q: q, size: size, take: take}, budget: budget, lastIdx: -1}
	if q.Group != "" {
		return w.group(c, q)
	}
	return w.bySeq(c, q)
}

// memWalk is pageJobs' walk of the jobs in memory: the page, and where
// the walk stands.
type memWalk struct {
	pg           pager
	budget, seen int
	more         bool // stopped before the end
	// The Seq (and, in a group, the index) of the last job examined.
	lastSeq uint64
	lastIdx int
}

// visit offers job j (nil: not in memory) at seq, index idx of its group
// (-1: no group walk) to the page; false ends the walk.
func (w *memWalk) visit(j *jobs.Job, seq uint64, idx int) bool {
	if w.seen == w.budget {
		w.more = true
		return false
	}
	w.seen++
	if j != nil && !w.pg.offer(j) {
		w.more = true
		return false
	}
	w.lastSeq, w.lastIdx = seq, idx
	return true
}

// group walks q's group's jobs in the order the master recorded them.
// The caller holds mu.
func (w *memWalk) group(c *core, q *jobQuery) (string, error) {
	ids := c.groups[q.Group]
	from, step := len(ids)-1, -1 // the index to start at, and the way
	if q.Asc {
		from, step = 0, 1
	}
	if q.Cursor != "" {
		at, err := groupCursorAt(ids, q.Group, q.Cursor)
		if err != nil {
			return "", err
		}
		from = at + step
	}
	for i := from; i >= 0 && i < len(ids); i += step {
		j := c.job(ids[i])
		var seq uint64
		if j != nil {
			seq = j.Seq
		} else {
			seq, _ = strconv.ParseUint(ids[i], 10, 64)
		}
		if !w.visit(j, seq, i) {
			break
		}
	}
	if !w.more {
		return "", nil
	}
	return encodeCursor(cursorGroupJobs, uint64(w.lastIdx), w.lastSeq, groupTag(q.Group)), nil
}

// bySeq walks the jobs in memory by Seq. The caller holds mu.
func (w *memWalk) bySeq(c *core, q *jobQuery) (string, error) {
	var after uint64
	if q.Cursor != "" {
		seq, err := decodeCursor(cursorJobs, q.Cursor)
		if err != nil {
			return "", err
		}
		after = seq[0]
	}
	walk := c.byseq.descend
	if q.Asc {
		walk = c.byseq.ascend
	}
	walk(after, func(j *jobs.Job) bool { return w.visit(j, j.Seq, -1) })
	if !w.more {
		return "", nil
	}
	return encodeCursor(cursorJobs, w.lastSeq), nil
}

// pager fills one page of jobs for pageJobs and pageStored.
type pager struct {
	q            *jobQuery
	size         func(*jobs.Job) int
	take         func(*jobs.Job)
	taken, bytes int
}

// offer takes j into the page if it matches; it returns false when the
// page is full (q.Limit, or j would bring it past q.MaxBytes): j is left
// for the next page.
func (p *pager) offer(j *jobs.Job) bool {
	if !p.q.match(j) {
		return true
	}
	n := p.size(j)
	if p.taken == 0 {
		p.bytes = pageOverhead
	}
	if p.taken == p.q.Limit || (p.taken > 0 && p.q.MaxBytes > 0 && p.bytes+n > p.q.MaxBytes) {
		return false
	}
	p.take(j)
	p.taken++
	p.bytes += n
	return true
}

// groupCursorAt returns the index in a group's IDs of the job a group walk's
// cursor stopped at; -1 when the group has no jobs left in memory.
func groupCursorAt(ids []string, g, cursor string) (int, error) {
	v, err := decodeCursor(cursorGroupJobs, cursor)
	if err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return -1, nil
	}
	i, seq := v[0], v[1]
	if i >= uint64(len(ids)) || ids[i] != strconv.FormatUint(seq, 10) || v[2] != groupTag(g) {
		return 0, fmt.Errorf("%w: cursor %q does not belong to this group's listing: start again without it", rpcapi.ErrBadRequest, cursor)
	}
	return int(i), nil
}

// queryJobs returns one page of the jobs q selects as the JSON API shows
// them, and the cursor of the next page ("" on the last).
func (c *core) queryJobs(q jobQuery) ([]rpcapi.JobView, string, error) {
	out := []rpcapi.JobView{}
	q.MaxBytes, q.Size = c.maxReplyBytes(), viewBytes
	next, err := c.pageJobs(&q, func(j *jobs.Job) { out = append(out, rpcapi.ViewJob(j)) })
	if err != nil {
		return nil, "", err
	}
	c.explainPending(out)
	return out, next, nil
}

// explainPending sets Waiting on the pending jobs of a page, as they are
// now: the page's walk may have read them from the store.
func (c *core) explainPending(page []rpcapi.JobView) {
	now, memo := c.now(), make(capacityMemo)
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range page {
		if v := &page[i]; v.State == jobs.Pending {
			if j := c.job(v.ID); j != nil {
				v.Waiting = c.whyWaiting(j, now, memo)
			}
		}
	}
}

// Cursor kinds: each listing's cursors start with their own letter, so a
// cursor given to another listing is refused instead of misread.
const (
	cursorJobs      = 'j' // the Seq of the last job examined
	cursorGroupJobs = 'i' // the index in the group's IDs, the Seq there and the group's tag
	cursorWorkers   = 'w' // the registration number of the last worker
	cursorGroups    = 'g' // the Seq of the last group's first job
	// cursorStoredGroupJobs is a group's listing read from the store:
	// the Seq of the last job examined and a hash of the group's name.
	cursorStoredGroupJobs = 'k'
)

// groupTag is the hash of group g that its cursors carry, so that one
// group's cursor is refused by another's listing.
func groupTag(g string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(g))
	return h.Sum64() >> 1 // a cursor's numbers are parsed as uint64: any fits
}

// A cursor is opaque to clients: its kind and one or more numbers
// separated by dots, in unpadded URL-safe base64 ("j42").
func encodeCursor(kind byte, ns ...uint64) string {
	b := []byte{kind}
	for i, n := range ns {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendUint(b, n, 10)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor returns the numbers of a cursor of the given kind: one, or
// two for cursorStoredGroupJobs, three for cursorGroupJobs. The first
// must be above 0 except in
// cursorGroupJobs (an index).
func decodeCursor(kind byte, s string) ([]uint64, error) {
	want := 1
	switch kind {
	case cursorStoredGroupJobs:
		want = 2
	case cursorGroupJobs:
		want = 3
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil && len(b) > 1 && b[0] == kind {
		parts := strings.Split(string(b[1:]), ".")
		ns := make([]uint64, 0, len(parts))
		for _, p := range parts {
			n, err := strconv.ParseUint(p, 10, 64)
			if err != nil {
				break
			}
			ns = append(ns, n)
		}
		if len(ns) == want && len(parts) == want && (kind == cursorGroupJobs || ns[0] > 0) {
			return ns, nil
		}
	}
	return nil, fmt.Errorf("%w: bad cursor %q: pass the next_cursor of a previous page of the same listing, with the same filters and order",
		rpcapi.ErrBadRequest, s)
}
