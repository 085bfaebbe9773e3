package examples_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/conf"
	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// needScrapy returns the scrapy program. Without it the test skips, or,
// under CI=true, fails: CI installs Debian's python3-scrapy (.ci/run).
func needScrapy(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("scrapy")
	if err == nil {
		err = exec.Command(bin, "version").Run()
	}
	if err != nil {
		msg := fmt.Sprintf("the Scrapy example needs Scrapy (apt-get install python3-scrapy): %v", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// site is a small web site on a loopback address: pages /0 ... /n-1, each
// linking to the next two, and a log of every request's User-Agent with
// its time.
type site struct {
	host  string // host:port
	pages int
	mu    sync.Mutex
	hits  map[string][2]time.Time // by User-Agent: first and last request
}

func startSite(t *testing.T, ip string, pages int) *site {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s (loopback addresses other than 127.0.0.1 need Linux): %v", ip, err)
	}
	s := &site{host: ln.Addr().String(), pages: pages, hits: map[string][2]time.Time{}}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	h, ok := s.hits[r.UserAgent()]
	if !ok {
		h[0] = now
	}
	h[1] = now
	s.hits[r.UserAgent()] = h
	s.mu.Unlock()
	var n int
	if _, err := fmt.Sscanf(r.URL.Path, "/%d", &n); err != nil && r.URL.Path != "/" || n >= s.pages {
		http.NotFound(w, r)
		return
	}
	time.Sleep(20 * time.Millisecond) // a crawl takes a while, so overlaps would show
	fmt.Fprintf(w, `<html><head><title>page %d of %s</title></head><body>`, n, s.host)
	for _, k := range []int{n + 1, n + 2} {
		if k < s.pages {
			fmt.Fprintf(w, `<a href="/%d">next</a> `, k)
		}
	}
	fmt.Fprint(w, `<a href="http://example.invalid/">elsewhere</a></body></html>`)
}

// overlaps returns the pairs of crawls (User-Agents) whose requests to s
// overlapped in time.
func (s *site) overlaps() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for a, ha := range s.hits {
		for b, hb := range s.hits {
			if a < b && ha[0].Before(hb[1]) && hb[0].Before(ha[1]) {
				out = append(out, a+" / "+b)
			}
		}
	}
	return out
}

// copyProject copies examples/scrapy into a new directory, so the crawls'
// out/ files stay out of the source tree.
func copyProject(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir("scrapy", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, "__pycache__") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, strings.TrimPrefix(p, "scrapy"))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		return os.WriteFile(to, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		n++
	}
	return n
}

// TestScrapyExampleConfs: the example's master.toml, worker.toml,
// jobs.toml and crawls.toml are valid, the jobs file has the nightly
// schedules and crawls.toml a group with the merge follow-up.
func TestScrapyExampleConfs(t *testing.T) {
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join("scrapy", name))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if _, err := conf.ParseMaster("master.toml", read("master.toml")); err != nil {
		t.Error(err)
	}
	w, err := conf.ParseWorker("worker.toml", read("worker.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c := w.Config.Commands["crawl"]; c.Kind != "scrapy" || c.Argv[0] != "scrapy" {
		t.Errorf("worker.toml: crawl = %+v, want the scrapy kind", c)
	}
	specs, err := conf.ParseJobs("jobs.toml", read("jobs.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		if s.Schedule != "0 2 * * *" || s.LimitKey == "" || s.Type != "crawl" {
			t.Errorf("jobs.toml: %+v, want nightly crawls with a limit_key", s)
		}
	}
	if m := w.Config.Commands["merge"]; len(m.Argv) == 0 {
		t.Error("worker.toml: no merge template for the follow-up of crawls.toml")
	}
	crawls, err := conf.ParseJobs("crawls.toml", read("crawls.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(crawls) != 2 || crawls[0].Then == nil || crawls[0].Then.Type != "merge" || crawls[1].Group != crawls[0].Group {
		t.Errorf("crawls.toml: %+v, want two crawls of one group, the first with a merge follow-up", crawls)
	}
}

// TestScrapyExample runs the example's Scrapy project under real drover
// master and worker processes, with the example's worker.toml, against a
// web of three sites on loopback: two up (127.0.0.1 and 127.0.0.2) and one
// down (127.0.0.3). Three crawls of each live site with a limit of one
// crawl per site at a time: every crawl succeeds, its items are in its
// out/JOB-ATTEMPT.jl file and its closing stats on the job, and no two
// crawls of a site overlap at the site. The crawl of the down site exits
// 0, but the scrapy kind fails it (errors, no items), and it is retried.
func TestScrapyExample(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Scrapy crawls under drover processes")
	}
	needScrapy(t)
	// Page n links to n+1 and n+2; the template's default depth of 2
	// reaches pages 0 to 4.
	const pages, items = 8, 5
	a, b := startSite(t, "127.0.0.1", pages), startSite(t, "127.0.0.2", pages)
	ln, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.3: %v", err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused

	project := copyProject(t)
	workerConf, err := os.ReadFile(filepath.Join(project, "worker.toml"))
	if err != nil {
		t.Fatal(err)
	}
	wc := regexp.MustCompile(`(?m)^dir = "\."$`).ReplaceAllString(string(workerConf), fmt.Sprintf("dir = %q", project))
	if wc == string(workerConf) {
		t.Fatal(`worker.toml has no dir = "." line to point at the project`)
	}
	c := testproc.StartCluster(t, testproc.ClusterConfig{Workers: 2, Slots: 2, Worker: wc,
		Master: "default_limit = 1\nretry_backoff = \"200ms\"\nmax_backoff = \"500ms\"\n"})

	var specs []jobs.Spec
	for _, s := range []*site{a, b} {
		for range 3 {
			specs = append(specs, jobs.Spec{Type: "crawl", Args: map[string]string{"urls": "http://" + s.host + "/"},
				LimitKey: s.host, Retries: 1, Group: "sites"})
		}
	}
	specs[0].Then = &jobs.Spec{Type: "merge"} // once the six crawls are final
	specs = append(specs, jobs.Spec{Type: "crawl", Args: map[string]string{"urls": "http://" + down + "/", "depth": "1"},
		LimitKey: down, Retries: 1})
	ids := c.Submit(specs...)
	testproc.WaitAll(t, c.MC, ids, 3*time.Minute)

	for _, id := range ids[:6] {
		j := testproc.Job(t, c.MC, id)
		if j.State != jobs.Succeeded || len(j.Attempts) != 1 {
			t.Errorf("crawl %s of %s: state %s, attempts %+v", id, j.Spec.Args["urls"], j.State, j.Attempts)
			continue
		}
		st := j.Attempts[0].Stats
		if st["item_scraped_count"] != fmt.Sprint(items) || st["finish_reason"] != "finished" || st["response_received_count"] == "" {
			t.Errorf("crawl %s: stats %v, want %d items, finished", id, st, items)
		}
		// The out file is named by the attempt's number, which is 2 when
		// a worker refused the first lease while it was still
		// registering (a refusal uses no retry and records no attempt).
		if n := countLines(t, filepath.Join(project, "out", fmt.Sprintf("%s-%d.jl", id, j.Attempts[0].N))); n != items {
			t.Errorf("crawl %s: %d items in its out file, want %d", id, n, items)
		}
		// The same items came back as the job's data ($DROVER_RESULT).
		if n := strings.Count(j.Attempts[0].Data, "\n"); n != items || !strings.Contains(j.Attempts[0].Data, `"site": "`+j.Spec.LimitKey+`"`) {
			t.Errorf("crawl %s: data %q, want %d item lines of site %s", id, j.Attempts[0].Data, items, j.Spec.LimitKey)
		}
		// Its full log is on the worker, readable through the master.
		if log := attemptLog(t, c.Addr, id, "stderr"); !strings.Contains(log, "Dumping Scrapy stats") {
			t.Errorf("crawl %s: its stderr log through the master has no closing stats: %q", id, log)
		}
	}
	checkMerge(t, c, 6*items)
	// Every process of the finished crawls is gone, the workers still up.
	testproc.Poll(t, 10*time.Second, "no crawl process left", func() bool { return len(testproc.JobProcs(c.Addr)) == 0 })
	for _, s := range []*site{a, b} {
		if o := s.overlaps(); len(o) > 0 {
			t.Errorf("site %s saw crawls at once (limit 1): %q", s.host, o)
		}
		if len(s.hits) != 3 {
			t.Errorf("site %s saw %d crawls, want 3: %v", s.host, len(s.hits), s.hits)
		}
	}
	j := testproc.Job(t, c.MC, ids[6])
	if j.State != jobs.Failed || len(j.Attempts) != 2 {
		t.Fatalf("crawl of the down site: state %s, %d attempts, want failed after 2", j.State, len(j.Attempts))
	}
	for _, att := range j.Attempts {
		if att.Outcome != jobs.Error || att.ExitCode != 0 || !strings.Contains(att.Error, "no item scraped") ||
			att.Stats["log_count/ERROR"] == "" || att.Stats["item_scraped_count"] != "" {
			t.Errorf("down site, attempt %d: outcome %s exit %d error %q stats %v", att.N, att.Outcome, att.ExitCode, att.Error, att.Stats)
		}
	}
}

// attemptLog returns a stream of attempt 1's full log of job id, from the
// master's API.
func attemptLog(t *testing.T, addr, id, stream string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/api/v1/jobs/" + id + "/attempts/1/log?stream=" + stream)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("log of job %s: HTTP %d, %v: %s", id, res.StatusCode, err, b)
	}
	return string(b)
}

// checkMerge waits for the group's follow-up (merge.py) and checks that it
// got every crawl's items through their data: its own data is the summary.
func checkMerge(t *testing.T, c *testproc.Cluster, items int) {
	t.Helper()
	var merge jobs.Job
	testproc.Poll(t, time.Minute, "the merge follow-up to finish", func() bool {
		r, err := c.MC.ListJobs(t.Context(), &rpcapi.ListJobsArgs{Type: "merge"})
		if err != nil || len(r.Jobs) != 1 {
			return false
		}
		merge = r.Jobs[0]
		return merge.State.Final()
	})
	if merge.State != jobs.Succeeded || len(merge.Attempts) == 0 {
		t.Fatalf("merge: state %s, attempts %+v", merge.State, merge.Attempts)
	}
	var sum struct {
		Crawls, Items int
		Sites         []string
	}
	if err := json.Unmarshal([]byte(merge.Attempts[len(merge.Attempts)-1].Data), &sum); err != nil {
		t.Fatalf("merge: data %q: %v", merge.Attempts[len(merge.Attempts)-1].Data, err)
	}
	if sum.Crawls != 6 || sum.Items != items || len(sum.Sites) != 2 {
		t.Errorf("merge summary %+v, want 6 crawls, %d items, 2 sites", sum, items)
	}
}
