package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/drover/drover/jobs"
)

// This file holds what a command template says beyond its argv: the
// bound of an attempt and where it came from, and the success rules that
// judge a run beyond its exit code (fail_if, permanent_exit_codes,
// retry_exit_codes, and the scrapy kind's, in scrapy.go).

// Where an attempt's timeout came from (rpcapi.Report.TimeoutFrom).
const (
	TimeoutFromJob      = "job"
	TimeoutFromTemplate = "template"
)

// attemptTimeout is the bound of one attempt: the shorter of the job's
// timeout and its command template's, zero for none.
type attemptTimeout struct {
	d    time.Duration
	from string        // TimeoutFromJob, TimeoutFromTemplate, or "" when d is 0
	job  time.Duration // the job's own timeout, for the error text
}

// effectiveTimeout returns the bound of an attempt of a job with timeout
// job run by cmd (nil for a Go handler): the template's when it is set and
// shorter than the job's (or the job has none), else the job's.
func effectiveTimeout(job time.Duration, cmd *Command) attemptTimeout {
	t := attemptTimeout{job: max(job, 0)}
	if job > 0 {
		t.d, t.from = job, TimeoutFromJob
	}
	if cmd != nil && cmd.Timeout > 0 && (job <= 0 || cmd.Timeout < job) {
		t.d, t.from = cmd.Timeout, TimeoutFromTemplate
	}
	return t
}

// String says the bound and where it came from, as the timeout error
// shows it: "1m0s (the command template's timeout; the job's is 10m0s)",
// "30s (the job's timeout)".
func (t attemptTimeout) String() string {
	switch {
	case t.from == TimeoutFromJob:
		return t.d.String() + " (the job's timeout)"
	case t.job > 0:
		return fmt.Sprintf("%s (the command template's timeout; the job's is %s)", t.d, t.job)
	}
	return t.d.String() + " (the command template's timeout; the job has none)"
}

// compileFailIf compiles a template's fail_if patterns, naming the bad
// one (without the "worker: " prefix, as parseTemplate's errors).
func compileFailIf(patterns []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, len(patterns))
	for i, p := range patterns {
		if p == "" {
			return nil, fmt.Errorf("fail_if[%d]: empty pattern (it would match every line)", i)
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("fail_if[%d] %q: %w", i, p, err)
		}
		out[i] = re
	}
	return out, nil
}

// checkRules checks the success rules of a template (not its argv): the
// fail_if patterns, the exit code lists and the kind.
func checkRules(cmd Command) error {
	if _, err := compileFailIf(cmd.FailIf); err != nil {
		return err
	}
	for _, list := range []struct {
		key   string
		codes []int
	}{{"permanent_exit_codes", cmd.PermanentExitCodes}, {"retry_exit_codes", cmd.RetryExitCodes}} {
		for _, c := range list.codes {
			if c < 1 || c > 255 {
				return fmt.Errorf("%s: exit code %d is not in 1..255", list.key, c)
			}
		}
	}
	for _, c := range cmd.PermanentExitCodes {
		if slices.Contains(cmd.RetryExitCodes, c) {
			return fmt.Errorf("exit code %d is in both permanent_exit_codes and retry_exit_codes", c)
		}
	}
	switch {
	case cmd.Kind != "" && cmd.Kind != KindScrapy:
		return fmt.Errorf("kind %q: want %q or none", cmd.Kind, KindScrapy)
	case cmd.Kind != KindScrapy && (cmd.MinItems != 0 || cmd.MaxErrors != 0):
		return fmt.Errorf("min_items and max_errors need kind = %q", KindScrapy)
	case cmd.MinItems < 0 || cmd.MaxErrors < 0:
		return errors.New("min_items and max_errors must not be negative")
	}
	return nil
}

// maxWatchLine bounds the line an outputWatch matches: the rest of a
// longer line is not looked at.
const maxWatchLine = 64 << 10

// maxMatchShown bounds the matched line a fail_if error quotes.
const maxMatchShown = 200

// outputWatch reads a job's output as it is written, line by line, for
// the success rules: the first line a fail_if pattern matches, and a
// Scrapy crawl's closing stats. Its memory is bounded (one line of at most
// maxWatchLine bytes, and the stats). It is safe for concurrent use.
type outputWatch struct {
	mu      sync.Mutex
	failIf  []*regexp.Regexp
	line    []byte
	long    bool   // the line in progress is longer than maxWatchLine
	pattern string // the fail_if pattern that matched first, if any
	matched string // the line it matched
	scrapy  *scrapyStats
}

// newOutputWatch returns the watch of cmd's rules, or nil when cmd has
// none that reads output. cmd is valid (Config.Validate).
func newOutputWatch(cmd Command) *outputWatch {
	if len(cmd.FailIf) == 0 && cmd.Kind != KindScrapy {
		return nil
	}
	res, _ := compileFailIf(cmd.FailIf)
	w := &outputWatch{failIf: res}
	if cmd.Kind == KindScrapy {
		w.scrapy = &scrapyStats{}
	}
	return w
}

// Write looks at p's complete lines. It never fails.
func (w *outputWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := slices.Index(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxWatchLine - len(w.line); len(chunk) > room {
			w.line, w.long = append(w.line, chunk[:room]...), true
		} else {
			w.line = append(w.line, chunk...)
		}
		if i < 0 {
			break
		}
		w.endLine()
		p = p[i+1:]
	}
	return n, nil
}

// endLine judges the line in progress and starts the next. The caller
// holds mu.
func (w *outputWatch) endLine() {
	line := string(w.line)
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if w.pattern == "" {
		for _, re := range w.failIf {
			if re.MatchString(line) {
				w.pattern, w.matched = re.String(), line
				if len(w.matched) > maxMatchShown {
					w.matched = w.matched[:maxMatchShown] + "…"
				}
				break
			}
		}
	}
	if w.scrapy != nil && !w.long {
		w.scrapy.line(line)
	}
	w.line, w.long = w.line[:0], false
}

// close judges the last line, if the output did not end with a newline.
func (w *outputWatch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.line) > 0 {
		w.endLine()
	}
}

// judge applies cmd's success rules to a finished run of it: res and err
// as runCommand returned them, ctx the run's context, watch what
// newOutputWatch gave (nil: none). It returns the result with the stats
// the rules found, and the error the attempt ends with:
//   - a run that exited 0 fails when a line of its output matched a
//     fail_if pattern, or when the scrapy kind's rules say so (scrapy.go);
//   - a run that exited with a code in permanent_exit_codes, or not in a
//     non-empty retry_exit_codes, fails permanently (no retries).
//
// A run stopped by ctx, or one that could not start, is left as it is.
func judge(ctx context.Context, cmd Command, watch *outputWatch, res jobs.Result, err error) (jobs.Result, error) {
	if watch != nil {
		watch.close()
		watch.mu.Lock()
		defer watch.mu.Unlock()
		if watch.scrapy != nil {
			res.Stats = watch.scrapy.result()
		}
	}
	switch {
	case ctx.Err() != nil:
		return res, err
	case err == nil && watch != nil && watch.pattern != "":
		return res, fmt.Errorf("worker: exit status 0, but the output matched fail_if %q: %q", watch.pattern, watch.matched)
	case err == nil && watch != nil && watch.scrapy != nil:
		return res, watch.scrapy.judge(cmd)
	case err == nil || res.ExitCode <= 0:
		return res, err
	case slices.Contains(cmd.PermanentExitCodes, res.ExitCode):
		return res, Permanent(fmt.Errorf("%w (permanent_exit_codes: not retried)", err))
	case len(cmd.RetryExitCodes) > 0 && !slices.Contains(cmd.RetryExitCodes, res.ExitCode):
		return res, Permanent(fmt.Errorf("%w (not in retry_exit_codes: not retried)", err))
	}
	return res, err
}

// runTemplate runs task r with its command template: the placeholders
// filled (jobVars), env added to the job's environment, and the result
// judged by the template's success rules.
func (w *Worker) runTemplate(r *run, env []string, stdout, stderr io.Writer, procs jobProcs) (jobs.Result, error) {
	t, cmd := r.task, *r.cmd
	vars, err := jobVars(cmd, t.Args, t.JobID, t.Attempt, t.Group, w.cfg.Name)
	if err != nil {
		return jobs.Result{ExitCode: -1}, err
	}
	watch := newOutputWatch(cmd)
	var res jobs.Result
	if watch != nil { // not a nil *outputWatch in a non-nil io.Writer
		res, err = runCommandTo(r.ctx, cmd, vars, env, t.Input, w.cfg.OutputLimit, w.cfg.KillGrace, watch, stdout, stderr, procs)
	} else {
		res, err = runCommandTo(r.ctx, cmd, vars, env, t.Input, w.cfg.OutputLimit, w.cfg.KillGrace, nil, stdout, stderr, procs)
	}
	res, err = judge(r.ctx, cmd, watch, res, err)
	if cmd.Kind == KindScrapy {
		w.metrics.scrapy.observe(r.typ, res.Stats)
	}
	return res, err
}
