package rpcapi

// This file keeps the first XML-RPC request decoder, built on encoding/xml,
// as a reference for the hand-written one in xmlrpc_codec.go and
// xmlrpc_scan.go. FuzzXMLDecodeCallDiff feeds both the same bytes and
// requires the same outcome. The code below is the old decoder unchanged
// but for its names (xmlDecodeCallStd, xmlStdParser).

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// xmlSpace holds the XML whitespace characters.
const xmlSpace = " \t\r\n"

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

// xmlDecodeCallStd parses an XML-RPC methodCall from r. It returns the method
// name and the params as trees (see the top of xmlrpc_codec.go for the types);
// params is empty, not nil, when the call has none.
//
// Errors wrap errXMLParse for malformed or unexpected input and errXMLLimit
// when the request exceeds lim (whose zero fields take their defaults). An
// error from r itself, such as *http.MaxBytesError, is wrapped with %w and
// wraps neither sentinel.
func xmlDecodeCallStd(r io.Reader, lim xmlLimits) (method string, params []any, err error) {
	src := &xmlReadTracker{r: r}
	d := xml.NewDecoder(src)
	d.Strict = true
	p := &xmlStdParser{d: d, src: src, lim: lim.withDefaults()}
	method, params, err = p.call()
	if err != nil {
		return "", nil, err
	}
	return method, params, nil
}

// xmlStdParser is the state of one xmlDecodeCallStd.
type xmlStdParser struct {
	d       *xml.Decoder
	src     *xmlReadTracker
	lim     xmlLimits
	values  int  // <value> elements seen so far
	started bool // a token was read: an <?xml?> declaration must come first
}

// fail returns an error of the given kind at path, positioned at the
// decoder's current offset.
func (p *xmlStdParser) fail(kind error, path, format string, args ...any) error {
	line, col := p.d.InputPos()
	return &xmlError{kind: kind, path: path, msg: fmt.Sprintf(format, args...), line: line, col: col}
}

// tokenError classifies an error returned by the XML decoder.
func (p *xmlStdParser) tokenError(path string, err error) error {
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
func (p *xmlStdParser) token(path string, eofOK bool) (xml.Token, error) {
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
func (p *xmlStdParser) child(parent, path string) (xml.Token, error) {
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
func (p *xmlStdParser) expectStart(parent, want, path string) error {
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
func (p *xmlStdParser) expectEnd(elem, path string) error {
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
func (p *xmlStdParser) text(elem, path string) (string, error) {
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
func (p *xmlStdParser) call() (string, []any, error) {
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
func (p *xmlStdParser) params() ([]any, error) {
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
func (p *xmlStdParser) value(path string, depth int) (any, error) {
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
func (p *xmlStdParser) typed(t xml.StartElement, path string, depth int) (any, error) {
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
func (p *xmlStdParser) structValue(path string, depth int) (map[string]any, error) {
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
func (p *xmlStdParser) arrayValue(path string, depth int) ([]any, error) {
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

// xmlIsSpace reports whether b is only XML whitespace.
func xmlIsSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}
