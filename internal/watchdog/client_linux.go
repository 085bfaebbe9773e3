//go:build linux

package watchdog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// instances numbers the watchdogs a process starts (one per worker), so
// that workers in one process have lives of their own.
var instances atomic.Uint64

// Watchdog is the worker's side of its watchdog. Its methods are safe for
// concurrent use; none blocks for more than writeTimeout but Close.
type Watchdog struct {
	life  string // the mark prefix of this worker life: KEY.PID.START.INST.
	seq   atomic.Uint64
	pid   int
	grace time.Duration

	mu     sync.Mutex // guards pipe and err
	pipe   *os.File   // nil once closed
	err    error      // the first write error
	exited chan struct{}
}

// writeTimeout bounds a write to a watchdog that does not read (stopped):
// the record is dropped then.
const writeTimeout = 100 * time.Millisecond

// Start starts the watchdog of a worker called identity (see IdentityKey)
// whose stops wait grace between SIGTERM and SIGKILL. It runs this
// program again (/proc/self/exe), which must import this package, in a
// session of its own.
func Start(identity string, grace time.Duration) (*Watchdog, error) {
	start, ok := StartTime(os.Getpid())
	if !ok {
		return nil, errors.New("watchdog: cannot read this process's start time from /proc")
	}
	life := fmt.Sprintf("%s.%d.%d.%d.", IdentityKey(identity), os.Getpid(), start, instances.Add(1))
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	defer r.Close()
	env := []string{fmt.Sprintf("%s=%d,3,%s", Env, max(grace, 0), life)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DROVER_") {
			env = append(env, kv)
		}
	}
	c := &exec.Cmd{Path: "/proc/self/exe", Args: []string{Arg0}, Env: env, ExtraFiles: []*os.File{r},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if err := c.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	d := &Watchdog{life: life, pid: c.Process.Pid, grace: grace, pipe: w, exited: make(chan struct{})}
	go func() { // owned by Close, which waits for it
		c.Wait()
		close(d.exited)
	}()
	return d, nil
}

// Pid returns the watchdog's process ID.
func (d *Watchdog) Pid() int { return d.pid }

// Mark returns a new job's mark, to put in its environment as MarkEnv,
// and the job's number, for Term and End.
func (d *Watchdog) Mark() (string, uint64) {
	seq := d.seq.Add(1)
	return d.life + strconv.FormatUint(seq, 10), seq
}

// Deadline sets the fence deadline: when it passes, the watchdog stops
// every job of the worker (SIGTERM, then SIGKILL after the grace). The
// zero time is none.
func (d *Watchdog) Deadline(t time.Time) error {
	return d.write(opDeadline, uint64(bootDeadline(t)))
}

// Term asks for SIGTERM to the processes of job seq.
func (d *Watchdog) Term(seq uint64) error { return d.write(opTerm, seq) }

// End asks for SIGKILL to the processes of job seq, which has ended (its
// first process exited). The worker ends the job's process group itself
// then, so the watchdog forgets it (Group).
func (d *Watchdog) End(seq uint64) error { return d.write(opEnd, seq) }

// Group tells the watchdog the process group of job seq (the pid of its
// first process, started with Setpgid): the watchdog stops the whole group
// with the job's marked processes when the worker dies or at the fence
// deadline, so a process that dropped the mark but stayed in the group
// does not outlive the job either.
func (d *Watchdog) Group(seq uint64, pgid int) error {
	if pgid <= 1 || pgid >= 1<<pgidBits || seq >= 1<<(64-pgidBits) {
		return fmt.Errorf("watchdog: job %d's process group %d cannot be told", seq, pgid)
	}
	return d.write(opGroup, seq<<pgidBits|uint64(pgid))
}

func (d *Watchdog) write(op byte, v uint64) error {
	var b [9]byte
	b[0] = op
	binary.BigEndian.PutUint64(b[1:], v)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pipe == nil {
		return errors.New("watchdog: closed")
	}
	if d.err != nil {
		return d.err
	}
	_ = d.pipe.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := d.pipe.Write(b[:]); err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			d.err = fmt.Errorf("watchdog: %w", err) // it is gone
		}
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// Close tells the watchdog the worker is leaving: it ends whatever of the
// worker's jobs is left (SIGTERM, then SIGKILL after the grace) and exits.
// Close waits for that, for the grace plus a few seconds at most.
func (d *Watchdog) Close() error {
	d.mu.Lock()
	p := d.pipe
	d.pipe = nil
	d.mu.Unlock()
	if p == nil {
		return nil
	}
	p.Close()
	t := time.NewTimer(d.grace + 5*time.Second)
	defer t.Stop()
	select {
	case <-d.exited:
		return nil
	case <-t.C:
		return errors.New("watchdog: did not exit")
	}
}
