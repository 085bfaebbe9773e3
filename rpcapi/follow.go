package rpcapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The pause of a Follow call once it has tried every master, doubling up
// to the most.
const (
	followPause    = 50 * time.Millisecond
	followMaxPause = time.Second
)

// maxNamed bounds the masters a Follow caller adds when a standby names a
// leader it was not given.
const maxNamed = 8

// Addrs splits a master address list: addresses separated by commas,
// spaces around them trimmed. An empty element is an error.
func Addrs(list string) ([]string, error) {
	parts := strings.Split(list, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, badAddr("rpcapi: master address list %q: element %d is empty", list, i+1)
		}
	}
	return parts, nil
}

// Follow returns a Caller of the masters at addrs that follows the
// leader, making each master's Caller with dial (which must not connect).
// For a single address it returns that address's Caller itself; for
// several, a Caller whose Addr method returns the address of the master
// that calls go to now.
//
// A call goes to the master that answered last (at first, addrs[0]). On
// ErrNotLeader it calls the leader the error names (adding its address
// when it is not in addrs) or, when none is named, the next master; when
// the call was not sent (NotSent: the master could not be reached) it
// calls the next master. Once it has tried every master, it returns the
// last error at once if none of them answered (none could be reached:
// the caller's own retry applies); if some answered as standbys, it
// pauses, 50 ms at first, doubling to 1 s, and goes on until ctx ends,
// then returns the last error (with the last standby's, which matches
// ErrNotLeader). A
// call that was sent and broke (ErrUnavailable), or that ctx ended before
// its master answered (a master stopped or cut off takes calls and never
// answers), is not made again, since it may have happened: it returns the
// error, and the next call starts from the next master.
func Follow(addrs []string, dial func(addr string) (Caller, error)) (Caller, error) {
	if len(addrs) == 0 {
		return nil, errors.New("rpcapi: no master address")
	}
	f := &follower{dial: dial}
	for _, a := range addrs {
		if a == "" {
			return nil, errors.New("rpcapi: an empty master address")
		}
		c, err := dial(a)
		if err != nil {
			f.Close()
			return nil, err
		}
		f.nodes = append(f.nodes, followNode{addr: a, hp: hostOf(a), c: c})
	}
	if len(f.nodes) == 1 {
		return f.nodes[0].c, nil
	}
	f.given = len(f.nodes)
	return f, nil
}

// follower is the Caller Follow returns.
type follower struct {
	dial func(string) (Caller, error)

	mu     sync.Mutex // guards the rest
	nodes  []followNode
	given  int // nodes[:given] are Follow's addrs; the rest were named
	cur    int // the master the next call goes to
	closed bool
}

// followNode is one master.
type followNode struct {
	addr string // as given, or as named
	hp   string // hostOf(addr), to match a named leader
	c    Caller
	// silent: until when a standby that names this master is not
	// followed to it, since a call to it went unanswered (a leader
	// stopped or cut off, which the standbys go on naming until they
	// elect another).
	silent time.Time
}

// silentFor is how long a master that left a call unanswered is not
// followed to by name (it is still called in its turn).
const silentFor = 5 * time.Second

// Call implements Caller. It goes round the masters in order from the
// current one; when a master names the leader, the leader is called
// before the next in order (a leader named by a named leader is not
// followed, so masters naming each other cannot keep it from the rest).
func (f *follower) Call(ctx context.Context, method string, args, reply any) error {
	i, c, err := f.at(-1)
	if err != nil {
		return err
	}
	var standby error // the last not_leader answer
	first := i
	round, named := i, false // the place in the round; whether i was named
	steps, pause := 0, followPause
	answered := false // some master of this round answered (as a standby)
	for {
		err := c.Call(ctx, method, args, reply)
		switch {
		case err == nil:
			f.settle(i)
			return nil
		case ctx.Err() != nil:
			if !NotSent(err) && !isRemote(err) && !errors.Is(err, ErrNotLeader) {
				// The master took the call and did not answer before
				// ctx ended: it may be stopped or cut off. The next
				// call starts at the next master, and is not led back
				// to this one by a standby that still names it.
				f.moveOn(first, i)
				f.markSilent(i)
			}
			return lastError(err, standby)
		case !errors.Is(err, ErrNotLeader) && !NotSent(err):
			if errors.Is(err, ErrUnavailable) && !isRemote(err) {
				f.moveOn(first, i) // broke mid-call: not made again
			}
			return err
		}
		if errors.Is(err, ErrNotLeader) {
			standby, answered = err, true
		}
		l := -1
		if !named {
			l = f.leader(i, LeaderOf(err))
		}
		if l >= 0 && l != i {
			i, named = l, true
		} else {
			round, named = f.next(round), false
			i = round
			if steps++; steps >= f.size() { // tried every master
				if !answered {
					// None could be reached: that is the caller's to
					// know now (its own retry, --retry-for), not at the
					// end of ctx. Only an election, masters answering
					// that they do not lead, is waited out here.
					return err
				}
				if !sleep(ctx, pause) {
					return lastError(err, standby)
				}
				steps, pause, answered = 0, min(2*pause, followMaxPause), false
			}
		}
		if _, c, err = f.at(i); err != nil {
			return err
		}
	}
}

// sleep waits d, or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// lastError is the error of a call that ctx ended: err, the last
// master's, and the last standby's answer when err is not it, so that the
// caller learns that masters answered, as standbys.
func lastError(err, standby error) error {
	if standby == nil || err == standby {
		return err
	}
	return fmt.Errorf("%w; before that: %w", err, standby)
}

// isRemote reports whether err is an error a node answered with, rather
// than one of the connection.
func isRemote(err error) bool {
	var re *remoteError
	return errors.As(err, &re)
}

// Addr returns the address of the master that calls go to now: the one
// that answered last, as given to Follow or as a standby named it.
func (f *follower) Addr() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nodes[f.cur].addr
}

// at returns node i (-1: the current one) and its Caller.
func (f *follower) at(i int) (int, Caller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, nil, fmt.Errorf("%w: client closed", ErrUnavailable)
	}
	if i < 0 {
		i = f.cur
	}
	return i, f.nodes[i].c, nil
}

func (f *follower) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.nodes)
}

// settle makes node i, which answered, the one later calls go to.
func (f *follower) settle(i int) {
	f.mu.Lock()
	f.cur = i
	f.nodes[i].silent = time.Time{}
	f.mu.Unlock()
}

// markSilent notes that node i left a call unanswered.
func (f *follower) markSilent(i int) {
	f.mu.Lock()
	f.nodes[i].silent = time.Now().Add(silentFor)
	f.mu.Unlock()
}

// moveOn makes later calls start after node i, where a call that
// started at node first broke, unless another call moved them since.
func (f *follower) moveOn(first, i int) {
	f.mu.Lock()
	if f.cur == first {
		f.cur = (i + 1) % len(f.nodes)
	}
	f.mu.Unlock()
}

// next returns the node after i.
func (f *follower) next(i int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return (i + 1) % len(f.nodes)
}

// leader returns the node of the leader that node i named, adding it when
// it is new, or -1 when leader is "" or cannot be added.
func (f *follower) leader(i int, leader string) int {
	if leader == "" {
		return -1
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	hp := hostOf(leader)
	for j, n := range f.nodes {
		if n.hp == hp {
			if time.Now().Before(n.silent) {
				return -1 // named, but silent lately: go round instead
			}
			return j
		}
	}
	if f.closed || len(f.nodes)-f.given >= maxNamed {
		return -1
	}
	addr := hp
	if strings.HasPrefix(f.nodes[i].addr, "https://") {
		addr = "https://" + hp // as the standby was reached
	}
	c, err := f.dial(addr)
	if err != nil {
		return -1
	}
	f.nodes = append(f.nodes, followNode{addr: addr, hp: hp, c: c})
	return len(f.nodes) - 1
}

// hostOf returns the host:port of a master address: host:port, or a URL
// with a scheme, user info or a path.
func hostOf(addr string) string {
	addr = HostPort(addr)
	addr, _, _ = strings.Cut(addr, "/")
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		addr = addr[at+1:]
	}
	return addr
}

// Close closes every master's Caller; later calls fail.
func (f *follower) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var errs []error
	for _, n := range f.nodes {
		errs = append(errs, n.c.Close())
	}
	return errors.Join(errs...)
}

// NewMasterCaller is NewCaller for a list of master addresses separated
// by commas (Addrs): a Caller that follows the leader among them
// (Follow), or the one address's own Caller.
func NewMasterCaller(list, transport string, opts ...Option) (Caller, error) {
	addrs, err := Addrs(list)
	if err != nil {
		return nil, err
	}
	return Follow(addrs, func(a string) (Caller, error) { return NewCaller(a, transport, opts...) })
}
