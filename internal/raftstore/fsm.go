package raftstore

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/drover/drover/jobs"
)

// Local is the master's store on one member's disk, which the member's
// state machine writes every committed entry into. The bolt store
// (jobs.OpenBolt) is one.
type Local interface {
	jobs.IndexedHistory
	jobs.MetaStore
	jobs.JointSaver
	jobs.MetaBucketLister
	jobs.LiveLoader
	jobs.HighWaterer
}

// fsm applies committed entries to the local store, on every member alike.
// Replaying an entry again is harmless: each replaces whole records by
// their keys, and a replay runs to the end of the log, so the entries after
// it replace again whatever it made older. That is why raft need not
// restore a snapshot at start (Config.NoSnapshotRestoreOnStart): the local
// store already holds everything up to the entries raft replays.
type fsm struct {
	local Local
	dir   string // where snapshots are exported before raft copies them

	mu     sync.Mutex // guards failed and warm
	failed error      // the local store failed: nothing more is applied
	warm   warm
	last   uint64 // the index of the last command entry applied (raft's AppliedIndex may run ahead)
	onFail func(error)
}

// Apply implements raft.FSM. It returns the entry's error: a bad entry is
// refused by every member alike; a local store that fails stops this
// member (onFail) rather than let it skip an entry.
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != nil {
		return f.failed
	}
	e, err := decodeEntry(l.Data)
	if err != nil {
		return err
	}
	switch e.kind {
	case entrySave:
		err = f.local.Save(e.recs)
	case entryMetas:
		err = f.local.SaveMetas(e.metas)
	case entrySaveMetas:
		err = f.local.SaveWithMetas(e.recs, e.metas) // one local transaction
	case entryDelete:
		err = f.local.Delete(e.seqs)
	}
	if err != nil {
		f.failed = fmt.Errorf("raftstore: entry %d: local store: %w", l.Index, err)
		f.warm = warm{}
		go f.onFail(f.failed)
		return f.failed
	}
	f.warm.save(e.recs)
	f.warm.remove(e.seqs)
	f.last = l.Index
	return nil
}

// rewarm keeps the live jobs decoded again (warm), unless they are kept.
func (f *fsm) rewarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.warm.on && f.failed == nil {
		f.warm.fill(f.local)
	}
}

// takeLive hands the live jobs kept over (warm.take).
func (f *fsm) takeLive() ([]*jobs.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.warm.take()
}

// Snapshot implements raft.FSM: it exports the local store to a file
// while raft holds back the next entries, and raft copies that file into
// its snapshot store afterwards.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	tmp, err := os.CreateTemp(f.dir, "export-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("raftstore: snapshot: %w", err)
	}
	w := bufio.NewWriterSize(tmp, 1<<16)
	err = export(f.local, w)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("raftstore: snapshot: %w", err)
	}
	return &fileSnapshot{f: tmp}, nil
}

// Restore implements raft.FSM: the local store becomes the snapshot's
// content. A mark in the store says a restore is under way, so that a
// crash in the middle is finished at the next start (Open).
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	err := restore(f.local, rc)
	if f.warm.on {
		f.warm.fill(f.local) // kept whole, or says why not
	}
	return err
}

// fileSnapshot is an exported store waiting for raft to copy it.
type fileSnapshot struct{ f *os.File }

// Persist implements raft.FSMSnapshot.
func (s *fileSnapshot) Persist(sink raft.SnapshotSink) error {
	_, err := s.f.Seek(0, io.SeekStart)
	if err == nil {
		_, err = io.Copy(sink, bufio.NewReaderSize(s.f, 1<<16))
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("raftstore: snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fileSnapshot) Release() {
	s.f.Close()
	os.Remove(s.f.Name())
}
