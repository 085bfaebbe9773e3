package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

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

// waitCmd blocks until the jobs are final. On a terminal it draws a live
// progress bar (counts by state, rate, ETA); otherwise it prints a line
// whenever the counts change. A master that cannot be reached is said at
// once on stderr, and retried for --retry-for.
func waitCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	group := fs.String("group", "", "wait for every job of `group`, and for its follow-up job (then)")
	timeout := fs.Duration("timeout", 0, "give up after this long (exit 3); 0 waits forever")
	retryFor := fs.Duration("retry-for", 30*time.Second, "retry a master that cannot be reached for this long, then exit 4; 0: do not retry")
	asJSON := fs.Bool("json", false, "print the final counts as JSON, nothing before")
	return func(ids []string, stdout io.Writer) error {
		switch {
		case len(ids) == 0 && *group == "":
			return usagef("want job IDs or --group")
		case *timeout < 0 || *retryFor < 0:
			return usagef("--timeout and --retry-for want 0 or more")
		}
		mc, err := conn.dial()
		if err != nil {
			return err
		}
		defer mc.C.Close()
		w := &waiter{mc: mc, args: rpcapi.WaitArgs{IDs: ids, Group: *group}, retryFor: *retryFor, stderr: waitStderr}
		if *timeout > 0 {
			w.deadline = time.Now().Add(*timeout)
		}
		tty := !*asJSON && isTerminal(stdout)
		w.poll = 2 * time.Second
		if tty {
			w.poll = 300 * time.Millisecond
		}
		p := &waitProgress{stdout: stdout, asJSON: *asJSON, tty: tty, start: time.Now(), startFinal: -1}
		for {
			r, err := w.next()
			if err != nil {
				return err
			}
			p.show(r)
			if r.Done {
				return p.done(r)
			}
			if w.timedOut() {
				if *asJSON {
					printJSON(stdout, map[string]any{"done": false, "counts": r.Counts, "then": r.Then, "then_state": r.ThenState})
				}
				return &exitError{code: exitTimeout, err: fmt.Errorf("timed out after %s", *timeout)}
			}
		}
	}
}

// waitStderr is where drover wait says that it retries the master (a
// variable for tests).
var waitStderr io.Writer = os.Stderr

// waiter makes drover wait's calls: each waits up to poll, or to the
// deadline; a master that cannot be reached is retried for retryFor.
type waiter struct {
	mc       rpcapi.MasterClient
	args     rpcapi.WaitArgs
	poll     time.Duration
	deadline time.Time // zero: none
	retryFor time.Duration
	stderr   io.Writer
	down     time.Time // when the master stopped answering; zero while it answers
}

func (w *waiter) timedOut() bool { return !w.deadline.IsZero() && !time.Now().Before(w.deadline) }

// next returns the master's next answer, retrying a master that cannot be
// reached (saying so on stderr at the first failure) until retryFor has
// passed since it stopped answering, or the deadline.
func (w *waiter) next() (*rpcapi.WaitReply, error) {
	for {
		d := w.poll
		if !w.deadline.IsZero() {
			d = max(min(d, time.Until(w.deadline)), time.Millisecond)
		}
		c, cancel := context.WithTimeout(context.Background(), d+callTimeout)
		w.args.Timeout = d
		r, err := w.mc.Wait(c, &w.args)
		cancel()
		if err == nil || !errors.Is(err, rpcapi.ErrUnavailable) {
			w.down = time.Time{}
			return r, err
		}
		now := time.Now()
		if w.down.IsZero() {
			w.down = now
			if w.retryFor > 0 {
				fmt.Fprintf(w.stderr, "drover wait: %s; retrying for %s (--retry-for)\n", safeLine(err.Error()), w.retryFor)
			}
		}
		giveUp := w.down.Add(w.retryFor)
		if !w.deadline.IsZero() && w.deadline.Before(giveUp) {
			giveUp = w.deadline
		}
		if !now.Before(giveUp) {
			return nil, err
		}
		time.Sleep(min(time.Second, giveUp.Sub(now))) // the master may be restarting
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

// done finishes the bar, prints the final counts with --json, says how
// a group's follow-up job ended, and returns an exit error (code 1)
// naming the jobs that did not succeed (the follow-up counts among them),
// or saying that the follow-up could not be made.
func (p *waitProgress) done(r *rpcapi.WaitReply) error {
	if p.bar != nil {
		p.bar.Finish()
	}
	if p.asJSON {
		if r.Failed == nil {
			r.Failed = []string{}
		}
		printJSON(p.stdout, map[string]any{"done": true, "counts": r.Counts, "failed": r.Failed, "failed_more": r.FailedMore,
			"then": r.Then, "then_state": r.ThenState, "then_error": r.ThenError})
	} else if r.Then != "" {
		fmt.Fprintf(p.stdout, "follow-up job %s %s\n", safeLine(r.Then), safeLine(dash(string(r.ThenState))))
	}
	if n := len(r.Failed) + r.FailedMore; n > 0 {
		more := ""
		if r.FailedMore > 0 {
			more = fmt.Sprintf(" and %d more", r.FailedMore)
		}
		return &exitError{code: 1, err: fmt.Errorf("%d jobs did not succeed: %s%s", n, strings.Join(r.Failed, " "), more)}
	}
	if r.ThenError != "" {
		return &exitError{code: 1, err: fmt.Errorf("the group's follow-up job was not submitted: %s", r.ThenError)}
	}
	if r.Then != "" && r.ThenState == "" {
		// Made, then deleted (purge, history): how it ended is not known,
		// and a script that gates on the exit code must not pass on it.
		return &exitError{code: 1, err: fmt.Errorf("the group's follow-up job %s is gone (purged, or past history): how it ended is not known", r.Then)}
	}
	return nil
}

func shortCounts(c map[jobs.State]int) string {
	return fmt.Sprintf("pend %d run %d ok %d fail %d canc %d", c[jobs.Pending], c[jobs.Running],
		c[jobs.Succeeded], c[jobs.Failed], c[jobs.Cancelled])
}

// topCmd redraws the master's state every interval: counts, throughput
// and the workers with their current jobs.
func topCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	interval := fs.Duration("interval", time.Second, "time between refreshes")
	count := fs.Int("count", 0, "stop after `N` refreshes (0: until interrupted)")
	asJSON := fs.Bool("json", false, "print one JSON object a refresh, one a line")
	return func(pos []string, stdout io.Writer) error {
		if err := noArgs(pos); err != nil {
			return err
		}
		switch {
		case *interval < 100*time.Millisecond:
			return usagef("--interval must be at least 100ms")
		case *count < 0:
			return usagef("--count %d: want 0 or more", *count)
		}
		mc, err := conn.dial()
		if err != nil {
			return err
		}
		defer mc.C.Close()
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		v := &topView{w: stdout, json: *asJSON, tty: !*asJSON && isTerminal(stdout)}
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
			if err := v.show(st, time.Now()); err != nil {
				return err
			}
		}
		return nil
	}
}

// topView draws drover top's refreshes: a screen on a terminal, a block
// of text otherwise, or one JSON object a line.
type topView struct {
	w         io.Writer
	json, tty bool
	hist      []topSample // the last minute's samples, oldest first
}

type topSample struct {
	at    time.Time
	final int
}

// topJSON is one refresh of drover top --json.
type topJSON struct {
	At      time.Time          `json:"at"`
	Started time.Time          `json:"started"`
	Counts  map[jobs.State]int `json:"counts"`
	// RateNow is the jobs finished a second since the previous refresh,
	// Rate over the last minute (Window seconds of it, so far).
	RateNow float64             `json:"rate_now"`
	Rate    float64             `json:"rate"`
	Window  float64             `json:"window_seconds"`
	Alive   int                 `json:"workers_alive"`
	Slots   int                 `json:"slots"`
	Busy    int                 `json:"busy"`
	Reaped  int64               `json:"workers_reaped"`
	Dropped int64               `json:"stale_reports_dropped"`
	Workers []rpcapi.WorkerInfo `json:"workers"`
}

// rate is the jobs finished a second over the last back samples.
func (v *topView) rate(back int) float64 {
	h := v.hist
	if len(h) < 2 {
		return 0
	}
	a, b := h[max(len(h)-1-back, 0)], h[len(h)-1]
	if dt := b.at.Sub(a.at).Seconds(); dt > 0 {
		return float64(b.final-a.final) / dt
	}
	return 0
}

// show draws one refresh of the master's status st, taken at now.
func (v *topView) show(st *rpcapi.StatusReply, now time.Time) error {
	st.Workers = newestWorkersFirst(st.Workers)
	v.hist = append(v.hist, topSample{now, finalCount(st.Counts)})
	for len(v.hist) > 1 && now.Sub(v.hist[0].at) > time.Minute {
		v.hist = v.hist[1:]
	}
	alive, slots, busy := aliveWorkers(st.Workers)
	window := now.Sub(v.hist[0].at)
	if v.json {
		b, err := json.Marshal(topJSON{At: now, Started: st.Started, Counts: st.Counts, RateNow: v.rate(1), Rate: v.rate(len(v.hist)),
			Window: window.Seconds(), Alive: alive, Slots: slots, Busy: busy, Reaped: st.Reaped, Dropped: st.Dropped,
			Workers: st.Workers})
		if err != nil {
			return err
		}
		_, err = v.w.Write(append(b, '\n'))
		return err
	}
	var buf bytes.Buffer
	if v.tty {
		buf.WriteString("\033[H\033[2J")
	}
	fmt.Fprintf(&buf, "drover top  %s  master up %s\n", now.Format("15:04:05"), now.Sub(st.Started).Round(time.Second))
	fmt.Fprintf(&buf, "jobs     %s\n", countsLine(st.Counts))
	fmt.Fprintf(&buf, "finished %.1f jobs/s now, %.1f jobs/s over %s\n", v.rate(1), v.rate(len(v.hist)), window.Round(time.Second))
	fmt.Fprintf(&buf, "workers  %d alive, %d/%d slots busy, %d reaped, %d stale reports dropped\n\n",
		alive, busy, slots, st.Reaped, st.Dropped)
	printWorkers(&buf, st.Workers)
	if !v.tty {
		buf.WriteString("\n")
	}
	_, err := v.w.Write(buf.Bytes())
	return err
}
