package jobs

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

var jobsBucket = []byte("jobs")

// BoltFile is the name of the store file inside a data directory.
const BoltFile = "drover.db"

// BoltStore is a Store in one bbolt file. Every Save is one fsynced
// transaction, so a batch is durable when Save returns.
type BoltStore struct {
	db *bolt.DB
}

// OpenBolt opens (creating if needed) the store in dir. It fails after one
// second if another process holds the file.
func OpenBolt(dir string) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("jobs: data dir: %w", err)
	}
	path := filepath.Join(dir, BoltFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
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
	return &BoltStore{db: db}, nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// Load implements Store.
func (s *BoltStore) Load(fn func(seq uint64, data []byte) error) error {
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

// Save implements Store.
func (s *BoltStore) Save(batch []Record) error {
	if len(batch) == 0 {
		if err := s.db.View(func(*bolt.Tx) error { return nil }); errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return nil
	}
	// Keys in order keep each leaf page hot while it is written. Stable, so
	// the last record of a Seq still wins.
	slices.SortStableFunc(batch, func(a, b Record) int { return cmp.Compare(a.Seq, b.Seq) })
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(jobsBucket)
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

// Close implements Store.
func (s *BoltStore) Close() error {
	err := s.db.Close()
	if err == bolt.ErrDatabaseNotOpen {
		return nil
	}
	return err
}

func metaBucket(name string) []byte { return []byte("meta/" + name) }

// LoadMeta implements MetaStore.
func (s *BoltStore) LoadMeta(bucket string, fn func(key string, val []byte) error) error {
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

// SaveMeta implements MetaStore.
func (s *BoltStore) SaveMeta(bucket, key string, val []byte) error {
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
