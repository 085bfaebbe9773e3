package xmlrpc

// This file reads the markup that carries no element: processing
// instructions (the XML declaration), comments, CDATA sections and <!...>
// declarations.

import (
	"bytes"
	"strings"
)

// scanProcInst reads a processing instruction at p.pos and returns its
// target. An XML declaration must declare version 1.0 and UTF-8, if
// anything.
func (p *parser) scanProcInst() (string, error) {
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
		return "", p.syntaxError(start, "invalid XML name %s", QuoteShort(string(target)))
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
		if ver := procInstParam("version", content); ver != "" && ver != "1.0" {
			return "", p.syntaxError(p.pos, "unsupported XML version %q: only 1.0 is supported", ver)
		}
		if enc := procInstParam("encoding", content); enc != "" && !strings.EqualFold(enc, "utf-8") {
			return "", p.syntaxError(p.pos, "unsupported encoding %q: only UTF-8 is supported", enc)
		}
	}
	return string(target), nil
}

// procInstParam returns the value of the pseudo-attribute param in the
// content of an XML declaration, or "" if there is none. It reads the
// content as encoding/xml does: loosely, finding `param=` followed by a
// quote anywhere.
func procInstParam(param string, content []byte) string {
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
func (p *parser) scanComment() error {
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
func (p *parser) scanCDATA() error {
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
	s := span{start: i, end: i + k, cdata: true}
	for j := s.start; j < s.end; {
		c := data[j]
		switch charClass[c] {
		case charSpace:
			j++
		case charCR:
			s.cr = true
			j++
		case charCtl:
			return p.syntaxError(j, "illegal character code %U", rune(c))
		case charHigh:
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
func (p *parser) scanDirective() error {
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
