package examples_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// TestExamples builds the example binaries and runs them as a user would:
// minimal-master, go-worker and a crawler worker as processes on loopback,
// a greet job submitted over rpcapi, and crawler -mode submit against a
// local web server.
func TestExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the example binaries")
	}
	bin := mustBuild(t, "minimal-master", "go-worker", "crawler")
	addr := freeAddr(t)

	master := mustStart(t, bin("minimal-master"), "-listen", addr, "-data-dir", t.TempDir())
	mc := rpcapi.MasterClient{C: rpcapi.NewClient(addr)}
	t.Cleanup(func() { mc.C.Close() })
	eventually(t, 10*time.Second, "master answers", func(ctx context.Context) error {
		if master.exited() {
			return errStop
		}
		_, err := mc.Status(ctx)
		return err
	})

	mustStart(t, bin("go-worker"), "-master", addr, "-slots", "2")
	mustStart(t, bin("crawler"), "-mode", "worker", "-master", addr)
	eventually(t, 10*time.Second, "both workers registered", func(ctx context.Context) error {
		r, err := mc.ListWorkers(ctx)
		if err != nil {
			return err
		}
		var types []string
		for _, w := range r.Workers {
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
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sub, err := mc.Submit(ctx, &rpcapi.SubmitArgs{Specs: []jobs.Spec{
			{Type: "greet", Args: map[string]string{"name": "drover"}},
			{Type: "greet", Retries: 3}, // no name: fails at once, no retries
		}})
		if err != nil {
			t.Fatal(err)
		}
		for {
			wr, err := mc.Wait(ctx, &rpcapi.WaitArgs{IDs: sub.IDs, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if wr.Done {
				break
			}
		}
		good, err := mc.GetJob(ctx, sub.IDs[0])
		if err != nil {
			t.Fatal(err)
		}
		if j := good.Job; j.State != jobs.Succeeded || lastOutput(j) != "hello, drover" {
			t.Errorf("greet drover: state %s, output %q; want succeeded, %q", j.State, lastOutput(j), "hello, drover")
		}
		bad, err := mc.GetJob(ctx, sub.IDs[1])
		if err != nil {
			t.Fatal(err)
		}
		if j := bad.Job; j.State != jobs.Failed || len(j.Attempts) != 1 {
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
		out, code := runCrawl(t, bin("crawler"), addr, "with-404", web.URL+"/page", web.URL+"/missing")
		if code != 1 {
			t.Errorf("exit code %d, want 1 (one URL failed)\n%s", code, out)
		}
		if !strings.Contains(out, "Test Page") || !strings.Contains(out, "404") {
			t.Errorf("output mentions no \"Test Page\" or no 404:\n%s", out)
		}
	})
	t.Run("crawl all good", func(t *testing.T) {
		out, code := runCrawl(t, bin("crawler"), addr, "all-good", web.URL+"/page")
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
func runCrawl(t *testing.T, crawler, addr, group string, urls ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	args := append([]string{"-mode", "submit", "-master", addr, "-group", group}, urls...)
	out, err := exec.CommandContext(ctx, crawler, args...).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case ctx.Err() != nil:
		t.Fatalf("crawler -mode submit did not finish in time:\n%s", out)
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return "", -1
}

func lastOutput(j jobs.Job) string {
	if len(j.Attempts) == 0 {
		return ""
	}
	return j.Attempts[len(j.Attempts)-1].Output
}

// mustBuild builds the example commands into a temporary directory and
// returns a function from a command's name to its binary.
func mustBuild(t *testing.T, names ...string) func(name string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, n := range names {
		args = append(args, "./"+n)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return func(name string) string { return filepath.Join(dir, name) }
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// errStop makes eventually give up at once.
var errStop = errors.New("gave up")

// eventually calls cond every 50ms until it returns nil, failing the test
// when timeout passes or cond returns errStop. Each call gets a context that
// ends at the deadline.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return
		}
		if errors.Is(err, errStop) {
			t.Fatalf("%s: %v", what, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		case <-tick.C:
		}
	}
}

// proc is a running example binary.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  lockedBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's error, set before done closes
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// mustStart starts path with args. At cleanup it sends SIGTERM, then
// SIGKILL after 5s, and fails the test unless the process exited 0 on
// SIGTERM. Its output is logged when the test failed.
func mustStart(t *testing.T, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(path), cmd: exec.Command(path, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { // waited for by the cleanup below
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s ignored SIGTERM for 5s; killed", p.name)
		}
		if p.err != nil {
			t.Errorf("%s %s: %v", p.name, strings.Join(args, " "), p.err)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
