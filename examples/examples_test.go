package examples_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// example returns the binary of the example command name, built once.
func example(t *testing.T, name string) string {
	t.Helper()
	return testproc.Build(t, "github.com/drover/drover/examples/"+name)
}

// listWorkers lists the workers mc's master knows, within 2s.
func listWorkers(mc rpcapi.MasterClient) ([]rpcapi.WorkerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := mc.ListWorkers(ctx)
	if err != nil {
		return nil, err
	}
	return r.Workers, nil
}

// startExample starts example command name with args. At cleanup it gets
// SIGTERM, then SIGKILL after 5s, and the test fails unless it exited 0 on
// SIGTERM. Its output is logged when the test failed.
func startExample(t *testing.T, name string, args ...string) *testproc.Proc {
	t.Helper()
	return testproc.Options{Grace: 5 * time.Second}.Start(t, example(t, name), args...)
}

// TestExamples builds the example binaries and runs them as a user would:
// minimal-master, go-worker and a crawler worker as processes on loopback,
// a greet job submitted over rpcapi, and crawler -mode submit against a
// local web server.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example binaries")
	}
	master := startExample(t, "minimal-master", "-listen", "127.0.0.1:0", "-data-dir", t.TempDir())
	addr := master.Addr()
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(addr)}
	t.Cleanup(func() { mc.C.Close() })
	testproc.PollErr(t, 10*time.Second, "master answers", func() error {
		if master.Exited() {
			return fmt.Errorf("%w: minimal-master exited: %v", testproc.ErrStop, master.Err())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := mc.Status(ctx)
		return err
	})

	startExample(t, "go-worker", "-master", addr, "-slots", "2")
	startExample(t, "crawler", "-mode", "worker", "-master", addr)
	testproc.PollErr(t, 10*time.Second, "both workers registered", func() error {
		ws, err := listWorkers(mc)
		if err != nil {
			return err
		}
		var types []string
		for _, w := range ws {
			if w.State == rpcapi.WorkerAlive {
				types = append(types, w.Types...)
			}
		}
		if !slices.Contains(types, "greet") || !slices.Contains(types, "fetch") {
			return fmt.Errorf("alive workers run %v", types)
		}
		return nil
	})

	t.Run("greet", func(t *testing.T) {
		ids := testproc.Submit(t, mc,
			jobs.Spec{Type: "greet", Args: map[string]string{"name": "drover"}},
			jobs.Spec{Type: "greet", Retries: 3}, // no name: fails at once, no retries
		)
		testproc.WaitAll(t, mc, ids, 10*time.Second)
		if j := testproc.Job(t, mc, ids[0]); j.State != jobs.Succeeded || lastOutput(j) != "hello, drover" {
			t.Errorf("greet drover: state %s, output %q; want succeeded, %q", j.State, lastOutput(j), "hello, drover")
		}
		if j := testproc.Job(t, mc, ids[1]); j.State != jobs.Failed || len(j.Attempts) != 1 {
			t.Errorf("greet without a name: state %s after %d attempts; want failed after 1", j.State, len(j.Attempts))
		}
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><head><TITLE> Test Page </TITLE></head><body>hi</body></html>")
	})
	web := httptest.NewServer(mux) // on 127.0.0.1; every other path is a 404
	t.Cleanup(web.Close)

	t.Run("crawl with a 404", func(t *testing.T) {
		out, code := runCrawl(t, addr, "with-404", web.URL+"/page", web.URL+"/missing")
		if code != 1 {
			t.Errorf("exit code %d, want 1 (one URL failed)\n%s", code, out)
		}
		if !strings.Contains(out, "Test Page") || !strings.Contains(out, "404") {
			t.Errorf("output mentions no \"Test Page\" or no 404:\n%s", out)
		}
	})
	t.Run("crawl all good", func(t *testing.T) {
		out, code := runCrawl(t, addr, "all-good", web.URL+"/page")
		if code != 0 {
			t.Errorf("exit code %d, want 0\n%s", code, out)
		}
		if !strings.Contains(out, "succeeded") || !strings.Contains(out, "Test Page") {
			t.Errorf("output shows no succeeded job with \"Test Page\":\n%s", out)
		}
	})
}

// runCrawl runs crawler -mode submit for urls in group and returns its
// combined output and exit code.
func runCrawl(t *testing.T, addr, group string, urls ...string) (string, int) {
	t.Helper()
	args := append([]string{"-mode", "submit", "-master", addr, "-group", group}, urls...)
	r := testproc.Options{Timeout: 15 * time.Second}.Run(t, example(t, "crawler"), args...)
	return r.Output, r.Code
}

func lastOutput(j jobs.Job) string {
	if len(j.Attempts) == 0 {
		return ""
	}
	return j.Attempts[len(j.Attempts)-1].Output
}
