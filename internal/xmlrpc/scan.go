package xmlrpc

// This file is the XML scanner under the decoder. It cuts a body held in
// memory into the tokens the XML-RPC grammar of decode.go and value.go
// reads (start tags, end tags and character data) without copying names or
// text, and checks well-formedness on the way.
//
// It reads the part of XML 1.0 and of XML namespaces that a document may
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
	"unicode/utf8"
)

// tokKind is the kind of the token the scanner read last.
type tokKind uint8

const (
	tokEOF   tokKind = iota // the end of the input, outside any element
	tokStart                // a start tag, or the start of an empty-element tag
	tokEnd                  // an end tag, or the end of an empty-element tag
	tokText                 // character data or a CDATA section
)

// span is a run of character data in the input: data[start:end].
type span struct {
	start, end int
	cdata      bool // a CDATA section: nothing to decode but line ends
	refs       bool // holds entity or character references to decode
	cr         bool // holds a carriage return, to read as a line feed
	text       bool // decodes to something other than XML whitespace
}

// qName is a name as written in a tag: data[start:end], with the offset
// of the colon that ends its prefix, or -1 if it has no prefix.
type qName struct {
	start, end int
	colon      int
}

// openElem is an element whose end tag is due.
type openElem struct {
	name qName
	ns   int // len(p.nsUndo) before the element's namespace declarations
}

// nsUndoEntry undoes a namespace declaration: it gives the binding of prefix
// before it, if had.
type nsUndoEntry struct {
	prefix string // "" for the default namespace
	uri    string
	had    bool
}

// attr is an attribute of the start tag being read.
type attr struct {
	name  qName
	value span
}

// namespaceURL is the namespace of the reserved prefix "xml".
const namespaceURL = "http://www.w3.org/XML/1998/namespace"

// Classes of bytes in character data, for scanText.
const (
	charPlain   = iota // an ASCII character to keep as it is
	charSpace          // space, tab or line feed
	charCR             // carriage return
	charLT             // '<': the end of the text
	charAmp            // '&': a reference
	charBracket        // ']': maybe the start of "]]>"
	charCtl            // a control character XML forbids
	charHigh           // the first byte of a multi-byte character
)

var charClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			t[c] = charSpace
		case c == '\r':
			t[c] = charCR
		case c == '<':
			t[c] = charLT
		case c == '&':
			t[c] = charAmp
		case c == ']':
			t[c] = charBracket
		case c < 0x20:
			t[c] = charCtl
		case c >= utf8.RuneSelf:
			t[c] = charHigh
		}
	}
	return t
}()

// nameBytes marks the bytes isNameByte accepts.
var nameBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = isNameByte(byte(c))
	}
	return t
}()

// Classes of name bytes, as bits, for scanQName.
const (
	nameASCII = 1 << iota // an ASCII name character other than ':'
	nameColon             // ':'
	nameHigh              // a byte of a multi-byte character
)

// nameClass gives the class of each byte isNameByte accepts, and 0
// for the others.
var nameClass = func() (t [256]uint8) {
	for c := range 256 {
		switch {
		case !isNameByte(byte(c)):
		case c == ':':
			t[c] = nameColon
		case c >= utf8.RuneSelf:
			t[c] = nameHigh
		default:
			t[c] = nameASCII
		}
	}
	return t
}()

// position returns the line and the column (in bytes), both from 1, of
// offset off in data.
func position(data []byte, off int) (line, col int) {
	d := data[:off]
	return 1 + bytes.Count(d, []byte{'\n'}), off - bytes.LastIndexByte(d, '\n')
}

// syntaxError returns an ErrParse error for malformed XML found at
// offset off, at the parser's current path.
func (p *parser) syntaxError(off int, format string, args ...any) error {
	line, col := position(p.data, off)
	return &Error{kind: ErrParse, path: p.path.String(), msg: "malformed XML: " + fmt.Sprintf(format, args...), line: line, col: col}
}

// eofError returns the error for input that ends in the middle of markup
// or of the root element.
func (p *parser) eofError() error {
	return p.syntaxError(len(p.data), "unexpected EOF")
}

// next reads the next token that matters into p.tok (and p.name or
// p.span): it skips comments, and the XML declaration if it is the very
// first token, and refuses other processing instructions, <!...>
// declarations and attributes other than namespace declarations. At the
// end of the input outside the root element it reads tokEOF if eofOK,
// and fails otherwise.
func (p *parser) next(eofOK bool) error {
	for {
		if p.closeEmpty {
			p.closeEmpty = false
			p.popElement()
			p.tok = tokEnd
			return nil
		}
		data := p.data
		if p.pos >= len(data) {
			if len(p.open) > 0 {
				return p.eofError()
			}
			if eofOK {
				p.tok = tokEOF
				return nil
			}
			return p.fail(ErrParse, "unexpected end of input")
		}
		first := !p.started
		p.started = true
		if data[p.pos] != '<' {
			if err := p.scanText(); err != nil {
				return err
			}
			p.tok = tokText
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
			return p.fail(ErrParse, "unexpected processing instruction <?%s?>", target)
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
				p.tok = tokText
				return nil
			}
			if err := p.scanDirective(); err != nil {
				return err
			}
			return p.fail(ErrParse, "DTDs and other <!...> declarations are not allowed")
		}
		return p.scanStartTag()
	}
}

// skipSpace skips XML whitespace.
func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}
