package raftstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/drover/drover/internal/binenc"
	"github.com/drover/drover/jobs"
)

// A snapshot is the whole local store as a stream: a header line, the
// store's high-water mark, every job record, every meta record but the
// replica's own, and an end mark. Each item is a tag byte and its fields.
const (
	snapHeader = "drover-raft-snapshot 1\n"
	tagHigh    = 'H' // uvarint: the high-water mark
	tagJob     = 'J' // uvarint Seq, uvarint length, the record
	tagMeta    = 'M' // bucket, key, value (binenc strings)
	tagEnd     = 'E'
)

// ownBucket is the replica's own meta bucket: it is never exported, and a
// restore leaves it.
const ownBucket = "raftstore"

// restoringKey marks a restore under way in ownBucket.
const restoringKey = "restoring"

// restoreChunk bounds the records one local write takes during a restore.
const restoreChunk = 4096

// export writes local's content to w as a snapshot. Write errors stick in
// a bufio.Writer; the caller's Flush reports them.
func export(local Local, w *bufio.Writer) error {
	w.WriteString(snapHeader)
	var b []byte
	b = binary.AppendUvarint(append(b[:0], tagHigh), local.HighWater())
	w.Write(b)
	err := local.Load(func(seq uint64, data []byte) error {
		b = binary.AppendUvarint(append(b[:0], tagJob), seq)
		b = binary.AppendUvarint(b, uint64(len(data)))
		w.Write(b)
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return err
	}
	err = rangeReplicated(local, func(bucket, key string, val []byte) bool {
		b = binenc.AppendString(append(b[:0], tagMeta), bucket)
		b = binenc.AppendString(b, key)
		b = binenc.AppendString(b, string(val))
		_, err := w.Write(b)
		return err == nil
	})
	if err != nil {
		return err
	}
	return w.WriteByte(tagEnd)
}

// rangeReplicated calls fn with each meta record of local but the
// replica's own (those of ownBucket), bucket by bucket, each in key order,
// until fn returns false.
func rangeReplicated(local Local, fn func(bucket, key string, val []byte) bool) error {
	buckets, err := local.MetaBuckets()
	if err != nil {
		return err
	}
	more := true
	for _, bucket := range buckets {
		if bucket == ownBucket {
			continue
		}
		err := local.RangeMeta(bucket, "", false, func(key string, val []byte) bool {
			more = fn(bucket, key, val)
			return more
		})
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// restore makes local hold exactly the snapshot r: it marks the restore,
// empties local, writes the snapshot's records in chunks, raises the
// high-water mark to the snapshot's and removes the mark.
func restore(local Local, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	head := make([]byte, len(snapHeader))
	if _, err := io.ReadFull(br, head); err != nil || string(head) != snapHeader {
		return fmt.Errorf("%w: not a drover snapshot (header %q)", ErrEntry, head)
	}
	if err := local.SaveMeta(ownBucket, restoringKey, []byte("1")); err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	if err := wipe(local); err != nil {
		return fmt.Errorf("raftstore: restore: empty the store: %w", err)
	}
	hw, err := readSnapshot(br, local)
	if err != nil {
		return fmt.Errorf("raftstore: restore: %w", err)
	}
	if hw > local.HighWater() {
		// A deleted job's tombstone is how a store learns a Seq it no
		// longer holds: no job ID is handed out twice.
		if err := local.Delete([]uint64{hw}); err != nil {
			return fmt.Errorf("raftstore: restore: high water: %w", err)
		}
	}
	return local.SaveMeta(ownBucket, restoringKey, nil)
}

// readSnapshot writes the items of a snapshot after its header into local
// and returns its high-water mark.
func readSnapshot(br *bufio.Reader, local Local) (uint64, error) {
	var hw uint64
	var recs []jobs.Record
	var metas []jobs.MetaRecord
	flush := func() error {
		err := errors.Join(saveIf(local, recs), saveMetasIf(local, metas))
		recs, metas = recs[:0], metas[:0]
		return err
	}
	for {
		tag, err := br.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("%w: snapshot ends without its end mark: %v", ErrEntry, err)
		}
		switch tag {
		case tagHigh:
			hw, err = binary.ReadUvarint(br)
		case tagJob:
			var rec jobs.Record
			rec, err = readJob(br)
			recs = append(recs, rec)
		case tagMeta:
			var m jobs.MetaRecord
			m, err = readMetaItem(br)
			metas = append(metas, m)
		case tagEnd:
			return hw, flush()
		default:
			err = fmt.Errorf("%w: snapshot item tag %d", ErrEntry, tag)
		}
		if err == nil && len(recs)+len(metas) >= restoreChunk {
			err = flush()
		}
		if err != nil {
			return 0, err
		}
	}
}

// readJob reads a job item's Seq and record.
func readJob(br *bufio.Reader) (jobs.Record, error) {
	seq, err := binary.ReadUvarint(br)
	if err != nil {
		return jobs.Record{}, fmt.Errorf("%w: job item: %v", ErrEntry, err)
	}
	data, err := readBytes(br)
	return jobs.Record{Seq: seq, Data: data}, err
}

// readMetaItem reads a meta item's bucket, key and value.
func readMetaItem(br *bufio.Reader) (jobs.MetaRecord, error) {
	bucket, err1 := readBytes(br)
	key, err2 := readBytes(br)
	val, err3 := readBytes(br)
	if val == nil {
		val = []byte{}
	}
	return jobs.MetaRecord{Bucket: string(bucket), Key: string(key), Val: val}, errors.Join(err1, err2, err3)
}

// maxItem bounds one item's length: a damaged length fails instead of
// allocating it.
const maxItem = 256 << 20

// readBytes reads a uvarint length and that many bytes.
func readBytes(br *bufio.Reader) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err == nil && n > maxItem {
		err = fmt.Errorf("length %d over %d", n, maxItem)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot item: %v", ErrEntry, err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("%w: snapshot item: %v", ErrEntry, err)
	}
	return b, nil
}

// wipe deletes every job and every meta record but the replica's own.
func wipe(local Local) error {
	var seqs []uint64
	if err := local.Load(func(seq uint64, _ []byte) error { seqs = append(seqs, seq); return nil }); err != nil {
		return err
	}
	for c := range slices.Chunk(seqs, restoreChunk) {
		if err := local.Delete(c); err != nil {
			return err
		}
	}
	var dels []jobs.MetaRecord
	err := rangeReplicated(local, func(bucket, key string, _ []byte) bool {
		dels = append(dels, jobs.MetaRecord{Bucket: bucket, Key: key})
		return true
	})
	if err != nil {
		return err
	}
	for c := range slices.Chunk(dels, restoreChunk) {
		if err := local.SaveMetas(c); err != nil {
			return err
		}
	}
	return nil
}

func saveIf(local Local, recs []jobs.Record) error {
	if len(recs) == 0 {
		return nil
	}
	return local.Save(recs)
}

func saveMetasIf(local Local, metas []jobs.MetaRecord) error {
	if len(metas) == 0 {
		return nil
	}
	return local.SaveMetas(metas)
}
