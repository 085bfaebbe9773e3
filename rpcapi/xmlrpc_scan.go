package rpcapi

// This file is the XML scanner under xmlDecodeCall. It cuts a request body
// held in memory into the tokens the XML-RPC grammar of xmlrpc_codec.go
// reads (start tags, end tags and character data) without copying names or
// text, and checks well-formedness on the way.
//
// It reads the part of XML 1.0 and of XML namespaces that a request may
// use, as encoding/xml (which it replaces) read it:
//
//   - Comments are skipped; a "--" inside one is an error.
//   - An XML declaration <?xml ...?> is skipped if it is the very first
//     thing in the body. Its version must be 1.0 and its encoding UTF-8, if
//     given. Any other processing instruction, and a declaration anywhere
//     else, is an error, as is any <!...> declaration (DOCTYPE, ENTITY).
//   - Character data may hold the five predefined entities (&lt; &gt;
//     &amp; &apos; &quot;) and decimal or hexadecimal character references,
//     which must name characters XML 1.0 allows (no NUL, other control
//     characters or surrogates). CDATA sections are character data taken
//     literally. A raw carriage return, alone or before a line feed, reads
//     as a line feed. "]]>" outside CDATA is an error.
//   - The body must be UTF-8 of the characters XML 1.0 allows.
//   - Names are XML names (by the classes of XML 1.0, second edition);
//     a name has at most one colon, which splits a prefix from the local
//     name when neither side is empty. Every end tag must match its start
//     tag, prefix included. An empty-element tag <x/> reads as <x></x>.
//   - Attributes are read (quoted, with references) so that namespace
//     declarations (xmlns="..." and xmlns:p="...") take effect for the
//     element and its content. The grammar refuses every other attribute.
//     Prefixes resolve as encoding/xml resolves them: an undeclared prefix
//     stands for itself, "xml" for the XML namespace, and the default
//     namespace applies to element names only.
//
// Errors carry the line and column (in bytes, from 1) where the scanner
// found the problem; errors of the grammar carry the position just after
// the last token read.

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// xmlTok is the kind of the token the scanner read last.
type xmlTok uint8

const (
	xmlTokEOF   xmlTok = iota // the end of the input, outside any element
	xmlTokStart               // a start tag, or the start of an empty-element tag
	xmlTokEnd                 // an end tag, or the end of an empty-element tag
	xmlTokText                // character data or a CDATA section
)

// xmlSpan is a run of character data in the input: data[start:end].
type xmlSpan struct {
	start, end int
	cdata      bool // a CDATA section: nothing to decode but line ends
	refs       bool // holds entity or character references to decode
	cr         bool // holds a carriage return, to read as a line feed
	text       bool // decodes to something other than XML whitespace
}

// xmlQName is a name as written in a tag: data[start:end], with the offset
// of the colon that ends its prefix, or -1 if it has no prefix.
type xmlQName struct {
	start, end int
	colon      int
}

// xmlOpenElem is an element whose end tag is due.
type xmlOpenElem struct {
	name xmlQName
	ns   int // len(p.nsUndo) before the element's namespace declarations
}

// xmlNSUndo undoes a namespace declaration: it gives the binding of prefix
// before it, if had.
type xmlNSUndo struct {
	prefix string // "" for the default namespace
	uri    string
	had    bool
}

// xmlAttr is an attribute of the start tag being read.
type xmlAttr struct {
	name  xmlQName
	value xmlSpan
}

// xmlNamespaceURL is the namespace of the reserved prefix "xml".
const xmlNamespaceURL = "http://www.w3.org/XML/1998/namespace"

// Classes of bytes in character data, for scanText.
const (
	xmlCharPlain   = iota // an ASCII character to keep as it is
	xmlCharSpace          // space, tab or line feed
	xmlCharCR             // carriage return
	xmlCharLT             // '<': the end of the text
	xmlCharAmp            // '&': a reference
	xmlCharBracket        // ']': maybe the start of "]]>"
	xmlCharCtl            // a control character XML forbids
	xmlCharHigh           // the first byte of a multi-byte character
)

var xmlCharClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			t[c] = xmlCharSpace
		case c == '\r':
			t[c] = xmlCharCR
		case c == '<':
			t[c] = xmlCharLT
		case c == '&':
			t[c] = xmlCharAmp
		case c == ']':
			t[c] = xmlCharBracket
		case c < 0x20:
			t[c] = xmlCharCtl
		case c >= utf8.RuneSelf:
			t[c] = xmlCharHigh
		}
	}
	return t
}()

// xmlNameBytes marks the bytes xmlIsNameByte accepts.
var xmlNameBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = xmlIsNameByte(byte(c))
	}
	return t
}()

// Classes of name bytes, as bits, for scanQName.
const (
	xmlNameASCII = 1 << iota // an ASCII name character other than ':'
	xmlNameColon             // ':'
	xmlNameHigh              // a byte of a multi-byte character
)

// xmlNameClass gives the class of each byte xmlIsNameByte accepts, and 0
// for the others.
var xmlNameClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case !xmlIsNameByte(byte(c)):
		case c == ':':
			t[c] = xmlNameColon
		case c >= utf8.RuneSelf:
			t[c] = xmlNameHigh
		default:
			t[c] = xmlNameASCII
		}
	}
	return t
}()

// xmlPosition returns the line and the column (in bytes), both from 1, of
// offset off in data.
func xmlPosition(data []byte, off int) (line, col int) {
	d := data[:off]
	return 1 + bytes.Count(d, []byte{'\n'}), off - bytes.LastIndexByte(d, '\n')
}

// syntaxError returns an errXMLParse error for malformed XML found at
// offset off, at the parser's current path.
func (p *xmlParser) syntaxError(off int, format string, args ...any) error {
	line, col := xmlPosition(p.data, off)
	return &xmlError{kind: errXMLParse, path: p.path.String(), msg: "malformed XML: " + fmt.Sprintf(format, args...), line: line, col: col}
}

// eofError returns the error for input that ends in the middle of markup
// or of the root element.
func (p *xmlParser) eofError() error {
	return p.syntaxError(len(p.data), "unexpected EOF")
}

// next reads the next token that matters into p.tok (and p.name or
// p.span): it skips comments, and the XML declaration if it is the very
// first token, and refuses other processing instructions, <!...>
// declarations and attributes other than namespace declarations. At the
// end of the input outside the root element it reads xmlTokEOF if eofOK,
// and fails otherwise.
func (p *xmlParser) next(eofOK bool) error {
	for {
		if p.closeEmpty {
			p.closeEmpty = false
			p.popElement()
			p.tok = xmlTokEnd
			return nil
		}
		data := p.data
		if p.pos >= len(data) {
			if len(p.open) > 0 {
				return p.eofError()
			}
			if eofOK {
				p.tok = xmlTokEOF
				return nil
			}
			return p.fail(errXMLParse, "unexpected end of input")
		}
		first := !p.started
		p.started = true
		if data[p.pos] != '<' {
			if err := p.scanText(); err != nil {
				return err
			}
			p.tok = xmlTokText
			return nil
		}
		if p.pos+1 >= len(data) {
			return p.eofError()
		}
		switch data[p.pos+1] {
		case '/':
			return p.scanEndTag()
		case '?':
			target, err := p.scanProcInst()
			if err != nil {
				return err
			}
			if first && target == "xml" {
				continue
			}
			return p.fail(errXMLParse, "unexpected processing instruction <?%s?>", target)
		case '!':
			if p.pos+2 >= len(data) {
				return p.eofError()
			}
			switch data[p.pos+2] {
			case '-':
				if err := p.scanComment(); err != nil {
					return err
				}
				continue
			case '[':
				if err := p.scanCDATA(); err != nil {
					return err
				}
				p.tok = xmlTokText
				return nil
			}
			if err := p.scanDirective(); err != nil {
				return err
			}
			return p.fail(errXMLParse, "DTDs and other <!...> declarations are not allowed")
		}
		return p.scanStartTag()
	}
}

// skipSpace skips XML whitespace.
func (p *xmlParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}

// scanName reads the name bytes at p.pos and returns where they end (p.pos
// if there are none). Input that ends during or right before a name is an
// error: markup never ends with a name.
func (p *xmlParser) scanName() (int, error) {
	i := p.pos
	for i < len(p.data) && xmlNameBytes[p.data[i]] {
		i++
	}
	p.pos = i
	if i >= len(p.data) {
		return 0, p.eofError()
	}
	return i, nil
}

// scanQName reads a (possibly prefixed) name at p.pos. none is the error
// message if there is no name there.
func (p *xmlParser) scanQName(none string) (xmlQName, error) {
	data := p.data
	start := p.pos
	i := start
	var seen uint8 // the classes of the name's bytes
	for ; i < len(data); i++ {
		k := xmlNameClass[data[i]]
		if k == 0 {
			break
		}
		seen |= k
	}
	p.pos = i
	if i >= len(data) {
		return xmlQName{}, p.eofError()
	}
	if i == start {
		return xmlQName{}, p.syntaxError(start, "%s", none)
	}
	name := data[start:i]
	if seen&xmlNameHigh != 0 || !xmlNameStart(name[0]) {
		if !p.isName(name) {
			return xmlQName{}, p.syntaxError(start, "invalid XML name %s", xmlQuoteShort(string(name)))
		}
	}
	colon := -1
	if seen&xmlNameColon != 0 {
		colon = bytes.IndexByte(name, ':')
		if bytes.IndexByte(name[colon+1:], ':') >= 0 {
			return xmlQName{}, p.syntaxError(start, "%s (a name has at most one colon)", none)
		}
		if colon == 0 || colon == len(name)-1 {
			colon = -1 // ":a" and "a:" have no prefix
		}
	}
	return xmlQName{start: start, end: i, colon: colon}, nil
}

// local returns the local part of the name n.
func (p *xmlParser) local(n xmlQName) []byte {
	return p.data[n.start+n.colon+1 : n.end]
}

// prefix returns the prefix of the name n ("" if none).
func (p *xmlParser) prefix(n xmlQName) []byte {
	if n.colon < 0 {
		return nil
	}
	return p.data[n.start : n.start+n.colon]
}

// scanStartTag reads a start tag or an empty-element tag at p.pos, applies
// its namespace declarations and refuses its other attributes.
func (p *xmlParser) scanStartTag() error {
	p.pos++ // '<'
	name, err := p.scanQName("expected element name after <")
	if err != nil {
		return err
	}
	data := p.data
	attrs := p.attrs[:0]
	empty := false
	for {
		p.skipSpace()
		if p.pos >= len(data) {
			return p.eofError()
		}
		c := data[p.pos]
		if c == '>' {
			p.pos++
			break
		}
		if c == '/' {
			p.pos++
			if p.pos >= len(data) {
				return p.eofError()
			}
			if data[p.pos] != '>' {
				return p.syntaxError(p.pos, "expected /> in element")
			}
			p.pos++
			empty = true
			break
		}
		an, err := p.scanQName("expected attribute name in element")
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(data) {
			return p.eofError()
		}
		if data[p.pos] != '=' {
			return p.syntaxError(p.pos, "attribute name without = in element")
		}
		p.pos++
		p.skipSpace()
		if p.pos >= len(data) {
			return p.eofError()
		}
		q := data[p.pos]
		if q != '"' && q != '\'' {
			return p.syntaxError(p.pos, "unquoted or missing attribute value in element")
		}
		p.pos++
		v, err := p.scanAttrValue(q)
		if err != nil {
			return err
		}
		attrs = append(attrs, xmlAttr{name: an, value: v})
	}
	p.attrs = attrs

	// Declarations apply to the element's own name and attributes.
	nsLen := len(p.nsUndo)
	for _, a := range attrs {
		switch {
		case string(p.prefix(a.name)) == "xmlns":
			p.declare(string(p.local(a.name)), string(p.appendSpan(nil, a.value)))
		case a.name.colon < 0 && string(p.local(a.name)) == "xmlns":
			p.declare("", string(p.appendSpan(nil, a.value)))
		}
	}
	p.open = append(p.open, xmlOpenElem{name: name, ns: nsLen})
	p.name = name
	p.closeEmpty = empty
	p.tok = xmlTokStart
	for _, a := range attrs {
		space := p.space(a.name, false)
		if space == "xmlns" || space == "" && string(p.local(a.name)) == "xmlns" {
			continue
		}
		return p.fail(errXMLParse, "unexpected attribute %s on %s", p.nameString(a.name, false), p.tagOf(name))
	}
	return nil
}

// scanEndTag reads an end tag at p.pos, which must close the innermost
// open element.
func (p *xmlParser) scanEndTag() error {
	if len(p.open) > 0 {
		// Most end tags are the name of the open element and '>'.
		open := p.open[len(p.open)-1].name
		i := p.pos + 2
		if j := i + open.end - open.start; j < len(p.data) && p.data[j] == '>' &&
			bytes.Equal(p.data[i:j], p.data[open.start:open.end]) {
			p.pos = j + 1
			p.popElement()
			p.tok = xmlTokEnd
			return nil
		}
	}
	p.pos += 2 // "</"
	name, err := p.scanQName("expected element name after </")
	if err != nil {
		return err
	}
	p.skipSpace()
	if p.pos >= len(p.data) {
		return p.eofError()
	}
	if p.data[p.pos] != '>' {
		return p.syntaxError(p.pos, "invalid characters between </%s and >", p.data[name.start:name.end])
	}
	p.pos++
	if len(p.open) == 0 {
		return p.syntaxError(name.start-2, "unexpected end tag </%s>", p.data[name.start:name.end])
	}
	open := p.open[len(p.open)-1].name
	if !bytes.Equal(p.data[open.start:open.end], p.data[name.start:name.end]) {
		return p.syntaxError(name.start-2, "element <%s> closed by </%s>", p.data[open.start:open.end], p.data[name.start:name.end])
	}
	p.popElement()
	p.tok = xmlTokEnd
	return nil
}

// declare binds prefix ("" for the default namespace) to uri, until the
// end of the element being opened.
func (p *xmlParser) declare(prefix, uri string) {
	if p.ns == nil {
		p.ns = make(map[string]string)
	}
	old, had := p.ns[prefix]
	p.nsUndo = append(p.nsUndo, xmlNSUndo{prefix: prefix, uri: old, had: had})
	p.ns[prefix] = uri
}

// popElement closes the innermost open element and the scope of its
// namespace declarations.
func (p *xmlParser) popElement() {
	e := p.open[len(p.open)-1]
	p.open = p.open[:len(p.open)-1]
	for i := len(p.nsUndo) - 1; i >= e.ns; i-- {
		u := p.nsUndo[i]
		if u.had {
			p.ns[u.prefix] = u.uri
		} else {
			delete(p.ns, u.prefix)
		}
	}
	clear(p.nsUndo[e.ns:])
	p.nsUndo = p.nsUndo[:e.ns]
}

// space returns the namespace of the name n of an element (elem) or of an
// attribute, as encoding/xml resolves it: the URI its prefix is bound to,
// the prefix itself if unbound, "" for an unprefixed attribute and, for an
// unprefixed element, the default namespace ("" if none).
func (p *xmlParser) space(n xmlQName, elem bool) string {
	prefix := p.prefix(n)
	switch {
	case string(prefix) == "xmlns":
		return "xmlns"
	case len(prefix) == 0 && !elem:
		return ""
	case string(prefix) == "xml":
		return xmlNamespaceURL
	case len(prefix) == 0 && string(p.local(n)) == "xmlns":
		return ""
	}
	if uri, ok := p.ns[string(prefix)]; ok {
		return uri
	}
	return string(prefix)
}

// noSpace reports whether the element name n is in no namespace.
func (p *xmlParser) noSpace(n xmlQName) bool {
	if len(p.ns) == 0 {
		return n.colon < 0
	}
	return p.space(n, true) == ""
}

// nameString formats the name n of an element (elem) or an attribute as
// the grammar's messages show it: with its namespace, if any, before a
// colon.
func (p *xmlParser) nameString(n xmlQName, elem bool) string {
	if space := p.space(n, elem); space != "" {
		return space + ":" + string(p.local(n))
	}
	return string(p.local(n))
}

// tagOf formats the element name n as a start tag, for messages.
func (p *xmlParser) tagOf(n xmlQName) string {
	return "<" + p.nameString(n, true) + ">"
}

// scanProcInst reads a processing instruction at p.pos and returns its
// target. An XML declaration must declare version 1.0 and UTF-8, if
// anything.
func (p *xmlParser) scanProcInst() (string, error) {
	p.pos += 2 // "<?"
	start := p.pos
	end, err := p.scanName()
	if err != nil {
		return "", err
	}
	target := p.data[start:end]
	if len(target) == 0 {
		return "", p.syntaxError(start, "expected target name after <?")
	}
	if !p.isName(target) {
		return "", p.syntaxError(start, "invalid XML name %s", xmlQuoteShort(string(target)))
	}
	p.skipSpace()
	k := bytes.Index(p.data[p.pos:], []byte("?>"))
	if k < 0 {
		p.pos = len(p.data)
		return "", p.eofError()
	}
	content := p.data[p.pos : p.pos+k]
	p.pos += k + 2
	if string(target) == "xml" {
		if ver := xmlProcInstParam("version", content); ver != "" && ver != "1.0" {
			return "", p.syntaxError(p.pos, "unsupported XML version %q: only 1.0 is supported", ver)
		}
		if enc := xmlProcInstParam("encoding", content); enc != "" && !strings.EqualFold(enc, "utf-8") {
			return "", p.syntaxError(p.pos, "unsupported encoding %q: only UTF-8 is supported", enc)
		}
	}
	return string(target), nil
}

// xmlProcInstParam returns the value of the pseudo-attribute param in the
// content of an XML declaration, or "" if there is none. It reads the
// content as encoding/xml does: loosely, finding `param=` followed by a
// quote anywhere.
func xmlProcInstParam(param string, content []byte) string {
	s := string(content)
	param += "="
	lenp := len(param)
	i := 0
	var sep byte
	for i < len(s) {
		sub := s[i:]
		k := strings.Index(sub, param)
		if k < 0 || lenp+k >= len(sub) {
			return ""
		}
		i += lenp + k + 1
		if c := sub[lenp+k]; c == '\'' || c == '"' {
			sep = c
			break
		}
	}
	if sep == 0 {
		return ""
	}
	j := strings.IndexByte(s[i:], sep)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// scanComment reads a comment at p.pos ("<!-").
func (p *xmlParser) scanComment() error {
	data := p.data
	i := p.pos + 3 // "<!-"
	if i >= len(data) {
		return p.eofError()
	}
	if data[i] != '-' {
		return p.syntaxError(p.pos, "invalid sequence <!- not part of <!--")
	}
	i++
	k := bytes.Index(data[i:], []byte("--"))
	if k < 0 || i+k+2 >= len(data) {
		p.pos = len(data)
		return p.eofError()
	}
	if data[i+k+2] != '>' {
		return p.syntaxError(i+k, `"--" not allowed in comments`)
	}
	p.pos = i + k + 3
	return nil
}

// scanCDATA reads a CDATA section at p.pos ("<![") into p.span.
func (p *xmlParser) scanCDATA() error {
	data := p.data
	i := p.pos + 3 // "<!["
	for k := range len("CDATA[") {
		if i >= len(data) {
			return p.eofError()
		}
		if data[i] != "CDATA["[k] {
			return p.syntaxError(p.pos, "invalid <![ sequence")
		}
		i++
	}
	k := bytes.Index(data[i:], []byte("]]>"))
	if k < 0 {
		return p.syntaxError(len(data), "unexpected EOF in CDATA section")
	}
	s := xmlSpan{start: i, end: i + k, cdata: true}
	for j := s.start; j < s.end; {
		c := data[j]
		switch xmlCharClass[c] {
		case xmlCharSpace:
			j++
		case xmlCharCR:
			s.cr = true
			j++
		case xmlCharCtl:
			return p.syntaxError(j, "illegal character code %U", rune(c))
		case xmlCharHigh:
			n, err := p.checkRune(j)
			if err != nil {
				return err
			}
			s.text = true
			j += n
		default:
			s.text = true
			j++
		}
	}
	p.pos = s.end + 3
	p.span = s
	return nil
}

// scanDirective reads a <!...> declaration at p.pos, only to report it
// where it ends. Quoted '>' and nested <...> and <!--...--> do not end it.
func (p *xmlParser) scanDirective() error {
	data := p.data
	i := p.pos + 3 // "<!" and the byte after it
	var inquote byte
	depth := 0
	var b byte
	again := false // b is to be looked at again
	for {
		if !again {
			if i >= len(data) {
				p.pos = i
				return p.eofError()
			}
			b = data[i]
			i++
			if inquote == 0 && b == '>' && depth == 0 {
				break
			}
		}
		again = false
		switch {
		case b == inquote:
			inquote = 0
		case inquote != 0:
		case b == '\'' || b == '"':
			inquote = b
		case b == '>':
			depth--
		case b == '<':
			comment := true
			for k := range len("!--") {
				if i >= len(data) {
					p.pos = i
					return p.eofError()
				}
				b = data[i]
				i++
				if b != "!--"[k] {
					depth++
					again = true
					comment = false
					break
				}
			}
			if !comment {
				continue
			}
			var b0, b1 byte
			for {
				if i >= len(data) {
					p.pos = i
					return p.eofError()
				}
				b = data[i]
				i++
				if b0 == '-' && b1 == '-' && b == '>' {
					break
				}
				b0, b1 = b1, b
			}
		}
	}
	p.pos = i
	return nil
}

// checkRune checks the multi-byte character at data[i] and returns its
// length: it must be valid UTF-8 and a character XML 1.0 allows.
func (p *xmlParser) checkRune(i int) (int, error) {
	r, n := utf8.DecodeRune(p.data[i:])
	if r == utf8.RuneError && n == 1 {
		return 0, p.syntaxError(i, "invalid UTF-8")
	}
	if r == 0xFFFE || r == 0xFFFF {
		return 0, p.syntaxError(i, "illegal character code %U", r)
	}
	return n, nil
}

// scanText reads character data at p.pos, up to the next '<' or the end of
// the input, into p.span.
func (p *xmlParser) scanText() error {
	data := p.data
	s := xmlSpan{start: p.pos}
	i := p.pos
scan:
	for i < len(data) {
		c := data[i]
		switch xmlCharClass[c] {
		case xmlCharPlain:
			s.text = true
			i++
			for i < len(data) && xmlCharClass[data[i]] == xmlCharPlain {
				i++
			}
		case xmlCharSpace:
			i++
		case xmlCharCR:
			s.cr = true
			i++
		case xmlCharLT:
			break scan
		case xmlCharAmp:
			r, n, err := p.scanRef(i)
			if err != nil {
				return err
			}
			s.refs = true
			if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
				s.text = true
			}
			i += n
		case xmlCharBracket:
			if i+2 < len(data) && data[i+1] == ']' && data[i+2] == '>' {
				return p.syntaxError(i, "unescaped ]]> not in CDATA section")
			}
			s.text = true
			i++
		case xmlCharCtl:
			return p.syntaxError(i, "illegal character code %U", rune(c))
		case xmlCharHigh:
			n, err := p.checkRune(i)
			if err != nil {
				return err
			}
			s.text = true
			i += n
		}
	}
	s.end = i
	p.pos = i
	p.span = s
	return nil
}

// scanAttrValue reads an attribute value at p.pos, just after its opening
// quote q, and the closing quote.
func (p *xmlParser) scanAttrValue(q byte) (xmlSpan, error) {
	data := p.data
	s := xmlSpan{start: p.pos}
	i := p.pos
	for {
		if i >= len(data) {
			p.pos = i
			return s, p.eofError()
		}
		c := data[i]
		if c == q {
			break
		}
		switch xmlCharClass[c] {
		case xmlCharCR:
			s.cr = true
			i++
		case xmlCharLT:
			return s, p.syntaxError(i, "unescaped < inside quoted string")
		case xmlCharAmp:
			_, n, err := p.scanRef(i)
			if err != nil {
				return s, err
			}
			s.refs = true
			i += n
		case xmlCharCtl:
			return s, p.syntaxError(i, "illegal character code %U", rune(c))
		case xmlCharHigh:
			n, err := p.checkRune(i)
			if err != nil {
				return s, err
			}
			i += n
		default:
			i++
		}
	}
	s.end = i
	p.pos = i + 1
	return s, nil
}

// scanRef reads the reference at data[i] ('&') and returns the character
// it stands for and its length.
func (p *xmlParser) scanRef(i int) (rune, int, error) {
	data := p.data
	j := i + 1
	if j >= len(data) {
		return 0, 0, p.eofError()
	}
	if data[j] != '#' {
		start := j
		for j < len(data) && xmlNameBytes[data[j]] {
			j++
		}
		if j >= len(data) {
			return 0, 0, p.eofError()
		}
		if data[j] != ';' {
			return 0, 0, p.syntaxError(i, "invalid character entity %s (no semicolon)", data[i:j])
		}
		var r rune
		switch string(data[start:j]) {
		case "lt":
			r = '<'
		case "gt":
			r = '>'
		case "amp":
			r = '&'
		case "apos":
			r = '\''
		case "quot":
			r = '"'
		default:
			return 0, 0, p.syntaxError(i, "invalid character entity %s", data[i:j+1])
		}
		return r, j + 1 - i, nil
	}
	j++ // '#'
	if j >= len(data) {
		return 0, 0, p.eofError()
	}
	base := uint64(10)
	if data[j] == 'x' {
		base = 16
		j++
	}
	start := j
	var n uint64
	for ; j < len(data); j++ {
		c := data[j]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case base == 16 && 'a' <= c && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && 'A' <= c && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			d = base // not a digit
		}
		if d == base {
			break
		}
		if n <= utf8.MaxRune {
			n = n*base + d
		}
	}
	if j >= len(data) {
		return 0, 0, p.eofError()
	}
	if data[j] != ';' {
		return 0, 0, p.syntaxError(i, "invalid character entity %s (no semicolon)", data[i:j])
	}
	if j == start || n > utf8.MaxRune {
		return 0, 0, p.syntaxError(i, "invalid character entity %s", data[i:j+1])
	}
	r := rune(n)
	if 0xD800 <= r && r <= 0xDFFF {
		return 0, 0, p.syntaxError(i, "character reference %s names a surrogate, not a character", data[i:j+1])
	}
	if !xmlCharOK(r) {
		return 0, 0, p.syntaxError(i, "illegal character code %U", r)
	}
	return r, j + 1 - i, nil
}

// appendSpan appends the text s stands for to dst: references replaced,
// line ends normalised.
func (p *xmlParser) appendSpan(dst []byte, s xmlSpan) []byte {
	raw := p.data[s.start:s.end]
	if !s.refs && !s.cr {
		return append(dst, raw...)
	}
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '\r':
			dst = append(dst, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case c == '&' && !s.cdata:
			r, n, _ := p.scanRef(s.start + i) // checked when it was scanned
			dst = utf8.AppendRune(dst, r)
			i += n
		default:
			j := i + 1
			for j < len(raw) && raw[j] != '\r' && (raw[j] != '&' || s.cdata) {
				j++
			}
			dst = append(dst, raw[i:j]...)
			i = j
		}
	}
	return dst
}
