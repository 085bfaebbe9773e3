package rpcapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

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
// The form: a version byte (binwireV1), then the fields in declaration
// order; strings and counts are uvarint-prefixed, integers are varints,
// booleans one byte, specs in the job record's encoding (jobs.AppendSpec).
// Every count is checked against the bytes left before anything is
// allocated for it.

const binwireV1 = 1

// errBinwire wraps every decoding failure of the compact form.
var errBinwire = errors.New("rpcapi: bad binary payload")

type binReader struct {
	b   []byte
	err error
}

func (r *binReader) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{errBinwire}, a...)...)
	}
	r.b = nil
}

func (r *binReader) version(what string) {
	if len(r.b) == 0 {
		r.fail("%s: empty", what)
		return
	}
	if r.b[0] != binwireV1 {
		r.fail("%s: version %d (this build reads %d)", what, r.b[0], binwireV1)
		return
	}
	r.b = r.b[1:]
}

func (r *binReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *binReader) int() int {
	v, n := binary.Varint(r.b)
	if n <= 0 || int64(int(v)) != v {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return int(v)
}

// count reads the length of a list whose every element takes at least one
// byte.
func (r *binReader) count() int {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("count %d is over the %d bytes left", n, len(r.b))
		return 0
	}
	return int(n)
}

func (r *binReader) string() string {
	n := r.count()
	if n == 0 {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *binReader) bool() bool {
	if len(r.b) == 0 {
		r.fail("truncated")
		return false
	}
	c := r.b[0]
	r.b = r.b[1:]
	if c > 1 {
		r.fail("bool byte %d", c)
	}
	return c == 1
}

// end fails unless every byte was read.
func (r *binReader) end() error {
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the payload", len(r.b))
	}
	return r.err
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
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
	r := binReader{b: data}
	r.version("submit args")
	n := r.count()
	if r.err != nil {
		return r.err
	}
	a.Specs = make([]jobs.Spec, n)
	var sd jobs.SpecDecoder
	for i := range a.Specs {
		rest, err := sd.Decode(&a.Specs[i], r.b)
		if err != nil {
			return fmt.Errorf("%w: spec %d: %v", errBinwire, i+1, err)
		}
		r.b = rest
	}
	return r.end()
}

// GobEncode implements gob.GobEncoder.
func (a *AssignArgs) GobEncode() ([]byte, error) {
	b := make([]byte, 0, 16+len(a.Tasks)*32)
	b = append(b, binwireV1)
	b = appendStr(b, a.WorkerID)
	b = binary.AppendUvarint(b, uint64(len(a.Tasks)))
	for i := range a.Tasks {
		t := &a.Tasks[i]
		b = appendStr(b, t.JobID)
		b = binary.AppendVarint(b, int64(t.Attempt))
		b = appendStr(b, t.Type)
		b = binary.AppendUvarint(b, uint64(len(t.Args)))
		for k, v := range t.Args {
			b = appendStr(b, k)
			b = appendStr(b, v)
		}
		b = binary.AppendVarint(b, int64(t.Timeout))
		b = appendStr(b, t.Input)
	}
	return b, nil
}

// GobDecode implements gob.GobDecoder.
func (a *AssignArgs) GobDecode(data []byte) error {
	r := binReader{b: data}
	r.version("assign args")
	a.WorkerID = r.string()
	n := r.count()
	if r.err != nil {
		return r.err
	}
	a.Tasks = make([]Task, n)
	for i := range a.Tasks {
		t := &a.Tasks[i]
		t.JobID = r.string()
		t.Attempt = r.int()
		t.Type = r.string()
		if na := r.count(); na > 0 {
			t.Args = make(map[string]string, na)
			for range na {
				k := r.string()
				t.Args[k] = r.string()
			}
		}
		t.Timeout = time.Duration(r.int())
		t.Input = r.string()
		if r.err != nil {
			return r.err
		}
	}
	return r.end()
}

// GobEncode implements gob.GobEncoder.
func (a *AssignReply) GobEncode() ([]byte, error) {
	b := make([]byte, 0, 3+len(a.Accepted)*10)
	b = append(b, binwireV1)
	b = appendRefs(b, a.Accepted)
	b = binary.AppendUvarint(b, uint64(len(a.Rejected)))
	for _, rej := range a.Rejected {
		b = appendStr(b, rej.JobID)
		b = binary.AppendVarint(b, int64(rej.Attempt))
		b = appendStr(b, rej.Reason)
	}
	return b, nil
}

// GobDecode implements gob.GobDecoder.
func (a *AssignReply) GobDecode(data []byte) error {
	r := binReader{b: data}
	r.version("assign reply")
	a.Accepted = r.refs()
	if n := r.count(); n > 0 {
		a.Rejected = make([]Rejection, n)
		for i := range a.Rejected {
			a.Rejected[i] = Rejection{JobRef: JobRef{JobID: r.string(), Attempt: r.int()}, Reason: r.string()}
		}
	}
	return r.end()
}

// GobEncode implements gob.GobEncoder.
func (a *CompleteArgs) GobEncode() ([]byte, error) {
	b := make([]byte, 0, 16+len(a.Reports)*16)
	b = append(b, binwireV1)
	b = appendStr(b, a.WorkerID)
	b = binary.AppendUvarint(b, uint64(len(a.Reports)))
	for i := range a.Reports {
		rep := &a.Reports[i]
		b = appendStr(b, rep.JobID)
		b = binary.AppendVarint(b, int64(rep.Attempt))
		b = appendStr(b, string(rep.Outcome))
		b = binary.AppendVarint(b, int64(rep.ExitCode))
		b = appendStr(b, rep.Error)
		b = appendStr(b, rep.Output)
		b = appendStr(b, rep.Data)
		b = appendBool(b, rep.Permanent)
	}
	return b, nil
}

// GobDecode implements gob.GobDecoder.
func (a *CompleteArgs) GobDecode(data []byte) error {
	r := binReader{b: data}
	r.version("complete args")
	a.WorkerID = r.string()
	n := r.count()
	if r.err != nil {
		return r.err
	}
	a.Reports = make([]Report, n)
	for i := range a.Reports {
		rep := &a.Reports[i]
		rep.JobID = r.string()
		rep.Attempt = r.int()
		rep.Outcome = r.outcome()
		rep.ExitCode = r.int()
		rep.Error = r.string()
		rep.Output = r.string()
		rep.Data = r.string()
		rep.Permanent = r.bool()
		if r.err != nil {
			return r.err
		}
	}
	return r.end()
}

var knownOutcomes = []jobs.Outcome{jobs.OK, jobs.Error, jobs.Timeout, jobs.Lost, jobs.OutcomeCanceled}

// outcome reads an outcome without allocating when it is a known one.
// Unknown ones pass through: the master refuses them.
func (r *binReader) outcome() jobs.Outcome {
	n := r.count()
	for _, o := range knownOutcomes {
		if string(r.b[:n]) == string(o) {
			r.b = r.b[n:]
			return o
		}
	}
	o := jobs.Outcome(r.b[:n])
	r.b = r.b[n:]
	return o
}

func appendRefs(b []byte, refs []JobRef) []byte {
	b = binary.AppendUvarint(b, uint64(len(refs)))
	for _, ref := range refs {
		b = appendStr(b, ref.JobID)
		b = binary.AppendVarint(b, int64(ref.Attempt))
	}
	return b
}

func (r *binReader) refs() []JobRef {
	n := r.count()
	if n == 0 {
		return nil
	}
	out := make([]JobRef, n)
	for i := range out {
		out[i] = JobRef{JobID: r.string(), Attempt: r.int()}
	}
	return out
}
