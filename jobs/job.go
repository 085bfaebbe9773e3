package jobs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// State is where a job is in its life. Two states are live (Pending, Running)
// and three are final (Succeeded, Failed, Cancelled).
type State string

// The five job states.
const (
	Pending   State = "pending"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// States lists every state in life order.
var States = []State{Pending, Running, Succeeded, Failed, Cancelled}

// Final reports whether s is a state a job never leaves.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Valid reports whether s is one of the five states.
func (s State) Valid() bool { return slices.Contains(States, s) }

// Outcome is how one attempt ended.
type Outcome string

// The attempt outcomes. An attempt that is still running has no outcome.
const (
	OK              Outcome = "ok"
	Error           Outcome = "error"
	Timeout         Outcome = "timeout"
	Lost            Outcome = "lost"
	OutcomeCanceled Outcome = "cancelled"
)

// Valid reports whether o is a known outcome.
func (o Outcome) Valid() bool {
	switch o {
	case OK, Error, Timeout, Lost, OutcomeCanceled:
		return true
	}
	return false
}

// Spec says what to run. It is what a client submits and what a jobs file
// holds; the master turns it into a Job.
type Spec struct {
	// Type names the handler or command template that runs the job.
	Type string `json:"type" xmlrpc:"type"`
	// Args are the job's named arguments. Command templates substitute them
	// into argv elements as {name}.
	Args map[string]string `json:"args,omitempty" xmlrpc:"args"`
	// Priority orders ready jobs: higher first, FIFO among equals.
	Priority int `json:"priority,omitempty" xmlrpc:"priority"`
	// Retries is how many times a failed attempt is retried. Zero means the
	// job runs once.
	Retries int `json:"retries,omitempty" xmlrpc:"retries"`
	// Timeout bounds one attempt. Zero means no timeout beyond the worker's
	// own command timeout.
	Timeout time.Duration `json:"timeout,omitempty" xmlrpc:"timeout"`
	// Group names the batch the job belongs to, if any.
	Group string `json:"group,omitempty" xmlrpc:"group"`
	// Key, when set, makes submission idempotent: a second job with the same
	// key is not created and the first job's ID is returned instead. Jobs
	// loaded from a jobs file always carry a key.
	Key string `json:"key,omitempty" xmlrpc:"key"`
	// Tags are required of the worker: only a worker that has every one of
	// them (e.g. "region=eu", "gpu") gets the job.
	Tags []string `json:"tags,omitempty" xmlrpc:"tags"`
	// LimitKey names what the master's concurrency and rate limits count
	// (e.g. the site's domain): never more running at once, fleet-wide,
	// than the key's limit.
	LimitKey string `json:"limit_key,omitempty" xmlrpc:"limit_key"`
	// UniqueKey makes a submit return the existing job's ID, instead of
	// making a new job, while a job with the same unique key is pending or
	// running, or succeeded less than UniqueFor ago.
	UniqueKey string        `json:"unique_key,omitempty" xmlrpc:"unique_key"`
	UniqueFor time.Duration `json:"unique_for,omitempty" xmlrpc:"unique_for"`
	// RunAt and Delay hold the job back: it is not dispatched before RunAt,
	// nor before Delay after its submission.
	RunAt time.Time     `json:"run_at,omitzero" xmlrpc:"run_at"`
	Delay time.Duration `json:"delay,omitempty" xmlrpc:"delay"`
	// Input is data for the handler beyond its args; the follow-up job of a
	// group gets the group's summary and results here (JSON).
	Input string `json:"input,omitempty" xmlrpc:"input"`
	// Then is the follow-up job of the spec's group: when every job of the
	// group is final, it is submitted once, with the group's summary and
	// member results as its Input.
	Then *Spec `json:"then,omitempty" xmlrpc:"then"`

	// Broadcast runs one copy of the job on every live worker that has its
	// type (and tags) at submission; the job is done when every copy is.
	Broadcast bool `json:"broadcast,omitempty" xmlrpc:"broadcast"`

	// A spec with a Schedule is not a job but a cron schedule that submits
	// a job from the spec at each fire. Name identifies the schedule.
	Name string `json:"name,omitempty" xmlrpc:"name"`
	// Schedule is a cron expression: five fields, an optional seconds
	// field first, or a descriptor such as "@every 5m" or "@daily".
	Schedule string `json:"schedule,omitempty" xmlrpc:"schedule"`
	// Overlap is what a fire does while the last run is pending or running:
	// "skip" (default), "allow", or "queue" (at most one waiting).
	Overlap string `json:"overlap,omitempty" xmlrpc:"overlap"`
	// Timezone is the schedule's IANA time zone. Default UTC.
	Timezone string `json:"timezone,omitempty" xmlrpc:"timezone"`
	// CatchUp is what a master does at start for instants it missed while
	// down: "none" (default) skips them, "one" fires once.
	CatchUp string `json:"catch_up,omitempty" xmlrpc:"catch_up"`
}

// Overlap and catch-up policies of schedules.
const (
	OverlapSkip  = "skip"
	OverlapAllow = "allow"
	OverlapQueue = "queue"
	CatchUpNone  = "none"
	CatchUpOne   = "one"
)

// MaxTags bounds Spec.Tags.
const MaxTags = 32

// MaxRetries bounds Spec.Retries.
const MaxRetries = 100

// Validate reports the first problem with s, or nil.
func (s *Spec) Validate() error {
	switch {
	case s.Type == "":
		return fmt.Errorf("jobs: spec has no type")
	case len(s.Type) > 128:
		return fmt.Errorf("jobs: type %.20q... is longer than 128 bytes", s.Type)
	case !utf8.ValidString(s.Type) || strings.IndexFunc(s.Type, unicode.IsControl) >= 0:
		return fmt.Errorf("jobs: type %q has invalid UTF-8 or a control character", s.Type)
	case s.Retries < 0 || s.Retries > MaxRetries:
		return fmt.Errorf("jobs: retries %d out of range 0..%d", s.Retries, MaxRetries)
	case s.Timeout < 0:
		return fmt.Errorf("jobs: negative timeout %s", s.Timeout)
	case s.UniqueFor < 0 || s.Delay < 0:
		return fmt.Errorf("jobs: negative unique_for or delay")
	case s.UniqueFor > 0 && s.UniqueKey == "":
		return fmt.Errorf("jobs: unique_for without a unique_key")
	case len(s.Tags) > MaxTags:
		return fmt.Errorf("jobs: %d tags; at most %d", len(s.Tags), MaxTags)
	case len(s.LimitKey) > 256 || len(s.UniqueKey) > 256 || len(s.Key) > 256:
		return fmt.Errorf("jobs: a key is longer than 256 bytes")
	}
	switch {
	case s.Overlap != "" && s.Overlap != OverlapSkip && s.Overlap != OverlapAllow && s.Overlap != OverlapQueue:
		return fmt.Errorf("jobs: overlap %q: want skip, allow or queue", s.Overlap)
	case s.CatchUp != "" && s.CatchUp != CatchUpNone && s.CatchUp != CatchUpOne:
		return fmt.Errorf("jobs: catch_up %q: want none or one", s.CatchUp)
	case s.Schedule == "" && (s.Overlap != "" || s.Timezone != "" || s.CatchUp != ""):
		return fmt.Errorf("jobs: overlap, timezone and catch_up need a schedule")
	case s.Schedule != "" && s.Name == "":
		return fmt.Errorf("jobs: a schedule needs a name")
	case len(s.Name) > 128 || len(s.Schedule) > 256:
		return fmt.Errorf("jobs: name or schedule too long")
	case s.Then != nil && s.Group == "":
		return fmt.Errorf("jobs: then (a group's follow-up) needs a group")
	}
	if s.Timezone != "" {
		if _, err := time.LoadLocation(s.Timezone); err != nil {
			return fmt.Errorf("jobs: timezone %q: %v", s.Timezone, err)
		}
	}
	if s.Then != nil {
		if s.Then.Then != nil || s.Then.Schedule != "" {
			return fmt.Errorf("jobs: then: a follow-up cannot have its own then or schedule")
		}
		if err := s.Then.Validate(); err != nil {
			return fmt.Errorf("then: %w", err)
		}
	}
	for _, t := range s.Tags {
		if t == "" || len(t) > 128 || strings.ContainsAny(t, ",\x00") {
			return fmt.Errorf("jobs: tag %q: want 1..128 bytes without commas", t)
		}
	}
	for k, v := range s.Args {
		switch {
		case k == "":
			return fmt.Errorf("jobs: arg with an empty name")
		case strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0:
			// No process argument, environment variable or XML-RPC string
			// can carry one.
			return fmt.Errorf("jobs: arg %q has a NUL byte in its name or value", k)
		}
	}
	return nil
}

// Result is what a handler returns on success (and, with an error, on
// failure): an exit code for subprocesses, the tail of its output, and any
// data the handler wants recorded.
type Result struct {
	ExitCode int    `json:"exit_code" xmlrpc:"exit_code"`
	Output   string `json:"output,omitempty" xmlrpc:"output"`
	Data     string `json:"data,omitempty" xmlrpc:"data"`
	// Stats are figures the job reports about itself, such as a Scrapy
	// crawl's closing stats ("item_scraped_count": "30", ...); nil: none.
	Stats map[string]string `json:"stats,omitempty" xmlrpc:"stats"`
}

// Attempt is the record of one lease of a job to a worker.
type Attempt struct {
	N        int       `json:"n" xmlrpc:"n"`
	Worker   string    `json:"worker" xmlrpc:"worker"`
	Started  time.Time `json:"started" xmlrpc:"started"`
	Ended    time.Time `json:"ended,omitzero" xmlrpc:"ended"`
	Outcome  Outcome   `json:"outcome,omitempty" xmlrpc:"outcome"`
	ExitCode int       `json:"exit_code" xmlrpc:"exit_code"`
	Error    string    `json:"error,omitempty" xmlrpc:"error"`
	Output   string    `json:"output,omitempty" xmlrpc:"output"`
	Data     string    `json:"data,omitempty" xmlrpc:"data"`
	// Stats are the figures the attempt reported about itself, such as a
	// Scrapy crawl's closing stats (Result.Stats); nil: none.
	Stats map[string]string `json:"stats,omitempty" xmlrpc:"stats"`
	// Timeout is the bound the worker applied to the attempt, as a Go
	// duration ("1m0s"), and TimeoutFrom where it came from: "job" (the
	// job's timeout) or "template" (its command template's, shorter than
	// the job's or the only one). Empty: no bound, or a worker that does
	// not say.
	Timeout     string `json:"timeout,omitempty" xmlrpc:"timeout"`
	TimeoutFrom string `json:"timeout_from,omitempty" xmlrpc:"timeout_from"`
}

// Exited reports whether the attempt ended with an exit code of its own:
// it finished ok or with an error. A lost, cancelled or timed-out attempt
// has none (its ExitCode is 0, or what the killed program gave), nor has
// one still running.
func (a *Attempt) Exited() bool { return a.Outcome == OK || a.Outcome == Error }

// Event is one line of a job's timeline.
type Event struct {
	At   time.Time `json:"at" xmlrpc:"at"`
	Text string    `json:"text" xmlrpc:"text"`
}

// MaxEvents bounds a job's timeline; the oldest events past it are dropped,
// except the first (submission).
const MaxEvents = 64

// Job is a Spec with an identity and a history.
type Job struct {
	ID   string `json:"id" xmlrpc:"id"`
	Seq  uint64 `json:"seq" xmlrpc:"-"`
	Spec Spec   `json:"spec" xmlrpc:"spec"`

	State State `json:"state" xmlrpc:"state"`
	// Attempt is the number of the latest lease (the fence). A worker's
	// report is accepted only for the current Attempt of a running job.
	Attempt int `json:"attempt" xmlrpc:"attempt"`
	// Worker holds the lease while the job is running.
	Worker string `json:"worker,omitempty" xmlrpc:"worker"`
	// NotBefore delays a pending job (retry backoff).
	NotBefore time.Time `json:"not_before,omitzero" xmlrpc:"not_before"`
	Submitted time.Time `json:"submitted" xmlrpc:"submitted"`
	Updated   time.Time `json:"updated" xmlrpc:"updated"`
	Attempts  []Attempt `json:"attempts,omitempty" xmlrpc:"attempts"`
	Events    []Event   `json:"events,omitempty" xmlrpc:"events"`
	// Children are the copies of a broadcast job, one per worker; the
	// broadcast job itself never runs and is final when they all are.
	Children []string `json:"children,omitempty" xmlrpc:"children"`
	// Parent is the broadcast job a copy belongs to.
	Parent string `json:"parent,omitempty" xmlrpc:"parent"`
	// Pin is the name of the only worker that may run this copy.
	Pin string `json:"pin,omitempty" xmlrpc:"pin"`
	// Submitter names who submitted the job: the name of the token of
	// the submit ("token" for a master's single token; empty on a master
	// without tokens and for a job submitted in code). A schedule's fire
	// has "schedule:" and the schedule's name, a group's follow-up job the
	// submitter of the group's job that carried the follow-up, a
	// broadcast's copy its broadcast job's. A master's client_cancel
	// "own" lets a client token cancel only the jobs it submitted.
	Submitter string `json:"submitter,omitempty" xmlrpc:"submitter"`
	// ThenID is the ID the master reserved for the group's follow-up job
	// when it accepted this job's Then as the one that counts (the first
	// of its group's); the follow-up is made with it when the group ends.
	ThenID string `json:"then_id,omitempty" xmlrpc:"-"`
}

// Clone returns a deep copy of j.
func (j *Job) Clone() *Job {
	c := *j
	c.Spec.Args = maps.Clone(j.Spec.Args)
	c.Spec.Tags = slices.Clone(j.Spec.Tags)
	if t := j.Spec.Then; t != nil {
		tc := *t
		tc.Args = maps.Clone(t.Args)
		tc.Tags = slices.Clone(t.Tags)
		c.Spec.Then = &tc
	}
	c.Attempts = slices.Clone(j.Attempts)
	c.Events = slices.Clone(j.Events)
	c.Children = slices.Clone(j.Children)
	return &c
}

// Log appends a timeline event.
func (j *Job) Log(at time.Time, format string, a ...any) {
	j.Note(at, fmt.Sprintf(format, a...))
}

// Note appends a timeline event with the given text, unformatted (the hot
// paths build their texts without fmt).
func (j *Job) Note(at time.Time, text string) {
	j.Events = append(j.Events, Event{At: at, Text: text})
	if n := len(j.Events); n > MaxEvents {
		// Keep the submission event, drop the oldest after it.
		j.Events = append(j.Events[:1], j.Events[n-MaxEvents+1:]...)
	}
}

// Failures counts the attempts that used up a retry: every finished attempt
// except ok and cancelled.
func (j *Job) Failures() int {
	n := 0
	for _, a := range j.Attempts {
		switch a.Outcome {
		case Error, Timeout, Lost:
			n++
		}
	}
	return n
}

// LastError is the error of the job's latest attempt record ("" for
// none).
func (j *Job) LastError() string {
	if n := len(j.Attempts); n > 0 {
		return j.Attempts[n-1].Error
	}
	return ""
}

// Current returns the record of the job's latest attempt, or nil.
func (j *Job) Current() *Attempt {
	if len(j.Attempts) == 0 {
		return nil
	}
	a := &j.Attempts[len(j.Attempts)-1]
	if a.N != j.Attempt {
		return nil
	}
	return a
}
