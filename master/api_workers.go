package master

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/drover/drover/rpcapi"
)

// workerQuery selects a page of workers.
type workerQuery struct {
	State  string // "" for all
	Asc    bool   // the first registered first; default the latest first
	Cursor string
	Limit  int
}

// workerNum is the registration number in a worker ID ("w12-3fa9": 12).
// Every worker the master lists registered with it since it started, so
// the numbers order them by registration.
func workerNum(id string) uint64 {
	num, _, _ := strings.Cut(strings.TrimPrefix(id, "w"), "-")
	n, _ := strconv.ParseUint(num, 10, 64)
	return n
}

// pageWorkers is the one walk behind every worker listing (GET
// /api/v1/workers and list_workers): it calls take, under mu, with each
// worker of the page q selects, ordered by registration (the latest
// first unless q.Asc), and returns the cursor of the next page. A page
// ends early, with a cursor, before a worker that would bring its
// estimated size past maxReplyBytes (a first one bigger than that is
// still returned alone). Workers are few (the live ones and the latest
// dead ones), so it sorts them.
func (c *core) pageWorkers(q workerQuery, take func(rpcapi.WorkerInfo)) (string, error) {
	var after uint64
	if q.Cursor != "" {
		v, err := decodeCursor(cursorWorkers, q.Cursor)
		if err != nil {
			return "", err
		}
		after = v[0]
	}
	order := byOrder(q.Asc)
	c.mu.Lock()
	defer c.mu.Unlock()
	type entry struct {
		num uint64
		w   *workerRec
	}
	var ws []entry
	for _, w := range c.reg.workers {
		if w.restored || (q.State != "" && w.state != q.State) {
			continue
		}
		n := workerNum(w.id)
		if after != 0 && order(after, n) >= 0 {
			continue
		}
		ws = append(ws, entry{n, w})
	}
	slices.SortFunc(ws, func(a, b entry) int { return order(a.num, b.num) })
	size, limit := 0, c.maxReplyBytes()
	for i, e := range ws {
		wi := c.reg.workerInfo(e.w)
		n := workerReplyBytes(&wi)
		if i == q.Limit || (i > 0 && size+n > limit) {
			return encodeCursor(cursorWorkers, ws[i-1].num), nil
		}
		take(wi)
		size += n
	}
	return "", nil
}

// byOrder compares two positions in a listing's order: ascending, or
// descending (newest first).
func byOrder(asc bool) func(a, b uint64) int {
	if asc {
		return cmp.Compare[uint64]
	}
	return func(a, b uint64) int { return cmp.Compare(b, a) }
}

// listWorkers returns one page of the workers q selects as the API shows
// them, and the cursor of the next page.
func (c *core) listWorkers(q workerQuery) ([]rpcapi.WorkerInfo, string, error) {
	out := []rpcapi.WorkerInfo{}
	next, err := c.pageWorkers(q, func(wi rpcapi.WorkerInfo) { out = append(out, wi) })
	return out, next, err
}

// getWorker returns one worker.
func (c *core) getWorker(id string) (rpcapi.WorkerInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, err := c.reg.known(id)
	if err != nil {
		return rpcapi.WorkerInfo{}, err
	}
	return c.reg.workerInfo(w), nil
}

// GetGroup implements rpcapi.MasterAPI: one group with its unsuccessful
// jobs, as GET /api/v1/groups/{name} shows it.
func (api *wire) GetGroup(ctx context.Context, a *rpcapi.GetGroupArgs, r *rpcapi.GroupInfo) error {
	g, err := api.core.getGroup(a.Name)
	if err != nil {
		return err
	}
	*r = g
	return nil
}

// ListGroups implements rpcapi.MasterAPI: one page of groups, as GET
// /api/v1/groups shows it.
func (api *wire) ListGroups(ctx context.Context, a *rpcapi.ListGroupsArgs, r *rpcapi.ListGroupsReply) error {
	limit, asc, err := pageArgs(a.Limit, a.Order)
	if err != nil {
		return err
	}
	r.Groups, r.NextCursor, err = api.core.listGroups(groupQuery{Asc: asc, Cursor: a.Cursor, Limit: limit})
	return err
}
