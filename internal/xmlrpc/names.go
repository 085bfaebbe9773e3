package xmlrpc

// This file decides which byte strings are XML names, for the scanner of
// scan.go and tags.go.

import (
	"encoding/xml"
	"io"
	"unicode/utf8"
)

// isNameByte reports whether the byte c may appear in a name the
// scanner reads: an ASCII name character, or any byte of a multi-byte
// character (checked afterwards by isName).
func isNameByte(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '_' || c == ':' || c == '.' || c == '-' || c >= utf8.RuneSelf
}

// nameStart reports whether the ASCII character c may start a name.
func nameStart(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == ':'
}

// isName reports whether b is a valid XML name: a letter, '_' or ':'
// first, then name characters. ASCII names, all that XML-RPC uses, are
// checked here; a name with other characters is checked by encoding/xml's
// own rule (XML 1.0, second edition, Appendix B), through the one door it
// opens to it: an encoder refuses a processing instruction whose target
// is not a name. The parser keeps that encoder, so a body full of such
// names costs no encoder each.
func (p *parser) isName(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		if !nameStart(b[0]) {
			return false
		}
		for _, c := range b[1:] {
			if !isNameByte(c) {
				return false
			}
		}
		return true
	}
	if !utf8.Valid(b) {
		return false
	}
	if p.nameCheck == nil {
		p.nameCheck = xml.NewEncoder(io.Discard)
	}
	return p.nameCheck.EncodeToken(xml.ProcInst{Target: string(b)}) == nil
}
