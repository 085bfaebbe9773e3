//go:build linux

package watchdog

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	if v, ok := os.LookupEnv(Env); ok {
		// syscall.Exit, not os.Exit: nothing is left to flush, and a race
		// build's os.Exit waits a second.
		syscall.Exit(watchMain(v))
	}
}

// watchConf is what a watchdog is told in Env.
type watchConf struct {
	grace time.Duration
	fd    int
	life  string
}

func parseWatchConf(v string) (watchConf, error) {
	f := strings.Split(v, ",")
	if len(f) != 3 || f[2] == "" {
		return watchConf{}, fmt.Errorf("%s=%q: want GRACE,FD,LIFE", Env, v)
	}
	grace, err1 := strconv.ParseInt(f[0], 10, 64)
	fd, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || grace < 0 || fd < 3 {
		return watchConf{}, fmt.Errorf("%s=%q: want GRACE (ns) >= 0 and FD >= 3", Env, v)
	}
	return watchConf{grace: time.Duration(grace), fd: fd, life: f[2]}, nil
}

// record is one record from the worker; eof: the pipe closed.
type record struct {
	op  byte
	val uint64
	eof bool
}

// watchMain is a watchdog's whole life (see the package doc); it returns
// the exit code.
func watchMain(v string) int {
	conf, err := parseWatchConf(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "drover: bad watchdog invocation: %v\n", err)
		return 2
	}
	// The worker's terminal and its process group are not ours.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGPIPE)
	recs := make(chan record, 64)
	go readRecords(os.NewFile(uintptr(conf.fd), "watchdog"), recs)
	w := &watch{conf: conf, term: map[uint64]bool{}, kill: map[uint64]int{}, groups: map[uint64]int{}}
	w.run(recs)
	return 0
}

// readRecords sends each record of f on recs, then one with eof set.
func readRecords(f *os.File, recs chan<- record) {
	var b [9]byte
	for {
		if _, err := io.ReadFull(f, b[:]); err != nil {
			recs <- record{eof: true}
			return
		}
		recs <- record{op: b[0], val: binary.BigEndian.Uint64(b[1:])}
	}
}

// killRounds is how many scans in a row a job's processes are SIGKILLed
// for, while any is found (one may fork while the scan runs).
const killRounds = 20

// watch is the state of a watchdog's loop.
type watch struct {
	conf     watchConf
	scan     scanner
	deadline int64           // the fence deadline, CLOCK_BOOTTIME ns; 0: none
	term     map[uint64]bool // jobs to SIGTERM at the next scan
	kill     map[uint64]int  // jobs to SIGKILL, with the scans left
	// groups are the process groups of the jobs running (Group), until
	// the worker says a job ended (End): it ends the group itself then.
	groups map[uint64]int
	fenced []fencedJobs // jobs SIGTERMed at a deadline, to SIGKILL after the grace
	next   time.Time    // no scan before
}

// fencedJobs are the jobs stopped at one fence deadline, and when they
// get SIGKILL (CLOCK_BOOTTIME ns).
type fencedJobs struct {
	killAt int64
	seqs   []uint64
}

// run serves records until the worker is gone, then ends every process of
// its life.
func (w *watch) run(recs <-chan record) {
	tick := time.NewTicker(ScanGap)
	defer tick.Stop()
	for {
		select {
		case r := <-recs:
			if r.eof {
				w.endLife()
				return
			}
			w.note(r)
		case <-tick.C:
		}
		now := BootNow()
		if w.deadline > 0 && now >= w.deadline {
			w.deadline = 0
			w.fence(now)
		}
		for len(w.fenced) > 0 && now >= w.fenced[0].killAt {
			for _, seq := range w.fenced[0].seqs {
				w.kill[seq] = killRounds
				w.signalGroup(seq, syscall.SIGKILL)
			}
			w.fenced = w.fenced[1:]
		}
		if (len(w.term) > 0 || len(w.kill) > 0) && !time.Now().Before(w.next) {
			w.signalJobs()
		}
	}
}

// note takes one record in.
func (w *watch) note(r record) {
	switch r.op {
	case opDeadline:
		w.deadline = int64(r.val)
	case opTerm:
		w.term[r.val] = true
	case opEnd:
		w.kill[r.val] = killRounds
		delete(w.term, r.val)
		delete(w.groups, r.val)
	case opGroup:
		w.groups[r.val>>pgidBits] = int(r.val & (1<<pgidBits - 1))
	}
}

// signalGroup sends sig to job seq's process group, if the job is running
// and the group has a process left. It reports whether one was.
func (w *watch) signalGroup(seq uint64, sig syscall.Signal) bool {
	pgid, ok := w.groups[seq]
	return ok && syscall.Kill(-pgid, sig) == nil
}

// signalJobs scans once: SIGKILL to the processes of the jobs in kill,
// SIGTERM to those in term.
func (w *watch) signalJobs() {
	start := time.Now()
	found := map[uint64]bool{}
	w.scan.marked(w.conf.life, func(pid int, mark string) {
		seq, err := strconv.ParseUint(mark[len(w.conf.life):], 10, 64)
		switch {
		case err != nil:
		case w.kill[seq] > 0:
			found[seq] = true
			_ = syscall.Kill(pid, syscall.SIGKILL)
		case w.term[seq]:
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	})
	clear(w.term)
	for seq, left := range w.kill {
		if !found[seq] || left <= 1 {
			delete(w.kill, seq)
		} else {
			w.kill[seq] = left - 1
		}
	}
	took := time.Since(start)
	w.next = time.Now().Add(max(ScanGap, 10*took))
}

// fence SIGTERMs every process of the life at the fence deadline, and
// the jobs' process groups; they get SIGKILL after the grace.
func (w *watch) fence(now int64) {
	f := fencedJobs{killAt: now + int64(w.conf.grace)}
	seen := map[uint64]bool{}
	for seq := range w.groups {
		if w.signalGroup(seq, syscall.SIGTERM) {
			seen[seq] = true
			f.seqs = append(f.seqs, seq)
		}
	}
	w.scan.marked(w.conf.life, func(pid int, mark string) {
		if seq, err := strconv.ParseUint(mark[len(w.conf.life):], 10, 64); err == nil {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			if !seen[seq] {
				seen[seq] = true
				f.seqs = append(f.seqs, seq)
			}
		}
	})
	if len(f.seqs) > 0 {
		w.fenced = append(w.fenced, f) // in deadline order: the grace is the same
	}
}

// endLife ends every process of the life, the worker being gone: SIGTERM,
// then SIGKILL after the grace to those left, until none is left (or ten
// seconds of trying): the marked ones, and the process groups of the jobs
// that were running.
func (w *watch) endLife() {
	signalLife := func(sig syscall.Signal) int {
		n := 0
		for seq := range w.groups {
			if w.signalGroup(seq, sig) {
				n++
			}
		}
		w.scan.marked(w.conf.life, func(pid int, _ string) {
			if syscall.Kill(pid, sig) == nil {
				n++
			}
		})
		return n
	}
	if signalLife(syscall.SIGTERM) == 0 {
		return
	}
	end := time.Now().Add(w.conf.grace)
	for time.Now().Before(end) {
		time.Sleep(min(ScanGap, time.Until(end)))
		if signalLife(0) == 0 {
			return
		}
	}
	end = time.Now().Add(10 * time.Second)
	for signalLife(syscall.SIGKILL) > 0 && time.Now().Before(end) {
		time.Sleep(10 * time.Millisecond)
	}
}
