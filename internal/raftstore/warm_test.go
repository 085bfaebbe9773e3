package raftstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/drover/drover/internal/poll"
	"github.com/drover/drover/jobs"
)

// jobRecord is the record of a job seq in state s, marked with v.
func jobRecord(seq uint64, s jobs.State, v int) jobs.Record {
	at := time.Unix(1700000000, 0).UTC()
	j := &jobs.Job{Seq: seq, ID: strconv.FormatUint(seq, 10), State: s, Submitted: at, Updated: at.Add(time.Duration(v) * time.Second),
		Spec: jobs.Spec{Type: "crawl", Args: map[string]string{"v": strconv.Itoa(v)}}}
	if s == jobs.Running {
		j.Worker, j.Attempt = "w1", 1
	}
	return jobs.Record{Seq: seq, Data: j.AppendRecord(nil)}
}

// applied waits until mb's state machine has applied every command entry
// the leader l's has (raft's AppliedIndex counts entries handed to the
// state machine, which may not have applied them yet).
func applied(t *testing.T, l, mb *member) {
	t.Helper()
	last := func(mb *member) uint64 {
		mb.node.fsm.mu.Lock()
		defer mb.node.fsm.mu.Unlock()
		return mb.node.fsm.last
	}
	want := last(l)
	poll.Until(t, 10*time.Second, mb.id+" applies every entry", func() bool { return last(mb) >= want })
}

// checkWarm takes mb's kept live jobs and compares them with model (the
// latest record of every live job); then it keeps them again.
func checkWarm(t *testing.T, mb *member, model map[uint64][]byte, when string) {
	t.Helper()
	got, err := mb.node.Store().TakeLive()
	if err != nil {
		t.Fatalf("%s: %s: TakeLive: %v", when, mb.id, err)
	}
	seqs := slices.Sorted(func(yield func(uint64) bool) {
		for q := range model {
			if !yield(q) {
				return
			}
		}
	})
	if len(got) != len(seqs) {
		var have []uint64
		for _, j := range got {
			have = append(have, j.Seq)
		}
		var disk []uint64
		mb.local.LoadLive(func(q uint64, d []byte) error {
			if jobs.IsLive(d) {
				disk = append(disk, q)
			}
			return nil
		})
		t.Fatalf("%s: %s keeps live jobs %v, want %v; its store %v", when, mb.id, have, seqs, disk)
	}
	for i, q := range seqs {
		want, err := jobs.DecodeRecord(model[q])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got[i], want) {
			t.Fatalf("%s: %s keeps job %d as %+v, want %+v", when, mb.id, q, got[i], want)
		}
	}
	// Taken once: the member keeps none until it is told to again.
	if _, err := mb.node.Store().TakeLive(); !errors.Is(err, jobs.ErrNotWarm) {
		t.Fatalf("%s: %s: second TakeLive: %v, want ErrNotWarm", when, mb.id, err)
	}
	mb.node.Rewarm()
}

// TestFollowersKeepLiveJobsWarm: a seeded random run of saves (live and
// final records, joint writes) and deletes through the leader, with
// members killed and restarted and one restored from a snapshot; at every
// check, each follower's kept live jobs are exactly the model's, and so
// are those of a member elected after the leader dies.
func TestFollowersKeepLiveJobsWarm(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("DROVER_WARM_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (DROVER_WARM_SEED=%d repeats it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	g, ms := group(t, 3)
	model := map[uint64][]byte{}
	states := []jobs.State{jobs.Pending, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled}
	hi := uint64(40) // the Seqs saved so far are at most hi
	randomRecords := func(v int) []jobs.Record {
		var recs []jobs.Record
		for range 1 + rng.IntN(6) {
			recs = append(recs, jobRecord(1+rng.Uint64N(hi), states[rng.IntN(len(states))], v))
		}
		return recs
	}
	note := func(recs []jobs.Record) {
		for _, r := range recs {
			if jobs.IsLive(r.Data) {
				model[r.Seq] = r.Data
			} else {
				delete(model, r.Seq)
			}
		}
	}
	followers := func(l *member) []*member {
		var out []*member
		for _, mb := range g {
			if mb != l && mb.node != nil {
				out = append(out, mb)
			}
		}
		return out
	}
	for step := range 120 {
		switch op := rng.IntN(10); {
		case op < 6:
			recs := randomRecords(step)
			write(t, g, func(st *Store) error { return st.Save(recs) })
			note(recs)
		case op < 8: // a fire: new jobs only (jobs.JointSaver)
			var recs []jobs.Record
			for range 1 + rng.IntN(2) {
				hi++
				recs = append(recs, jobRecord(hi, states[rng.IntN(len(states))], step))
			}
			write(t, g, func(st *Store) error {
				return st.SaveWithMetas(recs, []jobs.MetaRecord{{Bucket: "sched", Key: "k", Val: []byte(fmt.Sprint(step))}})
			})
			note(recs)
		default:
			seqs := []uint64{1 + rng.Uint64N(hi), 1 + rng.Uint64N(hi)}
			write(t, g, func(st *Store) error { return st.Delete(seqs) })
			for _, q := range seqs {
				delete(model, q)
			}
		}
		if step%15 != 14 {
			continue
		}
		l := leader(t, g)
		for _, f := range followers(l) {
			applied(t, l, f)
			checkWarm(t, f, model, fmt.Sprintf("step %d", step))
		}
		switch rng.IntN(3) {
		case 0: // the leader dies; the member elected takes what it kept
			l.stop()
			nl := leader(t, g)
			if err := nl.node.Barrier(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			checkWarm(t, nl, model, fmt.Sprintf("step %d, elected", step))
			l.start(t, ms) // back as a follower: it keeps its live jobs from its store
		case 1: // a follower restarts
			f := followers(l)[rng.IntN(2)]
			f.stop()
			f.start(t, ms)
		}
	}
	// A member that lost its disk is restored from a snapshot and keeps
	// the snapshot's live jobs.
	l := leader(t, g)
	for _, mb := range g {
		if err := mb.node.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			t.Fatal(err)
		}
	}
	f := followers(l)[0]
	f.stop()
	f.dir = t.TempDir()
	for range 10 {
		hi++
		recs := []jobs.Record{jobRecord(hi, jobs.Pending, 999)}
		l = write(t, g, func(st *Store) error { return st.Save(recs) })
		note(recs)
	}
	f.start(t, ms)
	applied(t, l, f)
	if st := f.node.raft.Stats(); st["last_snapshot_index"] == "0" {
		t.Fatalf("the new member caught up from the log, not from a snapshot: %v", st)
	}
	checkWarm(t, f, model, "restored from a snapshot")
}

// TestWarmRecordThatDoesNotDecode: a live record that does not decode
// makes the kept jobs not whole; the take says so, and the store still
// has the record for the master's load to report.
func TestWarmRecordThatDoesNotDecode(t *testing.T) {
	g, _ := group(t, 3)
	l := write(t, g, func(st *Store) error {
		return st.Save([]jobs.Record{jobRecord(1, jobs.Pending, 1), rec(2, "not a record")})
	})
	for _, mb := range g {
		if mb == l {
			continue
		}
		applied(t, l, mb)
		_, err := mb.node.Store().TakeLive()
		if err == nil || errors.Is(err, jobs.ErrNotWarm) {
			t.Fatalf("%s: TakeLive with a damaged live record: %v, want an error naming it", mb.id, err)
		}
		if n := countLive(t, mb.local); n != 2 {
			t.Fatalf("%s: %d live records in its store, want 2", mb.id, n)
		}
	}
}

func countLive(t *testing.T, s Local) int {
	n := 0
	if err := s.LoadLive(func(uint64, []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWarmAgainstAModel drives warm alone, seeded: saves of live and
// final records, deletes and ticks in any order; every take hands over
// exactly the latest record of each live job, whether it was decoded at
// a tick or at the take.
func TestWarmAgainstAModel(t *testing.T) {
	local, err := jobs.OpenBolt(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	states := []jobs.State{jobs.Pending, jobs.Running, jobs.Succeeded, jobs.Failed, jobs.Cancelled}
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 3))
		var w warm
		w.fill(local)
		model := map[uint64][]byte{}
		for step := range 60 {
			switch op := rng.IntN(10); {
			case op < 6:
				var recs []jobs.Record
				for range 1 + rng.IntN(4) {
					recs = append(recs, jobRecord(1+rng.Uint64N(12), states[rng.IntN(len(states))], step))
				}
				w.save(recs)
				for _, r := range recs {
					if jobs.IsLive(r.Data) {
						model[r.Seq] = r.Data
					} else {
						delete(model, r.Seq)
					}
				}
			case op < 7:
				q := 1 + rng.Uint64N(12)
				w.remove([]uint64{q})
				delete(model, q)
			case op < 9:
				w.tick()
			default:
				got, err := w.take()
				if err != nil {
					t.Fatalf("seed %d step %d: take: %v", seed, step, err)
				}
				if len(got) != len(model) {
					t.Fatalf("seed %d step %d: took %d jobs, want %d", seed, step, len(got), len(model))
				}
				for i, j := range got {
					want, _ := jobs.DecodeRecord(model[j.Seq])
					if i > 0 && got[i-1].Seq >= j.Seq || !reflect.DeepEqual(j, want) {
						t.Fatalf("seed %d step %d: took %+v (index %d), want %+v in Seq order", seed, step, j, i, want)
					}
				}
				// Nothing is kept after a take, until the next fill.
				w.save([]jobs.Record{jobRecord(99, jobs.Pending, step)})
				w.tick()
				if _, err := w.take(); !errors.Is(err, jobs.ErrNotWarm) {
					t.Fatalf("seed %d: second take: %v", seed, err)
				}
				w.fill(local) // the store is empty: so is the model
				clear(model)
			}
		}
	}
}
