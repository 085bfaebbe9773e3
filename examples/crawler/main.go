// Command crawler shows a small real crawler built on drover, in one binary
// with two modes. As a worker it runs "fetch" jobs: GET args["url"], answer
// "<status> <bytes> <title>", retry on network errors and 5xx, fail at once
// on 4xx. As a client it submits one fetch job per URL in a group, waits for
// the group, prints a line per job and exits 0 only if every job succeeded.
//
// Start a master (../minimal-master), then:
//
//	go run ./examples/crawler -mode worker -master 127.0.0.1:7070
//	go run ./examples/crawler -mode submit -master 127.0.0.1:7070 -group g1 https://go.dev/ https://go.dev/nope
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
	"github.com/drover/drover/worker"
)

// maxBody is how much of a page a fetch reads.
const maxBody = 1 << 20

func main() {
	mode := flag.String("mode", "", "`mode`: worker (run fetch jobs) or submit (fetch the URL arguments)")
	masterAddr := flag.String("master", "127.0.0.1:7070", "master `addr`")
	slots := flag.Int("slots", 8, "fetches run at once (worker mode)")
	group := flag.String("group", "", "`group` of the submitted jobs (submit mode; default crawl-TIME)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // a second signal kills at once
	var err error
	switch *mode {
	case "worker":
		err = runWorker(ctx, worker.Config{Master: *masterAddr, Slots: *slots})
	case "submit":
		err = runSubmit(ctx, os.Stdout, *masterAddr, *group, flag.Args())
	default:
		err = errors.New("crawler: -mode must be worker or submit")
	}
	if err != nil {
		log.Fatal(err)
	}
}

// runWorker serves fetch jobs until ctx ends, then drains for up to 30s.
func runWorker(ctx context.Context, cfg worker.Config) error {
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	f := &fetcher{client: &http.Client{Timeout: 10 * time.Second}}
	w.Handle("fetch", f.fetch)
	if err := w.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return w.Shutdown(sctx)
}

// fetcher runs fetch jobs with one shared HTTP client.
type fetcher struct{ client *http.Client }

// fetch GETs args["url"]. Network errors and 5xx are retryable; a bad URL
// and 4xx are permanent.
func (f *fetcher) fetch(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
	raw := j.Spec.Args["url"]
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return jobs.Result{}, worker.Permanent(fmt.Errorf("fetch: bad url %q: want http(s)://host/...", raw))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return jobs.Result{}, worker.Permanent(fmt.Errorf("fetch: %w", err))
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return jobs.Result{}, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return jobs.Result{}, fmt.Errorf("fetch %s: reading body: %w", raw, err)
	}
	res := jobs.Result{Output: fmt.Sprintf("%d %d %s", resp.StatusCode, len(body), title(body))}
	switch {
	case resp.StatusCode >= 500:
		return res, fmt.Errorf("fetch %s: %s", raw, resp.Status)
	case resp.StatusCode >= 400:
		return res, worker.Permanent(fmt.Errorf("fetch %s: %s", raw, resp.Status))
	}
	return res, nil
}

// titleRE finds the text of a page's first <title> element.
var titleRE = regexp.MustCompile(`(?is)<title[^>]*>(.*?)</title`)

// title returns the text of the page's first <title> element, or "".
func title(page []byte) string {
	m := titleRE.FindSubmatch(page)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(html.UnescapeString(string(m[1]))), " ")
}

// runSubmit submits a fetch job per URL in group, waits for the group and
// prints a line per job. It fails when any job did not succeed.
func runSubmit(ctx context.Context, out io.Writer, addr, group string, urls []string) error {
	if len(urls) == 0 {
		return errors.New("crawler: submit: give at least one URL")
	}
	if group == "" {
		group = "crawl-" + time.Now().Format("20060102-150405.000")
	}
	c := rpcapi.NewClient(addr)
	defer c.Close()
	mc := rpcapi.MasterClient{C: c}
	specs := make([]jobs.Spec, len(urls))
	for i, u := range urls {
		specs[i] = jobs.Spec{Type: "fetch", Args: map[string]string{"url": u}, Retries: 2, Group: group}
	}
	sub, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs})
	if err != nil {
		return err
	}
	for done := false; !done; {
		wr, err := mc.Wait(ctx, &rpcapi.WaitArgs{Group: group, Timeout: 10 * time.Second})
		if err != nil {
			return err
		}
		done = wr.Done
	}
	failed := 0
	for _, id := range sub.IDs {
		info, err := mc.GetJob(ctx, id)
		if err != nil {
			return err
		}
		j := info.Job
		text := ""
		if n := len(j.Attempts); n > 0 {
			a := j.Attempts[n-1]
			text = a.Output
			if a.Error != "" {
				text += " (" + a.Error + ")"
			}
		}
		fmt.Fprintf(out, "%s\t%s\t%s\t%s\n", j.ID, j.State, j.Spec.Args["url"], text)
		if j.State != jobs.Succeeded {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("crawler: %d of %d jobs did not succeed", failed, len(sub.IDs))
	}
	return nil
}
