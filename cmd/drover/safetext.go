package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The human-readable outputs (every one but --json and drover logs) show
// text that jobs, workers and the master wrote: a job's output, errors,
// args, names, tags. Such text goes through safeLine or safeLines, so
// that it cannot drive the operator's terminal: a control character, an
// invalid UTF-8 byte or a bidi override shows as an escape instead.
// JSON escapes what it carries, and drover logs is the raw stream.

// safeLine is s for one line or a table cell: printable text as it is;
// every control character (C0 with \n, \r and \t, DEL, C1), invalid
// UTF-8 byte and bidi override or isolate as a visible escape.
func safeLine(s string) string { return safeText(s, false) }

// safeLines is s for a view of several lines (an output tail): as
// safeLine, but \n and \t are kept.
func safeLines(s string) string { return safeText(s, true) }

// safeText escapes what a terminal would act on in s: \n, \r and \t
// as those two characters (but \n and \t are kept when multiline);
// another C0 control, DEL and an invalid UTF-8 byte as \xHH; a C1
// control (U+0080-U+009F) and a bidi override or isolate (U+202A-U+202E,
// U+2066-U+2069) as \uHHHH. The rest is kept, a backslash too.
func safeText(s string, multiline bool) string {
	i := unsafeAt(s, multiline)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !unsafeRune(r, multiline):
			b.WriteString(s[i : i+n])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += n
	}
	return b.String()
}

// unsafeAt is the index of the first byte of s that safeText escapes,
// or -1.
func unsafeAt(s string, multiline bool) int {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n == 1 {
				return i
			}
		}
		if unsafeRune(r, multiline) {
			return i
		}
	}
	return -1
}

// unsafeRune reports whether safeText escapes r.
func unsafeRune(r rune, multiline bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return !multiline
	case r < 0x20, r >= 0x7f && r <= 0x9f: // C0, DEL, C1
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi embeddings, overrides, isolates
		return true
	}
	return false
}
