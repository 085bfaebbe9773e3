package jobs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

var jobsBucket = []byte("jobs")

// BoltFile is the name of the store file inside a data directory.
const BoltFile = "drover.db"

// initialMmap is the size of the bbolt file's first memory map.
const initialMmap = 1 << 30

// boltDB is the bbolt file under a BoltStore: every save is one fsynced
// transaction.
type boltDB struct {
	db *bolt.DB
}

// openBoltDB opens (creating if needed) the bbolt file in dir. It fails
// after one second if another process holds the file.
func openBoltDB(dir string) (*boltDB, error) {
	path := filepath.Join(dir, BoltFile)
	// A large first mapping (address space, not memory) spares the big
	// checkpoint transactions bbolt's remapping as the file grows, which
	// copies every node the transaction holds.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, InitialMmapSize: initialMmap})
	if err != nil {
		if err == bolt.ErrTimeout {
			return nil, fmt.Errorf("jobs: open %s: locked by another process (is a master already running on this data dir?)", path)
		}
		return nil, fmt.Errorf("jobs: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(jobsBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("jobs: init %s: %w", path, err)
	}
	return &boltDB{db: db}, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// load calls fn for every record, in Seq order.
func (s *boltDB) load(fn func(seq uint64, data []byte) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("jobs: stored key %x is not a seq", k)
			}
			return fn(binary.BigEndian.Uint64(k), v)
		})
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// save writes batch, sorted by Seq with one record per Seq (as
// latestRecords leaves it), in one transaction. Keys in order keep each
// leaf page hot while it is written.
func (s *boltDB) save(batch []Record) error {
	if len(batch) == 0 {
		if err := s.db.View(func(*bolt.Tx) error { return nil }); errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(jobsBucket)
		// Keys (Seq) mostly grow: fill pages before splitting them,
		// instead of bbolt's half-full default.
		b.FillPercent = 0.9
		var k [8]byte
		for _, r := range batch {
			if len(r.Data) == 0 {
				return fmt.Errorf("%w: seq %d", ErrEmptyRecord, r.Seq)
			}
			binary.BigEndian.PutUint64(k[:], r.Seq)
			if err := b.Put(k[:], r.Data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return fmt.Errorf("jobs: save: %w", err)
	}
	return nil
}

func (s *boltDB) close() error {
	err := s.db.Close()
	if err == bolt.ErrDatabaseNotOpen {
		return nil
	}
	return err
}

func metaBucket(name string) []byte { return []byte("meta/" + name) }

func (s *boltDB) loadMeta(bucket string, fn func(key string, val []byte) error) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(metaBucket(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), append([]byte(nil), v...)) })
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

func (s *boltDB) saveMeta(bucket, key string, val []byte) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(metaBucket(bucket))
		if err != nil {
			return err
		}
		if val == nil {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), val)
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("jobs: save meta %s/%s: %w", bucket, key, err)
	}
	return nil
}
