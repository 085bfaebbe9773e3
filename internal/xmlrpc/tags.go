package xmlrpc

// This file reads tags: names, start and end tags, attributes, and the
// namespaces they declare.

import (
	"bytes"
)

// scanName reads the name bytes at p.pos and returns where they end (p.pos
// if there are none). Input that ends during or right before a name is an
// error: markup never ends with a name.
func (p *parser) scanName() (int, error) {
	i := p.pos
	for i < len(p.data) && nameBytes[p.data[i]] {
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
func (p *parser) scanQName(none string) (qName, error) {
	data := p.data
	start := p.pos
	i := start
	var seen uint8 // the classes of the name's bytes
	for ; i < len(data); i++ {
		k := nameClass[data[i]]
		if k == 0 {
			break
		}
		seen |= k
	}
	p.pos = i
	if i >= len(data) {
		return qName{}, p.eofError()
	}
	if i == start {
		return qName{}, p.syntaxError(start, "%s", none)
	}
	name := data[start:i]
	if seen&nameHigh != 0 || !nameStart(name[0]) {
		if !p.isName(name) {
			return qName{}, p.syntaxError(start, "invalid XML name %s", QuoteShort(string(name)))
		}
	}
	colon := -1
	if seen&nameColon != 0 {
		colon = bytes.IndexByte(name, ':')
		if bytes.IndexByte(name[colon+1:], ':') >= 0 {
			return qName{}, p.syntaxError(start, "%s (a name has at most one colon)", none)
		}
		if colon == 0 || colon == len(name)-1 {
			colon = -1 // ":a" and "a:" have no prefix
		}
	}
	return qName{start: start, end: i, colon: colon}, nil
}

// local returns the local part of the name n.
func (p *parser) local(n qName) []byte {
	return p.data[n.start+n.colon+1 : n.end]
}

// prefix returns the prefix of the name n ("" if none).
func (p *parser) prefix(n qName) []byte {
	if n.colon < 0 {
		return nil
	}
	return p.data[n.start : n.start+n.colon]
}

// scanStartTag reads a start tag or an empty-element tag at p.pos, applies
// its namespace declarations and refuses its other attributes.
func (p *parser) scanStartTag() error {
	p.pos++ // '<'
	name, err := p.scanQName("expected element name after <")
	if err != nil {
		return err
	}
	empty, err := p.scanAttrs()
	if err != nil {
		return err
	}
	// Declarations apply to the element's own name and attributes.
	nsLen := len(p.nsUndo)
	for _, a := range p.attrs {
		switch {
		case string(p.prefix(a.name)) == "xmlns":
			p.declare(string(p.local(a.name)), string(p.appendSpan(nil, a.value)))
		case a.name.colon < 0 && string(p.local(a.name)) == "xmlns":
			p.declare("", string(p.appendSpan(nil, a.value)))
		}
	}
	p.open = append(p.open, openElem{name: name, ns: nsLen})
	p.name = name
	p.closeEmpty = empty
	p.tok = tokStart
	for _, a := range p.attrs {
		space := p.space(a.name, false)
		if space == "xmlns" || space == "" && string(p.local(a.name)) == "xmlns" {
			continue
		}
		return p.fail(ErrParse, "unexpected attribute %s on %s", p.nameString(a.name, false), p.tagOf(name))
	}
	return nil
}

// scanAttrs reads the attributes of a start tag into p.attrs, and the end
// of the tag: ">", or "/>" for an empty-element tag (empty).
func (p *parser) scanAttrs() (empty bool, err error) {
	data := p.data
	p.attrs = p.attrs[:0]
	for {
		p.skipSpace()
		if p.pos >= len(data) {
			return false, p.eofError()
		}
		switch data[p.pos] {
		case '>':
			p.pos++
			return false, nil
		case '/':
			p.pos++
			if p.pos >= len(data) {
				return false, p.eofError()
			}
			if data[p.pos] != '>' {
				return false, p.syntaxError(p.pos, "expected /> in element")
			}
			p.pos++
			return true, nil
		}
		a, err := p.scanAttr()
		if err != nil {
			return false, err
		}
		p.attrs = append(p.attrs, a)
	}
}

// scanAttr reads one attribute at p.pos: a name, "=" and a quoted value.
func (p *parser) scanAttr() (attr, error) {
	data := p.data
	an, err := p.scanQName("expected attribute name in element")
	if err != nil {
		return attr{}, err
	}
	p.skipSpace()
	if p.pos >= len(data) {
		return attr{}, p.eofError()
	}
	if data[p.pos] != '=' {
		return attr{}, p.syntaxError(p.pos, "attribute name without = in element")
	}
	p.pos++
	p.skipSpace()
	if p.pos >= len(data) {
		return attr{}, p.eofError()
	}
	q := data[p.pos]
	if q != '"' && q != '\'' {
		return attr{}, p.syntaxError(p.pos, "unquoted or missing attribute value in element")
	}
	p.pos++
	v, err := p.scanAttrValue(q)
	if err != nil {
		return attr{}, err
	}
	return attr{name: an, value: v}, nil
}

// scanEndTag reads an end tag at p.pos, which must close the innermost
// open element.
func (p *parser) scanEndTag() error {
	if len(p.open) > 0 {
		// Most end tags are the name of the open element and '>'.
		open := p.open[len(p.open)-1].name
		i := p.pos + 2
		if j := i + open.end - open.start; j < len(p.data) && p.data[j] == '>' &&
			bytes.Equal(p.data[i:j], p.data[open.start:open.end]) {
			p.pos = j + 1
			p.popElement()
			p.tok = tokEnd
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
	p.tok = tokEnd
	return nil
}

// declare binds prefix ("" for the default namespace) to uri, until the
// end of the element being opened.
func (p *parser) declare(prefix, uri string) {
	if p.ns == nil {
		p.ns = make(map[string]string)
	}
	old, had := p.ns[prefix]
	p.nsUndo = append(p.nsUndo, nsUndoEntry{prefix: prefix, uri: old, had: had})
	p.ns[prefix] = uri
}

// popElement closes the innermost open element and the scope of its
// namespace declarations.
func (p *parser) popElement() {
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
func (p *parser) space(n qName, elem bool) string {
	prefix := p.prefix(n)
	switch {
	case string(prefix) == "xmlns":
		return "xmlns"
	case len(prefix) == 0 && !elem:
		return ""
	case string(prefix) == "xml":
		return namespaceURL
	case len(prefix) == 0 && string(p.local(n)) == "xmlns":
		return ""
	}
	if uri, ok := p.ns[string(prefix)]; ok {
		return uri
	}
	return string(prefix)
}

// noSpace reports whether the element name n is in no namespace.
func (p *parser) noSpace(n qName) bool {
	if len(p.ns) == 0 {
		return n.colon < 0
	}
	return p.space(n, true) == ""
}

// nameString formats the name n of an element (elem) or an attribute as
// the grammar's messages show it: with its namespace, if any, before a
// colon.
func (p *parser) nameString(n qName, elem bool) string {
	if space := p.space(n, elem); space != "" {
		return space + ":" + string(p.local(n))
	}
	return string(p.local(n))
}

// tagOf formats the element name n as a start tag, for messages.
func (p *parser) tagOf(n qName) string {
	return "<" + p.nameString(n, true) + ">"
}
