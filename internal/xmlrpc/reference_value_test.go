package xmlrpc

// This file is the value half of the reference decoder of
// reference_test.go.

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// value parses the content of a <value>, after its start tag. depth is the
// number of structs and arrays around it.
func (p *stdParser) value(path string, depth int) (any, error) {
	p.values++
	if p.values > p.lim.MaxValues {
		return nil, p.fail(ErrLimit, path, "more than %d values (MaxValues)", p.lim.MaxValues)
	}
	var text strings.Builder
	for {
		tok, err := p.token(path, false)
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			return text.String(), nil
		case xml.StartElement:
			if !isSpace([]byte(text.String())) {
				return nil, p.fail(ErrParse, path, "text %s mixed with %s in <value>", QuoteShort(text.String()), tag(t.Name))
			}
			v, err := p.typed(t, path, depth)
			if err != nil {
				return nil, err
			}
			if err := p.expectEnd("value", path); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
}

// doubleSyntax is the form of an XML-RPC double this decoder accepts.
var doubleSyntax = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// nonFiniteSyntax is how NaN and the infinities are spelled, refused
// with ErrRange.
var nonFiniteSyntax = regexp.MustCompile(`^(?i)[+-]?(nan|inf|infinity)$`)

// typed parses a typed value element, after its start tag t, up to its end
// tag.
func (p *stdParser) typed(t xml.StartElement, path string, depth int) (any, error) {
	name := local(t.Name)
	switch name {
	case "int", "i4", "i8", "boolean", "double", "dateTime.iso8601", "base64":
		s, err := p.text(name, path)
		if err != nil {
			return nil, err
		}
		return p.scalar(name, s, path)
	case "string":
		return p.text(name, path)
	case "nil":
		if err := p.expectEnd(name, path); err != nil {
			return nil, err
		}
		return nil, nil
	case "struct":
		if depth+1 > p.lim.MaxDepth {
			return nil, p.fail(ErrLimit, path, "structs and arrays nested deeper than %d (MaxDepth)", p.lim.MaxDepth)
		}
		return p.structValue(path, depth+1)
	case "array":
		if depth+1 > p.lim.MaxDepth {
			return nil, p.fail(ErrLimit, path, "structs and arrays nested deeper than %d (MaxDepth)", p.lim.MaxDepth)
		}
		return p.arrayValue(path, depth+1)
	}
	return nil, p.fail(ErrParse, path, "unknown element %s in <value>", tag(t.Name))
}

// scalar parses s, the text of the scalar element name.
func (p *stdParser) scalar(name, s, path string) (any, error) {
	switch name {
	case "boolean":
		switch strings.Trim(s, space) {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return nil, p.fail(ErrParse, path, "bad <boolean> %s: want 0 or 1", QuoteShort(s))
	case "double":
		ts := strings.Trim(s, space)
		if !doubleSyntax.MatchString(ts) {
			if nonFiniteSyntax.MatchString(ts) {
				p.failRange(path, "bad <double> %s: not a finite number", QuoteShort(s))
				return nil, nil
			}
			return nil, p.fail(ErrParse, path, "bad <double> %s", QuoteShort(s))
		}
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil || math.IsInf(f, 0) {
			p.failRange(path, "<double> %s out of float64 range", QuoteShort(s))
			return nil, nil
		}
		return f, nil
	case "dateTime.iso8601":
		tm, err := parseDateTime(strings.Trim(s, space))
		if err != nil {
			return nil, p.fail(ErrParse, path, "bad <dateTime.iso8601> %s: %v", QuoteShort(s), err)
		}
		return tm, nil
	case "base64":
		s = strings.Map(func(r rune) rune {
			if strings.ContainsRune(space, r) {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, p.fail(ErrParse, path, "bad <base64>: %v", err)
		}
		if b == nil {
			b = []byte{}
		}
		return b, nil
	}
	n, err := strconv.ParseInt(strings.Trim(s, space), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			p.failRange(path, "<%s> %s out of int64 range", name, QuoteShort(s))
			return nil, nil
		}
		return nil, p.fail(ErrParse, path, "bad <%s> %s", name, QuoteShort(s))
	}
	return n, nil
}

// structValue parses the content of a <struct>, after its start tag.
func (p *stdParser) structValue(path string, depth int) (map[string]any, error) {
	m := map[string]any{}
	for {
		t, ok, err := p.child("struct", path)
		if err != nil {
			return nil, err
		}
		if !ok {
			return m, nil
		}
		if local(t.Name) != "member" {
			return nil, p.fail(ErrParse, path, "unexpected element %s in <struct>", tag(t.Name))
		}
		if err := p.expectStart("member", "name", path); err != nil {
			return nil, err
		}
		name, err := p.text("name", path)
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, p.fail(ErrParse, path, "duplicate member %q", name)
		}
		mpath := FieldPath(path, name)
		if err := p.expectStart("member", "value", mpath); err != nil {
			return nil, err
		}
		v, err := p.value(mpath, depth)
		if err != nil {
			return nil, err
		}
		if err := p.expectEnd("member", mpath); err != nil {
			return nil, err
		}
		m[name] = v
	}
}

// arrayValue parses the content of an <array>, after its start tag.
func (p *stdParser) arrayValue(path string, depth int) ([]any, error) {
	if err := p.expectStart("array", "data", path); err != nil {
		return nil, err
	}
	a := []any{}
	for {
		t, ok, err := p.child("data", path)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		epath := IndexPath(path, len(a))
		if local(t.Name) != "value" {
			return nil, p.fail(ErrParse, epath, "unexpected element %s in <data>", tag(t.Name))
		}
		v, err := p.value(epath, depth)
		if err != nil {
			return nil, err
		}
		a = append(a, v)
	}
	if err := p.expectEnd("array", path); err != nil {
		return nil, err
	}
	return a, nil
}

// local returns the name an element is known by: its local name if it
// has no namespace, or if it is one of the extension types (nil, i8) that
// Apache sends in its own namespace. Other namespaced elements get a name
// no caller expects.
func local(n xml.Name) string {
	if n.Space == "" || n.Local == "nil" || n.Local == "i8" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// nameString formats a (possibly namespaced) XML name.
func nameString(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// tag formats an element name as a start tag, for error messages.
func tag(n xml.Name) string {
	return "<" + nameString(n) + ">"
}

// isSpace reports whether b is only XML whitespace.
func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
