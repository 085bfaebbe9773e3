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
//     are ignored. Only UTF-8 input is accepted.
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
	"regexp"
	"slices"
	"strconv"
	"strings"
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

// xmlReadTracker remembers the last error, other than io.EOF, of the reader
// it wraps. encoding/xml reports such errors in several shapes; the tracker
// lets the decoder tell a failing body (a client gone, a body too large)
// from malformed XML.
type xmlReadTracker struct {
	r   io.Reader
	err error
}

// Read reads from the wrapped reader and records its error.
func (t *xmlReadTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// xmlDecodeCall parses an XML-RPC methodCall from r. It returns the method
// name and the params as trees (see the top of this file for the types);
// params is empty, not nil, when the call has none.
//
// Errors wrap errXMLParse for malformed or unexpected input and errXMLLimit
// when the request exceeds lim (whose zero fields take their defaults). An
// error from r itself, such as *http.MaxBytesError, is wrapped with %w and
// wraps neither sentinel.
func xmlDecodeCall(r io.Reader, lim xmlLimits) (method string, params []any, err error) {
	src := &xmlReadTracker{r: r}
	d := xml.NewDecoder(src)
	d.Strict = true
	p := &xmlParser{d: d, src: src, lim: lim.withDefaults()}
	method, params, err = p.call()
	if err != nil {
		return "", nil, err
	}
	return method, params, nil
}

// xmlParser is the state of one xmlDecodeCall.
type xmlParser struct {
	d       *xml.Decoder
	src     *xmlReadTracker
	lim     xmlLimits
	values  int  // <value> elements seen so far
	started bool // a token was read: an <?xml?> declaration must come first
}

// fail returns an error of the given kind at path, positioned at the
// decoder's current offset.
func (p *xmlParser) fail(kind error, path, format string, args ...any) error {
	line, col := p.d.InputPos()
	return &xmlError{kind: kind, path: path, msg: fmt.Sprintf(format, args...), line: line, col: col}
}

// tokenError classifies an error returned by the XML decoder.
func (p *xmlParser) tokenError(path string, err error) error {
	line, col := p.d.InputPos()
	if p.src.err != nil {
		return &xmlError{path: path, msg: "reading request", cause: p.src.err, line: line, col: col}
	}
	if err == io.EOF {
		return &xmlError{kind: errXMLParse, path: path, msg: "unexpected end of input", line: line, col: col}
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &xmlError{kind: errXMLParse, path: path, msg: "malformed XML: " + se.Msg, line: se.Line, col: col}
	}
	return &xmlError{kind: errXMLParse, path: path, msg: "malformed XML", cause: err, line: line, col: col}
}

// token returns the next token that matters: a StartElement, an EndElement
// or CharData (copied). It drops comments and the XML declaration (only as
// the very first token), and refuses other processing instructions,
// directives (DOCTYPE) and attributes other than namespace declarations.
// At the end of the input it returns io.EOF if eofOK, an error otherwise.
func (p *xmlParser) token(path string, eofOK bool) (xml.Token, error) {
	for {
		tok, err := p.d.Token()
		if err != nil {
			if err == io.EOF && eofOK && p.src.err == nil {
				return nil, io.EOF
			}
			return nil, p.tokenError(path, err)
		}
		first := !p.started
		p.started = true
		switch t := tok.(type) {
		case xml.Comment:
			continue
		case xml.ProcInst:
			if first && t.Target == "xml" {
				continue
			}
			return nil, p.fail(errXMLParse, path, "unexpected processing instruction <?%s?>", t.Target)
		case xml.Directive:
			return nil, p.fail(errXMLParse, path, "DTDs and other <!...> declarations are not allowed")
		case xml.StartElement:
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				return nil, p.fail(errXMLParse, path, "unexpected attribute %s on %s", xmlNameString(a.Name), xmlTag(t.Name))
			}
			return t, nil
		case xml.EndElement:
			return t, nil
		case xml.CharData:
			return t.Copy(), nil
		}
	}
}

// child returns the next StartElement or EndElement inside the element
// named parent, skipping whitespace. Other text is an error.
func (p *xmlParser) child(parent, path string) (xml.Token, error) {
	for {
		tok, err := p.token(path, false)
		if err != nil {
			return nil, err
		}
		if cd, ok := tok.(xml.CharData); ok {
			if !xmlIsSpace(cd) {
				return nil, p.fail(errXMLParse, path, "unexpected text %s in <%s>", xmlQuoteShort(string(cd)), parent)
			}
			continue
		}
		return tok, nil
	}
}

// expectStart reads the next child of parent, which must be the element
// want.
func (p *xmlParser) expectStart(parent, want, path string) error {
	tok, err := p.child(parent, path)
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case xml.StartElement:
		if xmlLocal(t.Name) != want {
			return p.fail(errXMLParse, path, "unexpected element %s in <%s>, want <%s>", xmlTag(t.Name), parent, want)
		}
		return nil
	default:
		return p.fail(errXMLParse, path, "missing <%s> in <%s>", want, parent)
	}
}

// expectEnd reads the next child of the element elem, which must be its
// end tag.
func (p *xmlParser) expectEnd(elem, path string) error {
	tok, err := p.child(elem, path)
	if err != nil {
		return err
	}
	if t, ok := tok.(xml.StartElement); ok {
		return p.fail(errXMLParse, path, "unexpected element %s in <%s>", xmlTag(t.Name), elem)
	}
	return nil
}

// text reads the text content of the element elem up to its end tag.
// Elements inside it are an error.
func (p *xmlParser) text(elem, path string) (string, error) {
	var b strings.Builder
	for {
		tok, err := p.token(path, false)
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			return "", p.fail(errXMLParse, path, "unexpected element %s in <%s>", xmlTag(t.Name), elem)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// call parses a whole document holding one methodCall.
func (p *xmlParser) call() (string, []any, error) {
	// Prolog: up to the root element.
	for {
		tok, err := p.token("", true)
		if err == io.EOF {
			return "", nil, p.fail(errXMLParse, "", "no <methodCall> element")
		}
		if err != nil {
			return "", nil, err
		}
		if cd, ok := tok.(xml.CharData); ok {
			if !xmlIsSpace(cd) {
				return "", nil, p.fail(errXMLParse, "", "unexpected text %s before <methodCall>", xmlQuoteShort(string(cd)))
			}
			continue
		}
		t, ok := tok.(xml.StartElement)
		if !ok { // encoding/xml reports a stray end tag itself; be safe anyway
			return "", nil, p.fail(errXMLParse, "", "unexpected end tag before <methodCall>")
		}
		if xmlLocal(t.Name) != "methodCall" {
			return "", nil, p.fail(errXMLParse, "", "root element is %s, want <methodCall>", xmlTag(t.Name))
		}
		break
	}

	if err := p.expectStart("methodCall", "methodName", ""); err != nil {
		return "", nil, err
	}
	raw, err := p.text("methodName", "methodName")
	if err != nil {
		return "", nil, err
	}
	method := strings.Trim(raw, xmlSpace)
	if !xmlValidMethodName(method) {
		return "", nil, p.fail(errXMLParse, "methodName", "bad method name %s: want 1 to %d characters of A-Z a-z 0-9 _ . : /", xmlQuoteShort(method), xmlMaxMethodName)
	}

	params := []any{}
	tok, err := p.child("methodCall", "")
	if err != nil {
		return "", nil, err
	}
	if t, ok := tok.(xml.StartElement); ok {
		if xmlLocal(t.Name) != "params" {
			return "", nil, p.fail(errXMLParse, "", "unexpected element %s in <methodCall>", xmlTag(t.Name))
		}
		if params, err = p.params(); err != nil {
			return "", nil, err
		}
		if err := p.expectEnd("methodCall", ""); err != nil {
			return "", nil, err
		}
	}

	// Epilog: nothing but whitespace and comments up to the end.
	for {
		tok, err := p.token("", true)
		if err == io.EOF {
			return method, params, nil
		}
		if err != nil {
			return "", nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if !xmlIsSpace(t) {
				return "", nil, p.fail(errXMLParse, "", "trailing text %s after </methodCall>", xmlQuoteShort(string(t)))
			}
		case xml.StartElement:
			return "", nil, p.fail(errXMLParse, "", "second root element %s after </methodCall>", xmlTag(t.Name))
		}
	}
}

// params parses the content of <params>, after its start tag.
func (p *xmlParser) params() ([]any, error) {
	params := []any{}
	for {
		tok, err := p.child("params", "params")
		if err != nil {
			return nil, err
		}
		t, ok := tok.(xml.StartElement)
		if !ok {
			return params, nil
		}
		path := wirePathIndex("params", len(params))
		if xmlLocal(t.Name) != "param" {
			return nil, p.fail(errXMLParse, path, "unexpected element %s in <params>", xmlTag(t.Name))
		}
		if err := p.expectStart("param", "value", path); err != nil {
			return nil, err
		}
		v, err := p.value(path, 0)
		if err != nil {
			return nil, err
		}
		if err := p.expectEnd("param", path); err != nil {
			return nil, err
		}
		params = append(params, v)
	}
}

// value parses the content of a <value>, after its start tag. depth is the
// number of structs and arrays around it.
func (p *xmlParser) value(path string, depth int) (any, error) {
	p.values++
	if p.values > p.lim.MaxValues {
		return nil, p.fail(errXMLLimit, path, "more than %d values (MaxValues)", p.lim.MaxValues)
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
			if !xmlIsSpace([]byte(text.String())) {
				return nil, p.fail(errXMLParse, path, "text %s mixed with %s in <value>", xmlQuoteShort(text.String()), xmlTag(t.Name))
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

// xmlDoubleSyntax is the form of an XML-RPC double this decoder accepts.
var xmlDoubleSyntax = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// typed parses a typed value element, after its start tag t, up to its end
// tag.
func (p *xmlParser) typed(t xml.StartElement, path string, depth int) (any, error) {
	name := xmlLocal(t.Name)
	switch name {
	case "int", "i4", "i8":
		s, err := p.text(name, path)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseInt(strings.Trim(s, xmlSpace), 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, p.fail(errXMLParse, path, "<%s> %s out of int64 range", name, xmlQuoteShort(s))
			}
			return nil, p.fail(errXMLParse, path, "bad <%s> %s", name, xmlQuoteShort(s))
		}
		return n, nil
	case "boolean":
		s, err := p.text(name, path)
		if err != nil {
			return nil, err
		}
		switch strings.Trim(s, xmlSpace) {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return nil, p.fail(errXMLParse, path, "bad <boolean> %s: want 0 or 1", xmlQuoteShort(s))
	case "string":
		return p.text(name, path)
	case "double":
		s, err := p.text(name, path)
		if err != nil {
			return nil, err
		}
		ts := strings.Trim(s, xmlSpace)
		if !xmlDoubleSyntax.MatchString(ts) {
			return nil, p.fail(errXMLParse, path, "bad <double> %s", xmlQuoteShort(s))
		}
		f, err := strconv.ParseFloat(ts, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, p.fail(errXMLParse, path, "<double> %s out of float64 range", xmlQuoteShort(s))
		}
		return f, nil
	case "dateTime.iso8601":
		s, err := p.text(name, path)
		if err != nil {
			return nil, err
		}
		tm, err := xmlParseDateTime(strings.Trim(s, xmlSpace))
		if err != nil {
			return nil, p.fail(errXMLParse, path, "bad <dateTime.iso8601> %s: %v", xmlQuoteShort(s), err)
		}
		return tm, nil
	case "base64":
		s, err := p.text(name, path)
		if err != nil {
			return nil, err
		}
		s = strings.Map(func(r rune) rune {
			if strings.ContainsRune(xmlSpace, r) {
				return -1
			}
			return r
		}, s)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, p.fail(errXMLParse, path, "bad <base64>: %v", err)
		}
		if b == nil {
			b = []byte{}
		}
		return b, nil
	case "nil":
		if err := p.expectEnd(name, path); err != nil {
			return nil, err
		}
		return nil, nil
	case "struct":
		if depth+1 > p.lim.MaxDepth {
			return nil, p.fail(errXMLLimit, path, "structs and arrays nested deeper than %d (MaxDepth)", p.lim.MaxDepth)
		}
		return p.structValue(path, depth+1)
	case "array":
		if depth+1 > p.lim.MaxDepth {
			return nil, p.fail(errXMLLimit, path, "structs and arrays nested deeper than %d (MaxDepth)", p.lim.MaxDepth)
		}
		return p.arrayValue(path, depth+1)
	}
	return nil, p.fail(errXMLParse, path, "unknown element %s in <value>", xmlTag(t.Name))
}

// structValue parses the content of a <struct>, after its start tag.
func (p *xmlParser) structValue(path string, depth int) (map[string]any, error) {
	m := map[string]any{}
	for {
		tok, err := p.child("struct", path)
		if err != nil {
			return nil, err
		}
		t, ok := tok.(xml.StartElement)
		if !ok {
			return m, nil
		}
		if xmlLocal(t.Name) != "member" {
			return nil, p.fail(errXMLParse, path, "unexpected element %s in <struct>", xmlTag(t.Name))
		}
		if err := p.expectStart("member", "name", path); err != nil {
			return nil, err
		}
		name, err := p.text("name", path)
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			return nil, p.fail(errXMLParse, path, "duplicate member %q", name)
		}
		mpath := wirePathField(path, name)
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
func (p *xmlParser) arrayValue(path string, depth int) ([]any, error) {
	if err := p.expectStart("array", "data", path); err != nil {
		return nil, err
	}
	a := []any{}
	for {
		tok, err := p.child("data", path)
		if err != nil {
			return nil, err
		}
		t, ok := tok.(xml.StartElement)
		if !ok {
			break
		}
		epath := wirePathIndex(path, len(a))
		if xmlLocal(t.Name) != "value" {
			return nil, p.fail(errXMLParse, epath, "unexpected element %s in <data>", xmlTag(t.Name))
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

// xmlSpace holds the XML whitespace characters.
const xmlSpace = " \t\r\n"

// xmlIsSpace reports whether b is only XML whitespace.
func xmlIsSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// xmlLocal returns the name an element is known by: its local name if it
// has no namespace, or if it is one of the extension types (nil, i8) that
// Apache sends in its own namespace. Other namespaced elements get a name
// no caller expects.
func xmlLocal(n xml.Name) string {
	if n.Space == "" || n.Local == "nil" || n.Local == "i8" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// xmlNameString formats a (possibly namespaced) XML name.
func xmlNameString(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

// xmlTag formats an element name as a start tag, for error messages.
func xmlTag(n xml.Name) string {
	return "<" + xmlNameString(n) + ">"
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
