package master

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// The groups listing (list_groups, GET /api/v1/groups) and one group's
// view (get_group): groups in memory and groups that left it, merged in
// order of their first job.

// groupQuery selects a page of groups.
type groupQuery struct {
	Asc    bool // the first submitted first; default the latest first
	Cursor string
	Limit  int
	// Examine bounds the jobs counted for the page's groups; 0:
	// maxExamined.
	Examine int
}

// listGroups returns one page of the groups, those in memory and those
// that left it (groupdisk.go), ordered by their first job (the most
// recently started group first unless q.Asc), and the cursor of the next
// page. Computing a group's progress reads each of its jobs: the page
// ends early, with a cursor, after the group that brings the jobs read to
// q.Examine, or before one that would bring the page's estimated size
// past maxReplyBytes; either way it has one group at least.
func (c *core) listGroups(q groupQuery) ([]rpcapi.GroupInfo, string, error) {
	var after uint64
	if q.Cursor != "" {
		v, err := decodeCursor(cursorGroups, q.Cursor)
		if err != nil {
			return nil, "", err
		}
		after = v[0]
	}
	// The first Limit+1 groups past the cursor, in order, of those in
	// memory and of those on disk.
	gs := &groupSelection{order: byOrder(q.Asc), after: after, k: q.Limit + 1}
	gs.sel = make([]groupEntry, 0, 2*gs.k)
	if err := c.selectMemoryGroups(gs); err != nil {
		return nil, "", err
	}
	if ms, ok := c.store.(jobs.MetaStore); ok {
		if err := gs.selectDiskGroups(ms, q.Asc); err != nil {
			return nil, "", err
		}
	}
	return c.groupPage(gs.sel, q)
}

// groupEntry is a group in a listing.
type groupEntry struct {
	first uint64 // the Seq of the group's first job: its place
	name  string
}

// groupSelection keeps, of the groups offered to it, the first k past
// the cursor in the listing's order: sel is kept sorted and short, so
// this costs one pass over the group names in memory.
type groupSelection struct {
	order func(a, b uint64) int
	after uint64 // the cursor's Seq; 0 before the first page
	k     int
	sel   []groupEntry
}

// put offers e to the selection.
func (gs *groupSelection) put(e groupEntry) {
	i, _ := slices.BinarySearchFunc(gs.sel, e, func(a, b groupEntry) int { return gs.order(a.first, b.first) })
	if i == gs.k {
		return
	}
	if len(gs.sel) == gs.k {
		gs.sel = gs.sel[:gs.k-1]
	}
	gs.sel = slices.Insert(gs.sel, i, e)
}

// selectMemoryGroups offers the groups in memory past the cursor to gs. A
// group in memory that has an entry on disk too (it left memory and got
// jobs again) has its place there: it is listed from there, so a pass
// that selected such a group starts again without it.
func (c *core) selectMemoryGroups(gs *groupSelection) error {
	moved := make(map[string]bool)
	for {
		gs.sel = gs.sel[:0]
		c.mu.Lock()
		for name, ids := range c.groups {
			if len(ids) == 0 || moved[name] {
				continue
			}
			first, err := strconv.ParseUint(ids[0], 10, 64)
			if err != nil || (gs.after != 0 && gs.order(gs.after, first) >= 0) {
				continue
			}
			gs.put(groupEntry{first, name})
		}
		c.mu.Unlock()
		more := false
		for _, e := range gs.sel {
			if le, err := c.leftEntry(e.name); err != nil {
				return err
			} else if le != nil {
				moved[e.name], more = true, true
			}
		}
		if !more {
			return nil
		}
	}
}

// selectDiskGroups offers to gs the first groups past the cursor of those
// that left memory, from their order index in ms.
func (gs *groupSelection) selectDiskGroups(ms jobs.MetaStore, asc bool) error {
	from := ""
	if gs.after != 0 {
		from = fmt.Sprintf("%020d", gs.after)
		if asc {
			from += "\xff" // past every key of that Seq
		}
	}
	var disk []groupEntry
	err := ms.RangeMeta(metaLeftOrder, from, !asc, func(key string, _ []byte) bool {
		if first, name, ok := parseLeftOrderKey(key); ok {
			disk = append(disk, groupEntry{first, name})
		}
		return len(disk) < 2*gs.k
	})
	if err != nil {
		return fmt.Errorf("%w: store: %v", rpcapi.ErrUnavailable, err)
	}
	for _, e := range disk {
		gs.put(e)
	}
	return nil
}

// groupPage reads the selected groups into a page, ending it early with a
// cursor as listGroups says.
func (c *core) groupPage(sel []groupEntry, q groupQuery) ([]rpcapi.GroupInfo, string, error) {
	budget := q.Examine
	if budget <= 0 {
		budget = maxExamined
	}
	out := []rpcapi.GroupInfo{}
	size, read, limit := 0, 0, c.maxReplyBytes()
	for i, e := range sel {
		n := groupOverhead + textBytes(e.name)
		if i == q.Limit || (i > 0 && (size+n > limit || read >= budget)) {
			return out, encodeCursor(cursorGroups, sel[i-1].first), nil
		}
		g, _, ok, err := c.readGroup(e.name, 0)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			continue // its jobs have all left, since
		}
		out = append(out, g)
		size += n
		read += g.Total
	}
	return out, "", nil
}

// getGroup returns one group with its unsuccessful jobs.
func (c *core) getGroup(name string) (rpcapi.GroupInfo, error) {
	g, _, ok, err := c.readGroup(name, rpcapi.MaxUnsuccessful)
	if err == nil && !ok {
		err = fmt.Errorf("%w: group %q has no jobs", rpcapi.ErrNotFound, name)
	}
	return g, err
}
