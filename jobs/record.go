package jobs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/drover/drover/internal/binenc"
)

// A job's record is how stores keep it: a compact binary encoding made by
// AppendRecord and read back by DecodeRecord. It is several times smaller
// and cheaper than JSON, and encoding it allocates nothing, so the master
// can encode a changed job straight into a commit buffer.
//
// Layout: the byte recordV3, then every field of the Job in declaration
// order. Strings and byte counts are uvarint-length-prefixed, integers are
// varints, times are a uvarint (0 for the zero time, else nanoseconds<<1|1)
// followed by a varint of Unix seconds, and states and outcomes are one
// byte. A new field gets a new version byte; DecodeRecord refuses versions
// it does not know. Records that start with '{' are JSON, as stores written
// before the binary record hold, and decode too.
//
// recordV2 added each attempt's Stats, Timeout and TimeoutFrom, after its
// Data; a recordV1 record (written before) decodes with them empty.
// recordV3 added the job's Submitter, after its Pin; a recordV1 or
// recordV2 record decodes with it empty. recordV4 added the job's
// ThenID, after its Submitter; an older record decodes with it empty.
const (
	recordV1 = 0x01
	recordV2 = 0x02
	recordV3 = 0x03
	recordV4 = 0x04
)

// recordVersion reports whether v is a binary record's version byte.
func recordVersion(v byte) bool { return v >= recordV1 && v <= recordV4 }

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
	b = append(b, recordV4)
	b = binary.AppendUvarint(b, j.Seq)
	b = binenc.AppendString(b, j.ID)
	b = appendSpec(b, &j.Spec)
	b = append(b, stateCodes[j.State])
	b = binary.AppendVarint(b, int64(j.Attempt))
	b = binenc.AppendString(b, j.Worker)
	b = appendTime(b, j.NotBefore)
	b = appendTime(b, j.Submitted)
	b = appendTime(b, j.Updated)
	b = binary.AppendUvarint(b, uint64(len(j.Attempts)))
	for i := range j.Attempts {
		a := &j.Attempts[i]
		b = binary.AppendVarint(b, int64(a.N))
		b = binenc.AppendString(b, a.Worker)
		b = appendTime(b, a.Started)
		b = appendTime(b, a.Ended)
		b = append(b, outcomeCodes[a.Outcome])
		b = binary.AppendVarint(b, int64(a.ExitCode))
		b = binenc.AppendString(b, a.Error)
		b = binenc.AppendString(b, a.Output)
		b = binenc.AppendString(b, a.Data)
		b = binenc.AppendMap(b, a.Stats)
		b = binenc.AppendString(b, a.Timeout)
		b = binenc.AppendString(b, a.TimeoutFrom)
	}
	b = binary.AppendUvarint(b, uint64(len(j.Events)))
	for i := range j.Events {
		b = appendTime(b, j.Events[i].At)
		b = binenc.AppendString(b, j.Events[i].Text)
	}
	b = binenc.AppendStrings(b, j.Children)
	b = binenc.AppendString(b, j.Parent)
	b = binenc.AppendString(b, j.Pin)
	b = binenc.AppendString(b, j.Submitter)
	b = binenc.AppendString(b, j.ThenID)
	return b
}

func appendSpec(b []byte, s *Spec) []byte {
	b = binenc.AppendString(b, s.Type)
	b = binenc.AppendMap(b, s.Args)
	b = binary.AppendVarint(b, int64(s.Priority))
	b = binary.AppendVarint(b, int64(s.Retries))
	b = binary.AppendVarint(b, int64(s.Timeout))
	b = binenc.AppendString(b, s.Group)
	b = binenc.AppendString(b, s.Key)
	b = binenc.AppendStrings(b, s.Tags)
	b = binenc.AppendString(b, s.LimitKey)
	b = binenc.AppendString(b, s.UniqueKey)
	b = binary.AppendVarint(b, int64(s.UniqueFor))
	b = appendTime(b, s.RunAt)
	b = binary.AppendVarint(b, int64(s.Delay))
	b = binenc.AppendString(b, s.Input)
	if s.Then == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendSpec(b, s.Then)
	}
	b = binenc.AppendBool(b, s.Broadcast)
	b = binenc.AppendString(b, s.Name)
	b = binenc.AppendString(b, s.Schedule)
	b = binenc.AppendString(b, s.Overlap)
	b = binenc.AppendString(b, s.Timezone)
	b = binenc.AppendString(b, s.CatchUp)
	return b
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
	d := decoder{Reader: binenc.NewReader(data, ErrRecord)}
	v := d.Byte()
	if !recordVersion(v) {
		if d.Err != nil {
			return nil, d.Err
		}
		return nil, fmt.Errorf("%w: version %d (this build reads %d to %d)", ErrRecord, v, recordV1, recordV4)
	}
	j := new(Job)
	j.Seq = d.Uvarint()
	j.ID = d.Str()
	d.spec(&j.Spec, 0)
	j.State = d.state()
	j.Attempt = d.Int()
	j.Worker = d.Str()
	j.NotBefore = d.time()
	j.Submitted = d.time()
	j.Updated = d.time()
	if n := d.Count(); n > 0 {
		j.Attempts = make([]Attempt, n)
		for i := range j.Attempts {
			a := &j.Attempts[i]
			a.N = d.Int()
			a.Worker = d.Str()
			a.Started = d.time()
			a.Ended = d.time()
			a.Outcome = d.outcome()
			a.ExitCode = d.Int()
			a.Error = d.Str()
			a.Output = d.Str()
			a.Data = d.Str()
			if v >= recordV2 {
				a.Stats = d.Map()
				a.Timeout = d.Str()
				a.TimeoutFrom = d.Str()
			}
		}
	}
	if n := d.Count(); n > 0 {
		j.Events = make([]Event, n)
		for i := range j.Events {
			j.Events[i].At = d.time()
			j.Events[i].Text = d.Str()
		}
	}
	j.Children = d.Strings()
	j.Parent = d.Str()
	j.Pin = d.Str()
	if v >= recordV3 {
		j.Submitter = d.Str()
	}
	if v >= recordV4 {
		j.ThenID = d.Str()
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	return j, nil
}

// decoder reads a record: the primitives of binenc.Reader, and the
// record's own types.
type decoder struct {
	binenc.Reader
	lastType string // a type name to share when the next one is equal
}

func (d *decoder) duration() time.Duration { return time.Duration(d.Varint()) }

func (d *decoder) time() time.Time {
	ns := d.Uvarint()
	if ns == 0 {
		return time.Time{}
	}
	if ns&1 == 0 || ns>>1 >= 1e9 {
		d.Fail("bad time")
		return time.Time{}
	}
	sec := d.Varint()
	return time.Unix(sec, int64(ns>>1)).UTC()
}

func (d *decoder) state() State {
	c := d.Byte()
	if int(c) >= len(stateByCode) || stateByCode[c] == "" {
		d.Fail("state code %d", c)
		return ""
	}
	return stateByCode[c]
}

func (d *decoder) outcome() Outcome {
	c := d.Byte()
	if int(c) >= len(outcomeByCod) {
		d.Fail("outcome code %d", c)
		return ""
	}
	return outcomeByCod[c]
}

// spec reads a Spec; depth counts Then nesting, which a record never has
// more than one level of.
func (d *decoder) spec(s *Spec, depth int) {
	s.Type = d.StrAs(d.lastType)
	s.Args = d.Map()
	s.Priority = d.Int()
	s.Retries = d.Int()
	s.Timeout = d.duration()
	s.Group = d.Str()
	s.Key = d.Str()
	s.Tags = d.Strings()
	s.LimitKey = d.Str()
	s.UniqueKey = d.Str()
	s.UniqueFor = d.duration()
	s.RunAt = d.time()
	s.Delay = d.duration()
	s.Input = d.Str()
	if d.Bool() {
		// A follow-up's own then is read, so that Spec.Validate refuses it
		// in the words it gives every caller; one level deeper is not.
		if depth > 1 {
			d.Fail("then nested in then nested in then")
			return
		}
		s.Then = new(Spec)
		d.spec(s.Then, depth+1)
	}
	s.Broadcast = d.Bool()
	s.Name = d.Str()
	s.Schedule = d.Str()
	s.Overlap = d.Str()
	s.Timezone = d.Str()
	s.CatchUp = d.Str()
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
	d := decoder{Reader: binenc.NewReader(data, ErrRecord), lastType: sd.lastType}
	d.spec(s, 0)
	if d.Err != nil {
		return nil, d.Err
	}
	sd.lastType = s.Type
	return d.B, nil
}
