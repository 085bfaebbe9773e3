package jobs

import (
	"encoding/binary"
	"fmt"
	"time"
)

// RecordHead is what PeekRecord reads of a record: the fields a master
// needs to decide whether a stored job stays in its memory, and to count
// the job when it does not. The byte slices point into the record (for a
// binary record) and are valid as long as it is.
type RecordHead struct {
	Seq       uint64
	ID        []byte
	State     State
	Submitted time.Time
	Updated   time.Time
	Type      []byte // Spec.Type
	Group     []byte // Spec.Group
	Key       []byte // Spec.Key
	UniqueKey []byte // Spec.UniqueKey
	UniqueFor time.Duration
}

// PeekRecord reads the head of a record without decoding the job: for a
// binary record it allocates nothing and costs a fraction of DecodeRecord
// (it steps over the strings, args, attempts and events it does not
// return). It checks the whole record all the same: it fails exactly when
// DecodeRecord fails, with DecodeRecord's error. A JSON record (an older
// store's) is decoded in full.
func PeekRecord(data []byte) (RecordHead, error) {
	if len(data) > 0 && data[0] == '{' {
		j, err := DecodeRecord(data)
		if err != nil {
			return RecordHead{}, err
		}
		return RecordHead{Seq: j.Seq, ID: []byte(j.ID), State: j.State, Submitted: j.Submitted, Updated: j.Updated,
			Type: []byte(j.Spec.Type), Group: []byte(j.Spec.Group), Key: []byte(j.Spec.Key), UniqueKey: []byte(j.Spec.UniqueKey),
			UniqueFor: j.Spec.UniqueFor}, nil
	}
	p := peeker{b: data}
	h, ok := p.record()
	if !ok {
		// The record is bad: DecodeRecord says how, in its words.
		_, err := DecodeRecord(data)
		if err == nil {
			err = fmt.Errorf("%w: unreadable", ErrRecord) // not reached: they accept the same records
		}
		return RecordHead{}, err
	}
	return h, nil
}

// peeker steps through a binary record as DecodeRecord reads it, checking
// what DecodeRecord checks, without making anything. bad is set at the
// first problem, and every read after it fails.
type peeker struct {
	b   []byte
	i   int
	bad bool
	v   byte // the record's version
}

// attempt steps over an Attempt and returns its Worker.
func (p *peeker) attempt() (worker []byte) {
	p.int() // N
	worker = p.str()
	p.time() // Started
	p.time() // Ended
	if c := p.byte(); int(c) >= len(outcomeByCod) {
		p.bad = true
	}
	p.int()  // ExitCode
	p.skip() // Error
	p.skip() // Output
	p.skip() // Data
	p.attemptV2()
	return worker
}

// attemptV2 steps over what recordV2 added to an attempt (Stats,
// Timeout, TimeoutFrom), when the record has it.
func (p *peeker) attemptV2() {
	if p.v < recordV2 {
		return
	}
	p.skipMap() // Stats
	p.skip()    // Timeout
	p.skip()    // TimeoutFrom
}

func (p *peeker) record() (h RecordHead, ok bool) {
	h = p.head()
	if p.bad {
		return h, false
	}
	for n := p.count(); n > 0 && !p.bad; n-- { // Attempts
		p.attempt()
	}
	for n := p.count(); n > 0 && !p.bad; n-- { // Events
		p.time()
		p.skip()
	}
	p.skipList() // Children
	p.skip()     // Parent
	p.skip()     // Pin
	if p.v >= recordV3 {
		p.skip() // Submitter
	}
	if p.v >= recordV4 {
		p.skip() // ThenID
	}
	if p.bad || p.i != len(p.b) {
		return RecordHead{}, false
	}
	return h, true
}

// head reads a record up to its Updated time.
func (p *peeker) head() (h RecordHead) {
	if p.v = p.byte(); !recordVersion(p.v) {
		p.fail()
		return h
	}
	h.Seq = p.uvarint()
	h.ID = p.str()
	p.spec(&h, 0)
	h.State = p.state()
	p.int()  // Attempt
	p.skip() // Worker
	p.time() // NotBefore
	h.Submitted = p.time()
	h.Updated = p.time()
	return h
}

// PeekHead is PeekRecord for a record already known sound (a store's,
// whose checksum matched): it reads up to the job's Updated time and does
// not check the rest (the attempts, events and children that make most of
// a record), so it costs a fraction of PeekRecord. It reports false for a
// record it cannot read that far; a JSON record is decoded in full.
func PeekHead(data []byte) (RecordHead, bool) {
	if len(data) > 0 && data[0] == '{' {
		h, err := PeekRecord(data)
		return h, err == nil
	}
	p := peeker{b: data}
	h := p.head()
	return h, !p.bad
}

// spec steps over a Spec, keeping the fields of h (when h is not nil);
// depth counts Then nesting, as in decoder.spec.
func (p *peeker) spec(h *RecordHead, depth int) {
	typ := p.str()
	p.skipMap() // Args
	p.int()     // Priority
	p.int()     // Retries
	p.varint()  // Timeout
	group := p.str()
	key := p.str()
	p.skipList() // Tags
	p.skip()     // LimitKey
	unique := p.str()
	uniqueFor := time.Duration(p.varint())
	p.time()   // RunAt
	p.varint() // Delay
	p.skip()   // Input
	if p.bool() {
		if depth > 0 {
			p.bad = true
			return
		}
		p.spec(nil, depth+1)
	}
	p.bool() // Broadcast
	p.skip() // Name
	p.skip() // Schedule
	p.skip() // Overlap
	p.skip() // Timezone
	p.skip() // CatchUp
	if h != nil {
		h.Type, h.Group, h.Key, h.UniqueKey, h.UniqueFor = typ, group, key, unique, uniqueFor
	}
}

func (p *peeker) fail() {
	p.bad = true
	p.i = len(p.b)
}

func (p *peeker) byte() byte {
	if p.i >= len(p.b) {
		p.fail()
		return 0
	}
	c := p.b[p.i]
	p.i++
	return c
}

// uvarint reads an unsigned varint as binary.Uvarint does (failing where
// it fails: cut short, or over 64 bits), in line.
func (p *peeker) uvarint() uint64 {
	var x uint64
	var s uint
	for k := range binary.MaxVarintLen64 {
		if p.i >= len(p.b) {
			break
		}
		c := p.b[p.i]
		p.i++
		if c < 0x80 {
			if k == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return x | uint64(c)<<s
		}
		x |= uint64(c&0x7f) << s
		s += 7
	}
	p.fail()
	return 0
}

func (p *peeker) varint() int64 {
	ux := p.uvarint() // binary.Varint's own decoding
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (p *peeker) int() {
	if v := p.varint(); int64(int(v)) != v {
		p.fail()
	}
}

// count reads the length of a list or string, which cannot be more than
// the bytes left (binenc.Reader.Count).
func (p *peeker) count() int {
	n := p.uvarint()
	if n > uint64(len(p.b)-p.i) {
		p.fail()
		return 0
	}
	return int(n)
}

// str returns a string's bytes, in the record; nil when it is empty.
func (p *peeker) str() []byte {
	n := p.count()
	if n == 0 {
		return nil
	}
	s := p.b[p.i : p.i+n : p.i+n]
	p.i += n
	return s
}

func (p *peeker) skip() { p.i += p.count() }

func (p *peeker) skipList() {
	for n := p.count(); n > 0 && !p.bad; n-- {
		p.skip()
	}
}

func (p *peeker) skipMap() {
	for n := p.count(); n > 0 && !p.bad; n-- {
		p.skip() // key
		p.skip() // value
	}
}

func (p *peeker) bool() bool {
	switch p.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	p.fail()
	return false
}

func (p *peeker) state() State {
	c := p.byte()
	if int(c) >= len(stateByCode) || stateByCode[c] == "" {
		p.fail()
		return ""
	}
	return stateByCode[c]
}

// time reads a time as decoder.time does.
func (p *peeker) time() time.Time {
	ns := p.uvarint()
	if ns == 0 {
		return time.Time{}
	}
	if ns&1 == 0 || ns>>1 >= 1e9 {
		p.fail()
		return time.Time{}
	}
	return time.Unix(p.varint(), int64(ns>>1)).UTC()
}
