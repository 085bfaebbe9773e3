package worker

import (
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/drover/drover/jobs"
)

// scrapyLog is the end of a Scrapy 2.8 crawl's log, as it writes it.
const scrapyLog = `2025-03-01 12:00:00 [scrapy.core.engine] INFO: Closing spider (finished)
2025-03-01 12:00:00 [scrapy.statscollectors] INFO: Dumping Scrapy stats:
{'downloader/request_count': 31,
 'downloader/response_status_count/200': 30,
 'elapsed_time_seconds': 1.25,
 'finish_reason': 'finished',
 'finish_time': datetime.datetime(2025, 3, 1, 12, 0, 0, 123456),
 'item_scraped_count': 30,
 'log_count/ERROR': 1,
 'log_count/INFO': 10,
 'response_received_count': 30,
 'start_time': datetime.datetime(2025, 3, 1, 11, 59, 58, 873456)}
2025-03-01 12:00:00 [scrapy.core.engine] INFO: Spider closed (finished)
`

func scrapyRun(t *testing.T, cmd Command, log string, writes int) (map[string]string, error) {
	t.Helper()
	cmd.Kind = KindScrapy
	w := newOutputWatch(cmd)
	// Cut the log into writes of any size, as pipes deliver it.
	step := max(len(log)/writes, 1)
	for i := 0; i < len(log); i += step {
		w.Write([]byte(log[i:min(i+step, len(log))]))
	}
	res, err := judge(t.Context(), cmd, w, jobs.Result{}, nil)
	return res.Stats, err
}

func TestScrapyStats(t *testing.T) {
	for _, writes := range []int{1, 7, len(scrapyLog)} {
		stats, err := scrapyRun(t, Command{}, scrapyLog, writes)
		if err != nil {
			t.Fatalf("%d writes: %v", writes, err)
		}
		want := map[string]string{"downloader/request_count": "31", "downloader/response_status_count/200": "30",
			"elapsed_time_seconds": "1.25", "finish_reason": "finished", "finish_time": "2025-03-01T12:00:00.123456",
			"item_scraped_count": "30", "log_count/ERROR": "1", "log_count/INFO": "10", "response_received_count": "30",
			"start_time": "2025-03-01T11:59:58.873456"}
		if !maps.Equal(stats, want) {
			t.Fatalf("%d writes: stats\n got %v\nwant %v", writes, stats, want)
		}
	}
}

// TestScrapyRules: the scrapy kind fails a crawl that exited 0 when it
// logged errors and scraped nothing, below min_items, above max_errors,
// or without closing stats.
func TestScrapyRules(t *testing.T) {
	noItems := strings.NewReplacer("'item_scraped_count': 30,\n", "", "'log_count/ERROR': 1", "'log_count/ERROR': 4").Replace(scrapyLog)
	clean := strings.Replace(scrapyLog, "'log_count/ERROR': 1,\n", "", 1)
	for _, tc := range []struct {
		name string
		cmd  Command
		log  string
		want string // empty: success
	}{
		{"items and an error", Command{}, scrapyLog, ""},
		{"errors and no items", Command{}, noItems, `the crawl failed: 4 errors logged and no item scraped (finish_reason "finished")`},
		{"no items no errors", Command{}, strings.Replace(clean, "'item_scraped_count': 30,\n", "", 1), ""},
		{"min_items", Command{MinItems: 31}, scrapyLog, "30 items scraped, below min_items 31"},
		{"min_items met", Command{MinItems: 30}, scrapyLog, ""},
		{"max_errors", Command{MaxErrors: 1}, strings.Replace(scrapyLog, "'log_count/ERROR': 1", "'log_count/ERROR': 2", 1), "2 errors logged, above max_errors 1"},
		{"no stats", Command{}, "2025-03-01 12:00:00 [scrapy] INFO: Scrapy 2.8.0 started\n", "no Scrapy stats in the output"},
		{"stats cut short", Command{}, scrapyLog[:strings.Index(scrapyLog, "'item_scraped")], "no Scrapy stats in the output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scrapyRun(t, tc.cmd, tc.log, 3)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("err = %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			case err != nil && IsPermanent(err):
				t.Fatalf("a failed crawl is retried, but %v is permanent", err)
			}
		})
	}
}

func TestScrapyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	x := newScrapyMetrics(reg)
	stats, _ := scrapyRun(t, Command{}, scrapyLog, 1)
	x.observe("crawl", stats)
	x.observe("crawl", stats)
	x.observe("crawl", nil)
	for _, tc := range []struct {
		c    prometheus.Counter
		want float64
	}{
		{x.items.WithLabelValues("crawl"), 60},
		{x.responses.WithLabelValues("crawl"), 60},
		{x.errors.WithLabelValues("crawl"), 2},
		{x.crawls.WithLabelValues("crawl", "finished"), 2},
		{x.crawls.WithLabelValues("crawl", "none"), 1},
	} {
		var m dto.Metric
		if err := tc.c.Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.c.Desc(), got, tc.want)
		}
	}
}
