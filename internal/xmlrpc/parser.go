package xmlrpc

// This file holds the state of the decoder and the helpers of its grammar:
// reading children, expected tags and text content.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"sync"
)

// parserPool keeps parsers, with their buffers, from one call to the
// next.
var parserPool = sync.Pool{New: func() any { return new(parser) }}

// Parsers whose buffers grew beyond these sizes are not kept.
const (
	poolMaxBody    = 16 << 20 // bytes of body
	poolMaxText    = 1 << 20  // bytes of decoded text
	poolMaxScratch = 1 << 16  // array elements, struct members
)

// parser is the state of one DecodeCall or DecodeResponse: the scanner's
// (see scan.go) and the grammar's.
type parser struct {
	in      bytes.Buffer // the body
	data    []byte       // in.Bytes()
	pos     int          // the offset of the next byte to scan
	lim     Limits
	values  int  // <value> elements seen so far
	started bool // a token was read: an <?xml?> declaration must come first

	// The token read last by next, with its name or text.
	tok        tokKind
	name       qName
	span       span
	closeEmpty bool // the end of an empty-element tag is due

	open   []openElem        // elements whose end tags are due, innermost last
	ns     map[string]string // namespace prefix ("" for the default) -> URI, in scope
	nsUndo []nsUndoEntry     // how to undo the declarations in scope, innermost last
	attrs  []attr            // the attributes of the last start tag

	// The path of the value being read, for errors.
	path Path
	// The first number out of range (ErrRange), reported once the rest
	// of the document is read.
	rangeErr error

	acc      textAcc       // the text read so far by value or text
	buf      []byte        // decoded text, when it differs from the input
	tmp      []byte        // base64 without its whitespace
	scratch  []any         // elements of the arrays being read, innermost last
	members  []member      // members of the structs being read, innermost last
	interned []internEntry // recently read short strings, by hash

	nameCheck *xml.Encoder // for names with non-ASCII characters (isName)
}

// member is a member of a struct being read.
type member struct {
	name string
	hash uint32 // of name, to compare names quickly
	v    any
}

// textAcc gathers the text tokens of one element without decoding them
// while there is only one.
type textAcc struct {
	n     int  // tokens seen
	first span // the first of them
	text  bool // one of them holds more than whitespace
}

// internEntry is a string as read, and the same string as an any, so that
// equal short strings share their memory and their boxing.
type internEntry struct {
	s string
	v any
}

// Interning of short strings.
const (
	internMax   = 24  // the longest string interned, in bytes
	internSlots = 256 // entries of parser.interned, a power of 2
)

// release resets p and puts it back in the pool, unless its buffers grew
// too big to keep.
func (p *parser) release() {
	if p.in.Cap() > poolMaxBody || cap(p.buf) > poolMaxText || cap(p.tmp) > poolMaxText ||
		cap(p.scratch) > poolMaxScratch || cap(p.members) > poolMaxScratch {
		return
	}
	p.in.Reset()
	p.data = nil
	p.pos, p.values, p.started = 0, 0, false
	p.tok, p.closeEmpty = tokEOF, false
	p.open = p.open[:0]
	clear(p.ns)
	clear(p.nsUndo)
	p.nsUndo = p.nsUndo[:0]
	p.attrs = p.attrs[:0]
	p.path.reset()
	p.rangeErr = nil
	p.acc = textAcc{}
	p.buf, p.tmp = p.buf[:0], p.tmp[:0]
	clear(p.scratch)
	p.scratch = p.scratch[:0]
	clear(p.members)
	p.members = p.members[:0]
	parserPool.Put(p)
}

// fail returns an error of the given kind at the current path, positioned
// just after the last token read.
func (p *parser) fail(kind error, format string, args ...any) error {
	line, col := position(p.data, p.pos)
	return &Error{kind: kind, path: p.path.String(), msg: fmt.Sprintf(format, args...), line: line, col: col}
}

// failRange notes a number out of range at the current path, unless one
// was noted before, for the end of the document (see ErrRange).
func (p *parser) failRange(format string, args ...any) {
	if p.rangeErr == nil {
		e := p.fail(ErrParse, format, args...).(*Error)
		e.rng = true
		p.rangeErr = e
	}
}

// spanString returns the text of s, for messages.
func (p *parser) spanString(s span) string {
	return string(p.appendSpan(nil, s))
}

// addText adds a text token to the text being gathered.
func (p *parser) addText(s span) {
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
func (p *parser) gathered() []byte {
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

// fnvHash returns the FNV-1a hash of b.
func fnvHash(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

// intern returns the interned copy of the short string b, whose hash is h.
func (p *parser) intern(b []byte, h uint32) *internEntry {
	if p.interned == nil {
		p.interned = make([]internEntry, internSlots)
	}
	e := &p.interned[h&(internSlots-1)]
	if e.s != string(b) {
		s := string(b)
		e.s, e.v = s, s
	}
	return e
}

// stringValue returns b as a string in an any.
func (p *parser) stringValue(b []byte) any {
	switch {
	case len(b) == 0:
		return ""
	case len(b) > internMax:
		return string(b)
	}
	return p.intern(b, fnvHash(b)).v
}

// memberName returns b as a string, and its hash.
func (p *parser) memberName(b []byte) (string, uint32) {
	h := fnvHash(b)
	switch {
	case len(b) == 0:
		return "", h
	case len(b) > internMax:
		return string(b), h
	}
	return p.intern(b, h).s, h
}

// child reads the next start or end tag inside the element parent,
// skipping whitespace. Other text is an error.
func (p *parser) child(parent string) error {
	for {
		if err := p.next(false); err != nil {
			return err
		}
		if p.tok != tokText {
			return nil
		}
		if p.span.text {
			return p.fail(ErrParse, "unexpected text %s in <%s>", QuoteShort(p.spanString(p.span)), parent)
		}
	}
}

// is reports whether the start tag read last is the element want: its
// local name, in no namespace (or in any namespace for nil and i8, which
// Apache sends in its own).
func (p *parser) is(want string) bool {
	if string(p.local(p.name)) != want {
		return false
	}
	return want == "nil" || want == "i8" || p.noSpace(p.name)
}

// expectStart reads the next child of parent, which must be the element
// want.
func (p *parser) expectStart(parent, want string) error {
	if err := p.child(parent); err != nil {
		return err
	}
	if p.tok != tokStart {
		return p.fail(ErrParse, "missing <%s> in <%s>", want, parent)
	}
	if !p.is(want) {
		return p.fail(ErrParse, "unexpected element %s in <%s>, want <%s>", p.tagOf(p.name), parent, want)
	}
	return nil
}

// expectEnd reads the next child of the element elem, which must be its
// end tag.
func (p *parser) expectEnd(elem string) error {
	if err := p.child(elem); err != nil {
		return err
	}
	if p.tok == tokStart {
		return p.fail(ErrParse, "unexpected element %s in <%s>", p.tagOf(p.name), elem)
	}
	return nil
}

// text reads the text content of the element elem up to its end tag and
// returns it decoded, valid until the next token. Elements inside it are
// an error.
func (p *parser) text(elem string) ([]byte, error) {
	if err := p.gatherText(); err != nil {
		return nil, err
	}
	if p.tok == tokStart {
		return nil, p.fail(ErrParse, "unexpected element %s in <%s>", p.tagOf(p.name), elem)
	}
	return p.gathered(), nil
}

// gatherText reads the text that comes next into a fresh p.acc and stops
// at the first tag after it: p.tok says whether a start or an end tag.
func (p *parser) gatherText() error {
	p.acc = textAcc{}
	for {
		if err := p.next(false); err != nil {
			return err
		}
		if p.tok != tokText {
			return nil
		}
		p.addText(p.span)
	}
}

// start reads the whole body from r into p and sets the limits. what names
// the body ("request" or "response") in a read error.
func (p *parser) start(r io.Reader, lim Limits, what string) error {
	if _, err := p.in.ReadFrom(r); err != nil {
		line, col := position(p.in.Bytes(), p.in.Len())
		return &Error{msg: "reading " + what, cause: err, line: line, col: col}
	}
	p.data = p.in.Bytes()
	p.lim = lim.withDefaults()
	return nil
}

// newParser returns a parser from the pool, to release when done.
func newParser() *parser {
	return parserPool.Get().(*parser)
}
