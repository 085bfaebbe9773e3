package jobs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// checkpointLoop makes the spare segment and checkpoints sealed ones until
// Close.
func (s *BoltStore) checkpointLoop() {
	retry := time.Duration(0)
	idle := time.NewTicker(idleFlush / 2)
	defer idle.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		case <-idle.C:
			if err := s.flushIdle(); err != nil {
				s.signal() // the checkpoint after it reports, and retries
			}
			continue
		}
		s.makeSpare()
		err := s.checkpoint(false)
		if err == nil {
			retry = 0
			continue
		}
		retry = min(max(2*retry, 100*time.Millisecond), 5*time.Second)
		select {
		case <-s.stop:
			return
		case <-time.After(retry):
			s.signal()
		}
	}
}

// idleFlush is how long the log must be idle before flushIdle writes the
// current segment's records to the bbolt file.
var idleFlush = 2 * time.Second

// flushIdle writes the current segment's records to the bbolt file, and
// drops them from memory, once no Save came for idleFlush and no sealed
// segment waits for its checkpoint: an idle master holds none of its log
// in memory (up to a segment's 32 MiB otherwise, for good). The segment
// stays: when it fills, its checkpoint writes the records saved after
// this (and a crash replays it whole, writing the same records again).
// It runs in the checkpointer's goroutine, so that no checkpoint of an
// older segment can land after it.
func (s *BoltStore) flushIdle() error {
	s.mu.Lock()
	if s.closed || s.seg == nil || len(s.frozen) > 0 || s.mem.len() == 0 || time.Since(s.lastSave) < idleFlush {
		s.mu.Unlock()
		return nil
	}
	recs, seg := s.mem.slice(0), s.seg
	s.mu.Unlock()
	if err := s.checkpointRecs(latestRecords(recs), nil); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seg == seg { // else sealed meanwhile: its checkpoint writes them all
		s.mem, s.memIx = s.mem.from(len(recs)), logIndex{}
	}
	return nil
}

// makeSpare makes the next segment ahead of need, without holding mu
// while it writes the zeros.
func (s *BoltStore) makeSpare() {
	s.mu.Lock()
	if s.spare != nil || s.making || s.closed {
		s.mu.Unlock()
		return
	}
	num := s.nextNum
	s.nextNum++
	s.making = true
	s.mu.Unlock()
	seg, err := createSegment(s.logDir, num, walSegmentSize)
	if err == nil {
		// Before rotate can take it (it waits while making is set).
		s.recordMade(num)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.making = false
	s.caughtUp.Broadcast()
	if err != nil {
		// Nothing took a number meanwhile (rotate waits for the spare):
		// give it back, so that the numbers stay without a gap.
		if s.nextNum == num+1 {
			s.nextNum = num
		}
		return // rotate makes one itself
	}
	// Also when closed: drover.db names it, and Close removes it only
	// once the store is marked closed.
	s.spare = seg
}

// checkpoint writes the sealed generations to the bbolt file, oldest
// first, and deletes their segments. With all set, it first seals the
// current segment too, and the last transaction marks the store closed
// (Close).
func (s *BoltStore) checkpoint(all bool) error {
	if all {
		s.mu.Lock()
		if s.seg != nil {
			s.seal()
		}
		s.mu.Unlock()
	}
	for {
		s.mu.Lock()
		if len(s.frozen) == 0 {
			s.mu.Unlock()
			return nil
		}
		g := s.frozen[0]
		closing := all && len(s.frozen) == 1
		recs := g.recs.slice(0) // sorted below, while Load may read g
		s.mu.Unlock()

		// The state moves the log's start past g, before g goes: even a
		// segment without frames (sealed for a frame bigger than it)
		// must not leave drover.db naming a segment that is gone.
		st := &storeState{hw: g.hw, lsn: g.lsn, closed: closing, seg: g.num + 1, segKnown: true}
		err := s.checkpointRecs(latestRecords(recs), st)
		if err == nil {
			err = s.raiseHighWaterFile(g.hw)
		}
		if err == nil {
			err = os.Remove(filepath.Join(s.logDir, segmentName(g.num)))
			if errors.Is(err, os.ErrNotExist) {
				err = nil // gone at an earlier try
			}
		}
		if err == nil {
			// Segments go oldest first, each for good before the next:
			// what is left is always the newest ones.
			err = syncDir(s.logDir)
		}
		s.mu.Lock()
		s.ckErr = err
		if err == nil {
			s.frozen = slices.Delete(s.frozen, 0, 1)
		}
		s.caughtUp.Broadcast()
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// checkpointChunk bounds the records one bbolt transaction of a
// checkpoint writes: a transaction holds its values and dirty pages until
// its commit, tens of MiB for a whole segment.
var checkpointChunk = 16384

// checkpointHook, when set (tests), runs after each chunk but the last;
// an error from it fails the checkpoint there.
var checkpointHook func() error

// checkpointRecs writes a sealed segment's records, sorted, to the bbolt
// file in chunks, st with the last. A checkpoint cut between two chunks
// (a crash, an error) leaves the file with some of the segment's records
// and its state from before: the segment stays and is written again, as a
// whole, from the log (the records are the same), at the next try or the
// next start.
func (s *BoltStore) checkpointRecs(recs []Record, st *storeState) error {
	for len(recs) > checkpointChunk {
		if err := s.db.save(recs[:checkpointChunk], nil); err != nil {
			return err
		}
		recs = recs[checkpointChunk:]
		if checkpointHook != nil {
			if err := checkpointHook(); err != nil {
				return err
			}
		}
	}
	return s.db.save(recs, st)
}
