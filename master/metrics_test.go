package master_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// scrape fetches /metrics and parses it as Prometheus text.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels
// include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample of %s with %v", name, want)
	return 0
}

// TestMetrics: the counters at /metrics match what the test did.
func TestMetrics(t *testing.T) {
	m, fc := startClockMaster(t, master.Config{})
	w := startWorker(t, m.Addr(), "w", 4, map[string]worker.HandlerFunc{
		"echo": echo,
		"bad": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{}, errors.New("no")
		},
	})
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "echo"}, jobs.Spec{Type: "echo"}, jobs.Spec{Type: "echo"},
		jobs.Spec{Type: "bad", Retries: 1})
	orphan := submit(t, mc, jobs.Spec{Type: "nobody"})[0]
	retryDue(t, mc, fc, ids[3]) // the fake clock moves through the backoff
	waitAll(t, mc, ids, 10*time.Second)
	if _, err := mc.Cancel(context.Background(), &rpcapi.CancelArgs{IDs: []string{orphan}}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.GetJob(context.Background(), "404"); !errors.Is(err, rpcapi.ErrNotFound) {
		t.Fatalf("GetJob of a missing job: %v", err)
	}

	wantSamples(t, "master", scrape(t, m.Addr()), []sample{
		{"drover_jobs_submitted_total", nil, 5},
		{"drover_jobs_finished_total", map[string]string{"state": "succeeded"}, 3},
		{"drover_jobs_finished_total", map[string]string{"state": "failed"}, 1},
		{"drover_jobs_finished_total", map[string]string{"state": "cancelled"}, 1},
		{"drover_jobs_retried_total", nil, 1},
		{"drover_jobs", map[string]string{"state": "succeeded"}, 3},
		{"drover_jobs", map[string]string{"state": "pending"}, 0},
		{"drover_workers", map[string]string{"state": "alive"}, 1},
		{"drover_workers_registered_total", nil, 1},
		{"drover_rpc_errors_total", map[string]string{"method": "get_job"}, 1},
		{"drover_dispatch_latency_seconds", nil, 5},
		{"drover_job_run_seconds", map[string]string{"type": "bad", "outcome": "error"}, 2},
		{"drover_stale_reports_dropped_total", nil, 0},
		{"drover_workers_reaped_total", nil, 0},
	})
	wantSamples(t, "worker", scrape(t, w.Addr()), []sample{
		{"drover_worker_slots", nil, 4},
		{"drover_worker_running", nil, 0},
		{"drover_worker_job_seconds", map[string]string{"type": "echo", "outcome": "ok"}, 3},
		{"drover_worker_job_seconds", map[string]string{"type": "bad", "outcome": "error"}, 2},
	})
}

// sample is the value a metric's sample (of family name, with labels)
// should have.
type sample struct {
	name   string
	labels map[string]string
	want   float64
}

// wantSamples fails the test (not at once) for every sample of want whose
// value in fams, scraped from node, is another.
func wantSamples(t *testing.T, node string, fams map[string]*dto.MetricFamily, want []sample) {
	t.Helper()
	for _, c := range want {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s %s%v = %v, want %v", node, c.name, c.labels, got, c.want)
		}
	}
}
