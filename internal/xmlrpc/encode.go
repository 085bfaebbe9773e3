package xmlrpc

// This file writes documents: calls, responses and faults.

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// EncodeResponse writes a methodResponse carrying v, a tree of the types
// DecodeCall produces (plus int). See the package comment for how each
// type is written, and how strings XML cannot carry are repaired. Nothing
// is written if v cannot be encoded (an unsupported type, NaN or infinite
// double, a time outside the years 0000 to 9999, a cycle).
func EncodeResponse(w io.Writer, v any) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><params><param>")
	if err := writeValue(&b, v, "result", 0); err != nil {
		return err
	}
	b.WriteString("</param></params></methodResponse>")
	return flush(w, &b)
}

// EncodeFault writes a methodResponse carrying a fault: a struct with
// faultCode (int) and faultString (string).
func EncodeFault(w io.Writer, code int, msg string) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><fault><value><struct><member><name>faultCode</name><value>")
	writeInt(&b, int64(code))
	b.WriteString("</value></member><member><name>faultString</name><value><string>")
	escape(&b, msg)
	b.WriteString("</string></value></member></struct></value></fault></methodResponse>")
	return flush(w, &b)
}

// EncodeCall writes a methodCall of method with params, each a tree as
// for EncodeResponse. The method name must be valid for DecodeCall.
func EncodeCall(w io.Writer, method string, params ...any) error {
	if !validMethodName(method) {
		return fmt.Errorf("xmlrpc: bad method name %s: want 1 to %d characters of A-Z a-z 0-9 _ . : /", QuoteShort(method), MaxMethodName)
	}
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\"?>\n<methodCall><methodName>")
	b.WriteString(method)
	b.WriteString("</methodName><params>")
	for i, v := range params {
		b.WriteString("<param>")
		if err := writeValue(&b, v, IndexPath("params", i), 0); err != nil {
			return err
		}
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>")
	return flush(w, &b)
}

// flush writes the encoded document in b to w.
func flush(w io.Writer, b *bytes.Buffer) error {
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("xmlrpc: writing: %w", err)
	}
	return nil
}

// writeValue writes v as a <value> element. path names v in errors.
func writeValue(b *bytes.Buffer, v any, path string, depth int) error {
	if depth > encodeMaxDepth {
		return fmt.Errorf("xmlrpc: %s: nested deeper than %d (a cycle?)", path, encodeMaxDepth)
	}
	b.WriteString("<value>")
	var err error
	switch x := v.(type) {
	case map[string]any:
		err = writeStruct(b, x, path, depth)
	case []any:
		b.WriteString("<array><data>")
		for i, e := range x {
			if err = writeValue(b, e, IndexPath(path, i), depth+1); err != nil {
				return err
			}
		}
		b.WriteString("</data></array>")
	default:
		err = writeScalar(b, v, path)
	}
	if err != nil {
		return err
	}
	b.WriteString("</value>")
	return nil
}

// writeScalar writes v, anything but a struct or an array, as the content
// of a <value> element.
func writeScalar(b *bytes.Buffer, v any, path string) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("<nil/>")
	case bool:
		if x {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case int:
		writeInt(b, int64(x))
	case int64:
		writeInt(b, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("xmlrpc: %s: cannot encode %v: XML-RPC doubles are finite", path, x)
		}
		b.WriteString("<double>")
		b.WriteString(formatDouble(x))
		b.WriteString("</double>")
	case string:
		b.WriteString("<string>")
		escape(b, x)
		b.WriteString("</string>")
	case []byte:
		b.WriteString("<base64>")
		b.WriteString(base64.StdEncoding.EncodeToString(x))
		b.WriteString("</base64>")
	case time.Time:
		u := x.UTC()
		if u.Year() < 0 || u.Year() > 9999 {
			return fmt.Errorf("xmlrpc: %s: cannot encode the time %s: year out of 0000 to 9999", path, x)
		}
		b.WriteString("<dateTime.iso8601>")
		b.WriteString(u.Format("20060102T15:04:05"))
		b.WriteString("</dateTime.iso8601>")
	default:
		return fmt.Errorf("xmlrpc: %s: cannot encode a %T", path, v)
	}
	return nil
}

// writeStruct writes m as a <struct>, its members sorted by name.
func writeStruct(b *bytes.Buffer, m map[string]any, path string, depth int) error {
	keys := slices.Sorted(maps.Keys(m))
	if slices.ContainsFunc(keys, needsRepair) {
		// Repairs may make two names equal, which no decoder accepts.
		seen := make(map[string]string, len(keys)) // as written -> original
		for _, k := range keys {
			r := escaped(k)
			if prev, dup := seen[r]; dup {
				return fmt.Errorf("xmlrpc: %s: member names %q and %q are the same once made valid XML", path, prev, k)
			}
			seen[r] = k
		}
	}
	b.WriteString("<struct>")
	for _, k := range keys {
		b.WriteString("<member><name>")
		escape(b, k)
		b.WriteString("</name>")
		if err := writeValue(b, m[k], FieldPath(path, k), depth+1); err != nil {
			return err
		}
		b.WriteString("</member>")
	}
	b.WriteString("</struct>")
	return nil
}

// writeInt writes n as <int> if it fits in an int32, as <i8> otherwise.
func writeInt(b *bytes.Buffer, n int64) {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		b.WriteString("<int>")
		b.WriteString(strconv.FormatInt(n, 10))
		b.WriteString("</int>")
		return
	}
	b.WriteString("<i8>")
	b.WriteString(strconv.FormatInt(n, 10))
	b.WriteString("</i8>")
}

// formatDouble formats a finite f as the shortest decimal that reads
// back as f, without exponent unless f is tiny or huge (as encoding/json
// does).
func formatDouble(f float64) string {
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.FormatFloat(f, 'e', -1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// charOK reports whether XML 1.0 can carry the rune r (literally or as a
// character reference).
func charOK(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		(r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= utf8.MaxRune)
}

// needsRepair reports whether s holds invalid UTF-8 or a character XML
// 1.0 cannot carry.
func needsRepair(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !charOK(r) {
			return true
		}
		i += size
	}
	return false
}

// escaped returns s as escape writes it.
func escaped(s string) string {
	var b bytes.Buffer
	escape(&b, s)
	return b.String()
}

// escape writes s as XML character data: & < > are escaped, a carriage
// return is written as &#xD; (so it survives line-end normalisation), and
// invalid UTF-8 and characters XML 1.0 cannot carry become U+FFFD.
func escape(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\r':
			b.WriteString("&#xD;")
		case !charOK(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
}
