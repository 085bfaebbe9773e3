package xmlrpc

// This file keeps the first XML-RPC request decoder, built on encoding/xml,
// as a reference for the hand-written one in decode.go, value.go and
// scan.go. FuzzDecodeCallDiff feeds both the same bytes and
// requires the same outcome. The code below is the old decoder unchanged
// but for its names (decodeCallStd, stdParser) and for typed, cut in two.

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// space holds the XML whitespace characters.
const space = " \t\r\n"

// readTracker remembers the last error, other than io.EOF, of the reader
// it wraps. encoding/xml reports such errors in several shapes; the tracker
// lets the decoder tell a failing body (a client gone, a body too large)
// from malformed XML.
type readTracker struct {
	r   io.Reader
	err error
}

// Read reads from the wrapped reader and records its error.
func (t *readTracker) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

// decodeCallStd parses an XML-RPC methodCall from r. It returns the method
// name and the params as trees (see the package comment for the types);
// params is empty, not nil, when the call has none.
//
// Errors wrap ErrParse for malformed or unexpected input and ErrLimit
// when the request exceeds lim (whose zero fields take their defaults). An
// error from r itself, such as *http.MaxBytesError, is wrapped with %w and
// wraps neither sentinel.
func decodeCallStd(r io.Reader, lim Limits) (method string, params []any, err error) {
	src := &readTracker{r: r}
	d := xml.NewDecoder(src)
	d.Strict = true
	p := &stdParser{d: d, src: src, lim: lim.withDefaults()}
	method, params, err = p.call()
	if err != nil {
		return "", nil, err
	}
	if p.rangeErr != nil {
		return method, nil, p.rangeErr
	}
	return method, params, nil
}

// stdParser is the state of one decodeCallStd.
type stdParser struct {
	d       *xml.Decoder
	src     *readTracker
	lim     Limits
	values  int  // <value> elements seen so far
	started bool // a token was read: an <?xml?> declaration must come first
	// The first number out of range (ErrRange), reported once the rest
	// of the document is read.
	rangeErr error
}

// fail returns an error of the given kind at path, positioned at the
// decoder's current offset.
func (p *stdParser) fail(kind error, path, format string, args ...any) error {
	line, col := p.d.InputPos()
	return &Error{kind: kind, path: path, msg: fmt.Sprintf(format, args...), line: line, col: col}
}

// failRange notes a number out of range at path, unless one was noted
// before.
func (p *stdParser) failRange(path, format string, args ...any) {
	if p.rangeErr == nil {
		e := p.fail(ErrParse, path, format, args...).(*Error)
		e.rng = true
		p.rangeErr = e
	}
}

// tokenError classifies an error returned by the XML decoder.
func (p *stdParser) tokenError(path string, err error) error {
	line, col := p.d.InputPos()
	if p.src.err != nil {
		return &Error{path: path, msg: "reading request", cause: p.src.err, line: line, col: col}
	}
	if err == io.EOF {
		return &Error{kind: ErrParse, path: path, msg: "unexpected end of input", line: line, col: col}
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &Error{kind: ErrParse, path: path, msg: "malformed XML: " + se.Msg, line: se.Line, col: col}
	}
	return &Error{kind: ErrParse, path: path, msg: "malformed XML", cause: err, line: line, col: col}
}

// token returns the next token that matters: a StartElement, an EndElement
// or CharData (copied). It drops comments and the XML declaration (only as
// the very first token), and refuses other processing instructions,
// directives (DOCTYPE) and attributes other than namespace declarations.
// At the end of the input it returns io.EOF if eofOK, an error otherwise.
func (p *stdParser) token(path string, eofOK bool) (xml.Token, error) {
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
			return nil, p.fail(ErrParse, path, "unexpected processing instruction <?%s?>", t.Target)
		case xml.Directive:
			return nil, p.fail(ErrParse, path, "DTDs and other <!...> declarations are not allowed")
		case xml.StartElement:
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					continue
				}
				return nil, p.fail(ErrParse, path, "unexpected attribute %s on %s", nameString(a.Name), tag(t.Name))
			}
			return t, nil
		case xml.EndElement:
			return t, nil
		case xml.CharData:
			return t.Copy(), nil
		}
	}
}

// child reads the next child of the element named parent, skipping
// whitespace (other text is an error): its start tag, or ok false at
// parent's end tag.
func (p *stdParser) child(parent, path string) (xml.StartElement, bool, error) {
	for {
		tok, err := p.token(path, false)
		if err != nil {
			return xml.StartElement{}, false, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if !isSpace(t) {
				return xml.StartElement{}, false, p.fail(ErrParse, path, "unexpected text %s in <%s>", QuoteShort(string(t)), parent)
			}
		case xml.StartElement:
			return t, true, nil
		default:
			return xml.StartElement{}, false, nil
		}
	}
}

// expectStart reads the next child of parent, which must be the element
// want.
func (p *stdParser) expectStart(parent, want, path string) error {
	t, ok, err := p.child(parent, path)
	switch {
	case err != nil:
		return err
	case !ok:
		return p.fail(ErrParse, path, "missing <%s> in <%s>", want, parent)
	case local(t.Name) != want:
		return p.fail(ErrParse, path, "unexpected element %s in <%s>, want <%s>", tag(t.Name), parent, want)
	}
	return nil
}

// expectEnd reads the next child of the element elem, which must be its
// end tag.
func (p *stdParser) expectEnd(elem, path string) error {
	t, ok, err := p.child(elem, path)
	if err != nil {
		return err
	}
	if ok {
		return p.fail(ErrParse, path, "unexpected element %s in <%s>", tag(t.Name), elem)
	}
	return nil
}

// text reads the text content of the element elem up to its end tag.
// Elements inside it are an error.
func (p *stdParser) text(elem, path string) (string, error) {
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
			return "", p.fail(ErrParse, path, "unexpected element %s in <%s>", tag(t.Name), elem)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// call parses a whole document holding one methodCall.
func (p *stdParser) call() (string, []any, error) {
	// Prolog: up to the root element.
	for {
		tok, err := p.token("", true)
		if err == io.EOF {
			return "", nil, p.fail(ErrParse, "", "no <methodCall> element")
		}
		if err != nil {
			return "", nil, err
		}
		if cd, ok := tok.(xml.CharData); ok {
			if !isSpace(cd) {
				return "", nil, p.fail(ErrParse, "", "unexpected text %s before <methodCall>", QuoteShort(string(cd)))
			}
			continue
		}
		t, ok := tok.(xml.StartElement)
		if !ok { // encoding/xml reports a stray end tag itself; be safe anyway
			return "", nil, p.fail(ErrParse, "", "unexpected end tag before <methodCall>")
		}
		if local(t.Name) != "methodCall" {
			return "", nil, p.fail(ErrParse, "", "root element is %s, want <methodCall>", tag(t.Name))
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
	method := strings.Trim(raw, space)
	if !validMethodName(method) {
		return "", nil, p.fail(ErrParse, "methodName", "bad method name %s: want 1 to %d characters of A-Z a-z 0-9 _ . : /", QuoteShort(method), MaxMethodName)
	}

	params := []any{}
	t, ok, err := p.child("methodCall", "")
	if err != nil {
		return "", nil, err
	}
	if ok {
		if local(t.Name) != "params" {
			return "", nil, p.fail(ErrParse, "", "unexpected element %s in <methodCall>", tag(t.Name))
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
			if !isSpace(t) {
				return "", nil, p.fail(ErrParse, "", "trailing text %s after </methodCall>", QuoteShort(string(t)))
			}
		case xml.StartElement:
			return "", nil, p.fail(ErrParse, "", "second root element %s after </methodCall>", tag(t.Name))
		}
	}
}

// params parses the content of <params>, after its start tag.
func (p *stdParser) params() ([]any, error) {
	params := []any{}
	for {
		t, ok, err := p.child("params", "params")
		if err != nil {
			return nil, err
		}
		if !ok {
			return params, nil
		}
		path := IndexPath("params", len(params))
		if local(t.Name) != "param" {
			return nil, p.fail(ErrParse, path, "unexpected element %s in <params>", tag(t.Name))
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
