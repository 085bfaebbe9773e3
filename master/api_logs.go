package master

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// GET /api/v1/jobs/{id}/attempts/{n}/log: the full log of an attempt of a
// command job, which the worker that ran it keeps on its disk. The master
// reads it from that worker (read_log) while it lives; docs/api.md
// documents the endpoint.

const (
	// logChunk is how much one read_log call asks for.
	logChunk = 256 << 10
	// logFollowPoll is how often a follow asks the worker for more when
	// the last read brought nothing.
	logFollowPoll = 250 * time.Millisecond
	// logCallTimeout bounds one read_log call.
	logCallTimeout = 10 * time.Second
)

// Headers of the log endpoint's replies.
const (
	headerLogSize = "Drover-Log-Size" // the stream's size when the read began
	headerLogDone = "Drover-Log-Done" // "true" once the attempt has ended: the size is final
)

// logSource reads one stream of one attempt's log from the worker that
// ran it.
type logSource struct {
	wc   rpcapi.WorkerClient
	args rpcapi.ReadLogArgs
	who  string // the worker, for errors
}

// read reads up to max bytes from off.
func (s *logSource) read(ctx context.Context, off int64, max int) (*rpcapi.ReadLogReply, error) {
	a := s.args
	a.Offset, a.Max = off, max
	cctx, cancel := context.WithTimeout(ctx, logCallTimeout)
	defer cancel()
	r, err := s.wc.ReadLog(cctx, &a)
	switch {
	case err == nil:
		return r, nil
	case errors.Is(err, rpcapi.ErrNotFound), errors.Is(err, rpcapi.ErrBadRequest):
		return nil, err
	}
	return nil, fmt.Errorf("%w: worker %s did not answer read_log: %v", rpcapi.ErrUnavailable, s.who, err)
}

// attemptLog finds the worker that ran attempt n of job id and returns a
// source for stream of its log (readView.attemptSource).
func (a httpAPI) attemptLog(ctx context.Context, id string, n int, stream string) (*logSource, error) {
	var info rpcapi.JobInfo
	if err := a.ops.GetJob(ctx, &rpcapi.GetJobArgs{ID: id}, &info); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(info.Job.Attempts, func(a jobs.Attempt) bool { return a.N == n })
	if i < 0 {
		return nil, fmt.Errorf("%w: job %s has no attempt %d (attempts so far: %d)", rpcapi.ErrNotFound, id, n, info.Job.Attempt)
	}
	return a.view.attemptSource(info.Job.Attempts[i].Worker, id, n, stream)
}

// attemptSource implements readView: the source of stream of the log of
// attempt n of job id, read from worker wid, which ran it, or, when that
// one is dead, from a live worker of the same name and address (the same
// worker registered again, after the master lost it).
func (c *core) attemptSource(wid, id string, n int, stream string) (*logSource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.reg.workers[wid]
	if w != nil && (w.state == rpcapi.WorkerDead || w.restored) {
		w = c.sameWorker(w)
	}
	switch {
	case w == nil || !w.pull && w.client == nil:
		return nil, fmt.Errorf("%w: attempt %d of job %s ran on worker %s, which is gone: its log stays on that machine's disk "+
			"(the worker's log_dir), out of the master's reach", ErrConflict, n, id, wid)
	case w.pull:
		return nil, fmt.Errorf("%w: attempt %d of job %s ran on worker %s (%s), a pull-mode worker: it has no endpoint, so the master "+
			"cannot read its logs; they are on its disk (its log_dir)", ErrConflict, n, id, w.id, w.name)
	}
	return &logSource{wc: rpcapi.WorkerClient{C: w.client}, who: w.id + " (" + w.name + ")",
		args: rpcapi.ReadLogArgs{Secret: w.secret, JobID: id, Attempt: n, Stream: stream}}, nil
}

// sameWorker returns a live worker with dead's name and address, or nil.
// The caller holds mu.
func (c *core) sameWorker(dead *workerRec) *workerRec {
	for _, w := range c.reg.workers {
		if w.state != rpcapi.WorkerDead && !w.restored && w.name == dead.name && w.addr == dead.addr {
			return w
		}
	}
	return nil
}

// logQuery is a request of the log endpoint.
type logQuery struct {
	id     string
	n      int
	stream string
	offset int64
	follow bool
	rng    string // the Range header
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	p, err := queryParams(r, "stream", "offset", "follow")
	if err != nil {
		return logQuery{}, err
	}
	q := logQuery{id: r.PathValue("id"), stream: p.Get("stream"), rng: r.Header.Get("Range")}
	if q.n, err = strconv.Atoi(r.PathValue("n")); err != nil || q.n < 1 {
		return q, fmt.Errorf("%w: attempt %q: want a number from 1", rpcapi.ErrBadRequest, r.PathValue("n"))
	}
	switch q.stream {
	case "":
		q.stream = rpcapi.StreamStdout
	case rpcapi.StreamStdout, rpcapi.StreamStderr:
	default:
		return q, fmt.Errorf("%w: stream %q: want stdout or stderr", rpcapi.ErrBadRequest, q.stream)
	}
	if s := p.Get("offset"); s != "" {
		if q.offset, err = strconv.ParseInt(s, 10, 64); err != nil || q.offset < 0 {
			return q, fmt.Errorf("%w: offset %q: want a byte offset from 0", rpcapi.ErrBadRequest, s)
		}
	}
	if s := p.Get("follow"); s != "" {
		if q.follow, err = strconv.ParseBool(s); err != nil {
			return q, fmt.Errorf("%w: follow %q: want 1 or 0", rpcapi.ErrBadRequest, s)
		}
	}
	if q.rng != "" && (q.follow || p.Has("offset")) {
		return q, fmt.Errorf("%w: a Range header goes without offset and follow", rpcapi.ErrBadRequest)
	}
	return q, nil
}

// apiJobLog serves an attempt's log: all of it from offset, a byte range
// (Range), or, with follow, what there is and then what comes until the
// attempt ends.
func (a httpAPI) apiJobLog(w http.ResponseWriter, r *http.Request) error {
	q, err := parseLogQuery(r)
	if err != nil {
		return err
	}
	src, err := a.attemptLog(r.Context(), q.id, q.n, q.stream)
	if err != nil {
		return err
	}
	first, err := src.read(r.Context(), q.offset, logChunk)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Accept-Ranges", "bytes")
	h.Set(headerLogSize, strconv.FormatInt(first.Size, 10))
	h.Set(headerLogDone, strconv.FormatBool(first.Done))
	switch {
	case q.follow:
		a.followLog(w, r, src, q.offset, first)
		return nil
	case q.rng != "":
		return serveLogRange(w, r, src, q.rng, first)
	}
	end := max(first.Size, q.offset)
	h.Set("Content-Length", strconv.FormatInt(end-q.offset, 10))
	w.WriteHeader(http.StatusOK)
	copyLog(w, r, src, q.offset, end, first)
	return nil
}

// copyLog writes the log's bytes from off to end, first holding those
// read from off already. A failure midway ends the reply early: its
// status is sent.
func copyLog(w http.ResponseWriter, r *http.Request, src *logSource, off, end int64, first *rpcapi.ReadLogReply) {
	data := first.Data
	for off < end {
		if len(data) == 0 {
			next, err := src.read(r.Context(), off, int(min(logChunk, end-off)))
			if err != nil || len(next.Data) == 0 {
				return
			}
			data = next.Data
		}
		data = data[:min(int64(len(data)), end-off)]
		if _, err := w.Write(data); err != nil {
			return
		}
		off += int64(len(data))
		data = nil
	}
}

var byteRange = regexp.MustCompile(`^bytes=([0-9]*)-([0-9]*)$`)

// serveLogRange answers a Range request: one range, "bytes=A-B", "bytes=A-"
// or "bytes=-N" (the last N bytes).
func serveLogRange(w http.ResponseWriter, r *http.Request, src *logSource, rng string, first *rpcapi.ReadLogReply) error {
	m := byteRange.FindStringSubmatch(rng)
	if m == nil || m[1] == "" && m[2] == "" {
		return fmt.Errorf("%w: Range %q: want one range, bytes=START-END, bytes=START- or bytes=-LAST", rpcapi.ErrBadRequest, rng)
	}
	size := first.Size
	start, _ := strconv.ParseInt(m[1], 10, 64)
	end := size - 1
	if m[2] != "" {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		if m[1] == "" {
			start = max(0, size-n)
		} else {
			end = min(end, n)
		}
	}
	if start >= size || start > end {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable",
			fmt.Sprintf("Range %q is outside the log's %d bytes", rng, size))
		return nil
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
	w.WriteHeader(http.StatusPartialContent)
	if start != 0 {
		first = &rpcapi.ReadLogReply{} // read from start
	}
	copyLog(w, r, src, start, end+1, first)
	return nil
}

// followLog streams the log from off as it grows, until the attempt has
// ended and all of it is sent, the client leaves or the master stops.
func (a httpAPI) followLog(w http.ResponseWriter, r *http.Request, src *logSource, off int64, rep *rpcapi.ReadLogReply) {
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	for {
		if len(rep.Data) > 0 {
			if _, err := w.Write(rep.Data); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
			off += int64(len(rep.Data))
		} else if rep.Done && off >= rep.Size {
			return
		} else {
			t := time.NewTimer(logFollowPoll)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			case <-a.stopped:
				t.Stop()
				return
			}
		}
		var err error
		if rep, err = src.read(r.Context(), off, logChunk); err != nil {
			a.log.WithError(err).WithField("job", src.args.JobID).Debug("log follow ended")
			return
		}
	}
}
