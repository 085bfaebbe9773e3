package xmlrpc

// This file reads character data and attribute values, with the
// references in them, and decodes them.

import (
	"unicode/utf8"
)

// checkRune checks the multi-byte character at data[i] and returns its
// length: it must be valid UTF-8 and a character XML 1.0 allows.
func (p *parser) checkRune(i int) (int, error) {
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
func (p *parser) scanText() error {
	data := p.data
	s := span{start: p.pos}
	i := p.pos
scan:
	for i < len(data) {
		c := data[i]
		switch charClass[c] {
		case charPlain:
			s.text = true
			i++
			for i < len(data) && charClass[data[i]] == charPlain {
				i++
			}
		case charSpace:
			i++
		case charCR:
			s.cr = true
			i++
		case charLT:
			break scan
		case charAmp:
			r, n, err := p.scanRef(i)
			if err != nil {
				return err
			}
			s.refs = true
			if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
				s.text = true
			}
			i += n
		case charBracket:
			if i+2 < len(data) && data[i+1] == ']' && data[i+2] == '>' {
				return p.syntaxError(i, "unescaped ]]> not in CDATA section")
			}
			s.text = true
			i++
		case charCtl:
			return p.syntaxError(i, "illegal character code %U", rune(c))
		case charHigh:
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
func (p *parser) scanAttrValue(q byte) (span, error) {
	data := p.data
	s := span{start: p.pos}
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
		switch charClass[c] {
		case charCR:
			s.cr = true
			i++
		case charLT:
			return s, p.syntaxError(i, "unescaped < inside quoted string")
		case charAmp:
			_, n, err := p.scanRef(i)
			if err != nil {
				return s, err
			}
			s.refs = true
			i += n
		case charCtl:
			return s, p.syntaxError(i, "illegal character code %U", rune(c))
		case charHigh:
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
func (p *parser) scanRef(i int) (rune, int, error) {
	data := p.data
	j := i + 1
	if j >= len(data) {
		return 0, 0, p.eofError()
	}
	if data[j] != '#' {
		return p.scanEntityRef(i)
	}
	return p.scanCharRef(i)
}

// scanEntityRef reads the entity reference at data[i] ('&'), one of the
// five XML predefines, and returns the character it stands for and its
// length.
func (p *parser) scanEntityRef(i int) (rune, int, error) {
	data := p.data
	j := i + 1
	start := j
	for j < len(data) && nameBytes[data[j]] {
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

// scanCharRef reads the character reference at data[i] ("&#"), decimal or
// hexadecimal, and returns the character it names and its length.
func (p *parser) scanCharRef(i int) (rune, int, error) {
	data := p.data
	j := i + 2 // "&#"
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
		d := refDigit(data[j], base)
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
	if !charOK(r) {
		return 0, 0, p.syntaxError(i, "illegal character code %U", r)
	}
	return r, j + 1 - i, nil
}

// refDigit returns the value of the digit c in base (10 or 16), or base
// if c is not one.
func refDigit(c byte, base uint64) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case base == 16 && 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case base == 16 && 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return base
}

// appendSpan appends the text s stands for to dst: references replaced,
// line ends normalised.
func (p *parser) appendSpan(dst []byte, s span) []byte {
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
