package master

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drover/drover/internal/buildinfo"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// metrics are the master's Prometheus metrics, on a registry of its own
// (never the global one), served at /metrics.
type metrics struct {
	reg        *prometheus.Registry
	submitted  prometheus.Counter
	oversized  *prometheus.CounterVec // submits refused whole by a bound, by the bound's key
	finished   *prometheus.CounterVec // by final state
	retried    prometheus.Counter
	lost       prometheus.Counter
	reaped     prometheus.Counter
	dropped    prometheus.Counter
	foreign    prometheus.Counter     // reports for an attempt leased to another worker
	badSecret  prometheus.Counter     // worker calls without the registration's secret
	rpcErrors  *prometheus.CounterVec // by method
	dispatch   prometheus.Histogram
	registered prometheus.Counter

	// runs are drover_job_run_seconds by type and outcome (runCollector
	// serves them). types are the job types with series of their own, and
	// when each was last observed; at most maxTypes, the rest share
	// otherType. Both are maps of the master's own rather than a
	// HistogramVec (whose map never gives back what it held) so that
	// release can rebuild them once most of their entries are gone: a Go
	// map keeps the memory of deleted entries. runsPeak and typesPeak are
	// their sizes at most since they were last rebuilt. Guarded by
	// Master.mu.
	runs      map[runKey]*runHist
	types     map[string]time.Time
	runsPeak  int
	typesPeak int
	maxTypes  int
}

// otherType labels the series of the job types beyond metric_types.
const otherType = "other"

type runKey struct {
	typ     string
	outcome jobs.Outcome
}

// runBuckets are the upper bounds of drover_job_run_seconds's buckets.
var runBuckets = prometheus.ExponentialBuckets(0.001, 4, runBucketCount)

// runBucketCount is how many bounds runBuckets has.
const runBucketCount = 12

// runHist is one series of drover_job_run_seconds: the observations in
// each bucket (counts[i]: at most runBuckets[i] and above the bound
// before; the last: above every bound), their count and their sum.
type runHist struct {
	counts [runBucketCount + 1]uint64
	n      uint64
	sum    float64
}

func (h *runHist) observe(v float64) {
	h.counts[sort.SearchFloat64s(runBuckets, v)]++
	h.n++
	h.sum += v
}

var descRunTime = prometheus.NewDesc("drover_job_run_seconds", "Attempt run time, lease to report, by type and outcome.",
	[]string{"type", "outcome"}, nil)

func newMetrics(c *core) *metrics {
	x := &metrics{
		reg:      prometheus.NewRegistry(),
		runs:     make(map[runKey]*runHist),
		types:    make(map[string]time.Time),
		maxTypes: c.cfg.MetricTypes,
		submitted: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_jobs_submitted_total",
			Help: "Jobs created by submits and jobs files."}),
		oversized: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_submits_refused_total",
			Help: "Submits refused whole for being over a bound, by its conf key (max_submit, max_submit_bytes, max_args_bytes)."}, []string{"limit"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_jobs_finished_total",
			Help: "Jobs that reached a final state, by state (succeeded, failed, cancelled)."}, []string{"state"}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_jobs_retried_total",
			Help: "Failed, timed-out or lost attempts that were followed by a retry."}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_attempts_lost_total",
			Help: "Attempts lost with a dead, departed or forgetful worker."}),
		reaped: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_workers_reaped_total",
			Help: "Workers declared dead after dead_after without a heartbeat."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_stale_reports_dropped_total",
			Help: "Reports dropped: by attempt fencing (late reports of reaped or superseded attempts), or of unknown jobs."}),
		foreign: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_foreign_reports_refused_total",
			Help: "Reports refused because their attempt is leased to another worker."}),
		badSecret: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_worker_secret_refused_total",
			Help: "Worker calls (heartbeat, fetch_tasks, task_complete, logout_worker) refused for a missing or wrong registration secret."}),
		rpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "drover_rpc_errors_total",
			Help: "RPC calls to the master that returned an error, by method."}, []string{"method"}),
		dispatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "drover_dispatch_latency_seconds",
			Help:    "Time from a job being ready to its lease.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12)}),
		registered: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_workers_registered_total",
			Help: "Worker registrations, re-registrations included."}),
	}
	b := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{Name: "drover_build_info", Help: "Always 1: what the master was built from.",
		ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "goversion": b.GoVersion}})
	build.Set(1)
	x.reg.MustRegister(build, x.submitted, x.oversized, x.finished, x.retried, x.lost, x.reaped, x.dropped, x.foreign, x.badSecret, x.rpcErrors,
		x.dispatch, x.registered, &stateCollector{core: c}, &runCollector{core: c},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, s := range []jobs.State{jobs.Succeeded, jobs.Failed, jobs.Cancelled} {
		x.finished.WithLabelValues(string(s))
	}
	return x
}

func (x *metrics) handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{Registry: x.reg})
}

// observeFinish records an attempt that just ended on j. The caller holds
// Master.mu.
func (x *metrics) observeFinish(j *jobs.Job) {
	a := j.Attempts[len(j.Attempts)-1]
	if !a.Ended.IsZero() {
		k := runKey{x.typeLabel(j.Spec.Type, a.Ended), a.Outcome}
		h := x.runs[k]
		if h == nil {
			h = &runHist{}
			x.runs[k] = h
			x.runsPeak = max(x.runsPeak, len(x.runs))
		}
		h.observe(a.Ended.Sub(a.Started).Seconds())
	}
	if a.Outcome == jobs.Lost {
		x.lost.Inc()
	}
	if j.State == jobs.Pending {
		x.retried.Inc()
	}
}

// typeLabel returns the label of job type typ in per-type series: typ
// itself while fewer than maxTypes types have series (or typ has one),
// otherType beyond. The caller holds Master.mu.
func (x *metrics) typeLabel(typ string, now time.Time) string {
	if _, ok := x.types[typ]; !ok && len(x.types) >= x.maxTypes {
		typ = otherType
	}
	x.types[typ] = now
	x.typesPeak = max(x.typesPeak, len(x.types))
	return typ
}

// release drops the series of the job types not observed since before,
// so types that are done with leave /metrics, and rebuilds the maps that
// lost most of their entries. The caller holds Master.mu.
func (x *metrics) release(before time.Time) {
	gone := false
	for typ, at := range x.types {
		if at.Before(before) {
			delete(x.types, typ)
			gone = true
		}
	}
	if !gone {
		return
	}
	for k := range x.runs {
		if _, ok := x.types[k.typ]; !ok {
			delete(x.runs, k)
		}
	}
	x.types = compactMap(x.types, &x.typesPeak)
	x.runs = compactMap(x.runs, &x.runsPeak)
}

// compactMap returns m, or a copy of it once it holds fewer than half the
// entries it held at most (*peak), which it then resets: a Go map keeps
// the memory of its deleted entries, a copy only needs what it holds. The
// copies cost at most the deletes that made them due.
func compactMap[K comparable, V any](m map[K]V, peak *int) map[K]V {
	if 2*len(m) >= *peak {
		return m
	}
	*peak = len(m)
	return copyMap(m)
}

// runCollector serves drover_job_run_seconds from metrics.runs.
type runCollector struct{ core *core }

func (x *runCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descRunTime }

func (x *runCollector) Collect(ch chan<- prometheus.Metric) {
	type series struct {
		k runKey
		h runHist
	}
	c := x.core
	c.mu.Lock()
	all := make([]series, 0, len(c.metrics.runs))
	for k, h := range c.metrics.runs {
		all = append(all, series{k, *h})
	}
	c.mu.Unlock()
	for _, s := range all {
		buckets := make(map[float64]uint64, len(runBuckets))
		var cum uint64
		for i, le := range runBuckets {
			cum += s.h.counts[i]
			buckets[le] = cum
		}
		ch <- prometheus.MustNewConstHistogram(descRunTime, s.h.n, s.h.sum, buckets, s.k.typ, string(s.k.outcome))
	}
}

var (
	descQueue   = prometheus.NewDesc("drover_queue_depth", "Ready jobs waiting for a slot, by type.", []string{"type"}, nil)
	descJobs    = prometheus.NewDesc("drover_jobs", "Jobs by state.", []string{"state"}, nil)
	descWorkers = prometheus.NewDesc("drover_workers", "Workers by state (alive, draining, dead ones still listed).", []string{"state"}, nil)
	descDelayed = prometheus.NewDesc("drover_jobs_delayed", "Pending jobs waiting out a retry backoff.", nil, nil)
	descOldest  = prometheus.NewDesc("drover_queue_oldest_pending_seconds",
		"How long the ready job that has waited longest has waited since it became ready, by type.", []string{"type"}, nil)
)

// stateCollector reads gauges from the master's state at scrape time.
type stateCollector struct{ core *core }

func (x *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueue
	ch <- descJobs
	ch <- descWorkers
	ch <- descDelayed
	ch <- descOldest
}

func (x *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c := x.core
	c.mu.Lock()
	defer c.mu.Unlock()
	ready := 0
	byType := make(map[string]int)
	oldest := make(map[string]time.Time) // by type label: when the ready job waiting longest became ready
	for _, name := range c.queue.ReadyTypes() {
		n := c.queue.Ready(name)
		ready += n
		typ, _, _ := strings.Cut(name, "\x00") // a lane's name starts with its type
		if _, ok := byType[typ]; !ok && len(byType) >= c.cfg.MetricTypes {
			typ = otherType
		}
		byType[typ] += n
		c.queue.Heads(name, func(j *jobs.Job) {
			if since, ok := oldest[typ]; !ok || readySince(j).Before(since) {
				oldest[typ] = readySince(j)
			}
		})
	}
	now := c.now()
	for typ, n := range byType {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(n), typ)
		ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, max(now.Sub(oldest[typ]), 0).Seconds(), typ)
	}
	for _, s := range jobs.States {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(c.counts.of(s)), string(s))
	}
	byState := map[string]int{rpcapi.WorkerAlive: 0, rpcapi.WorkerDraining: 0, rpcapi.WorkerDead: 0}
	for _, w := range c.reg.workers {
		if !w.restored {
			byState[w.state]++
		}
	}
	for s, n := range byState {
		ch <- prometheus.MustNewConstMetric(descWorkers, prometheus.GaugeValue, float64(n), s)
	}
	ch <- prometheus.MustNewConstMetric(descDelayed, prometheus.GaugeValue, float64(c.queue.Len()-ready))
}

// countingAPI counts the errors of every RPC method; both transports serve
// it.
type countingAPI struct {
	w *wire
}

// gated runs call once the master has loaded its whole store (ready.go):
// every method but the workers'.
func (c countingAPI) gated(ctx context.Context, call func() error) error {
	if err := c.w.core.awaitReady(ctx); err != nil {
		return err
	}
	return call()
}

// deposed refuses a worker's call once the master no longer leads its
// raft group (Config.Leads): nothing it answered could be acted on.
func (c countingAPI) deposed() error {
	if c.w.cfg.leads() {
		return nil
	}
	return rpcapi.NewNotLeader("") // the caller goes on to the other masters
}

func (c countingAPI) count(method string, err error) error {
	if err != nil {
		c.w.core.metrics.rpcErrors.WithLabelValues(method).Inc()
	}
	return err
}

func (c countingAPI) Register(ctx context.Context, a *rpcapi.RegisterArgs, r *rpcapi.RegisterReply) error {
	if err := c.deposed(); err != nil {
		return c.count("register", err)
	}
	return c.count("register", c.w.Register(ctx, a, r))
}
func (c countingAPI) Heartbeat(ctx context.Context, a *rpcapi.HeartbeatArgs, r *rpcapi.HeartbeatReply) error {
	if err := c.deposed(); err != nil {
		return c.count("heartbeat", err)
	}
	return c.count("heartbeat", c.w.Heartbeat(ctx, a, r))
}
func (c countingAPI) Complete(ctx context.Context, a *rpcapi.CompleteArgs, r *rpcapi.CompleteReply) error {
	if err := c.deposed(); err != nil {
		return c.count("complete", err)
	}
	rpcapi.OnDeferred(ctx, func(err error) error { return c.count("complete", err) })
	return c.count("complete", c.w.Complete(ctx, a, r))
}
func (c countingAPI) Logout(ctx context.Context, a *rpcapi.LogoutArgs, r *rpcapi.Empty) error {
	return c.count("logout", c.w.Logout(ctx, a, r))
}
func (c countingAPI) Status(ctx context.Context, a *rpcapi.Empty, r *rpcapi.StatusReply) error {
	return c.count("status", c.gated(ctx, func() error { return c.w.Status(ctx, a, r) }))
}
func (c countingAPI) Submit(ctx context.Context, a *rpcapi.SubmitArgs, r *rpcapi.SubmitReply) error {
	return c.count("submit", c.gated(ctx, func() error { return c.w.Submit(ctx, a, r) }))
}
func (c countingAPI) GetJob(ctx context.Context, a *rpcapi.GetJobArgs, r *rpcapi.JobInfo) error {
	return c.count("get_job", c.gated(ctx, func() error { return c.w.GetJob(ctx, a, r) }))
}
func (c countingAPI) ListJobs(ctx context.Context, a *rpcapi.ListJobsArgs, r *rpcapi.ListJobsReply) error {
	return c.count("list_jobs", c.gated(ctx, func() error { return c.w.ListJobs(ctx, a, r) }))
}
func (c countingAPI) ListWorkers(ctx context.Context, a *rpcapi.ListWorkersArgs, r *rpcapi.ListWorkersReply) error {
	return c.count("list_workers", c.gated(ctx, func() error { return c.w.ListWorkers(ctx, a, r) }))
}
func (c countingAPI) Cancel(ctx context.Context, a *rpcapi.CancelArgs, r *rpcapi.CancelReply) error {
	return c.count("cancel", c.gated(ctx, func() error { return c.w.Cancel(ctx, a, r) }))
}
func (c countingAPI) PurgeJobs(ctx context.Context, a *rpcapi.PurgeArgs, r *rpcapi.PurgeReply) error {
	return c.count("purge_jobs", c.gated(ctx, func() error { return c.w.PurgeJobs(ctx, a, r) }))
}
func (c countingAPI) Wait(ctx context.Context, a *rpcapi.WaitArgs, r *rpcapi.WaitReply) error {
	return c.count("wait", c.gated(ctx, func() error { return c.w.Wait(ctx, a, r) }))
}
func (c countingAPI) ListSchedules(ctx context.Context, a *rpcapi.Empty, r *rpcapi.ListSchedulesReply) error {
	return c.count("list_schedules", c.gated(ctx, func() error { return c.w.ListSchedules(ctx, a, r) }))
}
func (c countingAPI) PauseSchedule(ctx context.Context, a *rpcapi.ScheduleArgs, r *rpcapi.ScheduleInfo) error {
	return c.count("pause_schedule", c.gated(ctx, func() error { return c.w.PauseSchedule(ctx, a, r) }))
}
func (c countingAPI) ResumeSchedule(ctx context.Context, a *rpcapi.ScheduleArgs, r *rpcapi.ScheduleInfo) error {
	return c.count("resume_schedule", c.gated(ctx, func() error { return c.w.ResumeSchedule(ctx, a, r) }))
}
func (c countingAPI) GetGroup(ctx context.Context, a *rpcapi.GetGroupArgs, r *rpcapi.GroupInfo) error {
	return c.count("get_group", c.gated(ctx, func() error { return c.w.GetGroup(ctx, a, r) }))
}
func (c countingAPI) ListGroups(ctx context.Context, a *rpcapi.ListGroupsArgs, r *rpcapi.ListGroupsReply) error {
	return c.count("list_groups", c.gated(ctx, func() error { return c.w.ListGroups(ctx, a, r) }))
}
func (c countingAPI) ListQueues(ctx context.Context, a *rpcapi.ListQueuesArgs, r *rpcapi.ListQueuesReply) error {
	return c.count("list_queues", c.gated(ctx, func() error { return c.w.ListQueues(ctx, a, r) }))
}
func (c countingAPI) Fetch(ctx context.Context, a *rpcapi.FetchArgs, r *rpcapi.FetchReply) error {
	if err := c.deposed(); err != nil {
		return c.count("fetch", err)
	}
	return c.count("fetch", c.w.Fetch(ctx, a, r))
}
