package jobs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A job's record is how stores keep it: a compact binary encoding made by
// AppendRecord and read back by DecodeRecord. It is several times smaller
// and cheaper than JSON, and encoding it allocates nothing, so the master
// can encode a changed job straight into a commit buffer.
//
// Layout: the byte recordV1, then every field of the Job in declaration
// order. Strings and byte counts are uvarint-length-prefixed, integers are
// varints, times are a uvarint (0 for the zero time, else nanoseconds<<1|1)
// followed by a varint of Unix seconds, and states and outcomes are one
// byte. A new field gets a new version byte; DecodeRecord refuses versions
// it does not know. Records that start with '{' are JSON, as stores written
// before the binary record hold, and decode too.
const recordV1 = 0x01

// ErrRecord wraps every DecodeRecord failure.
var ErrRecord = errors.New("jobs: bad record")

var (
	stateCodes   = map[State]byte{Pending: 1, Running: 2, Succeeded: 3, Failed: 4, Cancelled: 5}
	outcomeCodes = map[Outcome]byte{"": 0, OK: 1, Error: 2, Timeout: 3, Lost: 4, OutcomeCanceled: 5}
	stateByCode  = [...]State{1: Pending, 2: Running, 3: Succeeded, 4: Failed, 5: Cancelled}
	outcomeByCod = [...]Outcome{0: "", 1: OK, 2: Error, 3: Timeout, 4: Lost, 5: OutcomeCanceled}
)

// AppendRecord appends j's record to b and returns the extended slice.
func (j *Job) AppendRecord(b []byte) []byte {
	b = append(b, recordV1)
	b = binary.AppendUvarint(b, j.Seq)
	b = appendString(b, j.ID)
	b = appendSpec(b, &j.Spec)
	b = append(b, stateCodes[j.State])
	b = binary.AppendVarint(b, int64(j.Attempt))
	b = appendString(b, j.Worker)
	b = appendTime(b, j.NotBefore)
	b = appendTime(b, j.Submitted)
	b = appendTime(b, j.Updated)
	b = binary.AppendUvarint(b, uint64(len(j.Attempts)))
	for i := range j.Attempts {
		a := &j.Attempts[i]
		b = binary.AppendVarint(b, int64(a.N))
		b = appendString(b, a.Worker)
		b = appendTime(b, a.Started)
		b = appendTime(b, a.Ended)
		b = append(b, outcomeCodes[a.Outcome])
		b = binary.AppendVarint(b, int64(a.ExitCode))
		b = appendString(b, a.Error)
		b = appendString(b, a.Output)
		b = appendString(b, a.Data)
	}
	b = binary.AppendUvarint(b, uint64(len(j.Events)))
	for i := range j.Events {
		b = appendTime(b, j.Events[i].At)
		b = appendString(b, j.Events[i].Text)
	}
	b = appendStrings(b, j.Children)
	b = appendString(b, j.Parent)
	b = appendString(b, j.Pin)
	return b
}

func appendSpec(b []byte, s *Spec) []byte {
	b = appendString(b, s.Type)
	b = binary.AppendUvarint(b, uint64(len(s.Args)))
	for k, v := range s.Args {
		b = appendString(b, k)
		b = appendString(b, v)
	}
	b = binary.AppendVarint(b, int64(s.Priority))
	b = binary.AppendVarint(b, int64(s.Retries))
	b = binary.AppendVarint(b, int64(s.Timeout))
	b = appendString(b, s.Group)
	b = appendString(b, s.Key)
	b = appendStrings(b, s.Tags)
	b = appendString(b, s.LimitKey)
	b = appendString(b, s.UniqueKey)
	b = binary.AppendVarint(b, int64(s.UniqueFor))
	b = appendTime(b, s.RunAt)
	b = binary.AppendVarint(b, int64(s.Delay))
	b = appendString(b, s.Input)
	if s.Then == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendSpec(b, s.Then)
	}
	b = appendBool(b, s.Broadcast)
	b = appendString(b, s.Name)
	b = appendString(b, s.Schedule)
	b = appendString(b, s.Overlap)
	b = appendString(b, s.Timezone)
	b = appendString(b, s.CatchUp)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(t.Nanosecond())<<1|1)
	return binary.AppendVarint(b, t.Unix())
}

// DecodeRecord decodes a record made by AppendRecord (or a JSON record of
// an older store). The job shares no memory with data.
func DecodeRecord(data []byte) (*Job, error) {
	if len(data) > 0 && data[0] == '{' {
		j := new(Job)
		if err := json.Unmarshal(data, j); err != nil {
			return nil, fmt.Errorf("%w: json: %v", ErrRecord, err)
		}
		return j, nil
	}
	d := decoder{b: data}
	if v := d.byte(); v != recordV1 {
		if d.err != nil {
			return nil, d.err
		}
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrRecord, v, recordV1)
	}
	j := new(Job)
	j.Seq = d.uvarint()
	j.ID = d.string()
	d.spec(&j.Spec, 0)
	j.State = d.state()
	j.Attempt = d.int()
	j.Worker = d.string()
	j.NotBefore = d.time()
	j.Submitted = d.time()
	j.Updated = d.time()
	if n := d.count(); n > 0 {
		j.Attempts = make([]Attempt, n)
		for i := range j.Attempts {
			a := &j.Attempts[i]
			a.N = d.int()
			a.Worker = d.string()
			a.Started = d.time()
			a.Ended = d.time()
			a.Outcome = d.outcome()
			a.ExitCode = d.int()
			a.Error = d.string()
			a.Output = d.string()
			a.Data = d.string()
		}
	}
	if n := d.count(); n > 0 {
		j.Events = make([]Event, n)
		for i := range j.Events {
			j.Events[i].At = d.time()
			j.Events[i].Text = d.string()
		}
	}
	j.Children = d.strings()
	j.Parent = d.string()
	j.Pin = d.string()
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the record", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return j, nil
}

// decoder reads a record. The first problem sticks in err; reads after it
// return zero values.
type decoder struct {
	b        []byte
	err      error
	lastType string // a type name to share when the next one is equal
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrRecord}, a...)...)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v := d.varint()
	if int64(int(v)) != v {
		d.fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

func (d *decoder) duration() time.Duration { return time.Duration(d.varint()) }

// count reads a length of a list whose every element takes at least one
// byte, so a corrupt count cannot make a huge allocation.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count %d is over the %d bytes left", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.count()
	if d.err != nil || n == 0 {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.string()
	}
	return out
}

func (d *decoder) bool() bool {
	switch c := d.byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bool byte %d", c)
		return false
	}
}

func (d *decoder) time() time.Time {
	ns := d.uvarint()
	if ns == 0 {
		return time.Time{}
	}
	if ns&1 == 0 || ns>>1 >= 1e9 {
		d.fail("bad time")
		return time.Time{}
	}
	sec := d.varint()
	return time.Unix(sec, int64(ns>>1)).UTC()
}

func (d *decoder) state() State {
	c := d.byte()
	if int(c) >= len(stateByCode) || stateByCode[c] == "" {
		d.fail("state code %d", c)
		return ""
	}
	return stateByCode[c]
}

func (d *decoder) outcome() Outcome {
	c := d.byte()
	if int(c) >= len(outcomeByCod) {
		d.fail("outcome code %d", c)
		return ""
	}
	return outcomeByCod[c]
}

// spec reads a Spec; depth counts Then nesting, which a record never has
// more than one level of.
func (d *decoder) spec(s *Spec, depth int) {
	if n, k := binary.Uvarint(d.b); k > 0 && d.lastType != "" && n == uint64(len(d.lastType)) &&
		uint64(len(d.b)-k) >= n && string(d.b[k:k+int(n)]) == d.lastType {
		s.Type = d.lastType
		d.b = d.b[k+int(n):]
	} else {
		s.Type = d.string()
	}
	if n := d.count(); n > 0 {
		s.Args = make(map[string]string, n)
		for range n {
			k := d.string()
			s.Args[k] = d.string()
		}
	}
	s.Priority = d.int()
	s.Retries = d.int()
	s.Timeout = d.duration()
	s.Group = d.string()
	s.Key = d.string()
	s.Tags = d.strings()
	s.LimitKey = d.string()
	s.UniqueKey = d.string()
	s.UniqueFor = d.duration()
	s.RunAt = d.time()
	s.Delay = d.duration()
	s.Input = d.string()
	if d.bool() {
		if depth > 0 {
			d.fail("then nested in then")
			return
		}
		s.Then = new(Spec)
		d.spec(s.Then, depth+1)
	}
	s.Broadcast = d.bool()
	s.Name = d.string()
	s.Schedule = d.string()
	s.Overlap = d.string()
	s.Timezone = d.string()
	s.CatchUp = d.string()
}

// AppendSpec appends s in the record encoding, for wire codecs that carry
// specs.
func AppendSpec(b []byte, s *Spec) []byte { return appendSpec(b, s) }

// SpecDecoder decodes specs written by AppendSpec, one after another,
// sharing the memory of a type name that repeats the one before (a batch
// usually has one type).
type SpecDecoder struct {
	lastType string
}

// Decode decodes a spec from the front of data into s and returns the
// bytes after it. Errors wrap ErrRecord.
func (sd *SpecDecoder) Decode(s *Spec, data []byte) ([]byte, error) {
	d := decoder{b: data, lastType: sd.lastType}
	d.spec(s, 0)
	if d.err != nil {
		return nil, d.err
	}
	sd.lastType = s.Type
	return d.b, nil
}
