package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func finalCount(c map[jobs.State]int) int {
	return c[jobs.Succeeded] + c[jobs.Failed] + c[jobs.Cancelled]
}

func totalCount(c map[jobs.State]int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// runWait blocks until the jobs are final. On a terminal it draws a live
// progress bar (counts by state, rate, ETA); otherwise it prints a line
// whenever the counts change.
func runWait(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	dial := clientFlags(fs)
	group := fs.String("group", "", "wait for every job of `group`")
	timeout := fs.Duration("timeout", 0, "give up after this long (exit 2); 0 waits forever")
	asJSON := fs.Bool("json", false, "print the final counts as JSON, nothing before")
	ids, err := parseJobs(fs, args, group)
	if err != nil {
		return err
	}
	mc := dial()
	defer mc.C.Close()
	var deadline time.Time
	if *timeout > 0 {
		deadline = time.Now().Add(*timeout)
	}
	tty := !*asJSON && isTerminal(stdout)
	poll := 2 * time.Second
	if tty {
		poll = 300 * time.Millisecond
	}
	p := &waitProgress{stdout: stdout, asJSON: *asJSON, tty: tty, start: time.Now(), startFinal: -1}
	for {
		d := poll
		if !deadline.IsZero() {
			d = max(min(d, time.Until(deadline)), time.Millisecond)
		}
		c, cancel := context.WithTimeout(context.Background(), d+callTimeout)
		r, err := mc.Wait(c, &rpcapi.WaitArgs{IDs: ids, Group: *group, Timeout: d})
		cancel()
		if err != nil {
			if errors.Is(err, rpcapi.ErrUnavailable) && (deadline.IsZero() || time.Now().Before(deadline)) {
				time.Sleep(time.Second) // the master may be restarting
				continue
			}
			return err
		}
		p.show(r)
		if r.Done {
			return p.done(r)
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			if *asJSON {
				printJSON(stdout, map[string]any{"done": false, "counts": r.Counts})
			}
			return &exitError{code: 2, err: fmt.Errorf("timed out after %s", *timeout)}
		}
	}
}

// waitProgress shows the progress of drover wait: a live bar on a
// terminal, a line whenever the counts change otherwise, nothing but the
// final counts with --json.
type waitProgress struct {
	stdout     io.Writer
	asJSON     bool
	tty        bool
	bar        *progressbar.ProgressBar // on a terminal, from the first reply
	last       string                   // the last line printed
	start      time.Time
	startFinal int // the final jobs at the first reply; -1 before it
}

// show shows the counts of one reply.
func (p *waitProgress) show(r *rpcapi.WaitReply) {
	final, total := finalCount(r.Counts), totalCount(r.Counts)
	if p.startFinal < 0 {
		p.startFinal = final
	}
	switch {
	case p.asJSON:
	case p.tty:
		if p.bar == nil {
			stdout := p.stdout
			p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stdout),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("jobs"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(stdout) }))
		}
		p.bar.ChangeMax(total)
		p.bar.Describe(shortCounts(r.Counts))
		p.bar.Set(final)
	default:
		line := countsLine(r.Counts)
		if line != p.last {
			rate := float64(final-p.startFinal) / time.Since(p.start).Seconds()
			fmt.Fprintf(p.stdout, "%s  (%d/%d final, %.1f jobs/s)\n", line, final, total, rate)
			p.last = line
		}
	}
}

// done finishes the bar, prints the final counts with --json, and returns
// an exit error (code 1) naming the jobs that did not succeed.
func (p *waitProgress) done(r *rpcapi.WaitReply) error {
	if p.bar != nil {
		p.bar.Finish()
	}
	if p.asJSON {
		if r.Failed == nil {
			r.Failed = []string{}
		}
		printJSON(p.stdout, map[string]any{"done": true, "counts": r.Counts, "failed": r.Failed, "failed_more": r.FailedMore})
	}
	if n := len(r.Failed) + r.FailedMore; n > 0 {
		more := ""
		if r.FailedMore > 0 {
			more = fmt.Sprintf(" and %d more", r.FailedMore)
		}
		return &exitError{code: 1, err: fmt.Errorf("%d jobs did not succeed: %s%s", n, strings.Join(r.Failed, " "), more)}
	}
	return nil
}

func shortCounts(c map[jobs.State]int) string {
	return fmt.Sprintf("pend %d run %d ok %d fail %d canc %d", c[jobs.Pending], c[jobs.Running],
		c[jobs.Succeeded], c[jobs.Failed], c[jobs.Cancelled])
}

// runTop redraws the master's state every interval: counts, throughput
// and the workers with their current jobs.
func runTop(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	dial := clientFlags(fs)
	interval := fs.Duration("interval", time.Second, "time between refreshes")
	count := fs.Int("count", 0, "stop after N refreshes (0: until interrupted)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *interval < 100*time.Millisecond {
		return errors.New("--interval must be at least 100ms")
	}
	mc := dial()
	defer mc.C.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tty := isTerminal(stdout)
	type sample struct {
		at    time.Time
		final int
	}
	var hist []sample
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	for n := 0; *count == 0 || n < *count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		c, cancel := context.WithTimeout(ctx, callTimeout)
		st, err := mc.Status(c)
		cancel()
		if err != nil {
			return err
		}
		now := time.Now()
		hist = append(hist, sample{now, finalCount(st.Counts)})
		for len(hist) > 1 && now.Sub(hist[0].at) > time.Minute {
			hist = hist[1:]
		}
		rate := func(back int) float64 {
			if len(hist) < 2 {
				return 0
			}
			a := hist[max(len(hist)-1-back, 0)]
			b := hist[len(hist)-1]
			if dt := b.at.Sub(a.at).Seconds(); dt > 0 {
				return float64(b.final-a.final) / dt
			}
			return 0
		}
		alive, slots, busy := aliveWorkers(st.Workers)
		var buf bytes.Buffer
		if tty {
			buf.WriteString("\033[H\033[2J")
		}
		fmt.Fprintf(&buf, "drover top  %s  master up %s\n", now.Format("15:04:05"), now.Sub(st.Started).Round(time.Second))
		fmt.Fprintf(&buf, "jobs     %s\n", countsLine(st.Counts))
		fmt.Fprintf(&buf, "finished %.1f jobs/s now, %.1f jobs/s over %s\n", rate(1), rate(len(hist)),
			now.Sub(hist[0].at).Round(time.Second))
		fmt.Fprintf(&buf, "workers  %d alive, %d/%d slots busy, %d reaped, %d stale reports dropped\n\n",
			alive, busy, slots, st.Reaped, st.Dropped)
		printWorkers(&buf, viewWorkers(st.Workers))
		if !tty {
			buf.WriteString("\n")
		}
		stdout.Write(buf.Bytes())
	}
	return nil
}
