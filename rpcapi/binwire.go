package rpcapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/drover/drover/internal/binenc"
	"github.com/drover/drover/jobs"
)

// The calls that carry jobs in bulk (Submit, Assign and its reply,
// Complete) travel over net/rpc as one gob byte string each, in the
// compact form below, instead of gob's field-by-field encoding:
// SubmitArgs, AssignArgs, AssignReply and CompleteArgs implement
// gob.GobEncoder and gob.GobDecoder. (Small messages such as heartbeats
// gain nothing from it: gob's compiled encoding of a small struct is as
// cheap.) XML-RPC is not affected; it maps the same types field by field.
//
// The form: a version byte (binwireV1; binwireV3 for AssignArgs without a
// Term and V5 with one, binwireV4 for CompleteArgs with a Want, which
// carry the worker's secret since V2, a task's group, a report's stats and
// timeout since V3, the Want of a Complete since V4 and the Term of an
// Assign since V5; CompleteArgs without a Want and AssignArgs without a
// Term are written as V3, as the release before wrote them, so a single
// master and an earlier worker still agree; V2 and V3 are still read), then
// the fields
// in declaration order; strings and counts are uvarint-prefixed, integers are varints,
// booleans one byte, specs in the job record's encoding (jobs.AppendSpec).
// Every count is checked against the bytes left before anything is
// allocated for it.

const (
	binwireV1 = 1
	binwireV2 = 2
	binwireV3 = 3
	binwireV4 = 4 // CompleteArgs: the worker's Want after the reports
	binwireV5 = 5 // AssignArgs: the master's raft term after the tasks
)

// errBinwire wraps every decoding failure of the compact form.
var errBinwire = errors.New("rpcapi: bad binary payload")

// binReader reads the compact form; v is the version read.
type binReader struct {
	binenc.Reader
	v byte
}

func newBinReader(b []byte) binReader { return binReader{Reader: binenc.NewReader(b, errBinwire)} }

func (r *binReader) version(what string, want byte) {
	if len(r.B) == 0 {
		r.Fail("%s: empty", what)
		return
	}
	if r.B[0] != want {
		r.Fail("%s: version %d (this build reads %d)", what, r.B[0], want)
		return
	}
	r.v = want
	r.B = r.B[1:]
}

// GobEncode implements gob.GobEncoder.
func (a *SubmitArgs) GobEncode() ([]byte, error) {
	b := make([]byte, 0, 1+len(a.Specs)*24)
	b = append(b, binwireV1)
	b = binary.AppendUvarint(b, uint64(len(a.Specs)))
	for i := range a.Specs {
		b = jobs.AppendSpec(b, &a.Specs[i])
	}
	return b, nil
}

// GobDecode implements gob.GobDecoder.
func (a *SubmitArgs) GobDecode(data []byte) error {
	r := newBinReader(data)
	r.version("submit args", binwireV1)
	n := r.Count()
	if r.Err != nil {
		return r.Err
	}
	a.Specs = make([]jobs.Spec, n)
	var sd jobs.SpecDecoder
	for i := range a.Specs {
		rest, err := sd.Decode(&a.Specs[i], r.B)
		if err != nil {
			return fmt.Errorf("%w: spec %d: %v", errBinwire, i+1, err)
		}
		r.B = rest
	}
	return r.End()
}

// GobEncode implements gob.GobEncoder.
func (a *AssignArgs) GobEncode() ([]byte, error) {
	v := byte(binwireV3)
	if a.Term != 0 {
		v = binwireV5
	}
	b := make([]byte, 0, 16+len(a.Tasks)*32)
	b = appendBatch(b, v, a.WorkerID, a.Secret, a.Tasks, func(b []byte, t *Task) []byte {
		b = binenc.AppendString(b, t.JobID)
		b = binary.AppendVarint(b, int64(t.Attempt))
		b = binenc.AppendString(b, t.Type)
		b = binenc.AppendMap(b, t.Args)
		b = binary.AppendVarint(b, int64(t.Timeout))
		b = binenc.AppendString(b, t.Input)
		return binenc.AppendString(b, t.Group)
	})
	if v < binwireV5 {
		return b, nil
	}
	return binary.AppendVarint(b, a.Term), nil
}

// GobDecode implements gob.GobDecoder.
func (a *AssignArgs) GobDecode(data []byte) (err error) {
	var r binReader
	a.Tasks, r, err = readBatch(data, "assign args", binwireV5, &a.WorkerID, &a.Secret, func(r *binReader, t *Task) {
		t.JobID = r.Str()
		t.Attempt = r.Int()
		t.Type = r.Str()
		t.Args = r.Map()
		t.Timeout = time.Duration(r.Int())
		t.Input = r.Str()
		if r.v >= binwireV3 {
			t.Group = r.Str()
		}
	})
	if err != nil || r.v < binwireV5 {
		return err
	}
	if a.Term = r.Varint(); a.Term < 0 {
		return fmt.Errorf("%w: assign args: term %d", errBinwire, a.Term)
	}
	return r.End()
}

// GobEncode implements gob.GobEncoder.
func (a *AssignReply) GobEncode() ([]byte, error) {
	b := make([]byte, 0, 3+len(a.Accepted)*10)
	b = append(b, binwireV1)
	b = appendRefs(b, a.Accepted)
	b = binary.AppendUvarint(b, uint64(len(a.Rejected)))
	for _, rej := range a.Rejected {
		b = appendRef(b, rej.JobRef)
		b = binenc.AppendString(b, rej.Reason)
	}
	return b, nil
}

// GobDecode implements gob.GobDecoder.
func (a *AssignReply) GobDecode(data []byte) error {
	r := newBinReader(data)
	r.version("assign reply", binwireV1)
	a.Accepted = r.refs()
	a.Rejected = binenc.List(&r.Reader, func() Rejection { return Rejection{JobRef: r.ref(), Reason: r.Str()} })
	return r.End()
}

// GobEncode implements gob.GobEncoder.
func (a *CompleteArgs) GobEncode() ([]byte, error) {
	// Without a Want, the form of the release before (V3), which a
	// master of that release reads.
	v := byte(binwireV3)
	if a.Want != 0 {
		v = binwireV4
	}
	b := make([]byte, 0, 16+len(a.Reports)*16)
	b = appendBatch(b, v, a.WorkerID, a.Secret, a.Reports, func(b []byte, rep *Report) []byte {
		b = binenc.AppendString(b, rep.JobID)
		b = binary.AppendVarint(b, int64(rep.Attempt))
		b = binenc.AppendString(b, string(rep.Outcome))
		b = binary.AppendVarint(b, int64(rep.ExitCode))
		b = binenc.AppendString(b, rep.Error)
		b = binenc.AppendString(b, rep.Output)
		b = binenc.AppendString(b, rep.Data)
		b = binenc.AppendBool(b, rep.Permanent)
		b = binenc.AppendMap(b, rep.Stats)
		b = binary.AppendVarint(b, int64(rep.Timeout))
		return binenc.AppendString(b, rep.TimeoutFrom)
	})
	if v < binwireV4 {
		return b, nil
	}
	return binary.AppendVarint(b, int64(a.Want)), nil
}

// GobDecode implements gob.GobDecoder.
func (a *CompleteArgs) GobDecode(data []byte) (err error) {
	var r binReader
	a.Reports, r, err = readBatch(data, "complete args", binwireV4, &a.WorkerID, &a.Secret, func(r *binReader, rep *Report) {
		rep.JobID = r.Str()
		rep.Attempt = r.Int()
		rep.Outcome = jobs.Outcome(r.StrAs(knownOutcomes...)) // unknown ones pass: the master refuses them
		rep.ExitCode = r.Int()
		rep.Error = r.Str()
		rep.Output = r.Str()
		rep.Data = r.Str()
		rep.Permanent = r.Bool()
		if r.v >= binwireV3 {
			rep.Stats = r.Map()
			rep.Timeout = time.Duration(r.Varint())
			rep.TimeoutFrom = r.Str()
		}
	})
	if err != nil || r.v < binwireV4 {
		return err
	}
	a.Want = r.Int()
	return r.End()
}

// appendBatch appends the compact form of a worker's batch (AssignArgs,
// CompleteArgs) to b: the version v, the worker's id and secret, the count
// of items, then each item as item appends it.
func appendBatch[T any](b []byte, v byte, workerID, secret string, items []T, item func([]byte, *T) []byte) []byte {
	b = append(b, v)
	b = binenc.AppendString(b, workerID)
	b = binenc.AppendString(b, secret)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for i := range items {
		b = item(b, &items[i])
	}
	return b
}

// readBatch reads what appendBatch wrote (what names it in errors), of a
// version from binwireV2 to last: it sets *workerID and *secret and
// returns the items, each read by item. Below last it checks that nothing
// follows the items; at last it returns the reader, for the fields after
// them, and the caller ends it.
func readBatch[T any](data []byte, what string, last byte, workerID, secret *string, item func(*binReader, *T)) ([]T, binReader, error) {
	r := newBinReader(data)
	v := last
	if len(data) > 0 && data[0] >= binwireV2 && data[0] < last {
		v = data[0] // a worker or master of a release before
	}
	r.version(what, v)
	*workerID = r.Str()
	*secret = r.Str()
	n := r.Count()
	if r.Err != nil {
		return nil, r, r.Err
	}
	items := make([]T, n)
	for i := range items {
		item(&r, &items[i])
		if r.Err != nil {
			return items, r, r.Err
		}
	}
	if v < last {
		return items, r, r.End()
	}
	return items, r, r.Err
}

// knownOutcomes are read without allocating.
var knownOutcomes = []string{string(jobs.OK), string(jobs.Error), string(jobs.Timeout), string(jobs.Lost), string(jobs.OutcomeCanceled)}

func appendRefs(b []byte, refs []JobRef) []byte {
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for _, ref := range refs {
		b = appendRef(b, ref)
	}
	return b
}

func appendRef(b []byte, ref JobRef) []byte {
	b = binenc.AppendString(b, ref.JobID)
	return binary.AppendVarint(b, int64(ref.Attempt))
}

func (r *binReader) refs() []JobRef { return binenc.List(&r.Reader, r.ref) }

func (r *binReader) ref() JobRef { return JobRef{JobID: r.Str(), Attempt: r.Int()} }
