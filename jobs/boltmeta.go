package jobs

// The meta buckets of drover.db: small named records beside the jobs
// (MetaStore), each bucket "meta/NAME".

import (
	"errors"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

func metaBucket(name string) []byte { return []byte("meta/" + name) }

func (s *boltDB) loadMeta(bucket string, fn func(key string, val []byte) error) error {
	return s.viewTx(func(tx *bolt.Tx) error {
		b := tx.Bucket(metaBucket(bucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error { return fn(string(k), append([]byte(nil), v...)) })
	})
}

func (s *boltDB) getMeta(bucket, key string) ([]byte, error) {
	var out []byte
	err := s.viewTx(func(tx *bolt.Tx) error {
		if b := tx.Bucket(metaBucket(bucket)); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append([]byte{}, v...)
			}
		}
		return nil
	})
	return out, err
}

// rangeMeta walks bucket's records by key from after from (before it, with
// desc; from the first or the last when from is ""), until fn returns
// false. The walk holds a read transaction: fn must not write.
func (s *boltDB) rangeMeta(bucket, from string, desc bool, fn func(key string, val []byte) bool) error {
	return s.viewTx(func(tx *bolt.Tx) error {
		b := tx.Bucket(metaBucket(bucket))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		var k, v []byte
		switch {
		case from == "" && desc:
			k, v = c.Last()
		case from == "":
			k, v = c.First()
		default:
			k, v = c.Seek([]byte(from))
			if desc {
				if k == nil {
					k, v = c.Last()
				}
				for k != nil && string(k) >= from {
					k, v = c.Prev()
				}
			} else if k != nil && string(k) == from {
				k, v = c.Next()
			}
		}
		for k != nil {
			if !fn(string(k), v) {
				return nil
			}
			if desc {
				k, v = c.Prev()
			} else {
				k, v = c.Next()
			}
		}
		return nil
	})
}

// saveMetas writes recs in one transaction.
func (s *boltDB) saveMetas(recs []MetaRecord) error {
	err := guard(s.path, func() error {
		return s.db.Update(func(tx *bolt.Tx) error { return putMetas(tx, recs) })
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("jobs: save meta: %w", err)
	}
	return err
}

// putMetas writes (or, with a nil Val, deletes) recs in tx.
func putMetas(tx *bolt.Tx, recs []MetaRecord) error {
	for _, r := range recs {
		b, err := tx.CreateBucketIfNotExists(metaBucket(r.Bucket))
		if err != nil {
			return err
		}
		if r.Val == nil {
			err = b.Delete([]byte(r.Key))
		} else {
			err = b.Put([]byte(r.Key), r.Val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *boltDB) saveMeta(bucket, key string, val []byte) error {
	err := guard(s.path, func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists(metaBucket(bucket))
			if err != nil {
				return err
			}
			if val == nil {
				return b.Delete([]byte(key))
			}
			return b.Put([]byte(key), val)
		})
	})
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("jobs: save meta %s/%s: %w", bucket, key, err)
	}
	return err
}

// metaBuckets names the meta buckets that hold records, in order.
func (s *boltDB) metaBuckets() ([]string, error) {
	var names []string
	err := s.viewTx(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if n, ok := strings.CutPrefix(string(name), "meta/"); ok {
				if k, _ := b.Cursor().First(); k == nil {
					return nil
				}
				names = append(names, n)
			}
			return nil
		})
	})
	return names, err
}
