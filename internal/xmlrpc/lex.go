package xmlrpc

// This file holds the lexical rules of values: doubles, dateTimes, method
// names, whitespace, and the quoting of text in error messages.

import (
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// doubleOK reports whether s has the form of an XML-RPC double this
// decoder accepts: ^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$.
func doubleOK(s []byte) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	if digits() > 0 {
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	} else {
		if i >= len(s) || s[i] != '.' {
			return false
		}
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// trimSpace returns b without its leading and trailing XML whitespace.
func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\r' || b[j-1] == '\n') {
		j--
	}
	return b[i:j]
}

// QuoteShort quotes s for an error message, cut to 40 bytes.
func QuoteShort(s string) string {
	const limit = 40
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// validMethodName reports whether s is 1 to 128 characters of
// [A-Za-z0-9_.:/].
func validMethodName(s string) bool {
	if len(s) == 0 || len(s) > MaxMethodName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '.' || c == ':' || c == '/':
		default:
			return false
		}
	}
	return true
}

// parseDateTime parses an XML-RPC dateTime: YYYYMMDD or YYYY-MM-DD, "T",
// hh:mm:ss or hhmmss, an optional fraction of 1 to 9 digits, and an
// optional "Z" or ±hh:mm / ±hhmm offset (UTC if absent). The result is in
// UTC, in the years 0000 to 9999.
func parseDateTime(s string) (time.Time, error) {
	d := &dateScanner{s: s}
	year, month, day, err := d.date()
	if err != nil {
		return time.Time{}, err
	}
	hour, minute, sec, nsec, err := d.clock()
	if err != nil {
		return time.Time{}, err
	}
	offset, err := d.offset()
	if err != nil {
		return time.Time{}, err
	}
	if d.i != len(s) {
		return time.Time{}, errors.New("unexpected text after the time")
	}
	if month < 1 || month > 12 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errors.New("field out of range")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.FixedZone("", offset))
	if t.Day() != day {
		return time.Time{}, errors.New("no such day")
	}
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return time.Time{}, errors.New("out of the years 0000 to 9999 in UTC")
	}
	return t, nil
}

// dateScanner reads the fields of a dateTime, s[i:] being what is left.
type dateScanner struct {
	s string
	i int
}

// digits reads n decimal digits as a number.
func (d *dateScanner) digits(n int) (int, bool) {
	if d.i+n > len(d.s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(d.s[d.i : d.i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	d.i += n
	return v, true
}

// sep reads the byte c if it comes next.
func (d *dateScanner) sep(c byte) bool {
	if d.i < len(d.s) && d.s[d.i] == c {
		d.i++
		return true
	}
	return false
}

// date reads YYYYMMDD or YYYY-MM-DD, and the "T" after it.
func (d *dateScanner) date() (year, month, day int, err error) {
	year, ok := d.digits(4)
	if !ok {
		return 0, 0, 0, errors.New("want a 4-digit year")
	}
	dashes := d.sep('-')
	month, ok = d.digits(2)
	if !ok || (dashes && !d.sep('-')) {
		return 0, 0, 0, errors.New("bad month")
	}
	day, ok = d.digits(2)
	if !ok || !d.sep('T') {
		return 0, 0, 0, errors.New("bad day or missing T")
	}
	return year, month, day, nil
}

// clock reads hh:mm:ss or hhmmss and an optional fraction of a second.
func (d *dateScanner) clock() (hour, minute, sec, nsec int, err error) {
	hour, ok := d.digits(2)
	if !ok {
		return 0, 0, 0, 0, errors.New("bad hour")
	}
	colons := d.sep(':')
	minute, ok = d.digits(2)
	if !ok || (colons && !d.sep(':')) {
		return 0, 0, 0, 0, errors.New("bad minute")
	}
	sec, ok = d.digits(2)
	if !ok {
		return 0, 0, 0, 0, errors.New("bad second")
	}
	if d.sep('.') || d.sep(',') {
		start := d.i
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
		}
		frac := d.s[start:d.i]
		if len(frac) == 0 || len(frac) > 9 {
			return 0, 0, 0, 0, errors.New("want 1 to 9 digits of fraction")
		}
		nsec, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
	}
	return hour, minute, sec, nsec, nil
}

// offset reads an optional "Z" or ±hh:mm / ±hhmm offset, in seconds east
// of UTC.
func (d *dateScanner) offset() (int, error) {
	if d.i >= len(d.s) {
		return 0, nil
	}
	switch d.s[d.i] {
	case 'Z':
		d.i++
		return 0, nil
	case '+', '-':
		sign := 1
		if d.s[d.i] == '-' {
			sign = -1
		}
		d.i++
		oh, ok := d.digits(2)
		if !ok {
			return 0, errors.New("bad offset")
		}
		d.sep(':')
		om, ok := d.digits(2)
		if !ok || oh > 23 || om > 59 {
			return 0, errors.New("bad offset")
		}
		return sign * (oh*3600 + om*60), nil
	}
	return 0, nil
}

// nonFinite reports whether s spells NaN or an infinity as Python, Go and
// C write them: "nan", "inf" or "infinity" in any case, optionally signed.
func nonFinite(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	for _, w := range []string{"nan", "inf", "infinity"} {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}
