package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// The full logs of command jobs: every attempt's standard output and
// standard error, each in a file of its own, in a directory of its own
// under Config.LogDir:
//
//	LOG_DIR/JOB.ATTEMPT/stdout
//	LOG_DIR/JOB.ATTEMPT/stderr
//
// (JOB is the job ID when it is made of letters, digits, '_', '-' and
// '.', not starting with '.'; otherwise "~" and its hex, which no such ID
// can be). The master reads them through read_log while the worker lives.

// logStreams are the files of an attempt's log directory.
var logStreams = []string{rpcapi.StreamStdout, rpcapi.StreamStderr}

var (
	safeJobID = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9_.-]*$`)
	// logDirName matches the names logDirOf makes; pruning touches
	// nothing else in the directory.
	logDirName = regexp.MustCompile(`^(?:[A-Za-z0-9_-][A-Za-z0-9_.-]*|~[0-9a-f]+)\.[0-9]+$`)
)

// logDirOf is the name of an attempt's log directory.
func logDirOf(ref rpcapi.JobRef) string {
	id := ref.JobID
	if !safeJobID.MatchString(id) {
		id = fmt.Sprintf("~%x", id)
	}
	return id + "." + strconv.Itoa(ref.Attempt)
}

// logStore keeps the attempts' logs on disk, bounded by size and age: when
// an attempt ends (and when the worker starts) the logs older than maxAge
// are removed, then the oldest until all of them take maxBytes at most.
// An attempt's own log, both streams together, stops growing at
// maxBytes-logNoteRoom, so that with the note that ends each stream it
// cut it fits maxBytes: it is never the bound that removes it when it
// ends (applyBounds stops at the log of the attempt that ends, whatever
// running attempts' logs take). The logs of running attempts are never
// removed, this worker's or, on a directory shared by several, another's
// (a running attempt holds a lock on its stdout file).
//
// The default log directory, in the temporary directory every user
// shares, is used only as a directory of this user's that no one else
// can write, never through a link (checkDefaultLogDir): it is checked
// when the worker starts, before an attempt makes its log in it, and
// before logs are removed from it. Pruning never follows a link in any
// log directory.
//
// The store scans the directory once, when the worker starts; after that
// it knows the logs from the attempts that end, so ending one costs a
// stat of its two files, not a walk of the directory.
type logStore struct {
	dir      string
	maxBytes int64
	maxAge   time.Duration
	log      logrus.FieldLogger
	// guarded: dir is the default log_dir (Config.LogDir left empty), used
	// only once checkDefaultLogDir passes.
	guarded bool

	mu     sync.Mutex
	active map[rpcapi.JobRef]*attemptLog
	ended  map[string]logEntry // the logs of ended attempts, by name
	order  []logEntry          // the same, oldest first; an entry no longer in ended is skipped
	total  int64               // what ended counts: bytes and entryCost each
	// entryCost is what each log counts besides its bytes (LogEntryCost).
	entryCost int64
	// keeps: start applied the bounds, so the store keeps logs and
	// ageLoop has work to do.
	keeps bool
}

// LogEntryCost is what each attempt's log counts against log_max_bytes
// besides the bytes of its streams: its directory and files take a
// block and inodes of the disk even when the attempt printed nothing, so
// that a worker running many quiet commands keeps its log_dir bounded on
// disk too.
const LogEntryCost = 4096

func newLogStore(cfg *Config) *logStore {
	return &logStore{dir: cfg.LogDir, maxBytes: cfg.LogMaxBytes, maxAge: cfg.LogMaxAge, log: cfg.Logger,
		guarded: cfg.logDirDefault, active: make(map[rpcapi.JobRef]*attemptLog), ended: make(map[string]logEntry),
		entryCost: LogEntryCost}
}

// logCutNote ends a stream of an attempt's log that lost bytes to the
// attempt's cap.
const logCutNote = "\n[drover: this attempt's log reached log_max_bytes; the rest of this stream was not kept]\n"

// logNoteRoom is the room an attempt's cap leaves in log_max_bytes for
// its notes: one per stream.
const logNoteRoom = int64(2 * len(logCutNote))

// MinLogMaxBytes is the least Config.LogMaxBytes (log_max_bytes): an
// attempt's log holds log_max_bytes less the room of its notes
// (180 bytes), so that it fits the bound with them.
const MinLogMaxBytes = 1024

// logCap is how many bytes of output one attempt's log keeps, both
// streams together, under a bound of maxBytes on the directory.
func logCap(maxBytes int64) int64 { return max(0, maxBytes-logNoteRoom) }

// start readies the log directory when the worker starts, then applies
// the bounds. A worker without commands (used false) keeps no logs and
// leaves the default log_dir alone. The default log_dir is made when it
// is not there; one that is not safe to use is an error: the worker does
// not start.
func (s *logStore) start(now time.Time, used bool) error {
	if s.guarded {
		if !used {
			return nil
		}
		if err := checkDefaultLogDir(s.dir); err != nil {
			return err
		}
	}
	s.prune(now)
	s.keeps = true
	return nil
}

// LogDirError is the error of Start, and of an attempt's log, when the
// default log_dir (Config.LogDir left empty) cannot be made or read, or
// is not safe to use. Its message ends by telling to set Config.LogDir; a
// program that reads a conf file names its own key with Message.
type LogDirError struct {
	Dir string
	// Problem says what is wrong with Dir when it is refused ("it is not
	// a directory"); empty when Err says it.
	Problem string
	// Err is the cause when Dir could not be made or read; nil when it
	// is refused.
	Err error
	// made: Err is from making Dir, not from reading it.
	made bool
}

// Error returns the message naming the setting as "log_dir
// (Config.LogDir)".
func (e *LogDirError) Error() string { return e.Message("log_dir (Config.LogDir)") }

// Unwrap returns the cause, or nil.
func (e *LogDirError) Unwrap() error { return e.Err }

// Message returns the error's message, which tells to set setting (such
// as "log_dir", a conf file's key) to a directory of one's choice.
func (e *LogDirError) Message(setting string) string {
	hint := "set " + setting + " to a directory of your choice"
	switch {
	case e.Problem != "":
		return fmt.Sprintf("worker: refusing the default log_dir %s: %s; remove it, or %s", e.Dir, e.Problem, hint)
	case e.made:
		return fmt.Sprintf("worker: cannot make the default log_dir %s: %v; %s", e.Dir, e.Err, hint)
	}
	return fmt.Sprintf("worker: the default log_dir %s: %v; %s", e.Dir, e.Err, hint)
}

// checkDefaultLogDir makes dir, the default log_dir, when it is not
// there (mode 0700), and returns an error (*LogDirError) unless it is a
// directory, not a link, of this process's user, that neither its group
// nor others can write. In a temporary directory every user shares,
// anyone can make that name first: a directory of theirs (they would
// read and change the logs), or a link to files of ours that pruning
// would delete.
func checkDefaultLogDir(dir string) error {
	err := os.Mkdir(dir, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return &LogDirError{Dir: dir, Err: err, made: true}
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return &LogDirError{Dir: dir, Err: err}
	}
	if why := logDirProblem(dir, info, os.Getuid()); why != "" {
		return &LogDirError{Dir: dir, Problem: why}
	}
	return nil
}

// logDirProblem says why the default log_dir dir, whose Lstat is info,
// is not safe for the user uid to use, or returns "".
func logDirProblem(dir string, info fs.FileInfo, uid int) string {
	if info.Mode()&fs.ModeSymlink != 0 {
		to, _ := os.Readlink(dir)
		return fmt.Sprintf("it is a symbolic link (to %s), not a directory", to)
	}
	if !info.IsDir() {
		return "it is not a directory"
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int64(st.Uid) != int64(uid) {
		return fmt.Sprintf("it belongs to uid %d, not to this worker's user (uid %d)", st.Uid, uid)
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Sprintf("users other than its owner can write to it (mode %04o)", unixMode(info.Mode()))
	}
	return ""
}

// unixMode returns the permission bits of m with the setuid, setgid and
// sticky bits where chmod and ls put them (04000, 02000, 01000), which
// fs.FileMode keeps elsewhere.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	for bit, v := range map[fs.FileMode]uint32{fs.ModeSetuid: 0o4000, fs.ModeSetgid: 0o2000, fs.ModeSticky: 0o1000} {
		if m&bit != 0 {
			u |= v
		}
	}
	return u
}

// dirOK returns an error when the log directory is the default one and
// is not safe to use (checkDefaultLogDir), which makes it again if it
// has gone.
func (s *logStore) dirOK() error {
	if !s.guarded {
		return nil
	}
	return checkDefaultLogDir(s.dir)
}

// attemptLog is the log of one running attempt.
type attemptLog struct {
	ref    rpcapi.JobRef
	cap    int64 // logCap(log_max_bytes)
	budget int64 // bytes it may still write, both streams together
	mu     sync.Mutex
	files  map[string]*os.File
	cut    map[string]bool // the streams that lost bytes to the cap
}

// open starts the log of an attempt, replacing any earlier log of the same
// attempt (one the master gave again after a restart). When the files
// cannot be made the attempt runs without a log: a warning says why.
func (s *logStore) open(ref rpcapi.JobRef) *attemptLog {
	c := logCap(s.maxBytes)
	a := &attemptLog{ref: ref, cap: c, budget: c, files: make(map[string]*os.File), cut: make(map[string]bool)}
	s.mu.Lock()
	s.active[ref] = a // before the files exist, so prune leaves them
	s.forget(logDirOf(ref))
	s.mu.Unlock()
	err := s.dirOK()
	if err == nil {
		err = a.create(filepath.Join(s.dir, logDirOf(ref)), !s.guarded)
	}
	if err != nil {
		s.log.WithError(err).WithFields(logrus.Fields{"job": ref.JobID, "attempt": ref.Attempt}).
			Warn("cannot keep this attempt's log; it runs without one")
		a.closeFiles()
	}
	return a
}

// create makes the attempt's log directory, dir, and its files, making
// the log directory it is in first when mkParent is set (dirOK makes the
// default one).
func (a *attemptLog) create(dir string, mkParent bool) error {
	if mkParent {
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	for _, name := range logStreams {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		a.files[name] = f
	}
	holdLog(a.files[rpcapi.StreamStdout]) // released when the file closes
	return nil
}

// writer is the io.Writer of one stream. It never fails, so a full disk
// never fails the job: what cannot be written is dropped.
func (a *attemptLog) writer(stream string) io.Writer { return streamWriter{a, stream} }

type streamWriter struct {
	a      *attemptLog
	stream string
}

func (w streamWriter) Write(p []byte) (int, error) {
	a := w.a
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.files[w.stream]
	if f == nil {
		return len(p), nil
	}
	q := p
	if int64(len(q)) > a.budget {
		q = q[:a.budget]
		a.cut[w.stream] = true
	}
	n, err := f.Write(q)
	a.budget -= int64(n)
	if err != nil {
		f.Close()
		a.files[w.stream] = nil
	}
	return len(p), nil
}

// written is how many bytes the attempt's log holds so far.
func (a *attemptLog) written() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cap - a.budget
}

// closeFiles ends the log: a note (logCutNote) ends each stream that lost
// bytes to the cap.
func (a *attemptLog) closeFiles() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for name, f := range a.files {
		if f == nil {
			continue
		}
		if a.cut[name] {
			io.WriteString(f, logCutNote)
		}
		f.Close()
		a.files[name] = nil
	}
}

// finish ends an attempt's log, then applies the bounds, which leave it.
func (s *logStore) finish(a *attemptLog) {
	a.closeFiles()
	name := logDirOf(a.ref)
	e, ok := s.entry(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.active[a.ref] != a {
		return // a later run of the same attempt has the directory now
	}
	delete(s.active, a.ref)
	keep := ""
	if ok {
		s.remember(e)
		keep = name
	}
	s.applyBounds(time.Now(), keep, s.maxBytes)
}

// logEntry is one attempt's log directory on disk.
type logEntry struct {
	name string
	size int64
	mod  time.Time // its latest write
}

// remember adds the log of an ended attempt, forgetting any earlier one
// of the same name. The caller holds mu.
func (s *logStore) remember(e logEntry) {
	s.forget(e.name)
	s.ended[e.name] = e
	s.total += e.size
	i, _ := slices.BinarySearchFunc(s.order, e, func(x, y logEntry) int { return x.mod.Compare(y.mod) })
	s.order = slices.Insert(s.order, i, e)
}

// forget drops the ended log called name from the accounts (its place in
// order goes when applyBounds meets it). The caller holds mu.
func (s *logStore) forget(name string) {
	if old, ok := s.ended[name]; ok {
		delete(s.ended, name)
		s.total -= old.size
	}
}

// entry describes the log directory called name: one of this store's when
// it holds only the stream files.
func (s *logStore) entry(name string) (logEntry, bool) {
	e := logEntry{name: name, size: s.entryCost}
	path := filepath.Join(s.dir, name)
	if info, err := os.Lstat(path); err != nil || !info.IsDir() {
		return e, false // gone, or not a directory: a link is not a log
	}
	files, err := os.ReadDir(path)
	if err != nil {
		return e, false
	}
	for _, f := range files {
		info, err := f.Info()
		if err != nil || !info.Mode().IsRegular() || !slices.Contains(logStreams, f.Name()) {
			return e, false
		}
		e.size += info.Size()
		if info.ModTime().After(e.mod) {
			e.mod = info.ModTime()
		}
	}
	return e, true
}

// read returns up to max bytes of a stream of an attempt's log from off,
// the stream's size and whether the attempt has ended.
func (s *logStore) read(a *rpcapi.ReadLogArgs) (*rpcapi.ReadLogReply, error) {
	if err := checkReadLog(a); err != nil {
		return nil, err
	}
	ref := rpcapi.JobRef{JobID: a.JobID, Attempt: a.Attempt}
	s.mu.Lock()
	done := s.active[ref] == nil
	s.mu.Unlock()
	f, err := os.Open(filepath.Join(s.dir, logDirOf(ref), a.Stream))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no log of job %s attempt %d on this worker: it did not run the attempt as a command, "+
			"or the log was removed (log_max_bytes, log_max_age)", rpcapi.ErrNotFound, a.JobID, a.Attempt)
	}
	if err != nil {
		return nil, fmt.Errorf("worker: log of job %s attempt %d: %w", a.JobID, a.Attempt, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("worker: log of job %s attempt %d: %w", a.JobID, a.Attempt, err)
	}
	r := &rpcapi.ReadLogReply{Size: info.Size(), Done: done}
	max := a.Max
	if max == 0 {
		max = rpcapi.MaxReadLog
	}
	if n := min(int64(max), r.Size-a.Offset); n > 0 {
		r.Data = make([]byte, n)
		k, err := f.ReadAt(r.Data, a.Offset)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("worker: log of job %s attempt %d: %w", a.JobID, a.Attempt, err)
		}
		r.Data = r.Data[:k]
	}
	return r, nil
}

// checkReadLog refuses read_log args out of bounds with ErrBadRequest.
func checkReadLog(a *rpcapi.ReadLogArgs) error {
	switch {
	case a.JobID == "":
		return fmt.Errorf("%w: read_log without a job_id", rpcapi.ErrBadRequest)
	case a.Attempt < 1:
		return fmt.Errorf("%w: read_log: attempt %d; attempts start at 1", rpcapi.ErrBadRequest, a.Attempt)
	case !slices.Contains(logStreams, a.Stream):
		return fmt.Errorf("%w: read_log: stream %q: want %q or %q", rpcapi.ErrBadRequest, a.Stream, rpcapi.StreamStdout, rpcapi.StreamStderr)
	case a.Offset < 0:
		return fmt.Errorf("%w: read_log: offset %d is negative", rpcapi.ErrBadRequest, a.Offset)
	case a.Max < 0 || a.Max > rpcapi.MaxReadLog:
		return fmt.Errorf("%w: read_log: max %d: want 0..%d", rpcapi.ErrBadRequest, a.Max, rpcapi.MaxReadLog)
	}
	return nil
}

// ReadLog reads bytes of the full log of an attempt this worker ran as a
// command. Without this registration's secret it reads nothing and
// returns rpcapi.ErrUnauthorized.
func (x wire) ReadLog(ctx context.Context, a *rpcapi.ReadLogArgs, r *rpcapi.ReadLogReply) error {
	w := x.w
	w.mu.Lock()
	err := w.fromMaster(ctx, a.Secret, "read_log")
	w.mu.Unlock()
	if err != nil {
		return err
	}
	got, err := w.logs.read(a)
	if err != nil {
		return err
	}
	*r = *got
	return nil
}
