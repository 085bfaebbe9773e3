package worker

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// metrics are the worker's Prometheus metrics, on a registry of its own,
// served at /metrics on the worker's listener.
type metrics struct {
	reg      *prometheus.Registry
	duration *prometheus.HistogramVec // by type and outcome
	stale    prometheus.Counter
	refused  prometheus.Counter // calls to the endpoint without the registration's secret
	gob      rpcapi.GoRPCStats  // what the endpoint's gob caps did
	scrapy   *scrapyMetrics

	mu  sync.Mutex // guards obs
	obs map[durationKey]prometheus.Observer
}

type durationKey struct {
	typ     string
	outcome jobs.Outcome
}

// observe records the run time of a job of typ that ended with outcome.
func (x *metrics) observe(typ string, outcome jobs.Outcome, seconds float64) {
	x.observer(typ, outcome).Observe(seconds)
}

// observer returns the run-time histogram of typ and outcome.
func (x *metrics) observer(typ string, outcome jobs.Outcome) prometheus.Observer {
	k := durationKey{typ, outcome}
	x.mu.Lock()
	defer x.mu.Unlock()
	o := x.obs[k]
	if o == nil {
		o = x.duration.WithLabelValues(typ, string(outcome))
		x.obs[k] = o
	}
	return o
}

func newMetrics(w *Worker) *metrics {
	x := &metrics{
		reg: prometheus.NewRegistry(),
		obs: make(map[durationKey]prometheus.Observer),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "drover_worker_job_seconds",
			Help:    "Run time of jobs on this worker (handlers and subprocesses), by type and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12)}, []string{"type", "outcome"}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_worker_reports_dropped_total",
			Help: "Reports the master dropped as stale or refused (their attempt leased to another worker)."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "drover_worker_calls_refused_total",
			Help: "Calls to this worker's endpoint (assign_task, cancel_task) refused for want of its registration's secret."}),
	}
	x.scrapy = newScrapyMetrics(x.reg)
	x.reg.MustRegister(x.duration, x.stale, x.refused,
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_rpc_oversize_messages_total",
			Help: "gob connections to the endpoint closed for a message over max_request_body."},
			func() float64 { return float64(x.gob.Oversize.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "drover_rpc_calls_held_back_total",
			Help: "Times a gob connection's reading paused because max_calls_in_flight of its calls were running."},
			func() float64 { return float64(x.gob.HeldBack.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "drover_worker_running", Help: "Jobs running now."},
			func() float64 { return float64(w.Running()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "drover_worker_slots", Help: "Jobs this worker runs at once."},
			func() float64 { return float64(w.cfg.Slots) }),
	)
	return x
}

func (x *metrics) handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{Registry: x.reg})
}
