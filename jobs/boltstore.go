package jobs

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// LogDir is the name of the write-ahead log's directory inside a data
// directory.
const LogDir = "wal"

// maxFrozen bounds the sealed log segments waiting for a checkpoint; a
// Save beyond it fails, saying why the checkpoints fail.
const maxFrozen = 4

// BoltStore is the default Store: a bbolt file in a data directory with a
// write-ahead log beside it. Save appends its batch to the log as one frame
// and returns after one fdatasync, so a commit costs one sequential write
// however many jobs it holds. When a log segment is full, a checkpointer
// writes the latest record of each job in it to the bbolt file, sorted, in
// one transaction, and then deletes the segment: a job submitted and
// finished within one segment reaches the file once. OpenBolt replays the
// segments a crash left behind; Close checkpoints everything.
type BoltStore struct {
	db     *boltDB
	logDir string

	mu      sync.Mutex // guards the fields below; Save holds it while it writes
	seg     *segment
	mem     []Record      // the records in seg, in the order saved
	frozen  []*generation // sealed segments waiting for a checkpoint, oldest first
	spare   *segment      // the next segment, made ahead by the checkpointer
	nextNum uint64        // the number of the next segment to make
	ckErr   error         // the last checkpoint's error, nil after a success
	closed  bool
	// caughtUp is signalled when a checkpoint ends (and at Close).
	caughtUp sync.Cond

	kick chan struct{} // wakes the checkpointer
	stop chan struct{}
	wg   sync.WaitGroup
}

// generation is the content of one sealed segment.
type generation struct {
	recs []Record // in the order saved
	num  uint64
}

// OpenBolt opens (creating if needed) the store in dir, replaying a log a
// crash left. It fails after one second if another process holds the
// store.
func OpenBolt(dir string) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("jobs: data dir: %w", err)
	}
	db, err := openBoltDB(dir) // holds the lock on dir from here on
	if err != nil {
		return nil, err
	}
	s := &BoltStore{db: db, logDir: filepath.Join(dir, LogDir),
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	s.caughtUp.L = &s.mu
	if err := s.replay(); err != nil {
		db.close()
		return nil, err
	}
	if s.seg, err = createSegment(s.logDir, s.nextNum, walSegmentSize); err != nil {
		db.close()
		return nil, err
	}
	s.nextNum++
	s.wg.Go(s.checkpointLoop)
	s.signal()
	return s, nil
}

// replay writes the records of the segments in the log directory to the
// bbolt file (later ones win) and deletes the segments.
func (s *BoltStore) replay() error {
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return fmt.Errorf("jobs: log dir: %w", err)
	}
	nums, err := listSegments(s.logDir)
	if err != nil {
		return err
	}
	var recs []Record
	for _, num := range nums {
		if err := readSegment(s.logDir, num, func(seq uint64, data []byte) { recs = append(recs, Record{seq, data}) }); err != nil {
			return err
		}
		s.nextNum = num + 1
	}
	if len(recs) > 0 {
		if err := s.db.save(latestRecords(recs)); err != nil {
			return fmt.Errorf("jobs: replaying the log: %w", err)
		}
	}
	for _, num := range nums {
		if err := os.Remove(filepath.Join(s.logDir, segmentName(num))); err != nil {
			return fmt.Errorf("jobs: log: %w", err)
		}
	}
	return syncDir(s.logDir)
}

// latestRecords sorts recs (in the order saved) by Seq in place and keeps
// the last saved record of each Seq.
func latestRecords(recs []Record) []Record {
	slices.SortStableFunc(recs, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	out := recs[:0]
	for i, r := range recs {
		if i+1 < len(recs) && recs[i+1].Seq == r.Seq {
			continue // a later record of the same job follows
		}
		out = append(out, r)
	}
	clear(recs[len(out):])
	return out
}

// Save implements Store.
func (s *BoltStore) Save(batch []Record) error {
	n := frameHeader + 10
	for _, r := range batch {
		if len(r.Data) == 0 {
			return fmt.Errorf("%w: seq %d", ErrEmptyRecord, r.Seq)
		}
		n += len(r.Data) + 20
	}
	// A new buffer each time: the records in it stay in mem until their
	// checkpoint.
	frame := appendFrameBody(make([]byte, frameHeader, n), batch)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Sealed segments pile up when checkpoints fall behind: wait for them,
	// unless they fail.
	for len(s.frozen) >= maxFrozen && s.ckErr == nil && !s.closed {
		s.caughtUp.Wait()
	}
	switch {
	case s.closed:
		return ErrClosed
	case len(batch) == 0:
		return nil
	case len(s.frozen) >= maxFrozen:
		return fmt.Errorf("jobs: save: %d log segments wait for a checkpoint to the store file, which fails: %v", len(s.frozen), s.ckErr)
	}
	if !s.seg.room(len(frame)) {
		if err := s.rotate(len(frame)); err != nil {
			return err
		}
	}
	if err := s.seg.appendFrame(frame); err != nil {
		// The frame may be on disk, whole or in part: unmark it (if the
		// disk still takes writes) and write nothing after it.
		s.seg.f.WriteAt(make([]byte, frameHeader), s.seg.off)
		s.seg.size = s.seg.off
		return fmt.Errorf("jobs: save: log: %w", err)
	}
	body := frame[frameHeader:]
	_, k := binary.Uvarint(body)
	for _, r := range batch {
		_, a := binary.Uvarint(body[k:])
		_, b := binary.Uvarint(body[k+a:])
		k += a + b
		s.mem = append(s.mem, Record{Seq: r.Seq, Data: body[k : k+len(r.Data) : k+len(r.Data)]})
		k += len(r.Data)
	}
	return nil
}

// rotate seals the current segment for the checkpointer and starts the
// next one, big enough for a frame of need bytes. The caller holds mu.
func (s *BoltStore) rotate(need int) error {
	size := max(walSegmentSize, int64(walHeaderSize+need))
	next := s.spare
	if next == nil || next.size < size {
		var err error
		if next, err = createSegment(s.logDir, s.nextNum, size); err != nil {
			return err
		}
		s.nextNum++
	} else {
		s.spare = nil
	}
	n := len(s.mem)
	s.seal()
	s.seg, s.mem = next, make([]Record, 0, n)
	s.signal()
	return nil
}

// seal closes the current segment and queues its records for a
// checkpoint. The caller holds mu.
func (s *BoltStore) seal() {
	s.seg.f.Close()
	s.frozen = append(s.frozen, &generation{recs: s.mem, num: s.seg.num})
	s.seg, s.mem = nil, nil
}

func (s *BoltStore) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// checkpointLoop makes the spare segment and checkpoints sealed ones until
// Close.
func (s *BoltStore) checkpointLoop() {
	retry := time.Duration(0)
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
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

// makeSpare makes the next segment ahead of need, without holding mu
// while it writes the zeros.
func (s *BoltStore) makeSpare() {
	s.mu.Lock()
	if s.spare != nil || s.closed {
		s.mu.Unlock()
		return
	}
	num := s.nextNum
	s.nextNum++
	s.mu.Unlock()
	seg, err := createSegment(s.logDir, num, walSegmentSize)
	if err != nil {
		return // rotate makes one itself
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spare != nil || s.closed {
		seg.f.Close()
		os.Remove(filepath.Join(s.logDir, segmentName(num)))
		return
	}
	s.spare = seg
}

// checkpoint writes the sealed generations to the bbolt file, oldest
// first, and deletes their segments. With all set, it first seals the
// current segment too (Close).
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
		recs := slices.Clone(g.recs) // sorted below, while Load may read g
		s.mu.Unlock()

		err := s.db.save(latestRecords(recs))
		if err == nil {
			err = os.Remove(filepath.Join(s.logDir, segmentName(g.num)))
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

// Load implements Store.
func (s *BoltStore) Load(fn func(seq uint64, data []byte) error) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	// Records in the log, newest last; the slices are never written again.
	overlay := make(map[uint64][]byte)
	for _, g := range s.frozen {
		for _, r := range g.recs {
			overlay[r.Seq] = r.Data
		}
	}
	for _, r := range s.mem {
		overlay[r.Seq] = r.Data
	}
	s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(overlay))
	i := 0
	err := s.db.load(func(seq uint64, data []byte) error {
		for ; i < len(keys) && keys[i] < seq; i++ {
			if err := fn(keys[i], overlay[keys[i]]); err != nil {
				return err
			}
		}
		if i < len(keys) && keys[i] == seq {
			i++
			return fn(seq, overlay[seq])
		}
		return fn(seq, data)
	})
	if err != nil {
		return err
	}
	for ; i < len(keys); i++ {
		if err := fn(keys[i], overlay[keys[i]]); err != nil {
			return err
		}
	}
	return nil
}

// Close implements Store: it writes everything in the log to the bbolt
// file and closes both. If that last checkpoint fails, the log stays and
// the next OpenBolt replays it. It is safe to call more than once.
func (s *BoltStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.caughtUp.Broadcast()
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	err := s.checkpoint(true)
	s.mu.Lock()
	if s.spare != nil {
		s.spare.f.Close()
		os.Remove(filepath.Join(s.logDir, segmentName(s.spare.num)))
		s.spare = nil
	}
	s.mu.Unlock()
	return errors.Join(err, s.db.close())
}

// LoadMeta implements MetaStore.
func (s *BoltStore) LoadMeta(bucket string, fn func(key string, val []byte) error) error {
	return s.db.loadMeta(bucket, fn)
}

// SaveMeta implements MetaStore.
func (s *BoltStore) SaveMeta(bucket, key string, val []byte) error {
	return s.db.saveMeta(bucket, key, val)
}
