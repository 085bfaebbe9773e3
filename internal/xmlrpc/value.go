package xmlrpc

// This file reads the values of a document: scalars, structs and arrays.

import (
	"encoding/base64"
	"errors"
	"math"
	"strconv"
)

// collect returns the elements gathered in p.scratch since base, and
// drops them from it.
func (p *parser) collect(base int) []any {
	a := make([]any, len(p.scratch)-base)
	copy(a, p.scratch[base:])
	clear(p.scratch[base:])
	p.scratch = p.scratch[:base]
	return a
}

// value parses the content of a <value>, after its start tag. depth is the
// number of structs and arrays around it.
func (p *parser) value(depth int) (any, error) {
	p.values++
	if p.values > p.lim.MaxValues {
		return nil, p.fail(ErrLimit, "more than %d values (MaxValues)", p.lim.MaxValues)
	}
	if err := p.gatherText(); err != nil {
		return nil, err
	}
	if p.tok == tokEnd {
		return p.stringValue(p.gathered()), nil
	}
	if p.acc.text {
		return nil, p.fail(ErrParse, "text %s mixed with %s in <value>", QuoteShort(string(p.gathered())), p.tagOf(p.name))
	}
	v, err := p.typed(depth)
	if err != nil {
		return nil, err
	}
	if err := p.expectEnd("value"); err != nil {
		return nil, err
	}
	return v, nil
}

// typed parses a typed value element, after its start tag, up to its end

// typed parses a typed value element, after its start tag, up to its end
// tag.
func (p *parser) typed(depth int) (any, error) {
	local := p.local(p.name)
	if !p.noSpace(p.name) && string(local) != "nil" && string(local) != "i8" {
		return nil, p.fail(ErrParse, "unknown element %s in <value>", p.tagOf(p.name))
	}
	switch name := string(local); name {
	case "string":
		s, err := p.text("string")
		if err != nil {
			return nil, err
		}
		return p.stringValue(s), nil
	case "int", "i4", "i8":
		return p.intValue(name)
	case "boolean":
		return p.boolValue()
	case "double":
		return p.doubleValue()
	case "dateTime.iso8601":
		return p.dateTimeValue()
	case "base64":
		return p.base64Value()
	case "nil":
		if err := p.expectEnd("nil"); err != nil {
			return nil, err
		}
		return nil, nil
	case "struct", "array":
		if depth+1 > p.lim.MaxDepth {
			return nil, p.fail(ErrLimit, "structs and arrays nested deeper than %d (MaxDepth)", p.lim.MaxDepth)
		}
		if name == "struct" {
			return p.structValue(depth + 1)
		}
		return p.arrayValue(depth + 1)
	}
	return nil, p.fail(ErrParse, "unknown element %s in <value>", p.tagOf(p.name))
}

// boolValue parses the content of <boolean>, after its start tag, up to
// its end tag.
func (p *parser) boolValue() (any, error) {
	s, err := p.text("boolean")
	if err != nil {
		return nil, err
	}
	switch string(trimSpace(s)) {
	case "0":
		return false, nil
	case "1":
		return true, nil
	}
	return nil, p.fail(ErrParse, "bad <boolean> %s: want 0 or 1", QuoteShort(string(s)))
}

// doubleValue parses the content of <double>, after its start tag, up to
// its end tag.
func (p *parser) doubleValue() (any, error) {
	s, err := p.text("double")
	if err != nil {
		return nil, err
	}
	ts := trimSpace(s)
	if !doubleOK(ts) {
		if nonFinite(string(ts)) {
			p.failRange("bad <double> %s: not a finite number", QuoteShort(string(s)))
			return nil, nil
		}
		return nil, p.fail(ErrParse, "bad <double> %s", QuoteShort(string(s)))
	}
	f, err := strconv.ParseFloat(string(ts), 64)
	if err != nil || math.IsInf(f, 0) {
		p.failRange("<double> %s out of float64 range", QuoteShort(string(s)))
		return nil, nil
	}
	return f, nil
}

// dateTimeValue parses the content of <dateTime.iso8601>, after its start
// tag, up to its end tag.
func (p *parser) dateTimeValue() (any, error) {
	s, err := p.text("dateTime.iso8601")
	if err != nil {
		return nil, err
	}
	tm, err := parseDateTime(string(trimSpace(s)))
	if err != nil {
		return nil, p.fail(ErrParse, "bad <dateTime.iso8601> %s: %v", QuoteShort(string(s)), err)
	}
	return tm, nil
}

// base64Value parses the content of <base64>, after its start tag, up to
// its end tag. Whitespace inside it is ignored.
func (p *parser) base64Value() (any, error) {
	s, err := p.text("base64")
	if err != nil {
		return nil, err
	}
	t := p.tmp[:0]
	for _, c := range s {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			t = append(t, c)
		}
	}
	p.tmp = t
	b := make([]byte, base64.StdEncoding.DecodedLen(len(t)))
	n, err := base64.StdEncoding.Decode(b, t)
	if err != nil {
		return nil, p.fail(ErrParse, "bad <base64>: %v", err)
	}
	return b[:n], nil
}

// intValue parses the content of <int>, <i4> or <i8> (name), after its
// start tag, up to its end tag.
func (p *parser) intValue(name string) (any, error) {
	s, err := p.text(name)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(string(trimSpace(s)), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			p.failRange("<%s> %s out of int64 range", name, QuoteShort(string(s)))
			return nil, nil
		}
		return nil, p.fail(ErrParse, "bad <%s> %s", name, QuoteShort(string(s)))
	}
	return n, nil
}

// structLinear is the number of members up to which structValue looks
// for duplicate names among the members read so far, one by one; beyond
// it, it puts them in the map at once and asks the map.
const structLinear = 32

// structValue parses the content of a <struct>, after its start tag.
func (p *parser) structValue(depth int) (map[string]any, error) {
	// The members wait in p.members, so that the map is made at its size.
	base := len(p.members)
	var m map[string]any // made early for a big struct
	for {
		if err := p.child("struct"); err != nil {
			return nil, err
		}
		if p.tok != tokStart {
			break
		}
		if !p.is("member") {
			return nil, p.fail(ErrParse, "unexpected element %s in <struct>", p.tagOf(p.name))
		}
		if err := p.expectStart("member", "name"); err != nil {
			return nil, err
		}
		raw, err := p.text("name")
		if err != nil {
			return nil, err
		}
		name, hash := p.memberName(raw)
		dup := false
		if m != nil {
			_, dup = m[name]
		} else {
			for _, e := range p.members[base:] {
				if e.hash == hash && e.name == name {
					dup = true
					break
				}
			}
		}
		if dup {
			return nil, p.fail(ErrParse, "duplicate member %q", name)
		}
		p.path.PushMember(name)
		v, err := p.valueIn("member", depth)
		if err != nil {
			return nil, err
		}
		p.path.Pop()
		if m != nil {
			m[name] = v
			continue
		}
		p.members = append(p.members, member{name: name, hash: hash, v: v})
		if n := len(p.members) - base; n > structLinear {
			m = make(map[string]any, 2*n)
			p.moveMembers(m, base)
		}
	}
	if m == nil {
		m = make(map[string]any, len(p.members)-base)
		p.moveMembers(m, base)
	}
	return m, nil
}

// moveMembers moves the members waiting in p.members since base into m.
func (p *parser) moveMembers(m map[string]any, base int) {
	for _, e := range p.members[base:] {
		m[e.name] = e.v
	}
	clear(p.members[base:])
	p.members = p.members[:base]
}

// arrayValue parses the content of an <array>, after its start tag.
func (p *parser) arrayValue(depth int) ([]any, error) {
	if err := p.expectStart("array", "data"); err != nil {
		return nil, err
	}
	base := len(p.scratch)
	for {
		if err := p.child("data"); err != nil {
			return nil, err
		}
		if p.tok != tokStart {
			break
		}
		p.path.PushIndex(len(p.scratch) - base)
		if !p.is("value") {
			return nil, p.fail(ErrParse, "unexpected element %s in <data>", p.tagOf(p.name))
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.path.Pop()
		p.scratch = append(p.scratch, v)
	}
	a := p.collect(base)
	if err := p.expectEnd("array"); err != nil {
		return nil, err
	}
	return a, nil
}

// valueIn parses the <value> that is the content of elem (a param, a
// member or a fault), depth structs and arrays deep, and then elem's end
// tag.
func (p *parser) valueIn(elem string, depth int) (any, error) {
	if err := p.expectStart(elem, "value"); err != nil {
		return nil, err
	}
	v, err := p.value(depth)
	if err != nil {
		return nil, err
	}
	if err := p.expectEnd(elem); err != nil {
		return nil, err
	}
	return v, nil
}
