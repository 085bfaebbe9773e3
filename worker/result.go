package worker

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"unicode/utf8"

	"github.com/drover/drover/jobs"
)

// resultFile is where a command job writes its data: the file named by
// $DROVER_RESULT, in a temporary directory of its own that the worker
// removes after the attempt. The worker holds a shared lock on the
// directory while the attempt runs, so that another worker's sweep
// (sweepResultDirs) can tell it from one a killed worker left.
type resultFile struct {
	dir, path string
	lock      *os.File // the directory, locked; nil where there is no flock
}

// resultDirPrefix begins the name of every attempt's result directory in
// the system's temporary directory.
const resultDirPrefix = "drover-result-"

// newResultFile makes the attempt's temporary directory, locked, and an
// empty result file in it, readable and writable by the worker's user
// alone. A sweep that takes the directory between its making and its lock
// removes it: then another is made, up to a hundred in all (sweeps run
// once, when a worker starts; a test runs them without a pause).
func newResultFile() (*resultFile, error) {
	var err error
	for range 100 {
		var dir string
		dir, err = os.MkdirTemp("", resultDirPrefix)
		if err != nil {
			return nil, fmt.Errorf("worker: cannot make the directory of $DROVER_RESULT: %w", err)
		}
		var lock *os.File
		if lock, err = holdDir(dir); err != nil {
			os.Remove(dir) // unless a sweep took it meanwhile
			continue
		}
		r := &resultFile{dir: dir, path: filepath.Join(dir, "result"), lock: lock}
		f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			r.remove()
			return nil, fmt.Errorf("worker: cannot make the file of $DROVER_RESULT: %w", err)
		}
		return r, f.Close()
	}
	return nil, fmt.Errorf("worker: cannot hold the directory of $DROVER_RESULT: %w", err)
}

// remove removes the directory and lets go of its lock.
func (r *resultFile) remove() {
	os.RemoveAll(r.dir)
	if r.lock != nil {
		r.lock.Close()
	}
}

// sweepResultDirs removes the result directories in tmp that no running
// attempt holds: those of workers killed before they could remove them
// (kill -9, a crash, the machine's end). It returns how many it removed.
func sweepResultDirs(tmp string) (int, error) {
	names, err := filepath.Glob(filepath.Join(tmp, resultDirPrefix+"*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, dir := range names {
		if removeUnheld(dir) {
			n++
		}
	}
	return n, nil
}

// collect reads what the job wrote, at most limit bytes, and removes the
// directory. A file over limit is not cut: its data is dropped and the
// error (Permanent) says how big it was. A job that removed the file
// returns no data. What is not a regular file (a FIFO, a device, through
// a link or not) is refused, Permanent, unread: a FIFO would block the
// read until a writer came, and a device never ends.
func (r *resultFile) collect(limit int) (string, error) {
	defer r.remove()
	f, err := os.OpenFile(r.path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // a FIFO opens at once
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("worker: cannot read $DROVER_RESULT: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("worker: cannot read $DROVER_RESULT: %w", err)
	}
	if !info.Mode().IsRegular() {
		return "", Permanent(fmt.Errorf("worker: $DROVER_RESULT is not a regular file (%s): no data kept (write the data into the file itself)",
			fileKind(info.Mode())))
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return "", fmt.Errorf("worker: cannot read $DROVER_RESULT: %w", err)
	}
	if len(b) > limit {
		// A file of /proc says 0 bytes and holds more.
		held := fmt.Sprintf("more than %d bytes", limit)
		if size := info.Size(); size > int64(limit) {
			held = fmt.Sprintf("%d bytes", size)
		}
		return "", Permanent(fmt.Errorf("worker: the result file ($DROVER_RESULT) holds %s, over max_result_bytes %d: "+
			"no data kept (write less, or raise max_result_bytes on the master and the worker)", held, limit))
	}
	return string(b), nil
}

// fileKind names the kind of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}

// resultLimits are the bounds of what a worker reports for an attempt.
type resultLimits struct {
	// data bounds Result.Data: the worker's max_result_bytes, and the
	// master's when it is lower.
	data int
	// report bounds Output and Data together: the master's
	// max_result_bytes; 0 when the master did not say.
	report int
}

// limits returns the bounds of a report as they stand. The caller must
// not hold mu.
func (w *Worker) limits() resultLimits {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := resultLimits{data: w.cfg.MaxResultBytes, report: w.masterMaxResult}
	if l.report > 0 {
		l.data = min(l.data, l.report)
	}
	return l
}

// maxErrorBytes bounds a report's error text: finish keeps its last
// 16 KiB (cutOutput).
const maxErrorBytes = 16 << 10

// errorPrefixRoom is room for what finish puts before an error's text
// ("timed out after 1h0m0s: ").
const errorPrefixRoom = 64

// fit makes a finished attempt's result fit what the master takes, so
// that output never fails a job that succeeded: data over l.data is
// dropped (never cut) and fails the attempt without retries, with an
// error saying so (added to err when the attempt failed already); then the
// output is cut from the front to what l.report leaves beside the data,
// the stats and the error (which finish cuts to maxErrorBytes).
func (l resultLimits) fit(res *jobs.Result, err error) error {
	if n := len(res.Data); n > l.data {
		res.Data = ""
		err = alsoFailed(err, Permanent(fmt.Errorf("worker: result data of %d bytes is over max_result_bytes %d: no data kept", n, l.data)))
	}
	if l.report > 0 {
		room := l.report - len(res.Data)
		for k, v := range res.Stats {
			room -= len(k) + len(v)
		}
		if err != nil {
			room -= min(len(err.Error()), maxErrorBytes) + errorPrefixRoom
		}
		res.Output = cutOutput(res.Output, max(room, 0))
	}
	return err
}

// truncatedNote is the head of an output whose front was cut.
var truncatedNote = regexp.MustCompile(`^\.\.\.\[truncated ([0-9]+) bytes\]\n`)

// cutOutput returns the end of out in at most limit bytes, the note
// "...[truncated N bytes]\n" included, N counting every byte cut since the
// output began (a note out carries already is counted in). It never
// starts inside a UTF-8 sequence. Under a limit too small for the note it
// is the tail alone.
func cutOutput(out string, limit int) string {
	if len(out) <= limit {
		return out
	}
	var dropped int64
	if m := truncatedNote.FindStringSubmatch(out); m != nil {
		dropped, _ = strconv.ParseInt(m[1], 10, 64)
		out = out[len(m[0]):]
	}
	// The note's count can only shrink once the cut is known.
	note := "...[truncated " + strconv.FormatInt(dropped+int64(len(out)), 10) + " bytes]\n"
	keep := limit - len(note)
	if keep <= 0 {
		return tailOf(out, max(limit, 0))
	}
	tail := tailOf(out, keep)
	return "...[truncated " + strconv.FormatInt(dropped+int64(len(out)-len(tail)), 10) + " bytes]\n" + tail
}

// tailOf returns the last n bytes of s at most, not starting inside a
// UTF-8 sequence.
func tailOf(s string, n int) string {
	cut := max(len(s)-n, 0)
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	return s[cut:]
}

// alsoFailed returns the error of an attempt that failed with err (nil:
// it had not) and then also with more (nil: it did not): more alone, or
// err with more's text added, still matching what err matches (a failed
// run stays retryable or not as it was).
func alsoFailed(err, more error) error {
	switch {
	case more == nil:
		return err
	case err == nil:
		return more
	}
	return &runError{msg: err.Error() + "; and " + more.Error(), errs: []error{err}}
}
