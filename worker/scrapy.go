package worker

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// KindScrapy is the Command.Kind of a template that runs a Scrapy crawl:
// the worker reads the crawl's closing stats from its log and judges the
// run by them (see scrapyStats.judge).
const KindScrapy = "scrapy"

// Scrapy's closing stats that the rules and the metrics read.
const (
	ScrapyItems        = "item_scraped_count"
	ScrapyResponses    = "response_received_count"
	ScrapyErrors       = "log_count/ERROR"
	ScrapyFinishReason = "finish_reason"
)

// Bounds on the stats kept from one crawl: what is past them is dropped.
const (
	maxScrapyStats    = 128
	maxScrapyStatText = 256
)

// scrapyStats reads Scrapy's closing stats from a crawl's log, line by
// line: the Python dict that follows "Dumping Scrapy stats:", one
// 'key': value per line as pprint writes it, up to the line that ends
// with "}". A later dump replaces an earlier one. It is not safe for
// concurrent use (outputWatch guards it).
type scrapyStats struct {
	in    bool              // inside a dump
	cur   map[string]string // the dump being read
	last  map[string]string // the last complete dump
	found bool
}

var (
	scrapyStatLine = regexp.MustCompile(`^\s*\{?\s*'([^']+)':\s*(.*?),?\s*\}?\s*$`)
	pyDatetime     = regexp.MustCompile(`^datetime\.datetime\((\d+), (\d+), (\d+)(?:, (\d+))?(?:, (\d+))?(?:, (\d+))?(?:, (\d+))?`)
)

// line reads one line of the crawl's output.
func (s *scrapyStats) line(line string) {
	if !s.in {
		if strings.Contains(line, "Dumping Scrapy stats:") {
			s.in, s.cur = true, map[string]string{}
		}
		return
	}
	trimmed := strings.TrimSpace(line)
	if m := scrapyStatLine.FindStringSubmatch(trimmed); m != nil && len(s.cur) < maxScrapyStats {
		key, value := m[1], pyValue(m[2])
		if len(key) <= maxScrapyStatText {
			if len(value) > maxScrapyStatText {
				value = value[:maxScrapyStatText]
			}
			s.cur[key] = value
		}
	}
	if strings.HasSuffix(trimmed, "}") {
		s.in, s.last, s.found = false, s.cur, true
	}
}

// pyValue turns a Python literal of the stats dict into plain text: a
// string without its quotes, a datetime as "2024-05-01T12:00:00.123456",
// anything else (numbers) as written.
func pyValue(v string) string {
	v = strings.TrimSpace(v)
	if n := len(v); n >= 2 && (v[0] == '\'' && v[n-1] == '\'' || v[0] == '"' && v[n-1] == '"') {
		return v[1 : n-1]
	}
	if m := pyDatetime.FindStringSubmatch(v); m != nil {
		num := func(i int) int { n, _ := strconv.Atoi(m[i]); return n }
		s := fmt.Sprintf("%s-%02d-%02dT%02d:%02d:%02d", m[1], num(2), num(3), num(4), num(5), num(6))
		if m[7] != "" {
			s += fmt.Sprintf(".%06d", num(7))
		}
		return s
	}
	return v
}

// result returns the stats of the last complete dump; nil when there was
// none.
func (s *scrapyStats) result() map[string]string {
	if !s.found {
		return nil
	}
	return s.last
}

// statCount returns stats[key] as a number; 0 when absent or not one.
func statCount(stats map[string]string, key string) int64 {
	n, _ := strconv.ParseInt(stats[key], 10, 64)
	return n
}

// judge applies the scrapy kind's rules to a crawl that exited 0. It fails
// (retryably) when the log has no closing stats (the crawl did not close,
// or logs above INFO), when errors were logged and no item was scraped,
// when fewer than cmd.MinItems items were scraped, or when more than
// cmd.MaxErrors errors were logged (when those are set).
func (s *scrapyStats) judge(cmd Command) error {
	stats := s.result()
	if stats == nil {
		return fmt.Errorf("worker: exit status 0, but no Scrapy stats in the output (the crawl did not close, or its LOG_LEVEL is above INFO)")
	}
	items, errs := statCount(stats, ScrapyItems), statCount(stats, ScrapyErrors)
	why := ""
	switch {
	case errs > 0 && items == 0:
		why = fmt.Sprintf("%d errors logged and no item scraped", errs)
	case cmd.MinItems > 0 && items < int64(cmd.MinItems):
		why = fmt.Sprintf("%d items scraped, below min_items %d", items, cmd.MinItems)
	case cmd.MaxErrors > 0 && errs > int64(cmd.MaxErrors):
		why = fmt.Sprintf("%d errors logged, above max_errors %d", errs, cmd.MaxErrors)
	default:
		return nil
	}
	return fmt.Errorf("worker: exit status 0, but the crawl failed: %s (finish_reason %q)", why, stats[ScrapyFinishReason])
}

// scrapyMetrics count what the worker's Scrapy crawls reported in their
// closing stats, by job type.
type scrapyMetrics struct {
	items, responses, errors *prometheus.CounterVec
	crawls                   *prometheus.CounterVec // by type and finish_reason

	mu   sync.Mutex
	seen map[string]bool // finish reasons counted so far, to bound the label
}

// maxFinishReasons bounds the finish_reason label's values; the rest are
// counted as "other".
const maxFinishReasons = 16

func newScrapyMetrics(reg prometheus.Registerer) *scrapyMetrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	x := &scrapyMetrics{
		items:     counter("drover_scrapy_items_total", "Items scraped by Scrapy crawls (item_scraped_count), by job type.", "type"),
		responses: counter("drover_scrapy_responses_total", "Responses received by Scrapy crawls (response_received_count), by job type.", "type"),
		errors:    counter("drover_scrapy_errors_total", "Errors logged by Scrapy crawls (log_count/ERROR), by job type.", "type"),
		crawls: counter("drover_scrapy_crawls_total", "Scrapy crawls that ended, by job type and finish_reason (none: no closing stats).",
			"type", "finish_reason"),
		seen: map[string]bool{},
	}
	reg.MustRegister(x.items, x.responses, x.errors, x.crawls)
	return x
}

// observe counts the closing stats of one crawl of type typ (nil: it had
// none).
func (x *scrapyMetrics) observe(typ string, stats map[string]string) {
	reason := "none"
	if stats != nil {
		reason = stats[ScrapyFinishReason]
		x.items.WithLabelValues(typ).Add(float64(statCount(stats, ScrapyItems)))
		x.responses.WithLabelValues(typ).Add(float64(statCount(stats, ScrapyResponses)))
		x.errors.WithLabelValues(typ).Add(float64(statCount(stats, ScrapyErrors)))
	}
	x.mu.Lock()
	if !x.seen[reason] {
		if len(x.seen) >= maxFinishReasons {
			reason = "other"
		} else {
			x.seen[reason] = true
		}
	}
	x.mu.Unlock()
	x.crawls.WithLabelValues(typ, reason).Inc()
}
