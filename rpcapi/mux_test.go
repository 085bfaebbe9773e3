package rpcapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/rpc"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/internal/testnet"
)

// Echo is a net/rpc service for the client tests: it answers after a
// delay the call asks for.
type Echo struct{}

// EchoArgs is what an Echo call carries; Pad makes replies of many sizes.
type EchoArgs struct {
	N     int
	Delay time.Duration
	Pad   string
	Fail  bool
}

// Echo answers N and Pad back, or an error if Fail, after Delay.
func (Echo) Echo(a *EchoArgs, r *EchoArgs) error {
	time.Sleep(a.Delay) // the server's work
	if a.Fail {
		return fmt.Errorf("echo %d failed", a.N)
	}
	r.N, r.Pad = a.N, a.Pad
	return nil
}

// choppyConn writes what it is given in pieces of random sizes with
// random pauses between them, so that a reply often arrives in parts.
type choppyConn struct {
	net.Conn
	mu  sync.Mutex
	rng *rand.Rand
}

func (c *choppyConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	done := 0
	for done < len(p) {
		n := min(len(p)-done, 1+c.rng.IntN(64))
		if _, err := c.Conn.Write(p[done : done+n]); err != nil {
			return done, err
		}
		done += n
		if c.rng.IntN(8) == 0 {
			time.Sleep(time.Duration(c.rng.IntN(200)) * time.Microsecond) // a gap between the pieces
		}
	}
	return done, nil
}

// startChoppyEcho serves Echo with the standard library's net/rpc server
// behind the CONNECT handshake, writing through choppyConn; it counts the
// connections it accepts.
func startChoppyEcho(t *testing.T, seed uint64) (addr string, conns *atomic.Int64) {
	t.Helper()
	srv := rpc.NewServer()
	if err := srv.Register(Echo{}); err != nil {
		t.Fatal(err)
	}
	ln := testnet.Listen(t)
	conns = new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for i := uint64(0); ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Method != http.MethodConnect {
					return
				}
				c.Write([]byte("HTTP/1.0 200 Connected to Go RPC\n\n"))
				rw := struct {
					*bufio.Reader
					*choppyConn
				}{br, &choppyConn{Conn: c, rng: rand.New(rand.NewPCG(seed, i))}}
				srv.ServeConn(rw)
			})
		}
	})
	return ln.Addr().String(), conns
}

// TestClientRandomCalls makes many calls at once through one Client, with
// seeded random delays, reply sizes, server errors and contexts that end
// before, during or after the reply, against a server whose replies come
// in pieces. Every call must come back with its own reply, its server
// error, or ErrUnavailable because its context ended; the connection must
// survive all of it.
func TestClientRandomCalls(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { testClientRandomCalls(t, seed) })
	}
}

func testClientRandomCalls(t *testing.T, seed uint64) {
	addr, conns := startChoppyEcho(t, seed)
	c := newTestClient(t, addr)
	const callers, calls = 8, 60
	var ok, failed, gaveUp atomic.Int64
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for g := range callers {
		rng := rand.New(rand.NewPCG(seed, uint64(g)))
		wg.Go(func() {
			for i := range calls {
				n := g*calls + i
				args := EchoArgs{N: n, Delay: time.Duration(rng.IntN(1000)) * time.Microsecond,
					Pad: strings.Repeat("x", rng.IntN(3)*rng.IntN(1000)), Fail: rng.IntN(10) == 0}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if rng.IntN(3) == 0 { // ends before, during or after the reply
					ctx, cancel = context.WithTimeout(context.Background(), time.Duration(rng.IntN(1500))*time.Microsecond)
				}
				var r EchoArgs
				err := c.Call(ctx, "Echo.Echo", &args, &r)
				ended := ctx.Err() != nil
				cancel()
				switch {
				case err == nil && !args.Fail && r.N == n && r.Pad == args.Pad:
					ok.Add(1)
				case err != nil && args.Fail && strings.Contains(err.Error(), fmt.Sprintf("echo %d failed", n)):
					failed.Add(1)
				case err != nil && ended && errors.Is(err, ErrUnavailable):
					gaveUp.Add(1)
				default:
					errs <- fmt.Errorf("call %d (fail %v, ctx ended %v): reply N=%d pad %d bytes (sent %d), err %v",
						n, args.Fail, ended, r.N, len(r.Pad), len(args.Pad), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d answered, %d server errors, %d gave up", ok.Load(), failed.Load(), gaveUp.Load())
	if ok.Load() == 0 || failed.Load() == 0 || gaveUp.Load() == 0 {
		t.Errorf("the seed did not exercise every outcome")
	}
	var r EchoArgs
	if err := c.Call(ctxT(t, 10*time.Second), "Echo.Echo", &EchoArgs{N: -1}, &r); err != nil || r.N != -1 {
		t.Fatalf("a call after the others = %+v, %v", r, err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: a call whose context ended broke the connection", n)
	}
}

// TestClientReaderGivesUp has the only call waiting for bytes (the one
// reading) give up while a second call's reply is still to come: the
// second must still get its reply.
func TestClientReaderGivesUp(t *testing.T) {
	addr, _ := startChoppyEcho(t, 7)
	c := newTestClient(t, addr)
	var r EchoArgs
	if err := c.Call(ctxT(t, 10*time.Second), "Echo.Echo", &EchoArgs{N: 0}, &r); err != nil {
		t.Fatal(err) // connected
	}
	for i := range 20 {
		short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		first := make(chan error, 1)
		go func() {
			var r EchoArgs
			first <- c.Call(short, "Echo.Echo", &EchoArgs{N: 1, Delay: time.Second}, &r)
		}()
		var r EchoArgs
		err := c.Call(ctxT(t, 10*time.Second), "Echo.Echo", &EchoArgs{N: 2, Delay: 50 * time.Millisecond}, &r)
		if err != nil || r.N != 2 {
			t.Fatalf("round %d: the call that outlived the other = %+v, %v", i, r, err)
		}
		if err := <-first; !errors.Is(err, ErrUnavailable) {
			t.Fatalf("round %d: the call whose context ended = %v, want ErrUnavailable", i, err)
		}
		cancel()
	}
}

// FuzzFrames feeds a stream of net/rpc replies, cut into pieces the input
// chooses, through frames, and checks that every reply is found whole
// and decodes as it was sent; input that is not such a stream must give
// an error or no reply, never a panic.
func FuzzFrames(f *testing.F) {
	f.Add([]byte{3, 1, 200, 7}, false)
	f.Add([]byte{0, 0, 0}, true)
	f.Add([]byte{255, 254, 0x80, 1}, true)
	f.Fuzz(func(t *testing.T, in []byte, raw bool) {
		var stream bytes.Buffer
		var sent []EchoArgs
		if raw {
			stream.Write(in)
		} else {
			enc := gob.NewEncoder(&stream)
			for i, b := range in {
				r := EchoArgs{N: i, Pad: strings.Repeat("y", int(b)*int(b))}
				enc.Encode(&rpc.Response{ServiceMethod: "Echo.Echo", Seq: uint64(i)})
				enc.Encode(&r)
				sent = append(sent, r)
			}
		}
		var fr frames
		dec := gob.NewDecoder(&fr)
		src := &piecewise{b: stream.Bytes(), cuts: in}
		for i := 0; ; i++ {
			if err := fr.fill(src); err != nil {
				if !raw && i != len(sent) {
					t.Fatalf("reply %d of %d: %v", i, len(sent), err)
				}
				return
			}
			var resp rpc.Response
			var r EchoArgs
			herr := dec.Decode(&resp)
			berr := dec.Decode(&r)
			if raw {
				fr.done()
				continue
			}
			if herr != nil || berr != nil || resp.Seq != uint64(i) || r.N != sent[i].N || r.Pad != sent[i].Pad {
				t.Fatalf("reply %d: seq %d, N %d, pad %d bytes, errors %v %v", i, resp.Seq, r.N, len(r.Pad), herr, berr)
			}
			if fr.off != fr.end {
				t.Fatalf("reply %d: the decoder stopped at %d, the reply ends at %d", i, fr.off, fr.end)
			}
			fr.done()
		}
	})
}

// piecewise reads b in pieces whose sizes come from cuts, then io.EOF.
type piecewise struct {
	b    []byte
	cuts []byte
	i    int
}

func (p *piecewise) Read(buf []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, errors.New("EOF")
	}
	n := len(buf)
	if len(p.cuts) > 0 {
		n = min(n, 1+int(p.cuts[p.i%len(p.cuts)]))
		p.i++
	}
	n = copy(buf, p.b[:min(n, len(p.b))])
	p.b = p.b[n:]
	return n, nil
}

// TestClientRedialsAfterRestart restarts the server while a call that
// gave up still has its reply to come: the connection is then read by a
// goroutine (as net/rpc's client's was), and as with net/rpc the first
// call after the restart may still go out before that goroutine sees the
// close. It fails as ErrUnavailable then, and the next one is redialled.
func TestClientRedialsAfterRestart(t *testing.T) {
	fm := newFakeMaster("gen1")
	srv1 := startRPC(t, "127.0.0.1:0", fm, nil)
	t.Cleanup(func() { close(fm.release) })
	m := MasterClient{C: newTestClient(t, srv1.addr)}
	abandonWait(t, m)
	srv1.kill()
	startRPC(t, srv1.addr, newFakeMaster("gen2"), nil)
	r, err := m.Status(ctxT(t, 10*time.Second))
	if err != nil {
		wantUnavailable(t, err)
		r, err = m.Status(ctxT(t, 10*time.Second))
	}
	if err != nil {
		t.Fatalf("second call after the restart: %v", err)
	}
	if len(r.Workers) != 1 || r.Workers[0].Name != "gen2" {
		t.Fatalf("call after the restart answered by %+v, want the new server", r.Workers)
	}
}

// TestClientRedialsAfterIdleClose has a Wait give up, its answer come
// while no call waits, and the server close the idle connection
// (GoRPCOptions.IdleTimeout): the next call must go out on a new
// connection. A reply no one reads would hide the close from the peek.
func TestClientRedialsAfterIdleClose(t *testing.T) {
	fm := newFakeMaster("gen1")
	stats := new(GoRPCStats)
	srv := startGoRPC(t, "127.0.0.1:0", fm, nil, GoRPCOptions{IdleTimeout: 200 * time.Millisecond, Stats: stats})
	m := MasterClient{C: newTestClient(t, srv.addr)}
	abandonWait(t, m)
	<-fm.waiting
	close(fm.release) // its answer comes while no call waits
	poll.Until(t, 10*time.Second, "the server to close the idle connection", func() bool { return stats.Idle.Load() != 0 })
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("first call after the idle close: %v", err)
	}
}

// abandonWait connects m, then makes a Wait for the fake master's
// blocking group give up after 50 ms: its answer is still to come.
func abandonWait(t *testing.T, m MasterClient) {
	t.Helper()
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := m.Wait(short, &WaitArgs{Group: "block"}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Wait that outlives its context = %v, want ErrUnavailable", err)
	}
}

// TestClientCallContext makes calls under a CallContext through Client:
// one ends when its parent is cancelled, one at its deadline, each
// promptly and as ErrUnavailable, with the connection kept; and while
// such a call reads, no goroutine watches its context (context.AfterFunc
// starts one for a Context type it does not know: one a call).
func TestClientCallContext(t *testing.T) {
	fm := newFakeMaster("gen1")
	srv := startRPC(t, "127.0.0.1:0", fm, nil)
	t.Cleanup(func() { close(fm.release) })
	m := MasterClient{C: newTestClient(t, srv.addr)}
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}

	parent, cancel := context.WithCancel(context.Background())
	cc := NewCallContext(parent, time.Minute)
	defer cc.Release()
	errc := make(chan error, 1)
	go func() {
		_, err := m.Wait(cc, &WaitArgs{Group: "block"})
		errc <- err
	}()
	<-fm.waiting // the call is in, and reads (it is the only one)
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "created by context.(*cancelCtx).propagateCancel") {
		t.Errorf("a goroutine watches the call's context:\n%s", stacks)
	}
	cancel()
	select {
	case err := <-errc:
		wantUnavailable(t, err, context.Canceled.Error())
	case <-time.After(5 * time.Second):
		t.Fatal("a call whose CallContext's parent was cancelled did not return")
	}

	cc = NewCallContext(context.Background(), 100*time.Millisecond)
	defer cc.Release()
	start := time.Now()
	_, err := m.Wait(cc, &WaitArgs{Group: "block"})
	wantUnavailable(t, err, context.DeadlineExceeded.Error())
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("a call with a 100ms CallContext returned after %v", took)
	}
	if _, err := m.Status(ctxT(t, 10*time.Second)); err != nil {
		t.Fatalf("Status after the calls that gave up: %v", err)
	}
}

// TestFramesGrowWithBytes has a node claim a message of almost 1 GiB and
// send 10 bytes of it: the buffer grows with what came, not with the
// claim.
func TestFramesGrowWithBytes(t *testing.T) {
	claim := []byte{0xFC, 0x3F, 0xFF, 0xFF, 0xFF} // gob uint 1<<30 - 1
	var f frames
	err := f.fill(&piecewise{b: append(claim, make([]byte, 10)...)})
	if err == nil {
		t.Fatal("fill found a whole reply in 15 bytes")
	}
	if c := cap(f.buf); c > 1<<20 {
		t.Fatalf("buffer of %d bytes for 15 that came", c)
	}
}
