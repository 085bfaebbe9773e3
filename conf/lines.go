package conf

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// BurntSushi/toml v1.6.0 keeps the position of each key private (MetaData
// and Undecoded give none): it shows only in the text of some errors, and
// for an array of tables it holds the last element's line for every
// element. So, once the library has accepted a document, indexLines scans
// it again for nothing but the line on which each key, table header and
// array element starts. Values come from the library, never from here.

// indexLines maps the id of every path in src to the line where it first
// appears. src should be a document the toml library accepted; on any other
// input the result is incomplete but indexLines still returns.
func indexLines(src string) map[string]int {
	s := &scanner{src: src, line: 1, lines: map[string]int{}, arrays: map[string]int{}}
	var table path
	for s.pos < len(s.src) {
		start := s.pos
		s.space()
		switch {
		case s.pos >= len(s.src):
		case strings.HasPrefix(s.src[s.pos:], "[["):
			s.pos += 2
			table = s.header(s.keys(), true)
		case s.src[s.pos] == '[':
			s.pos++
			table = s.header(s.keys(), false)
		default:
			s.keyValue(table)
		}
		if s.pos == start {
			s.next()
		}
	}
	return s.lines
}

type scanner struct {
	src    string
	pos    int
	line   int
	lines  map[string]int
	arrays map[string]int // id of an array of tables → elements so far
}

// record notes the current line for p unless p already has one.
func (s *scanner) record(p path) {
	if _, ok := s.lines[p.id()]; !ok {
		s.lines[p.id()] = s.line
	}
}

// next moves one byte forward, counting lines.
func (s *scanner) next() {
	if s.pos < len(s.src) {
		if s.src[s.pos] == '\n' {
			s.line++
		}
		s.pos++
	}
}

func (s *scanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

// blank skips spaces and tabs.
func (s *scanner) blank() {
	for c := s.peek(); c == ' ' || c == '\t'; c = s.peek() {
		s.pos++
	}
}

// space skips whitespace, newlines and comments.
func (s *scanner) space() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.next()
		case '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.pos++
			}
		default:
			return
		}
	}
}

// header handles a table header whose keys have been read, and returns
// the path of the table it opens.
func (s *scanner) header(keys []string, array bool) path {
	var p path
	for i, k := range keys {
		p = p.key(k)
		s.record(p)
		if n, ok := s.arrays[p.id()]; ok && i < len(keys)-1 {
			p = p.index(n - 1)
		}
	}
	if array && len(keys) > 0 {
		n := s.arrays[p.id()]
		s.arrays[p.id()] = n + 1
		p = p.index(n)
		s.record(p)
	}
	return p
}

// keys reads a dotted key: bare, "basic" or 'literal' parts.
func (s *scanner) keys() []string {
	var keys []string
	for {
		s.blank()
		start := s.pos
		var k string
		switch s.peek() {
		case '"', '\'':
			k = s.str()
		default:
			for s.pos < len(s.src) && isBare(s.src[s.pos]) {
				s.pos++
			}
			k = s.src[start:s.pos]
		}
		if s.pos == start {
			return keys
		}
		keys = append(keys, k)
		s.blank()
		if s.peek() != '.' {
			return keys
		}
		s.pos++
	}
}

func isBare(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// keyValue reads "key = value" inside the table at base.
func (s *scanner) keyValue(base path) {
	keys := s.keys()
	if len(keys) == 0 {
		return
	}
	p := base
	for _, k := range keys {
		p = p.key(k)
		s.record(p)
	}
	s.blank()
	if s.peek() == '=' {
		s.pos++
	}
	s.blank()
	s.value(p)
}

// value skips one value, recording the keys and elements inside it.
func (s *scanner) value(p path) {
	switch s.peek() {
	case '"', '\'':
		s.str()
	case '[':
		i := 0
		s.items(']', func() {
			s.record(p.index(i))
			s.value(p.index(i))
			i++
		})
	case '{':
		s.items('}', func() { s.keyValue(p) })
	default:
		for s.pos < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.pos])) {
			s.pos++
		}
	}
}

// items reads the items of an array or an inline table, from its opening
// bracket to end, its closing one (or the end of the source), each with
// item.
func (s *scanner) items(end byte, item func()) {
	s.pos++
	for {
		start := s.pos
		s.space()
		switch s.peek() {
		case 0:
			return
		case end:
			s.pos++
			return
		case ',':
			s.pos++
		default:
			item()
		}
		if s.pos == start {
			s.next()
		}
	}
}

// str reads a string of any of the four kinds and returns its value; the
// value is exact only for the one-line kinds, which are all a key can be.
func (s *scanner) str() string {
	q := s.src[s.pos]
	if strings.HasPrefix(s.src[s.pos:], strings.Repeat(string(q), 3)) {
		s.pos += 3
		for s.pos < len(s.src) {
			switch {
			case strings.HasPrefix(s.src[s.pos:], strings.Repeat(string(q), 3)):
				s.pos += 3
				// Up to two more quotes belong to the string.
				for i := 0; i < 2 && s.peek() == q; i++ {
					s.pos++
				}
				return ""
			case q == '"' && s.src[s.pos] == '\\':
				s.next()
				s.next()
			default:
				s.next()
			}
		}
		return ""
	}
	s.pos++
	var b strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == q:
			s.pos++
			return b.String()
		case c == '\n':
			return b.String()
		case c == '\\' && q == '"':
			s.pos++
			b.WriteString(s.escape())
		default:
			b.WriteByte(c)
			s.pos++
		}
	}
	return b.String()
}

// escape decodes the escape sequence after a backslash.
func (s *scanner) escape() string {
	c := s.peek()
	s.pos++
	switch c {
	case 'b':
		return "\b"
	case 't':
		return "\t"
	case 'n':
		return "\n"
	case 'f':
		return "\f"
	case 'r':
		return "\r"
	case 'e':
		return "\x1b"
	case 'x', 'u', 'U':
		n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		if s.pos+n > len(s.src) {
			return ""
		}
		r, err := strconv.ParseUint(s.src[s.pos:s.pos+n], 16, 32)
		s.pos += n
		if err != nil || !utf8.ValidRune(rune(r)) {
			return ""
		}
		return string(rune(r))
	}
	return string(c)
}
