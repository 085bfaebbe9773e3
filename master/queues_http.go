package master

import (
	"net/http"
	"time"

	"github.com/drover/drover/rpcapi"
)

// queuesPage is the reply of GET /api/v1/queues.
type queuesPage struct {
	// Now is the master's clock when the view was taken.
	Now    time.Time          `json:"now"`
	Queues []rpcapi.QueueView `json:"queues"`
	// More counts the rows past the limit.
	More int `json:"more"`
	// ThroughputMinutes is the window of each row's finished,
	// failed and per_minute.
	ThroughputMinutes int `json:"throughput_minutes"`
}

// apiQueues serves the queues view (queues.go): a row per lane, biggest
// first (order=asc: smallest first), at most limit rows, of one type if
// asked, as many as fit in max_reply_bytes.
func (a httpAPI) apiQueues(w http.ResponseWriter, r *http.Request) error {
	p, err := queryParams(r, "type", "order", "limit")
	if err != nil {
		return err
	}
	q := queueQuery{Type: p.Get("type")}
	if q.Limit, q.Asc, _, err = paging(p); err != nil {
		return err
	}
	page := queuesPage{Now: a.view.now(), ThroughputMinutes: rpcapi.ThroughputMinutes}
	page.Queues, page.More = a.view.queuesView(q)
	return writeJSON(w, http.StatusOK, page)
}
