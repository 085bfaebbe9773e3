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
//
// OpenBolt checks the data dir first and refuses one that lost anything
// acknowledged, with an error wrapping ErrCorrupt (see CorruptError); the
// one damage a crash leaves, a torn last frame, it drops and reports in
// Recovery. The store keeps a high-water mark, the highest Seq ever saved
// (HighWater), in the log's frames and in the bbolt file, and in the file
// wal/highwater a reservation at or above every Seq ever acknowledged
// (written before the frame that needs it, see reserve), so that a master
// never hands out a job ID twice, even when log frames are lost.
type BoltStore struct {
	db       *boltDB
	logDir   string
	recovery Recovery

	mu  sync.Mutex // guards the fields below; Save holds it while it writes
	seg *segment
	mem recList // the records in seg, in the order saved
	// lastSave is when the last Save wrote; flushIdle drops mem's records
	// once the log has been idle for idleFlush.
	lastSave time.Time
	memIx    logIndex      // mem's index for reads (overlay.go)
	frozen   []*generation // sealed segments waiting for a checkpoint, oldest first
	spare    *segment      // the next segment, made ahead by the checkpointer
	making   bool          // the checkpointer is making the spare
	nextNum  uint64        // the number of the next segment to make
	lsn      uint64        // the LSN of the last frame written
	hw       uint64        // the highest Seq ever saved (after a crash: the reservation)
	reserved uint64        // what wal/highwater holds: at or above hw, and above every Seq in a frame
	ckErr    error         // the last checkpoint's error, nil after a success
	closed   bool
	// caughtUp is signalled when a checkpoint ends, when a spare is made,
	// and at Close.
	caughtUp sync.Cond

	kick chan struct{} // wakes the checkpointer
	stop chan struct{}
	wg   sync.WaitGroup
}

// generation is the content of one sealed segment.
type generation struct {
	recs    recList  // in the order saved
	ix      logIndex // recs' index for reads (overlay.go)
	num     uint64
	lsn, hw uint64 // of its last frame (0 if it has none)
}

// BoltOptions are OpenBoltWith's options.
type BoltOptions struct {
	// Logf, if set, gets a line for each thing OpenBolt recovered from
	// (a torn tail dropped, a log replayed, a torn bbolt meta page); the
	// same facts are in Recovery. logrus's Warnf fits.
	Logf func(format string, args ...any)
}

// OpenBolt opens (creating if needed) the store in dir, replaying a log a
// crash left. It fails after one second if another process holds the
// store, and with an error wrapping ErrCorrupt if the data dir is damaged.
func OpenBolt(dir string) (*BoltStore, error) { return OpenBoltWith(dir, BoltOptions{}) }

// HighWaterFile is the name of the file in the log directory that keeps a
// copy of the high-water mark, for when drover.db is lost.
const HighWaterFile = "highwater"

// Recovery returns what OpenBolt found and did.
func (s *BoltStore) Recovery() Recovery { return s.recovery }

// HighWater implements HighWaterer: the highest Seq ever saved in this
// data dir, including jobs whose records were lost. After a stop that was
// not a clean Close it is the reservation wal/highwater holds (above
// every Seq acknowledged, even of log frames since lost), so that new
// jobs are numbered above it; while the store runs, it is the highest Seq
// saved.
func (s *BoltStore) HighWater() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hw
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
	n := frameHeader + frameMeta + 10
	var top uint64
	for _, r := range batch {
		if len(r.Data) == 0 {
			return fmt.Errorf("%w: seq %d", ErrEmptyRecord, r.Seq)
		}
		n += len(r.Data) + 20
		top = max(top, r.Seq)
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
	// No frame holds a Seq wal/highwater does not cover: a frame lost
	// later does not take the mark with it.
	if err := s.reserve(top, len(batch)); err != nil {
		return err
	}
	// The LSN counts frames written; one that fails does not count (a
	// retry takes its LSN). The high-water mark only grows.
	s.hw = max(s.hw, top)
	binary.LittleEndian.PutUint64(frame[frameHeader:], s.lsn+1)
	binary.LittleEndian.PutUint64(frame[frameHeader+8:], s.hw)
	if err := s.seg.appendFrame(frame); err != nil {
		// The frame may be on disk, whole or in part: zero it (if the
		// disk still takes writes), so that the segment ends cleanly, and
		// write nothing after it.
		s.seg.f.WriteAt(make([]byte, len(frame)), s.seg.off)
		fdatasync(s.seg.f)
		s.seg.size = s.seg.off
		return fmt.Errorf("jobs: save: log: %w", err)
	}
	s.lsn++
	s.lastSave = time.Now()
	body := frame[frameHeader+frameMeta:]
	_, k := binary.Uvarint(body)
	for _, r := range batch {
		_, a := binary.Uvarint(body[k:])
		_, b := binary.Uvarint(body[k+a:])
		k += a + b
		s.mem.add(Record{Seq: r.Seq, Data: body[k : k+len(r.Data) : k+len(r.Data)]})
		k += len(r.Data)
	}
	return nil
}

// rotate seals the current segment for the checkpointer and starts the
// next one, big enough for a frame of need bytes. The caller holds mu.
// Segments are used in the order of their numbers: rotate waits for a
// spare being made, and makes a bigger one under the spare's number.
func (s *BoltStore) rotate(need int) error {
	for s.spare == nil && s.making && !s.closed {
		s.caughtUp.Wait()
	}
	if s.closed {
		return ErrClosed
	}
	size := max(walSegmentSize, int64(walHeaderSize+need))
	next := s.spare
	switch {
	case next == nil:
		var err error
		if next, err = createSegment(s.logDir, s.nextNum, size); err != nil {
			return err
		}
		// No spare was ready: this is the one write of drover.db on the
		// path of a Save, once per segment at most (walmade.go).
		s.recordMade(next.num)
		s.nextNum++
	case next.size < size:
		big, err := createSegment(s.logDir, next.num, size) // replaces the spare's file
		if err != nil {
			return err
		}
		next.f.Close()
		next = big
	}
	s.spare = nil
	s.seal()
	s.seg = next
	s.signal()
	return nil
}

// seal closes the current segment and queues its records for a
// checkpoint. The caller holds mu.
func (s *BoltStore) seal() {
	s.seg.f.Close()
	s.frozen = append(s.frozen, &generation{recs: s.mem, ix: s.memIx, num: s.seg.num, lsn: s.seg.lastLSN, hw: s.seg.hw})
	s.seg, s.mem, s.memIx = nil, recList{}, logIndex{}
}

func (s *BoltStore) signal() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Load implements Store.
func (s *BoltStore) Load(each func(seq uint64, data []byte) error) error {
	return s.loadMerged(s.db.load, each)
}

// loadMerged calls each, in Seq order, for the records of the log (each
// job's latest) merged with those fromDB reads of drover.db, the log's
// winning; deleted jobs' tombstones are skipped.
func (s *BoltStore) loadMerged(fromDB func(func(uint64, []byte) error) error, each func(seq uint64, data []byte) error) error {
	fn := func(seq uint64, data []byte) error {
		if isTombstone(data) { // deleted after its record reached the file
			return nil
		}
		return each(seq, data)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	// Records in the log, newest last; the slices are never written again.
	overlay := make(map[uint64][]byte)
	for _, g := range s.frozen {
		for i := range g.recs.len() {
			r := g.recs.at(i)
			overlay[r.Seq] = r.Data
		}
	}
	for i := range s.mem.len() {
		r := s.mem.at(i)
		overlay[r.Seq] = r.Data
	}
	s.mu.Unlock()
	keys := slices.Sorted(maps.Keys(overlay))
	i := 0
	err := fromDB(func(seq uint64, data []byte) error {
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
	if err == nil {
		s.lowerHighWaterFile()
	}
	s.mu.Lock()
	if s.spare != nil {
		// drover.db names the spare as made: it goes only once the
		// store is marked closed, else the next start misses it.
		s.spare.f.Close()
		if err == nil {
			os.Remove(filepath.Join(s.logDir, segmentName(s.spare.num)))
		}
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

// GetMeta implements MetaStore.
func (s *BoltStore) GetMeta(bucket, key string) ([]byte, error) { return s.db.getMeta(bucket, key) }

// SaveMetas implements MetaStore.
func (s *BoltStore) SaveMetas(recs []MetaRecord) error { return s.db.saveMetas(recs) }

// SaveWithMetas implements JointSaver. The new jobs of batch do not go
// through the log: they and metas are written to drover.db in one
// transaction (one fsync), with the high-water mark. No log frame holds
// an earlier record of their Seqs (JointSaver's rule), so neither a
// checkpoint nor the replay after a crash writes over them; a later Save
// of the same Seq goes to the log, which reads and the replay prefer.
func (s *BoltStore) SaveWithMetas(batch []Record, metas []MetaRecord) error {
	switch {
	case len(metas) == 0:
		return s.Save(batch)
	case len(batch) == 0:
		return s.SaveMetas(metas)
	}
	for _, r := range batch {
		if len(r.Data) == 0 {
			return fmt.Errorf("%w: seq %d", ErrEmptyRecord, r.Seq)
		}
	}
	recs := latestRecords(slices.Clone(batch))
	top := recs[len(recs)-1].Seq
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// As for a frame: wal/highwater covers every Seq before it is written.
	if err := s.reserve(top, len(recs)); err != nil {
		return err
	}
	if err := s.db.saveWith(recs, metas, &storeState{hw: top}); err != nil {
		return err
	}
	s.hw = max(s.hw, top)
	return nil
}

// RangeMeta implements MetaStore.
func (s *BoltStore) RangeMeta(bucket, from string, desc bool, fn func(key string, val []byte) bool) error {
	return s.db.rangeMeta(bucket, from, desc, fn)
}

// MetaBuckets implements MetaBucketLister.
func (s *BoltStore) MetaBuckets() ([]string, error) { return s.db.metaBuckets() }
