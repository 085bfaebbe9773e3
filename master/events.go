package master

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/drover/drover/rpcapi"
)

// The event stream of /api/v1/events: the live view as server-sent events,
// each carrying what changed since the stream's previous event.

// apiEvent is one server-sent event. The first event of a stream has every
// member; a later one only those that changed since the stream's previous
// event, and none is sent when nothing did.
type apiEvent struct {
	// Status is sent when a member other than now changed.
	Status *apiStatus `json:"status,omitempty"`
	// Workers (every worker) is sent when one came, went or changed its
	// state, slots or jobs; a heartbeat alone does not change them.
	Workers []rpcapi.WorkerInfo `json:"workers,omitzero"`
	// Heartbeats maps the workers whose last heartbeat changed, and no
	// other, to its time; only to a stream that asked for heartbeats, and
	// only when Workers is not sent.
	Heartbeats map[string]time.Time `json:"heartbeats,omitempty"`
	// Changes lists the jobs changed since the previous event, each change
	// once (newest first, at most maxChanges; the first event has the
	// latest ones).
	Changes []rpcapi.JobView `json:"changes,omitzero"`
	// Truncated says that more jobs changed than Changes lists: a client
	// that looks for one job in Changes fetches it again.
	Truncated bool `json:"truncated,omitempty"`
}

// eventStream is what one stream has sent, so that its next event carries
// only what changed.
type eventStream struct {
	heartbeats bool                 // the client shows heartbeat ages: send them
	started    bool                 // the first event is sent
	status     []byte               // the status last sent, without its now
	workers    []byte               // the workers last sent, without their heartbeats
	beats      map[string]time.Time // the heartbeats last sent, by worker ID
	shared     uint64               // the shared view (liveSnap.Shared) the status and workers were last compared with
	// sent maps the jobs sent in changes to the time of the change sent,
	// while a later snapshot may list that change again (changeSlack).
	sent map[string]time.Time
}

// next returns the event that brings the client from what it was sent to
// snap, taken with since, or nil when nothing changed.
func (s *eventStream) next(snap liveSnap, since time.Time) (*apiEvent, error) {
	ev := &apiEvent{Truncated: snap.Truncated}
	if !s.started || snap.Shared == 0 || snap.Shared != s.shared {
		// A view not taken for this stream before: see what moved.
		st := snap.Status
		st.Now = time.Time{}
		status, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		if !s.started || !bytes.Equal(status, s.status) {
			ev.Status, s.status = &snap.Status, status
		}
		if err := s.nextWorkers(ev, snap.Workers); err != nil {
			return nil, err
		}
		s.shared = snap.Shared
	}
	ev.Changes = s.newChanges(snap.Changes, since)
	if !s.started {
		s.started = true
		if ev.Changes == nil {
			ev.Changes = []rpcapi.JobView{}
		}
		return ev, nil
	}
	if ev.Status == nil && ev.Workers == nil && ev.Heartbeats == nil && ev.Changes == nil && !ev.Truncated {
		return nil, nil
	}
	return ev, nil
}

// nextWorkers sets ev's workers when they changed, else, to a stream that
// asked for heartbeats, the heartbeats that changed.
func (s *eventStream) nextWorkers(ev *apiEvent, workers []rpcapi.WorkerInfo) error {
	ws := make([]rpcapi.WorkerInfo, len(workers))
	beats := make(map[string]time.Time, len(workers))
	for i, w := range workers {
		beats[w.ID] = w.LastHeartbeat
		w.LastHeartbeat = time.Time{}
		ws[i] = w
	}
	data, err := json.Marshal(ws)
	if err != nil {
		return err
	}
	if !s.started || !bytes.Equal(data, s.workers) {
		ev.Workers, s.workers, s.beats = workers, data, beats
		if ev.Workers == nil {
			ev.Workers = []rpcapi.WorkerInfo{}
		}
		return nil
	}
	if !s.heartbeats {
		return nil
	}
	for id, at := range beats {
		if !at.Equal(s.beats[id]) {
			if ev.Heartbeats == nil {
				ev.Heartbeats = make(map[string]time.Time)
			}
			ev.Heartbeats[id] = at
			s.beats[id] = at
		}
	}
	return nil
}

// newChanges returns the changes of cs not sent yet, and forgets those that
// no snapshot after since can list again.
func (s *eventStream) newChanges(cs []rpcapi.JobView, since time.Time) []rpcapi.JobView {
	if s.sent == nil {
		s.sent = make(map[string]time.Time)
	}
	after := since.Add(-changeSlack)
	for id, at := range s.sent {
		if !at.After(after) {
			delete(s.sent, id)
		}
	}
	var out []rpcapi.JobView
	for _, j := range cs {
		if at, ok := s.sent[j.ID]; ok && at.Equal(j.Updated) {
			continue
		}
		s.sent[j.ID] = j.Updated
		out = append(out, j)
	}
	return out
}

// wakeIn returns when the stream should look at the view again although
// nothing changed (0: not before a change): every eventRefresh while a
// worker is live for a stream that sends heartbeats, else at the next
// minute while the throughput shows jobs (its window moves on).
func (s *eventStream) wakeIn(snap liveSnap, live bool) time.Duration {
	if s.heartbeats && live {
		return eventRefresh
	}
	for _, b := range snap.Status.Throughput.Buckets {
		if b.Succeeded+b.Failed+b.Cancelled > 0 {
			now := snap.Status.Now
			return now.Truncate(bucketWidth).Add(bucketWidth).Sub(now) + 10*time.Millisecond
		}
	}
	return 0
}

// serveEvents streams the live view as server-sent events: one event at
// once, then one after each change (at most one per eventGap) that the
// client was not sent yet, and a keepalive comment after keepaliveEvery
// of silence. It returns when the client goes away, the master closes, or
// the request's token may no longer read (the master's tokens were
// replaced: the browser reconnects and is asked again).
func (a httpAPI) serveEvents(w http.ResponseWriter, r *http.Request) {
	s, rc, ok := startEvents(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	keepalive := time.NewTimer(keepaliveEvery)
	defer keepalive.Stop()
	gap := time.NewTimer(0)
	defer gap.Stop()
	var since time.Time
	for {
		if !mayRead(ctx) {
			return
		}
		changed := a.view.Changed()
		snap, live := a.view.liveView(since, true)
		ev, err := s.next(snap, since)
		if err != nil {
			a.log.WithError(err).Error("events: encode")
			return
		}
		since = snap.Status.Now
		if ev != nil {
			if !a.writeEvent(w, rc, ev) {
				return
			}
			gap.Reset(eventGap)
			keepalive.Reset(keepaliveEvery)
		}
		var tick <-chan time.Time
		if d := s.wakeIn(snap, live); d > 0 {
			wake.Reset(d)
			tick = wake.C
		}
		if !a.awaitChange(ctx, w, rc, changed, tick, keepalive) || !a.awaitGap(ctx, gap, ev != nil) {
			return
		}
	}
}

// eventWriteTimeout bounds the write of one event or keepalive: a client
// that does not read for that long is dropped (its browser reconnects),
// so a stream nobody reads does not hold its encoded event, and the
// master's memory, for as long as the connection stays open.
var eventWriteTimeout = 30 * time.Second

// writeEvent sends ev and flushes it, within eventWriteTimeout; false
// when the client is gone or did not read it in time.
func (a httpAPI) writeEvent(w http.ResponseWriter, rc *http.ResponseController, ev *apiEvent) bool {
	data, err := json.Marshal(ev)
	if err != nil {
		a.log.WithError(err).Error("events: encode")
		return false
	}
	_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
	if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// awaitChange waits for a change or a tick, sending keepalives meanwhile.
// It returns false when the stream is to end.
func (a httpAPI) awaitChange(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController,
	changed <-chan struct{}, tick <-chan time.Time, keepalive *time.Timer) bool {
	for {
		select {
		case <-changed:
			return true
		case <-tick:
			return true
		case <-keepalive.C:
			if !mayRead(ctx) {
				return false
			}
			_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return false
			}
			keepalive.Reset(keepaliveEvery)
		case <-ctx.Done():
			return false
		case <-a.stopped:
			return false
		}
	}
}

// awaitGap waits until eventGap has passed since the last event sent (if
// sent says one was just sent). It returns false when the stream is to end.
func (a httpAPI) awaitGap(ctx context.Context, gap *time.Timer, sent bool) bool {
	if !sent {
		return ctx.Err() == nil
	}
	select {
	case <-gap.C:
		return true
	case <-ctx.Done():
		return false
	case <-a.stopped:
		return false
	}
}

// mayRead reports whether the token of ctx's request may still read, as
// the master's tokens are now.
func mayRead(ctx context.Context) bool {
	id, err := rpcapi.IdentityFrom(ctx)
	return err == nil && rpcapi.Allows(rpcapi.ReadRoles, id.Role)
}

// startEvents answers an event stream's request: an error for a bad
// query, else the stream's headers and its retry line, with the server's
// timeouts lifted. It reports whether events are to follow.
func startEvents(w http.ResponseWriter, r *http.Request) (*eventStream, *http.ResponseController, bool) {
	s, err := streamQuery(r)
	if err != nil {
		status, code := errorStatus(err)
		writeError(w, status, code, errorMessage(err))
		return nil, nil, false
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil, nil, false
	}
	// The server's read and write timeouts are for requests, not for a
	// stream that lasts as long as the page is open: lift them. (An
	// expired read deadline would end the stream by cancelling ctx.)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return nil, nil, false
	}
	return s, rc, true
}

// streamQuery reads the stream's one parameter, heartbeats (true or
// false, default false).
func streamQuery(r *http.Request) (*eventStream, error) {
	p, err := queryParams(r, "heartbeats")
	if err != nil {
		return nil, err
	}
	s := &eventStream{}
	if v := p.Get("heartbeats"); v != "" {
		if s.heartbeats, err = strconv.ParseBool(v); err != nil || (v != "true" && v != "false") {
			return nil, fmt.Errorf("%w: heartbeats %q: want true or false", rpcapi.ErrBadRequest, v)
		}
	}
	return s, nil
}
