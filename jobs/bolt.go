package jobs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	jobsBucket = []byte("jobs")
	// storeBucket holds the store's own state (stateKey): the high-water
	// mark, the last LSN checkpointed, and whether Close ran.
	storeBucket = []byte("store")
	stateKey    = []byte("state")
)

// BoltFile is the name of the store file inside a data directory.
const BoltFile = "drover.db"

// initialMmap is the size of the bbolt file's first memory map.
const initialMmap = 1 << 30

// A job's value in the bbolt file is an envelope: boltRecV2, the CRC-32C
// of the key and the record (4 bytes, little-endian), then the record
// (AppendRecord). bbolt keeps no checksums of its own, so a damaged byte
// of a record would otherwise load as a different job. Values written by
// an older drover are bare records (recordV1 or JSON) and still load.
const (
	boltRecV2      = 0xD5
	boltRecHeader  = 5
	boltStateV1    = 1
	boltStateSize  = 1 + 8 + 8 + 1 + 4
	boltStateV2    = 2
	boltStateSize2 = boltStateSize + 8
	boltStateV3    = 3
	boltStateSize3 = boltStateSize2 + 8
	stateFlagClose = 1
)

// boltDB is the bbolt file under a BoltStore: every save is one fsynced
// transaction.
type boltDB struct {
	db      *bolt.DB
	path    string
	indexed atomic.Bool // the index bucket is whole (index.go)
}

// errLocked is wrapped by the error for a data dir another process holds.
var errLocked = errors.New("locked by another process")

func lockedError(path string) error {
	return fmt.Errorf("jobs: open %s: %w (is a master already running on this data dir?)", path, errLocked)
}

// openBoltDB opens (creating if needed) the bbolt file in dir. It fails
// after one second if another process holds the file.
func openBoltDB(dir string) (*boltDB, error) {
	path := filepath.Join(dir, BoltFile)
	// A large first mapping (address space, not memory) spares the big
	// checkpoint transactions bbolt's remapping as the file grows, which
	// copies every node the transaction holds.
	var db *bolt.DB
	err := guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, InitialMmapSize: initialMmap})
		return err
	})
	if err != nil {
		if err == bolt.ErrTimeout {
			return nil, lockedError(path)
		}
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("jobs: open %s: %w", path, err)
	}
	return &boltDB{db: db, path: path}, nil
}

// probeBolt opens the bbolt file at path read-only, which takes a shared
// lock: it fails after a second if a master holds the file. The caller
// closes db; it is nil when bbolt could not open the file for another
// reason, which err then is (a file it cannot open no master holds
// either).
func probeBolt(path string) (db *bolt.DB, err error) {
	err = guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		return err
	})
	if err == bolt.ErrTimeout {
		return nil, lockedError(path)
	}
	if err != nil {
		return nil, err
	}
	return db, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// appendEnvelope appends the stored value of record data for seq to b.
func appendEnvelope(b []byte, seq uint64, data []byte) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	sum := crc32.Update(crc32.Checksum(k[:], crcTable), crcTable, data)
	b = append(b, boltRecV2, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(b[len(b)-4:], sum)
	return append(b, data...)
}

// openEnvelope returns the record in a stored value v of key, and whether
// its checksum matches. A bare record (from an older drover) is returned
// as it is.
func openEnvelope(key, v []byte) ([]byte, bool) {
	if len(v) == 0 || v[0] != boltRecV2 {
		return v, true
	}
	if len(v) <= boltRecHeader {
		return nil, false
	}
	sum := crc32.Update(crc32.Checksum(key, crcTable), crcTable, v[boltRecHeader:])
	return v[boltRecHeader:], sum == binary.LittleEndian.Uint32(v[1:])
}

// storeState is the store's record in storeBucket: the high-water mark,
// the last LSN checkpointed, whether Close wrote it, the number of the
// log segment the log goes on in (seg, when segKnown): the one after the
// last segment checkpointed, or the one OpenBolt made, and the highest
// segment made (made, when madeKnown). While the store is not closed
// every segment from seg to made exists: seg is there, so a log whose
// segments start after it lost its oldest ones, even when the segments
// left hold no frame (a spare made ahead) to show an LSN gap; and no
// segment gets a frame before drover.db names it in made (walmade.go),
// so a log that ends before made lost its newest ones.
//
// Encoded: a version byte, hw and lsn (uint64, little-endian), a flags
// byte, for version 2 seg (uint64), for version 3 seg and made, then the
// CRC-32C of what precedes. Versions 1 (without seg) and 2 (without
// made) are an older drover's: they still read (segKnown, madeKnown
// false), and the next state written is version 3.
type storeState struct {
	hw, lsn   uint64
	closed    bool
	seg       uint64
	segKnown  bool
	made      uint64
	madeKnown bool
}

func (st storeState) encode() []byte {
	b := make([]byte, boltStateSize, boltStateSize3)
	b[0] = boltStateV1
	binary.LittleEndian.PutUint64(b[1:], st.hw)
	binary.LittleEndian.PutUint64(b[9:], st.lsn)
	if st.closed {
		b[17] = stateFlagClose
	}
	b = b[:18]
	switch {
	case st.madeKnown:
		b[0] = boltStateV3
		b = binary.LittleEndian.AppendUint64(b, st.seg)
		b = binary.LittleEndian.AppendUint64(b, st.made)
	case st.segKnown:
		b[0] = boltStateV2
		b = binary.LittleEndian.AppendUint64(b, st.seg)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

func decodeState(b []byte) (storeState, bool) {
	n := len(b) - 4
	switch {
	case len(b) == boltStateSize && b[0] == boltStateV1,
		len(b) == boltStateSize2 && b[0] == boltStateV2,
		len(b) == boltStateSize3 && b[0] == boltStateV3:
	default:
		return storeState{}, false
	}
	if binary.LittleEndian.Uint32(b[n:]) != crc32.Checksum(b[:n], crcTable) || b[17]&^stateFlagClose != 0 {
		return storeState{}, false
	}
	st := storeState{hw: binary.LittleEndian.Uint64(b[1:]), lsn: binary.LittleEndian.Uint64(b[9:]), closed: b[17] == stateFlagClose}
	if b[0] >= boltStateV2 {
		st.seg, st.segKnown = binary.LittleEndian.Uint64(b[18:]), true
	}
	if b[0] == boltStateV3 {
		st.made, st.madeKnown = binary.LittleEndian.Uint64(b[26:]), true
	}
	return st, true
}

func (s *boltDB) corrupt(problem string) error {
	return &CorruptError{Dir: filepath.Dir(s.path), Damage: []Damage{{File: s.path, Offset: -1, Kind: DamageBoltRecord,
		Problem: problem, Lost: "see \"drover store check\""}}}
}

// record returns the record in v, the stored value of job seq under key
// k, or an error wrapping ErrCorrupt when its checksum does not match.
func (s *boltDB) record(seq uint64, k, v []byte) ([]byte, error) {
	data, ok := openEnvelope(k, v)
	if !ok {
		return nil, s.corrupt(fmt.Sprintf("the checksum of job %d does not match: the job is lost", seq))
	}
	return data, nil
}

// viewTx runs fn in a read transaction, guarded against a damaged file
// (guard); a closed file is ErrClosed.
func (s *boltDB) viewTx(fn func(tx *bolt.Tx) error) error {
	err := guard(s.path, func() error { return s.db.View(fn) })
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// state reads the store's state; ok is false if there is none.
func (s *boltDB) state() (st storeState, ok bool, err error) {
	err = guard(s.path, func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket(storeBucket)
			if b == nil {
				return nil
			}
			v := b.Get(stateKey)
			if v == nil {
				return nil
			}
			if st, ok = decodeState(v); !ok {
				return s.corrupt("the store's state record is damaged")
			}
			return nil
		})
	})
	return st, ok, err
}

// lastSeq returns the highest Seq in the jobs bucket.
func (s *boltDB) lastSeq() (seq uint64, err error) {
	err = guard(s.path, func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			if b := tx.Bucket(jobsBucket); b != nil {
				if k, _ := b.Cursor().Last(); len(k) == 8 {
					seq = binary.BigEndian.Uint64(k)
				}
			}
			return nil
		})
	})
	return seq, err
}

// load calls fn for every record, in Seq order.
func (s *boltDB) load(fn func(seq uint64, data []byte) error) error {
	return s.view(func(b *bolt.Bucket) error {
		if b == nil {
			return nil
		}
		var last []byte
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return s.corrupt(fmt.Sprintf("stored key %x is not a seq", k))
			}
			if last != nil && bytes.Compare(k, last) <= 0 {
				return s.corrupt(fmt.Sprintf("stored key %x follows key %x", k, last))
			}
			last = k
			seq := binary.BigEndian.Uint64(k)
			if v == nil {
				return s.corrupt(fmt.Sprintf("job %d is a bucket", seq))
			}
			data, err := s.record(seq, k, v)
			if err != nil {
				return err
			}
			return fn(seq, data)
		})
	})
}

// save writes batch, sorted by Seq with one record per Seq (as
// latestRecords leaves it), in one transaction, with the store's state
// raised to st if st is not nil. Keys in order keep each leaf page hot
// while it is written.
func (s *boltDB) save(batch []Record, st *storeState) error { return s.saveWith(batch, nil, st) }

// saveWith is save that also writes the meta records metas in the same
// transaction.
func (s *boltDB) saveWith(batch []Record, metas []MetaRecord, st *storeState) error {
	if len(batch) == 0 && len(metas) == 0 && st == nil {
		if err := s.db.View(func(*bolt.Tx) error { return nil }); errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return nil
	}
	n := 0
	for _, r := range batch {
		if len(r.Data) == 0 {
			return fmt.Errorf("jobs: save: %w: seq %d", ErrEmptyRecord, r.Seq)
		}
		n += boltRecHeader + len(r.Data)
	}
	// bbolt keeps the values it is given until the commit: one buffer for
	// them all.
	vals := make([]byte, 0, n)
	err := guard(s.path, func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			if err := writeRecords(tx, batch, vals); err != nil {
				return err
			}
			if err := keepLive(tx, batch); err != nil {
				return err
			}
			if err := putMetas(tx, metas); err != nil {
				return err
			}
			if st == nil {
				return nil
			}
			return raiseState(tx, batch, st)
		})
	})
	if err != nil {
		if errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("jobs: save: %w", err)
	}
	return nil
}

// writeRecords puts batch's records in the jobs bucket (a tombstone
// deletes its job), each in an envelope appended to vals, which must have
// room for them all, and moves the jobs' history index keys.
func writeRecords(tx *bolt.Tx, batch []Record, vals []byte) error {
	b, err := tx.CreateBucketIfNotExists(jobsBucket)
	if err != nil {
		return err
	}
	// Keys (Seq) mostly grow: fill pages before splitting them,
	// instead of bbolt's half-full default.
	b.FillPercent = 0.9
	ib, err := tx.CreateBucketIfNotExists(indexBucket)
	if err != nil {
		return err
	}
	var k [8]byte
	var edits indexEdits
	for _, r := range batch {
		binary.BigEndian.PutUint64(k[:], r.Seq)
		var old []byte
		if v := b.Get(k[:]); v != nil {
			old, _ = openEnvelope(k[:], v) // a damaged one has no keys to move
		}
		edits.add(r.Seq, old, r.Data)
		if isTombstone(r.Data) {
			if err := b.Delete(k[:]); err != nil {
				return err
			}
			continue
		}
		i := len(vals)
		vals = appendEnvelope(vals, r.Seq, r.Data)
		if err := b.Put(k[:], vals[i:len(vals):len(vals)]); err != nil {
			return err
		}
	}
	return edits.apply(ib)
}

// raiseState raises the store's state to st, and its high-water mark to
// the last Seq of batch, never lowering the LSN, the high-water mark, the
// log's segment or the highest segment made (segments are numbered for
// the life of the data dir).
func raiseState(tx *bolt.Tx, batch []Record, st *storeState) error {
	sb, err := tx.CreateBucketIfNotExists(storeBucket)
	if err != nil {
		return err
	}
	cur, _ := decodeState(sb.Get(stateKey))
	next := storeState{hw: max(cur.hw, st.hw), lsn: max(cur.lsn, st.lsn), closed: st.closed,
		seg: max(cur.seg, st.seg), segKnown: cur.segKnown || st.segKnown,
		made: max(cur.made, st.made), madeKnown: cur.madeKnown || st.madeKnown}
	if len(batch) > 0 {
		next.hw = max(next.hw, batch[len(batch)-1].Seq)
	}
	return sb.Put(stateKey, next.encode())
}

func (s *boltDB) close() error {
	err := s.db.Close()
	if err == bolt.ErrDatabaseNotOpen {
		return nil
	}
	return err
}
