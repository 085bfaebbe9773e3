package raftstore

import (
	"encoding/binary"
	"errors"

	"github.com/drover/drover/internal/binenc"
	"github.com/drover/drover/jobs"
)

// A raft entry is one write of the master's store, as its Store call made
// it: a kind byte, then the call's arguments. An entry is applied whole or
// not at all, like the call.
const (
	entrySave   byte = 1 // Store.Save: records
	entryMetas  byte = 2 // MetaStore.SaveMetas (and SaveMeta): meta records
	entryDelete byte = 3 // HistoryStore.Delete: Seqs
	// JointSaver.SaveWithMetas: records (as entrySave's), then meta
	// records (as entryMetas'). Logs of releases before it hold only the
	// kinds above, which still apply.
	entrySaveMetas byte = 4
)

// ErrEntry wraps every error decoding an entry or a snapshot.
var ErrEntry = errors.New("raftstore: bad entry")

// appendSave encodes a Save of batch.
func appendSave(b []byte, batch []jobs.Record) []byte {
	return appendRecords(append(b, entrySave), batch)
}

// appendSaveMetas encodes a SaveWithMetas of batch and metas.
func appendSaveMetas(b []byte, batch []jobs.Record, metas []jobs.MetaRecord) []byte {
	return appendMetaList(appendRecords(append(b, entrySaveMetas), batch), metas)
}

// appendRecords encodes batch, after an entry's kind.
func appendRecords(b []byte, batch []jobs.Record) []byte {
	b = binary.AppendUvarint(b, uint64(len(batch)))
	for _, r := range batch {
		b = binary.AppendUvarint(b, r.Seq)
		b = binary.AppendUvarint(b, uint64(len(r.Data)))
		b = append(b, r.Data...)
	}
	return b
}

// appendMetas encodes a SaveMetas of recs. A nil Val (a delete) and an
// empty one stay apart.
func appendMetas(b []byte, recs []jobs.MetaRecord) []byte {
	return appendMetaList(append(b, entryMetas), recs)
}

// appendMetaList encodes recs, after an entry's kind or its records.
func appendMetaList(b []byte, recs []jobs.MetaRecord) []byte {
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = binenc.AppendString(b, r.Bucket)
		b = binenc.AppendString(b, r.Key)
		b = binenc.AppendBool(b, r.Val != nil)
		if r.Val != nil {
			b = binenc.AppendString(b, string(r.Val))
		}
	}
	return b
}

// entry is a decoded entry.
type entry struct {
	kind  byte
	recs  []jobs.Record     // save, save with metas; Data points into the entry
	metas []jobs.MetaRecord // metas, save with metas
	seqs  []uint64          // delete
}

// appendDelete encodes a Delete of seqs.
func appendDelete(b []byte, seqs []uint64) []byte {
	b = append(b, entryDelete)
	b = binary.AppendUvarint(b, uint64(len(seqs)))
	for _, q := range seqs {
		b = binary.AppendUvarint(b, q)
	}
	return b
}

// decodeEntry decodes what appendSave, appendMetas, appendDelete or
// appendSaveMetas wrote.
func decodeEntry(data []byte) (entry, error) {
	r := binenc.NewReader(data, ErrEntry)
	e := entry{kind: r.Byte()}
	switch e.kind {
	case entrySave:
		e.recs = readRecords(&r)
	case entryMetas:
		e.metas = binenc.List(&r, func() jobs.MetaRecord { return readMeta(&r) })
	case entrySaveMetas:
		e.recs = readRecords(&r)
		e.metas = binenc.List(&r, func() jobs.MetaRecord { return readMeta(&r) })
		if r.Err == nil && (len(e.recs) == 0 || len(e.metas) == 0) {
			r.Fail("save with metas of %d records and %d metas", len(e.recs), len(e.metas)) // Store.SaveWithMetas writes neither
		}
	case entryDelete:
		e.seqs = binenc.List(&r, r.Uvarint)
	default:
		r.Fail("unknown kind %d", e.kind)
	}
	return e, r.End()
}

// readRecords reads the records of appendRecords.
func readRecords(r *binenc.Reader) []jobs.Record {
	return binenc.List(r, func() jobs.Record {
		seq := r.Uvarint()
		n := r.Count()
		if r.Err != nil {
			return jobs.Record{}
		}
		rec := jobs.Record{Seq: seq, Data: r.B[:n:n]}
		r.B = r.B[n:]
		return rec
	})
}

// readMeta reads one meta record of appendMetas. One that no store can
// keep (jobs.MetaRecord.Check) makes the entry bad, which every member
// refuses alike, instead of a local store failing on it.
func readMeta(r *binenc.Reader) jobs.MetaRecord {
	m := jobs.MetaRecord{Bucket: r.Str(), Key: r.Str()}
	if r.Bool() {
		m.Val = []byte(r.Str())
	}
	if r.Err == nil {
		if err := m.Check(); err != nil {
			r.Fail("%v", err)
		}
	}
	return m
}
