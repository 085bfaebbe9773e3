package master

import (
	"strconv"

	"github.com/drover/drover/jobs"
)

// seqPageLen is the jobs per page of a seqIndex: 4095, so that a page and
// its count fill exactly 32 KiB, the largest small-object size (with 4096
// slots each page would be a large object of 40 KiB).
const seqPageLen = 4095

// seqIndex finds the jobs in memory by Seq. It is a sparse array cut into
// pages of 4095 slots; a page is freed when its last job leaves, so a
// master that has run ten million jobs and keeps a few thousand spends on
// the index about what those few thousand pages need, not 80 MB of nil
// pointers. Lookup is two slice reads. Not safe for concurrent use: the
// master guards it with its lock.
type seqIndex struct {
	pages []*seqPage // pages[seq/seqPageLen]; nil where no job is
	n     int        // jobs indexed
}

type seqPage struct {
	jobs [seqPageLen]*jobs.Job
	n    int
}

// get returns the job with Seq seq, or nil.
func (x *seqIndex) get(seq uint64) *jobs.Job {
	p := seq / seqPageLen
	if p >= uint64(len(x.pages)) || x.pages[p] == nil {
		return nil
	}
	return x.pages[p].jobs[seq%seqPageLen]
}

// put indexes j by its Seq, replacing any job there.
func (x *seqIndex) put(j *jobs.Job) {
	p := j.Seq / seqPageLen
	if p >= uint64(len(x.pages)) {
		x.pages = append(x.pages, make([]*seqPage, int(p)+1-len(x.pages))...)
	}
	pg := x.pages[p]
	if pg == nil {
		pg = new(seqPage)
		x.pages[p] = pg
	}
	slot := &pg.jobs[j.Seq%seqPageLen]
	if *slot == nil {
		pg.n++
		x.n++
	}
	*slot = j
}

// remove drops the job with Seq seq, freeing its page when it was the
// page's last.
func (x *seqIndex) remove(seq uint64) {
	p := seq / seqPageLen
	if p >= uint64(len(x.pages)) || x.pages[p] == nil {
		return
	}
	pg := x.pages[p]
	slot := &pg.jobs[seq%seqPageLen]
	if *slot == nil {
		return
	}
	*slot = nil
	pg.n--
	x.n--
	if pg.n == 0 {
		x.pages[p] = nil
		for len(x.pages) > 0 && x.pages[len(x.pages)-1] == nil {
			x.pages = x.pages[:len(x.pages)-1]
		}
	}
}

// len returns the number of jobs indexed.
func (x *seqIndex) len() int { return x.n }

// max returns the highest Seq indexed, or 0.
func (x *seqIndex) max() uint64 {
	var top uint64
	x.descend(0, func(j *jobs.Job) bool { top = j.Seq; return false })
	return top
}

// ascend calls fn for every job with a Seq above after, in Seq order,
// until fn returns false. Empty pages cost nothing.
func (x *seqIndex) ascend(after uint64, fn func(*jobs.Job) bool) {
	start := after + 1
	for p := start / seqPageLen; p < uint64(len(x.pages)); p++ {
		pg := x.pages[p]
		if pg == nil {
			continue
		}
		i := uint64(0)
		if p == start/seqPageLen {
			i = start % seqPageLen
		}
		for ; i < seqPageLen; i++ {
			if j := pg.jobs[i]; j != nil && !fn(j) {
				return
			}
		}
	}
}

// descend calls fn for every job with a Seq below before (every job when
// before is 0), newest first, until fn returns false.
func (x *seqIndex) descend(before uint64, fn func(*jobs.Job) bool) {
	if len(x.pages) == 0 {
		return
	}
	last := uint64(len(x.pages))*seqPageLen - 1
	if before != 0 {
		if before == 1 {
			return
		}
		last = min(last, before-1)
	}
	for p := int64(last / seqPageLen); p >= 0; p-- {
		pg := x.pages[p]
		if pg == nil {
			continue
		}
		i := int64(seqPageLen - 1)
		if uint64(p) == last/seqPageLen {
			i = int64(last % seqPageLen)
		}
		for ; i >= 0; i-- {
			if j := pg.jobs[i]; j != nil && !fn(j) {
				return
			}
		}
	}
}

// byID returns the job with the given ID (its Seq in decimal), or nil.
func (x *seqIndex) byID(id string) *jobs.Job {
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil || seq == 0 {
		return nil
	}
	if j := x.get(seq); j != nil && j.ID == id { // "007" is not job 7
		return j
	}
	return nil
}
