package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Reads is the reads scenario's numbers.
type Reads struct {
	RDFill int `json:"reads_history_jobs"`
	// RDRare jobs of a type no worker has were submitted and cancelled
	// first: the oldest jobs, the only cancelled ones.
	RDRare      int     `json:"reads_rare_jobs"`
	RDFillS     float64 `json:"reads_fill_s"`
	RDFinal     int     `json:"reads_final_jobs"`
	RDFillRSS   int64   `json:"reads_master_rss_after_fill_bytes"`
	RDWalkS     float64 `json:"reads_walk_s"`
	RDWalkJobs  int     `json:"reads_walk_jobs"`
	RDWalkPages int     `json:"reads_walk_pages"`
	RDRegisterS float64 `json:"reads_register_s"`
	RDIntervalS float64 `json:"reads_hb_interval_s"`
	RDWindowS   float64 `json:"reads_before_s"`
	RDLoopS     float64 `json:"reads_loop_s"`
	RDReaders   int     `json:"reads_readers"`
	// Heartbeat round trips of the simulated fleet before the read loop
	// (the fleet alone) and during it.
	RDBefore beats `json:"reads_hb_before"`
	RDDuring beats `json:"reads_hb_during"`
	RDReaped int64 `json:"reads_workers_reaped"`
	// The master's CPU over the window before the loop and over the loop,
	// in % of one core.
	RDCPUBefore float64 `json:"reads_master_cpu_before_pct"`
	RDCPUDuring float64 `json:"reads_master_cpu_during_pct"`
	// The rest of the machine's CPU over the same windows (a noise gauge).
	RDOtherBefore float64  `json:"reads_host_other_cpu_before_pct"`
	RDOtherDuring float64  `json:"reads_host_other_cpu_during_pct"`
	RDPeakRSS     int64    `json:"reads_master_peak_rss_bytes"`
	RDOps         []ReadOp `json:"reads_ops"`
}

// beats summarizes heartbeat round trips.
type beats struct {
	N       int     `json:"beats"`
	Errors  int     `json:"errors"`
	Unknown int     `json:"not_ok"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
	Maxus   float64 `json:"max_us"`
}

// ReadOp is one read's latencies over the loop.
type ReadOp struct {
	Name   string `json:"name"`
	Calls  int    `json:"calls"`
	Errors int    `json:"errors"`
	// Items is the mean items (jobs, workers) per answer; Bytes the mean
	// body size (HTTP only).
	Items float64 `json:"items"`
	Bytes float64 `json:"bytes,omitempty"`
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
	Maxus float64 `json:"max_us"`
	// AloneP50us is the median of readsAlone calls made one at a time
	// after the loop (the fleet still beating): the read's own cost,
	// without waiting for other readers.
	AloneP50us float64 `json:"alone_p50_us"`
	FirstErr   string  `json:"first_error,omitempty"`
}

// readsAlone is how many times each read is timed alone.
const readsAlone = 5

// RareType is the job type of the reads scenario's rare jobs: no worker
// has it.
const RareType = "bench.rare"

const (
	readsRare       = 100
	readsFillers    = 4   // worker processes that run the history
	readsFillSlots  = 256 // their slots
	readsGroupEvery = 10  // every 10th batch of the fill is a group
)

// history is what the fill leaves for the reads to ask for.
type history struct {
	oldIDs, newIDs     []string
	oldGroup, newGroup string
	cursors            map[string]string // deep cursors, by name
}

// runReads fills a master with cfg.Fill finished jobs, registers a fleet of
// simulated workers, and reads every listing and status in a loop while
// they beat.
func runReads(ctx context.Context, cfg *Config, r *Result) error {
	x := &Reads{RDFill: cfg.Fill, RDRare: readsRare, RDReaders: cfg.Clients, RDWindowS: cfg.Window.Seconds()}
	r.Reads = x
	ccfg := *cfg // the fill's workers are real processes with the bench's usual slots
	ccfg.Slots = readsFillSlots
	if ccfg.HistoryJobs == 0 {
		ccfg.HistoryJobs = max(1000000, cfg.Fill+readsRare, cfg.RetainJobs)
	}
	c, err := startCluster(ctx, &ccfg, readsFillers)
	if err != nil {
		return err
	}
	defer c.close()
	h, err := x.fill(ctx, cfg, c)
	if err != nil {
		return err
	}
	if err := x.walk(ctx, c, h); err != nil {
		return err
	}
	st, err := c.ctl.Status(ctx)
	if err != nil {
		return err
	}
	reaped0 := st.Reaped
	cfg.note("reads: registering %d simulated workers (%d slots each)", cfg.Workers, cfg.Slots)
	t := time.Now()
	fl, err := startFleet(ctx, c.addr, cfg.Transport, cfg.Workers, cfg.Slots)
	if err != nil {
		return err
	}
	defer fl.stop()
	x.RDRegisterS, x.RDIntervalS = time.Since(t).Seconds(), fl.interval.Seconds()
	time.Sleep(2 * fl.interval) // every simulated worker beats at least once
	cfg.note("reads: heartbeats alone for %s, then %d readers for %s", cfg.Window, cfg.Clients, cfg.Duration)
	x.RDCPUBefore, x.RDOtherBefore = fl.window(c, 1, cfg.Window, nil)
	loop := func() {
		if cfg.Profile != "" || cfg.Trace != "" {
			c.master.send("profile start")
			defer c.master.send("profile stop")
		}
		x.RDOps = x.readLoop(ctx, cfg, c, h)
	}
	x.RDCPUDuring, x.RDOtherDuring = fl.window(c, 2, cfg.Duration, loop)
	if err := x.readAlone(ctx, cfg, c, h); err != nil {
		fl.stop()
		return err
	}
	fl.stop()
	x.RDBefore, x.RDDuring = fl.summary(1), fl.summary(2)
	if st, err = c.ctl.Status(ctx); err != nil {
		return err
	}
	x.RDReaped = st.Reaped - reaped0
	x.RDPeakRSS = c.masterStats().HWM
	var bad []string
	for _, op := range x.RDOps {
		if op.Errors > 0 {
			bad = append(bad, fmt.Sprintf("%s: %d errors (%s)", op.Name, op.Errors, op.FirstErr))
		}
	}
	if x.RDWalkJobs < x.RDFinal {
		bad = append(bad, fmt.Sprintf("list_jobs lists %d of the %d final jobs", x.RDWalkJobs, x.RDFinal))
	}
	if x.RDReaped > 0 || x.RDDuring.Errors+x.RDDuring.Unknown+x.RDBefore.Errors+x.RDBefore.Unknown > 0 || len(bad) > 0 {
		return fmt.Errorf("%w: reads: %d workers reaped, heartbeat errors %d, not ok %d; %s", ErrCheck, x.RDReaped,
			x.RDBefore.Errors+x.RDDuring.Errors, x.RDBefore.Unknown+x.RDDuring.Unknown, strings.Join(bad, "; "))
	}
	return nil
}

// fill submits readsRare jobs no worker can run and cancels them, then
// cfg.Fill no-op jobs (every readsGroupEvery-th batch a group; a client
// waits for each batch before the next, so the queue stays short), and
// waits until every one is final.
func (x *Reads) fill(ctx context.Context, cfg *Config, c *cluster) (*history, error) {
	cfg.note("reads: filling the history with %d jobs (%d workers x %d slots, %d clients, batches of %d)",
		cfg.Fill, readsFillers, readsFillSlots, cfg.Clients, cfg.Batch)
	t := time.Now()
	rare := make([]jobs.Spec, readsRare)
	for i := range rare {
		rare[i] = jobs.Spec{Type: RareType}
	}
	sr, err := c.ctl.Submit(ctx, &rpcapi.SubmitArgs{Specs: rare})
	if err != nil {
		return nil, fmt.Errorf("bench: submit the rare jobs: %w", err)
	}
	if _, err := c.ctl.Cancel(ctx, &rpcapi.CancelArgs{IDs: sr.IDs}); err != nil {
		return nil, fmt.Errorf("bench: cancel the rare jobs: %w", err)
	}
	h := &history{cursors: make(map[string]string)}
	nb := (cfg.Fill + cfg.Batch - 1) / cfg.Batch
	h.oldGroup, h.newGroup = fillGroup(0), fillGroup((nb-1)/readsGroupEvery*readsGroupEvery)
	var next atomic.Int64
	var mu sync.Mutex
	errc := make(chan error, cfg.Clients)
	for range cfg.Clients {
		go func() {
			errc <- fillClient(ctx, cfg, c.addr, nb, &next, func(b int, ids []string) {
				mu.Lock()
				defer mu.Unlock()
				if b < 5 {
					h.oldIDs = append(h.oldIDs, ids...)
				}
				if b >= nb-5 {
					h.newIDs = append(h.newIDs, ids...)
				}
			})
		}()
	}
	for range cfg.Clients {
		if err := <-errc; err != nil {
			return nil, err
		}
	}
	want := cfg.Fill + readsRare
	for {
		st, err := c.ctl.Status(ctx)
		if err != nil {
			return nil, err
		}
		if x.RDFinal = finalCount(st); x.RDFinal >= want {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: %d of %d jobs final: %w", x.RDFinal, want, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	x.RDFillS = time.Since(t).Seconds()
	x.RDFillRSS = c.masterStats().RSS
	return h, nil
}

// fillGroup is the group of the fill's batch b: every readsGroupEvery-th
// batch is one.
func fillGroup(b int) string {
	if b%readsGroupEvery != 0 {
		return ""
	}
	return "bench.g" + strconv.Itoa(b)
}

// fillClient submits the fill's batches, taking the next batch number from
// next until nb, and waits for each before the next; got sees each
// batch's IDs.
func fillClient(ctx context.Context, cfg *Config, addr string, nb int, next *atomic.Int64, got func(b int, ids []string)) error {
	caller, err := rpcapi.NewCaller(addr, cfg.Transport)
	if err != nil {
		return err
	}
	defer caller.Close()
	mc := rpcapi.MasterClient{C: caller}
	for b := int(next.Add(1) - 1); b < nb && ctx.Err() == nil; b = int(next.Add(1) - 1) {
		specs := make([]jobs.Spec, min(cfg.Batch, cfg.Fill-b*cfg.Batch))
		for i := range specs {
			specs[i] = jobs.Spec{Type: NoopType, Group: fillGroup(b)}
		}
		rep, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
		if err != nil {
			return fmt.Errorf("bench: fill submit: %w", err)
		}
		if err := waitAll(ctx, mc, rep.IDs); err != nil {
			return err
		}
		got(b, rep.IDs)
	}
	return nil
}

// walk lists every job, newest first, 1000 a page, and keeps the cursors
// at 10%, 50% and 90% of the way.
func (x *Reads) walk(ctx context.Context, c *cluster, h *history) error {
	c.cfg.note("reads: walking every page of list_jobs")
	type mark struct {
		depth  int
		cursor string
	}
	var marks []mark
	t := time.Now()
	a := rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize}
	for {
		rep, err := c.ctl.ListJobs(ctx, &a)
		if err != nil {
			return fmt.Errorf("bench: walk list_jobs: %w", err)
		}
		x.RDWalkPages++
		x.RDWalkJobs += len(rep.Jobs)
		if rep.NextCursor == "" {
			break
		}
		marks = append(marks, mark{x.RDWalkJobs, rep.NextCursor})
		a.Cursor = rep.NextCursor
	}
	x.RDWalkS = time.Since(t).Seconds()
	for _, p := range []int{10, 50, 90} {
		for _, m := range marks {
			if m.depth >= x.RDWalkJobs*p/100 {
				h.cursors["cursor "+strconv.Itoa(p)+"%"] = m.cursor
				break
			}
		}
	}
	return nil
}

// readOp is one read: it returns how many items (jobs, workers) and bytes
// its answer had.
type readOp struct {
	name string
	do   func(ctx context.Context, mc rpcapi.MasterClient) (items, bytes int, err error)
}

// readOps are the reads of the loop.
func readOps(addr string, hc *http.Client, h *history) []readOp {
	list := func(name string, a rpcapi.ListJobsArgs) readOp {
		return readOp{name, func(ctx context.Context, mc rpcapi.MasterClient) (int, int, error) {
			rep, err := mc.ListJobs(ctx, &a)
			if err != nil {
				return 0, 0, err
			}
			return len(rep.Jobs), 0, nil
		}}
	}
	get := func(name string, ids []string) readOp {
		return readOp{name, func(ctx context.Context, mc rpcapi.MasterClient) (int, int, error) {
			_, err := mc.GetJob(ctx, ids[rand.IntN(len(ids))])
			return 1, 0, err
		}}
	}
	web := func(name, path string, stream bool) readOp {
		return readOp{name, func(ctx context.Context, _ rpcapi.MasterClient) (int, int, error) {
			n, err := httpGet(ctx, hc, "http://"+addr+path, stream)
			return 0, n, err
		}}
	}
	ops := []readOp{
		list("list_jobs newest 100", rpcapi.ListJobsArgs{}),
		list("list_jobs newest 1000", rpcapi.ListJobsArgs{Limit: rpcapi.MaxPageSize}),
		list("list_jobs oldest 100", rpcapi.ListJobsArgs{Order: rpcapi.OrderAsc}),
		list("list_jobs state=succeeded", rpcapi.ListJobsArgs{State: jobs.Succeeded}),
		list("list_jobs state=cancelled (rare)", rpcapi.ListJobsArgs{State: jobs.Cancelled}),
		list("list_jobs type="+RareType, rpcapi.ListJobsArgs{Type: RareType}),
		list("list_jobs type="+NoopType, rpcapi.ListJobsArgs{Type: NoopType}),
		list("list_jobs group (newest)", rpcapi.ListJobsArgs{Group: h.newGroup}),
		list("list_jobs group (oldest)", rpcapi.ListJobsArgs{Group: h.oldGroup}),
	}
	for _, k := range []string{"cursor 10%", "cursor 50%", "cursor 90%"} {
		if cur, ok := h.cursors[k]; ok {
			ops = append(ops, list("list_jobs "+k, rpcapi.ListJobsArgs{Cursor: cur}))
		}
	}
	ops = append(ops,
		readOp{"list_workers page", func(ctx context.Context, mc rpcapi.MasterClient) (int, int, error) {
			rep, err := mc.ListWorkersPage(ctx, &rpcapi.ListWorkersArgs{})
			if err != nil {
				return 0, 0, err
			}
			return len(rep.Workers), 0, nil
		}},
		readOp{"list_workers all pages", func(ctx context.Context, mc rpcapi.MasterClient) (int, int, error) {
			rep, err := mc.ListWorkers(ctx)
			return len(rep.Workers), 0, err
		}},
		get("get_job old", h.oldIDs),
		get("get_job new", h.newIDs),
		readOp{"status (rpc)", func(ctx context.Context, mc rpcapi.MasterClient) (int, int, error) {
			st, err := mc.Status(ctx)
			if err != nil {
				return 0, 0, err
			}
			return len(st.Workers), 0, nil
		}},
		web("GET /api/v1/status", "/api/v1/status", false),
		web("GET /api/v1/jobs", "/api/v1/jobs", false),
		web("GET /api/v1/jobs?state=cancelled", "/api/v1/jobs?state=cancelled", false),
		web("GET /api/v1/groups", "/api/v1/groups", false),
		web("GET /api/v1/events (first event)", "/api/v1/events", true),
	)
	return ops
}

// opRecord is one reader's record of one read.
type opRecord struct {
	lat          []time.Duration
	items, bytes int
	errs, calls  int
	firstErr     string
}

// readLoop runs cfg.Clients readers for cfg.Duration, each going through
// every read in turn (starting at a different one), and summarizes them.
func (x *Reads) readLoop(ctx context.Context, cfg *Config, c *cluster, h *history) []ReadOp {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Clients}, Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	ops := readOps(c.addr, hc, h)
	recs := make([][]opRecord, cfg.Clients)
	deadline := time.Now().Add(cfg.Duration)
	t := time.Now()
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = make([]opRecord, len(ops))
		wg.Go(func() {
			caller, err := rpcapi.NewCaller(c.addr, cfg.Transport)
			if err != nil {
				recs[i][0].errs++
				recs[i][0].firstErr = err.Error()
				return
			}
			defer caller.Close()
			mc := rpcapi.MasterClient{C: caller}
			for k := i; time.Now().Before(deadline) && ctx.Err() == nil; k++ {
				op, rec := ops[k%len(ops)], &recs[i][k%len(ops)]
				t0 := time.Now()
				items, n, err := op.do(ctx, mc)
				d := time.Since(t0)
				rec.calls++
				if err != nil {
					rec.errs++
					if rec.firstErr == "" {
						rec.firstErr = err.Error()
					}
					continue
				}
				rec.lat = append(rec.lat, d)
				rec.items += items
				rec.bytes += n
			}
		})
	}
	wg.Wait()
	x.RDLoopS = time.Since(t).Seconds()
	out := make([]ReadOp, len(ops))
	for k, op := range ops {
		var all opRecord
		for i := range recs {
			r := &recs[i][k]
			all.lat = append(all.lat, r.lat...)
			all.items, all.bytes, all.errs, all.calls = all.items+r.items, all.bytes+r.bytes, all.errs+r.errs, all.calls+r.calls
			if all.firstErr == "" {
				all.firstErr = r.firstErr
			}
		}
		o := ReadOp{Name: op.name, Calls: all.calls, Errors: all.errs, FirstErr: all.firstErr,
			P50us: micros(percentile(all.lat, 0.5)), P99us: micros(percentile(all.lat, 0.99)), Maxus: micros(percentile(all.lat, 1))}
		if ok := len(all.lat); ok > 0 {
			o.Items, o.Bytes = round(float64(all.items)/float64(ok), 1), round(float64(all.bytes)/float64(ok), 0)
		}
		out[k] = o
	}
	return out
}

// readAlone times each read readsAlone times, one call at a time, and
// keeps the medians in x.RDOps.
func (x *Reads) readAlone(ctx context.Context, cfg *Config, c *cluster, h *history) error {
	hc := &http.Client{Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	caller, err := rpcapi.NewCaller(c.addr, cfg.Transport)
	if err != nil {
		return err
	}
	defer caller.Close()
	mc := rpcapi.MasterClient{C: caller}
	for k, op := range readOps(c.addr, hc, h) {
		var lat []time.Duration
		for range readsAlone {
			t0 := time.Now()
			if _, _, err := op.do(ctx, mc); err != nil {
				return fmt.Errorf("reads: %s alone: %w", op.name, err)
			}
			lat = append(lat, time.Since(t0))
		}
		if k < len(x.RDOps) {
			x.RDOps[k].AloneP50us = micros(percentile(lat, 0.5))
		}
	}
	return nil
}

func (x *Reads) table(row func(k, v string, note ...string)) {
	row("history", strconv.Itoa(x.RDFinal), fmt.Sprintf("final jobs, filled in %.1fs (%d cancelled of type %s first, the oldest); master RSS after it %s",
		x.RDFillS, x.RDRare, RareType, mib(x.RDFillRSS)))
	row("walk of every page", fmt.Sprintf("%.2f s", x.RDWalkS), fmt.Sprintf("list_jobs, newest first, %d jobs in %d pages of up to 1000", x.RDWalkJobs, x.RDWalkPages))
	row("heartbeat RTT before", x.RDBefore.String(), fmt.Sprintf("the fleet alone for %gs; master CPU %.1f%%, other processes %.1f%%", x.RDWindowS, x.RDCPUBefore, x.RDOtherBefore))
	row("heartbeat RTT during", x.RDDuring.String(), fmt.Sprintf("%d readers for %.0fs; master CPU %.1f%%, other processes %.1f%%", x.RDReaders, x.RDLoopS, x.RDCPUDuring, x.RDOtherDuring))
	row("workers reaped", strconv.FormatInt(x.RDReaped, 10), fmt.Sprintf("heartbeat errors %d, not ok %d; registered in %.2fs; master peak RSS %s",
		x.RDBefore.Errors+x.RDDuring.Errors, x.RDBefore.Unknown+x.RDDuring.Unknown, x.RDRegisterS, mib(x.RDPeakRSS)))
}

func (b beats) String() string {
	return fmt.Sprintf("p50 %.0f / p99 %.0f / max %.0f µs", b.P50us, b.P99us, b.Maxus)
}

// writeOps writes each read's latencies as a table.
func (x *Reads) writeOps(w io.Writer) error {
	fmt.Fprintf(w, "\nreads (latency over the loop; alone: the median of %d calls made one at a time after it; items: jobs or workers per answer)\n", readsAlone)
	tw := newTable(w)
	fmt.Fprintf(tw, "  read\tcalls\terrors\tp50\tp99\tmax\talone\titems\tbody KiB\n")
	for _, o := range x.RDOps {
		items, kib := fmt.Sprintf("%.0f", o.Items), "-"
		if o.Bytes > 0 {
			items, kib = "-", fmt.Sprintf("%.1f", o.Bytes/1024)
		}
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", o.Name, o.Calls, o.Errors, ms(o.P50us), ms(o.P99us), ms(o.Maxus), ms(o.AloneP50us), items, kib)
	}
	return tw.Flush()
}
