package rpcapi

// This file is the XML layer of the XML-RPC transport: it turns a request
// body into a method name and a tree of plain Go values, and turns such a
// tree back into a response body. It knows nothing about the wire types;
// xmlrpc_map.go maps trees onto them.
//
// A tree is made of these types, and only these:
//
//	int64            <int>, <i4>, <i8>
//	bool             <boolean>
//	string           <string>, or text directly inside <value>
//	float64          <double>
//	time.Time        <dateTime.iso8601>, always in UTC
//	[]byte           <base64>
//	map[string]any   <struct>
//	[]any            <array>
//	nil              <nil/> (the allow_none extension of Python and Apache)
//
// The encoder also takes int, as int64.
//
// Decisions, beyond what the XML-RPC specification says:
//
//   - The decoder is strict. Unknown elements, attributes other than
//     namespace declarations, text where only elements belong, a second
//     root element, content after the root, DTDs (<!DOCTYPE ...>) and any
//     entity other than the five XML predefined ones are errors. Comments
//     are ignored. Only UTF-8 input is accepted. A character reference must
//     name a character XML 1.0 allows: &#0; and &#xD800; (a surrogate) are
//     errors.
//   - Whitespace between elements is ignored. Text directly inside <value>
//     is a string kept exactly, whitespace included; <value></value> and
//     <value/> are "".
//   - The text of <int>, <boolean>, <double> and <dateTime.iso8601> is
//     trimmed of surrounding XML whitespace before parsing; the text of
//     <string> and of struct member names is kept exactly; all whitespace
//     inside <base64> is ignored.
//   - <int> and <i4> take the whole int64 range, like <i8> (Python's own
//     decoder does the same); beyond int64 is an error. <nil> and <i8> are
//     accepted in any XML namespace, so Apache's <ex:nil/> and <ex:i8> work.
//   - A double is a decimal number with an optional exponent ("1.5",
//     "-2e-07"). NaN and infinities are refused both ways: XML-RPC cannot
//     carry them and other peers cannot read them.
//   - A dateTime is YYYYMMDD or YYYY-MM-DD, "T", hh:mm:ss or hhmmss, an
//     optional fraction of up to 9 digits, and an optional "Z" or ±hh:mm /
//     ±hhmm offset. Without an offset it is taken as UTC. The decoded time
//     is converted to UTC and must fall in the years 0000 to 9999.
//   - The method name is trimmed of surrounding whitespace, then must be 1
//     to 128 characters of [A-Za-z0-9_.:/].
//   - Decoded arrays, structs, base64 and the params list are never nil,
//     only empty.
//   - The encoder writes ints in the int32 range as <int> and the others
//     as <i8>, which Python reads (it refuses big values in <int>).
//   - The encoder writes times as 20060102T15:04:05 in UTC, dropping any
//     fraction of a second: Python's decoder reads only that form.
//   - XML 1.0 cannot carry every string. The encoder replaces invalid UTF-8
//     and the characters XML 1.0 forbids (control characters other than
//     tab, newline and carriage return, U+FFFE and U+FFFF) with U+FFFD. It
//     writes a carriage return as &#xD; so that the reader's line-end
//     normalisation does not turn it into a newline. Struct member names
//     are escaped the same way; two names that become equal are an error.

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// errXMLParse is wrapped by every decoder error caused by malformed XML or
// by a document that is well-formed but not an XML-RPC call. The XML-RPC
// handler maps it to fault -32700.
var errXMLParse = errors.New("xmlrpc: malformed request")

// errXMLLimit is wrapped by decoder errors caused by a request that exceeds
// one of the xmlLimits.
var errXMLLimit = errors.New("xmlrpc: request exceeds a decoder limit")

// Defaults of xmlLimits, and bounds of the encoder.
const (
	xmlDefaultMaxDepth  = 32
	xmlDefaultMaxValues = 1_000_000
	xmlMaxMethodName    = 128
	// xmlEncodeMaxDepth bounds the nesting the encoder follows, so that a
	// cyclic tree is an error instead of a stack overflow.
	xmlEncodeMaxDepth = 1000
)

// xmlLimits bounds the work and memory of decoding one request. A zero
// field takes its default. The size of the body is not bounded here: the
// HTTP handler wraps the body with http.MaxBytesReader.
type xmlLimits struct {
	// MaxDepth bounds the nesting of structs and arrays: a scalar param is
	// at depth 0, an array param at depth 1, a struct in it at depth 2.
	// The default is 32.
	MaxDepth int
	// MaxValues bounds the number of <value> elements decoded in total,
	// containers included. The default is 1,000,000.
	MaxValues int
}

// withDefaults returns l with its zero (or negative) fields set to their
// defaults.
func (l xmlLimits) withDefaults() xmlLimits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = xmlDefaultMaxDepth
	}
	if l.MaxValues <= 0 {
		l.MaxValues = xmlDefaultMaxValues
	}
	return l
}

// xmlError is a decoder error. It says what went wrong, at which value (as
// a path like params[0].specs[2].priority) and where in the input. It
// wraps its kind (errXMLParse or errXMLLimit; none for a read error) and
// its cause, if any, so errors.Is and errors.As see both.
type xmlError struct {
	kind      error
	path      string
	msg       string
	cause     error
	line, col int
}

// Error formats the error as "xmlrpc: PATH: MSG: CAUSE (line L, col C)",
// leaving out the parts that are empty.
func (e *xmlError) Error() string {
	var b strings.Builder
	b.WriteString("xmlrpc: ")
	if e.path != "" {
		b.WriteString(e.path)
		b.WriteString(": ")
	}
	b.WriteString(e.msg)
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	if e.line > 0 {
		fmt.Fprintf(&b, " (line %d, col %d)", e.line, e.col)
	}
	return b.String()
}

// Unwrap returns the kind and the cause of the error.
func (e *xmlError) Unwrap() []error {
	var errs []error
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// xmlDecodeCall parses an XML-RPC methodCall from r. It returns the method
// name and the params as trees (see the top of this file for the types);
// params is empty, not nil, when the call has none. It reads r to the end
// first, then parses the body in memory with the scanner of
// xmlrpc_scan.go.
//
// Errors wrap errXMLParse for malformed or unexpected input and errXMLLimit
// when the request exceeds lim (whose zero fields take their defaults). An
// error from r itself, such as *http.MaxBytesError, is wrapped with %w and
// wraps neither sentinel.
func xmlDecodeCall(r io.Reader, lim xmlLimits) (method string, params []any, err error) {
	p := xmlParserPool.Get().(*xmlParser)
	defer p.release()
	if _, err := p.in.ReadFrom(r); err != nil {
		line, col := xmlPosition(p.in.Bytes(), p.in.Len())
		return "", nil, &xmlError{msg: "reading request", cause: err, line: line, col: col}
	}
	p.data = p.in.Bytes()
	p.lim = lim.withDefaults()
	return p.call()
}

// xmlParserPool keeps parsers, with their buffers, from one call to the
// next.
var xmlParserPool = sync.Pool{New: func() any { return new(xmlParser) }}

// Parsers whose buffers grew beyond these sizes are not kept.
const (
	xmlPoolMaxBody    = 16 << 20 // bytes of request body
	xmlPoolMaxText    = 1 << 20  // bytes of decoded text
	xmlPoolMaxScratch = 1 << 16  // array elements, struct members
)

// xmlParser is the state of one xmlDecodeCall: the scanner's (see
// xmlrpc_scan.go) and the grammar's.
type xmlParser struct {
	in      bytes.Buffer // the request body
	data    []byte       // in.Bytes()
	pos     int          // the offset of the next byte to scan
	lim     xmlLimits
	values  int  // <value> elements seen so far
	started bool // a token was read: an <?xml?> declaration must come first

	// The token read last by next, with its name or text.
	tok        xmlTok
	name       xmlQName
	span       xmlSpan
	closeEmpty bool // the end of an empty-element tag is due

	open   []xmlOpenElem     // elements whose end tags are due, innermost last
	ns     map[string]string // namespace prefix ("" for the default) -> URI, in scope
	nsUndo []xmlNSUndo       // how to undo the declarations in scope, innermost last
	attrs  []xmlAttr         // the attributes of the last start tag

	// The path of the value being read, for errors.
	path wirePath

	acc      xmlTextAcc    // the text read so far by value or text
	buf      []byte        // decoded text, when it differs from the input
	tmp      []byte        // base64 without its whitespace
	scratch  []any         // elements of the arrays being read, innermost last
	members  []xmlMember   // members of the structs being read, innermost last
	interned []xmlInterned // recently read short strings, by hash

	nameCheck *xml.Encoder // for names with non-ASCII characters (isName)
}

// xmlMember is a member of a struct being read.
type xmlMember struct {
	name string
	hash uint32 // of name, to compare names quickly
	v    any
}

// xmlTextAcc gathers the text tokens of one element without decoding them
// while there is only one.
type xmlTextAcc struct {
	n     int     // tokens seen
	first xmlSpan // the first of them
	text  bool    // one of them holds more than whitespace
}

// xmlInterned is a string as read, and the same string as an any, so that
// equal short strings share their memory and their boxing.
type xmlInterned struct {
	s string
	v any
}

// Interning of short strings.
const (
	xmlInternMax   = 24  // the longest string interned, in bytes
	xmlInternSlots = 256 // entries of xmlParser.interned, a power of 2
)

// release resets p and puts it back in the pool, unless its buffers grew
// too big to keep.
func (p *xmlParser) release() {
	if p.in.Cap() > xmlPoolMaxBody || cap(p.buf) > xmlPoolMaxText || cap(p.tmp) > xmlPoolMaxText ||
		cap(p.scratch) > xmlPoolMaxScratch || cap(p.members) > xmlPoolMaxScratch {
		return
	}
	p.in.Reset()
	p.data = nil
	p.pos, p.values, p.started = 0, 0, false
	p.tok, p.closeEmpty = xmlTokEOF, false
	p.open = p.open[:0]
	clear(p.ns)
	clear(p.nsUndo)
	p.nsUndo = p.nsUndo[:0]
	p.attrs = p.attrs[:0]
	p.path.root = ""
	clear(p.path.steps)
	p.path.steps = p.path.steps[:0]
	p.acc = xmlTextAcc{}
	p.buf, p.tmp = p.buf[:0], p.tmp[:0]
	clear(p.scratch)
	p.scratch = p.scratch[:0]
	clear(p.members)
	p.members = p.members[:0]
	xmlParserPool.Put(p)
}

// fail returns an error of the given kind at the current path, positioned
// just after the last token read.
func (p *xmlParser) fail(kind error, format string, args ...any) error {
	line, col := xmlPosition(p.data, p.pos)
	return &xmlError{kind: kind, path: p.path.String(), msg: fmt.Sprintf(format, args...), line: line, col: col}
}

// spanString returns the text of s, for messages.
func (p *xmlParser) spanString(s xmlSpan) string {
	return string(p.appendSpan(nil, s))
}

// addText adds a text token to the text being gathered.
func (p *xmlParser) addText(s xmlSpan) {
	switch p.acc.n {
	case 0:
		p.acc.first = s
	case 1:
		p.buf = p.appendSpan(p.appendSpan(p.buf[:0], p.acc.first), s)
	default:
		p.buf = p.appendSpan(p.buf, s)
	}
	p.acc.n++
	p.acc.text = p.acc.text || s.text
}

// gathered returns the text gathered so far, decoded. It points into the
// input or into p.buf: it is valid until the next token.
func (p *xmlParser) gathered() []byte {
	f := p.acc.first
	switch {
	case p.acc.n == 0:
		return nil
	case p.acc.n > 1:
		return p.buf
	case f.refs || f.cr:
		p.buf = p.appendSpan(p.buf[:0], f)
		return p.buf
	}
	return p.data[f.start:f.end]
}

// xmlHash returns the FNV-1a hash of b.
func xmlHash(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// intern returns the interned copy of the short string b, whose hash is h.
func (p *xmlParser) intern(b []byte, h uint32) *xmlInterned {
	if p.interned == nil {
		p.interned = make([]xmlInterned, xmlInternSlots)
	}
	e := &p.interned[h&(xmlInternSlots-1)]
	if e.s != string(b) {
		s := string(b)
		e.s, e.v = s, s
	}
	return e
}

// stringValue returns b as a string in an any.
func (p *xmlParser) stringValue(b []byte) any {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > xmlInternMax:
		return string(b)
	}
	return p.intern(b, xmlHash(b)).v
}

// memberName returns b as a string, and its hash.
func (p *xmlParser) memberName(b []byte) (string, uint32) {
	h := xmlHash(b)
	switch {
	case len(b) == 0:
		return "", h
	case len(b) > xmlInternMax:
		return string(b), h
	}
	return p.intern(b, h).s, h
}

// child reads the next start or end tag inside the element parent,
// skipping whitespace. Other text is an error.
func (p *xmlParser) child(parent string) error {
	for {
		if err := p.next(false); err != nil {
			return err
		}
		if p.tok != xmlTokText {
			return nil
		}
		if p.span.text {
			return p.fail(errXMLParse, "unexpected text %s in <%s>", xmlQuoteShort(p.spanString(p.span)), parent)
		}
	}
}

// is reports whether the start tag read last is the element want: its
// local name, in no namespace (or in any namespace for nil and i8, which
// Apache sends in its own).
func (p *xmlParser) is(want string) bool {
	if string(p.local(p.name)) != want {
		return false
	}
	return want == "nil" || want == "i8" || p.noSpace(p.name)
}

// expectStart reads the next child of parent, which must be the element
// want.
func (p *xmlParser) expectStart(parent, want string) error {
	if err := p.child(parent); err != nil {
		return err
	}
	if p.tok != xmlTokStart {
		return p.fail(errXMLParse, "missing <%s> in <%s>", want, parent)
	}
	if !p.is(want) {
		return p.fail(errXMLParse, "unexpected element %s in <%s>, want <%s>", p.tagOf(p.name), parent, want)
	}
	return nil
}

// expectEnd reads the next child of the element elem, which must be its
// end tag.
func (p *xmlParser) expectEnd(elem string) error {
	if err := p.child(elem); err != nil {
		return err
	}
	if p.tok == xmlTokStart {
		return p.fail(errXMLParse, "unexpected element %s in <%s>", p.tagOf(p.name), elem)
	}
	return nil
}

// text reads the text content of the element elem up to its end tag and
// returns it decoded, valid until the next token. Elements inside it are
// an error.
func (p *xmlParser) text(elem string) ([]byte, error) {
	p.acc = xmlTextAcc{}
	for {
		if err := p.next(false); err != nil {
			return nil, err
		}
		switch p.tok {
		case xmlTokText:
			p.addText(p.span)
		case xmlTokStart:
			return nil, p.fail(errXMLParse, "unexpected element %s in <%s>", p.tagOf(p.name), elem)
		default:
			return p.gathered(), nil
		}
	}
}

// call parses a whole document holding one methodCall.
func (p *xmlParser) call() (string, []any, error) {
	// Prolog: up to the root element.
	for {
		if err := p.next(true); err != nil {
			return "", nil, err
		}
		if p.tok == xmlTokEOF {
			return "", nil, p.fail(errXMLParse, "no <methodCall> element")
		}
		if p.tok == xmlTokText {
			if p.span.text {
				return "", nil, p.fail(errXMLParse, "unexpected text %s before <methodCall>", xmlQuoteShort(p.spanString(p.span)))
			}
			continue
		}
		if p.tok != xmlTokStart { // the scanner reports a stray end tag itself; be safe anyway
			return "", nil, p.fail(errXMLParse, "unexpected end tag before <methodCall>")
		}
		if !p.is("methodCall") {
			return "", nil, p.fail(errXMLParse, "root element is %s, want <methodCall>", p.tagOf(p.name))
		}
		break
	}

	if err := p.expectStart("methodCall", "methodName"); err != nil {
		return "", nil, err
	}
	p.path.root = "methodName"
	raw, err := p.text("methodName")
	if err != nil {
		return "", nil, err
	}
	method := string(xmlTrimSpace(raw))
	if !xmlValidMethodName(method) {
		return "", nil, p.fail(errXMLParse, "bad method name %s: want 1 to %d characters of A-Z a-z 0-9 _ . : /", xmlQuoteShort(method), xmlMaxMethodName)
	}
	p.path.root = ""

	params := []any{}
	if err := p.child("methodCall"); err != nil {
		return "", nil, err
	}
	if p.tok == xmlTokStart {
		if !p.is("params") {
			return "", nil, p.fail(errXMLParse, "unexpected element %s in <methodCall>", p.tagOf(p.name))
		}
		p.path.root = "params"
		if params, err = p.params(); err != nil {
			return "", nil, err
		}
		p.path.root = ""
		if err := p.expectEnd("methodCall"); err != nil {
			return "", nil, err
		}
	}

	// Epilog: nothing but whitespace and comments up to the end.
	for {
		if err := p.next(true); err != nil {
			return "", nil, err
		}
		switch p.tok {
		case xmlTokEOF:
			return method, params, nil
		case xmlTokText:
			if p.span.text {
				return "", nil, p.fail(errXMLParse, "trailing text %s after </methodCall>", xmlQuoteShort(p.spanString(p.span)))
			}
		case xmlTokStart:
			return "", nil, p.fail(errXMLParse, "second root element %s after </methodCall>", p.tagOf(p.name))
		}
	}
}

// params parses the content of <params>, after its start tag.
func (p *xmlParser) params() ([]any, error) {
	base := len(p.scratch)
	for {
		if err := p.child("params"); err != nil {
			return nil, err
		}
		if p.tok != xmlTokStart {
			return p.collect(base), nil
		}
		p.path.pushIndex(len(p.scratch) - base)
		if !p.is("param") {
			return nil, p.fail(errXMLParse, "unexpected element %s in <params>", p.tagOf(p.name))
		}
		if err := p.expectStart("param", "value"); err != nil {
			return nil, err
		}
		v, err := p.value(0)
		if err != nil {
			return nil, err
		}
		if err := p.expectEnd("param"); err != nil {
			return nil, err
		}
		p.path.pop()
		p.scratch = append(p.scratch, v)
	}
}

// collect returns the elements gathered in p.scratch since base, and
// drops them from it.
func (p *xmlParser) collect(base int) []any {
	a := make([]any, len(p.scratch)-base)
	copy(a, p.scratch[base:])
	clear(p.scratch[base:])
	p.scratch = p.scratch[:base]
	return a
}

// value parses the content of a <value>, after its start tag. depth is the
// number of structs and arrays around it.
func (p *xmlParser) value(depth int) (any, error) {
	p.values++
	if p.values > p.lim.MaxValues {
		return nil, p.fail(errXMLLimit, "more than %d values (MaxValues)", p.lim.MaxValues)
	}
	p.acc = xmlTextAcc{}
	for {
		if err := p.next(false); err != nil {
			return nil, err
		}
		switch p.tok {
		case xmlTokText:
			p.addText(p.span)
		case xmlTokEnd:
			return p.stringValue(p.gathered()), nil
		case xmlTokStart:
			if p.acc.text {
				return nil, p.fail(errXMLParse, "text %s mixed with %s in <value>", xmlQuoteShort(string(p.gathered())), p.tagOf(p.name))
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
	}
}

// typed parses a typed value element, after its start tag, up to its end
// tag.
func (p *xmlParser) typed(depth int) (any, error) {
	local := p.local(p.name)
	if !p.noSpace(p.name) && string(local) != "nil" && string(local) != "i8" {
		return nil, p.fail(errXMLParse, "unknown element %s in <value>", p.tagOf(p.name))
	}
	switch string(local) {
	case "string":
		s, err := p.text("string")
		if err != nil {
			return nil, err
		}
		return p.stringValue(s), nil
	case "int":
		return p.intValue("int")
	case "i4":
		return p.intValue("i4")
	case "i8":
		return p.intValue("i8")
	case "boolean":
		s, err := p.text("boolean")
		if err != nil {
			return nil, err
		}
		switch string(xmlTrimSpace(s)) {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return nil, p.fail(errXMLParse, "bad <boolean> %s: want 0 or 1", xmlQuoteShort(string(s)))
	case "double":
		s, err := p.text("double")
		if err != nil {
			return nil, err
		}
		ts := xmlTrimSpace(s)
		if !xmlDoubleOK(ts) {
			return nil, p.fail(errXMLParse, "bad <double> %s", xmlQuoteShort(string(s)))
		}
		f, err := strconv.ParseFloat(string(ts), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, p.fail(errXMLParse, "<double> %s out of float64 range", xmlQuoteShort(string(s)))
		}
		return f, nil
	case "dateTime.iso8601":
		s, err := p.text("dateTime.iso8601")
		if err != nil {
			return nil, err
		}
		tm, err := xmlParseDateTime(string(xmlTrimSpace(s)))
		if err != nil {
			return nil, p.fail(errXMLParse, "bad <dateTime.iso8601> %s: %v", xmlQuoteShort(string(s)), err)
		}
		return tm, nil
	case "base64":
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
			return nil, p.fail(errXMLParse, "bad <base64>: %v", err)
		}
		return b[:n], nil
	case "nil":
		if err := p.expectEnd("nil"); err != nil {
			return nil, err
		}
		return nil, nil
	case "struct":
		if depth+1 > p.lim.MaxDepth {
			return nil, p.fail(errXMLLimit, "structs and arrays nested deeper than %d (MaxDepth)", p.lim.MaxDepth)
		}
		return p.structValue(depth + 1)
	case "array":
		if depth+1 > p.lim.MaxDepth {
			return nil, p.fail(errXMLLimit, "structs and arrays nested deeper than %d (MaxDepth)", p.lim.MaxDepth)
		}
		return p.arrayValue(depth + 1)
	}
	return nil, p.fail(errXMLParse, "unknown element %s in <value>", p.tagOf(p.name))
}

// intValue parses the content of <int>, <i4> or <i8> (name), after its
// start tag, up to its end tag.
func (p *xmlParser) intValue(name string) (any, error) {
	s, err := p.text(name)
	if err != nil {
		return nil, err
	}
	n, err := strconv.ParseInt(string(xmlTrimSpace(s)), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return nil, p.fail(errXMLParse, "<%s> %s out of int64 range", name, xmlQuoteShort(string(s)))
		}
		return nil, p.fail(errXMLParse, "bad <%s> %s", name, xmlQuoteShort(string(s)))
	}
	return n, nil
}

// xmlStructLinear is the number of members up to which structValue looks
// for duplicate names among the members read so far, one by one; beyond
// it, it puts them in the map at once and asks the map.
const xmlStructLinear = 32

// structValue parses the content of a <struct>, after its start tag.
func (p *xmlParser) structValue(depth int) (map[string]any, error) {
	// The members wait in p.members, so that the map is made at its size.
	base := len(p.members)
	var m map[string]any // made early for a big struct
	for {
		if err := p.child("struct"); err != nil {
			return nil, err
		}
		if p.tok != xmlTokStart {
			break
		}
		if !p.is("member") {
			return nil, p.fail(errXMLParse, "unexpected element %s in <struct>", p.tagOf(p.name))
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
			return nil, p.fail(errXMLParse, "duplicate member %q", name)
		}
		p.path.pushMember(name)
		if err := p.expectStart("member", "value"); err != nil {
			return nil, err
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		if err := p.expectEnd("member"); err != nil {
			return nil, err
		}
		p.path.pop()
		if m != nil {
			m[name] = v
			continue
		}
		p.members = append(p.members, xmlMember{name: name, hash: hash, v: v})
		if n := len(p.members) - base; n > xmlStructLinear {
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
func (p *xmlParser) moveMembers(m map[string]any, base int) {
	for _, e := range p.members[base:] {
		m[e.name] = e.v
	}
	clear(p.members[base:])
	p.members = p.members[:base]
}

// arrayValue parses the content of an <array>, after its start tag.
func (p *xmlParser) arrayValue(depth int) ([]any, error) {
	if err := p.expectStart("array", "data"); err != nil {
		return nil, err
	}
	base := len(p.scratch)
	for {
		if err := p.child("data"); err != nil {
			return nil, err
		}
		if p.tok != xmlTokStart {
			break
		}
		p.path.pushIndex(len(p.scratch) - base)
		if !p.is("value") {
			return nil, p.fail(errXMLParse, "unexpected element %s in <data>", p.tagOf(p.name))
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		p.path.pop()
		p.scratch = append(p.scratch, v)
	}
	a := p.collect(base)
	if err := p.expectEnd("array"); err != nil {
		return nil, err
	}
	return a, nil
}

// xmlDoubleOK reports whether s has the form of an XML-RPC double this
// decoder accepts: ^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$.
func xmlDoubleOK(s []byte) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if digits() > 0 {
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	} else {
		if i >= len(s) || s[i] != '.' {
			return false
		}
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// xmlTrimSpace returns b without its leading and trailing XML whitespace.
func xmlTrimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\r' || b[j-1] == '\n') {
		j--
	}
	return b[i:j]
}

// xmlQuoteShort quotes s for an error message, cut to 40 bytes.
func xmlQuoteShort(s string) string {
	const limit = 40
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// xmlValidMethodName reports whether s is 1 to 128 characters of
// [A-Za-z0-9_.:/].
func xmlValidMethodName(s string) bool {
	if len(s) == 0 || len(s) > xmlMaxMethodName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '.' || c == ':' || c == '/':
		default:
			return false
		}
	}
	return true
}

// xmlParseDateTime parses an XML-RPC dateTime: YYYYMMDD or YYYY-MM-DD, "T",
// hh:mm:ss or hhmmss, an optional fraction of 1 to 9 digits, and an
// optional "Z" or ±hh:mm / ±hhmm offset (UTC if absent). The result is in
// UTC, in the years 0000 to 9999.
func xmlParseDateTime(s string) (time.Time, error) {
	bad := func(what string) (time.Time, error) { return time.Time{}, errors.New(what) }
	i := 0
	digits := func(n int) (int, bool) {
		if i+n > len(s) {
			return 0, false
		}
		v := 0
		for _, c := range []byte(s[i : i+n]) {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		i += n
		return v, true
	}
	sep := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}

	year, ok := digits(4)
	if !ok {
		return bad("want a 4-digit year")
	}
	dashes := sep('-')
	month, ok := digits(2)
	if !ok || (dashes && !sep('-')) {
		return bad("bad month")
	}
	day, ok := digits(2)
	if !ok || !sep('T') {
		return bad("bad day or missing T")
	}
	hour, ok := digits(2)
	if !ok {
		return bad("bad hour")
	}
	colons := sep(':')
	minute, ok := digits(2)
	if !ok || (colons && !sep(':')) {
		return bad("bad minute")
	}
	sec, ok := digits(2)
	if !ok {
		return bad("bad second")
	}
	nsec := 0
	if sep('.') || sep(',') {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac := s[start:i]
		if len(frac) == 0 || len(frac) > 9 {
			return bad("want 1 to 9 digits of fraction")
		}
		nsec, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
	}
	offset := 0
	if i < len(s) {
		switch s[i] {
		case 'Z':
			i++
		case '+', '-':
			sign := 1
			if s[i] == '-' {
				sign = -1
			}
			i++
			oh, ok := digits(2)
			if !ok {
				return bad("bad offset")
			}
			sep(':')
			om, ok := digits(2)
			if !ok || oh > 23 || om > 59 {
				return bad("bad offset")
			}
			offset = sign * (oh*3600 + om*60)
		}
	}
	if i != len(s) {
		return bad("unexpected text after the time")
	}
	if month < 1 || month > 12 || hour > 23 || minute > 59 || sec > 59 {
		return bad("field out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.FixedZone("", offset))
	if t.Day() != day {
		return bad("no such day")
	}
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return bad("out of the years 0000 to 9999 in UTC")
	}
	return t, nil
}

// xmlEncodeResponse writes a methodResponse carrying v, a tree of the types
// xmlDecodeCall produces (plus int). See the top of this file for how each
// type is written, and how strings XML cannot carry are repaired. Nothing
// is written if v cannot be encoded (an unsupported type, NaN or infinite
// double, a time outside the years 0000 to 9999, a cycle).
func xmlEncodeResponse(w io.Writer, v any) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><params><param>")
	if err := xmlWriteValue(&b, v, "result", 0); err != nil {
		return err
	}
	b.WriteString("</param></params></methodResponse>")
	return xmlFlush(w, &b)
}

// xmlEncodeFault writes a methodResponse carrying a fault: a struct with
// faultCode (int) and faultString (string).
func xmlEncodeFault(w io.Writer, code int, msg string) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><fault><value><struct><member><name>faultCode</name><value>")
	xmlWriteInt(&b, int64(code))
	b.WriteString("</value></member><member><name>faultString</name><value><string>")
	xmlEscape(&b, msg)
	b.WriteString("</string></value></member></struct></value></fault></methodResponse>")
	return xmlFlush(w, &b)
}

// xmlEncodeCall writes a methodCall of method with params, each a tree as
// for xmlEncodeResponse. The method name must be valid for xmlDecodeCall.
func xmlEncodeCall(w io.Writer, method string, params ...any) error {
	if !xmlValidMethodName(method) {
		return fmt.Errorf("xmlrpc: bad method name %s: want 1 to %d characters of A-Z a-z 0-9 _ . : /", xmlQuoteShort(method), xmlMaxMethodName)
	}
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodCall><methodName>")
	b.WriteString(method)
	b.WriteString("</methodName><params>")
	for i, v := range params {
		b.WriteString("<param>")
		if err := xmlWriteValue(&b, v, wirePathIndex("params", i), 0); err != nil {
			return err
		}
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>")
	return xmlFlush(w, &b)
}

// xmlFlush writes the encoded document in b to w.
func xmlFlush(w io.Writer, b *bytes.Buffer) error {
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("xmlrpc: writing: %w", err)
	}
	return nil
}

// xmlWriteValue writes v as a <value> element. path names v in errors.
func xmlWriteValue(b *bytes.Buffer, v any, path string, depth int) error {
	if depth > xmlEncodeMaxDepth {
		return fmt.Errorf("xmlrpc: %s: nested deeper than %d (a cycle?)", path, xmlEncodeMaxDepth)
	}
	b.WriteString("<value>")
	switch x := v.(type) {
	case nil:
		b.WriteString("<nil/>")
	case bool:
		if x {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case int:
		xmlWriteInt(b, int64(x))
	case int64:
		xmlWriteInt(b, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("xmlrpc: %s: cannot encode %v: XML-RPC doubles are finite", path, x)
		}
		b.WriteString("<double>")
		b.WriteString(xmlFormatDouble(x))
		b.WriteString("</double>")
	case string:
		b.WriteString("<string>")
		xmlEscape(b, x)
		b.WriteString("</string>")
	case []byte:
		b.WriteString("<base64>")
		b.WriteString(base64.StdEncoding.EncodeToString(x))
		b.WriteString("</base64>")
	case time.Time:
		u := x.UTC()
		if u.Year() < 0 || u.Year() > 9999 {
			return fmt.Errorf("xmlrpc: %s: cannot encode the time %s: year out of 0000 to 9999", path, x)
		}
		b.WriteString("<dateTime.iso8601>")
		b.WriteString(u.Format("20060102T15:04:05"))
		b.WriteString("</dateTime.iso8601>")
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		if slices.ContainsFunc(keys, xmlNeedsRepair) {
			// Repairs may make two names equal, which no decoder accepts.
			seen := make(map[string]string, len(keys)) // as written -> original
			for _, k := range keys {
				r := xmlEscaped(k)
				if prev, dup := seen[r]; dup {
					return fmt.Errorf("xmlrpc: %s: member names %q and %q are the same once made valid XML", path, prev, k)
				}
				seen[r] = k
			}
		}
		b.WriteString("<struct>")
		for _, k := range keys {
			b.WriteString("<member><name>")
			xmlEscape(b, k)
			b.WriteString("</name>")
			if err := xmlWriteValue(b, x[k], wirePathField(path, k), depth+1); err != nil {
				return err
			}
			b.WriteString("</member>")
		}
		b.WriteString("</struct>")
	case []any:
		b.WriteString("<array><data>")
		for i, e := range x {
			if err := xmlWriteValue(b, e, wirePathIndex(path, i), depth+1); err != nil {
				return err
			}
		}
		b.WriteString("</data></array>")
	default:
		return fmt.Errorf("xmlrpc: %s: cannot encode a %T (map it with wireFromGo first)", path, v)
	}
	b.WriteString("</value>")
	return nil
}

// xmlWriteInt writes n as <int> if it fits in an int32, as <i8> otherwise.
func xmlWriteInt(b *bytes.Buffer, n int64) {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		b.WriteString("<int>")
		b.WriteString(strconv.FormatInt(n, 10))
		b.WriteString("</int>")
		return
	}
	b.WriteString("<i8>")
	b.WriteString(strconv.FormatInt(n, 10))
	b.WriteString("</i8>")
}

// xmlFormatDouble formats a finite f as the shortest decimal that reads
// back as f, without exponent unless f is tiny or huge (as encoding/json
// does).
func xmlFormatDouble(f float64) string {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// xmlCharOK reports whether XML 1.0 can carry the rune r (literally or as a
// character reference).
func xmlCharOK(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= utf8.MaxRune)
}

// xmlNeedsRepair reports whether s holds invalid UTF-8 or a character XML
// 1.0 cannot carry.
func xmlNeedsRepair(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !xmlCharOK(r) {
			return true
		}
		i += size
	}
	return false
}

// xmlEscaped returns s as xmlEscape writes it.
func xmlEscaped(s string) string {
	var b bytes.Buffer
	xmlEscape(&b, s)
	return b.String()
}

// xmlEscape writes s as XML character data: & < > are escaped, a carriage
// return is written as &#xD; (so it survives line-end normalisation), and
// invalid UTF-8 and characters XML 1.0 cannot carry become U+FFFD.
func xmlEscape(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case !xmlCharOK(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
}
