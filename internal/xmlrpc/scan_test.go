package xmlrpc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// scanSeeds are documents aimed at the corners of the scanner:
// namespaces, declarations, comments, references, line ends, tag syntax.
var scanSeeds = []string{
	// Namespaces.
	`<methodCall xmlns:p=""><p:methodName>a</p:methodName></methodCall>`,
	`<methodCall xmlns="urn:x" xmlns=""><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns="urn:x"><methodName xmlns="">a</methodName></methodCall>`,
	`<methodCall><methodName xmlns="urn:x">a</methodName></methodCall>`,
	`<methodCall xmlns:p="urn:p"><methodName>a</methodName><params><param><value><p:nil/></value></param></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value><xml:nil/></value></param></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value><xml:int>1</xml:int></value></param></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value><xmlns:i8>1</xmlns:i8></value></param></params></methodCall>`,
	`<methodCall xmlns:a="" a:xmlns="x"><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:p="xmlns" p:foo="bar"><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:xmlns="x" xmlns:xml="y"><methodName>a</methodName></methodCall>`,
	`<methodCall xml:lang="en"><methodName>a</methodName></methodCall>`,
	`<methodCall><methodName>a</methodName></p:methodCall>`,
	`<p:methodCall xmlns:p=""><methodName>a</methodName></p:methodCall>`,
	`<p:methodCall xmlns:p=""><methodName>a</methodName></methodCall>`,
	"<\u00e9:methodCall xmlns:\u00e9=\"\"><methodName>a</methodName></\u00e9:methodCall>",
	"<methodCall xmlns:\u00e9=\"x\"><methodName>a</methodName><params><param><value><\u00e9:i8>1</\u00e9:i8></value></param></params></methodCall>",
	"<methodCall><methodName>a</methodName><params><param><value><\u00b7:nil/></value></param></params></methodCall>",
	`<methodCall><methodName>a</methodName><params><param><value><ex:nil></nil></value></param></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value><a:b:nil/></value></param></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value><:nil/></value></param></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value><nil:/></value></param></params></methodCall>`,
	`<methodCall xmlns:p="&#x20;"><p:methodName>a</p:methodName></methodCall>`,
	`<methodCall xmlns:p="a&amp;b"><methodName>a</methodName><params><param><value><p:string/></value></param></params></methodCall>`,
	`<methodCall xmlns:p="" xmlns:p="x"><p:methodName>a</p:methodName></methodCall>`,
	`<methodCall xmlns:p=""><methodName>a</methodName><params xmlns:p="x"><param><value><p:string/></value></param></params></methodCall>`,
	// Declarations and processing instructions.
	`<?xml version="1.0" encoding="utf-8" standalone="yes"?><methodCall><methodName>a</methodName></methodCall>`,
	`<?xml version='1.0' encoding='Utf-8'?><methodCall><methodName>a</methodName></methodCall>`,
	`<?xml version=1.1 encoding=latin1?><methodCall><methodName>a</methodName></methodCall>`,
	`<?xml version="1.0" encoding=""?><methodCall><methodName>a</methodName></methodCall>`,
	`<?xml?><methodCall><methodName>a</methodName></methodCall>`,
	`<?xml?>`,
	`<?XML version="1.0"?><methodCall><methodName>a</methodName></methodCall>`,
	`<?xml-stylesheet href="a"?><methodCall><methodName>a</methodName></methodCall>`,
	`<?xml version="1.0"?><?xml version="1.0"?><methodCall><methodName>a</methodName></methodCall>`,
	`<!-- c --><?xml version="1.0"?><methodCall><methodName>a</methodName></methodCall>`,
	`<methodCall><methodName>a</methodName></methodCall><?xml version="1.1"?>`,
	`<methodCall><methodName>a</methodName></methodCall><?pi?>`,
	`<?xml version="1.0"`,
	`<??>`,
	"<?xml version=\"1.0\"?>\xff<methodCall/>",
	// Comments.
	`<methodCall><!----><methodName>a</methodName></methodCall>`,
	`<methodCall><!-- a -- b --><methodName>a</methodName></methodCall>`,
	`<methodCall><!-- a ---><methodName>a</methodName></methodCall>`,
	`<methodCall><!---><methodName>a</methodName></methodCall>-->`,
	`<methodCall><!- x --><methodName>a</methodName></methodCall>`,
	"<methodCall><!-- \xff \x01 --><methodName>a</methodName></methodCall>",
	`<methodCall><methodName>a<!--x-->b</methodName></methodCall>`,
	// Directives.
	`<!DOCTYPE x [<!-- > --> <!ENTITY a '>'>]><methodCall><methodName>a</methodName></methodCall>`,
	`<methodCall><methodName>a</methodName><!x></methodCall>`,
	`<!><methodCall><methodName>a</methodName></methodCall>`,
	`<!x<>>`,
	`<!x "`,
	`<!x <!-`,
	// CDATA, references, line ends.
	testCall("<string><![CDATA[a]]]]><![CDATA[>b]]></string>"),
	testCall("<string>a\r\nb\rc\r\r\nd&#xD;&#xA;e&#xD;\n</string>"),
	testCall("<string><![CDATA[\r\n&amp;<x>]]></string>"),
	testCall("<string><![CDATA[]]></string>"),
	testCall("<string><![CDATA[\x01]]></string>"),
	testCall("<string><![cdata[x]]></string>"),
	testCall("<string><![CDATA[x"),
	testCall("<string>&#x10FFFF;&#1114111;</string>"),
	testCall("<string>&#x110000;</string>"),
	testCall("<string>&#xD800;</string>"),
	testCall("<string>&#55296;</string>"),
	testCall("<string>&#xFFFE;</string>"),
	testCall("<string>&#x9;&#9;&#x20;</string>"),
	testCall("<string>&#X41;</string>"),
	testCall("<string>&#65</string>"),
	testCall("<string>&#00000000000000000000000065;</string>"),
	testCall("<string>&#x99999999999999999999;</string>"),
	testCall("<string>&;</string>"),
	testCall("<string>&#;</string>"),
	testCall("<string>&#x;</string>"),
	testCall("<string>&lt</string>"),
	testCall("<string>&Lt;</string>"),
	testCall("<string>&l\u00e9;</string>"),
	testCall("<string>]]></string>"),
	testCall("<string>]]&gt;]]<!---->></string>"),
	testCall("<string>]</string>"),
	testCall("<string>\uFFFE</string>"),
	testCall("<string>\uFFFF</string>"),
	testCall("<string>\xed\xa0\x80</string>"),
	testCall("<string>\x7f\u0085\u2028\U0010FFFF</string>"),
	testCall("<string>\xc3</string>"),
	testCall("<string>\xc3<!---->\xa9</string>"),
	// Whitespace from references or CDATA where only whitespace may be.
	`<methodCall>&#x20;<methodName>a</methodName>&#9;<params>&#xA;</params>&#xD;</methodCall>&#32;`,
	`&#x20;<methodCall><methodName>a</methodName></methodCall>`,
	`<methodCall><methodName>a</methodName><params><![CDATA[ ]]></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params>&amp;</params></methodCall>`,
	testCall("&#x20;<int>1</int>"),
	testCall("<![CDATA[ ]]><int>1</int>"),
	testCall("<![CDATA[x]]><int>1</int>"),
	testCall("a<!---->b"),
	testCall("a&#xD;\r\n<![CDATA[\r]]>"),
	// Tags.
	"<methodCall ><methodName\n>a</methodName\t></methodCall >",
	`<methodCall xmlns:a="1"xmlns:b="2"><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:a = 'x' ><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:a=x><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:a><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:a="<"><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:a="]]>"><methodName>a</methodName></methodCall>`,
	"<methodCall xmlns:a=\"\r\n\t\"><methodName>a</methodName></methodCall>",
	`<methodCall xmlns:a="&bogus;"><methodName>a</methodName></methodCall>`,
	`<methodCall xmlns:a="x`,
	`<methodCall / ><methodName>a</methodName></methodCall>`,
	`<methodCall/>`,
	`<methodCall/ >`,
	`< methodCall><methodName>a</methodName></methodCall>`,
	`<1methodCall><methodName>a</methodName></methodCall>`,
	"<methodCall\u00a0><methodName>a</methodName></methodCall>",
	"<methodCall><methodName>a</methodName></methodCall \n>",
	`<methodCall><methodName>a</methodName></ methodCall>`,
	`<methodCall><methodName>a</methodName></methodCall x>`,
	`<methodCall><methodName>a</methodName></methodCall`,
	`<methodCall><methodName>a</methodName></`,
	`<methodCall><methodName>a</methodName><`,
	`<methodCall><methodName>a</methodName><params><param><value><string>x</string></value></param></params>`,
	`</methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value></value></param></params></methodCall></methodCall>`,
	"\ufeff<methodCall><methodName>a</methodName></methodCall>",
	// Grammar corners.
	testCall("<nil> </nil>"),
	testCall("<nil><!-- --></nil>"),
	testCall("<int>\n-0\n</int>"),
	testCall("<int>&#x31;2</int>"),
	testCall("<int>99999999999999999999x</int>"),
	testCall("<int>+</int>"),
	testCall("<boolean>\r1\r</boolean>"),
	testCall("<double>+.5e+1</double>"),
	testCall("<double>1e-400</double>"),
	testCall("<double>-1e400</double>"),
	testCall("<double>1.e5</double>"),
	testCall("<double>.e5</double>"),
	testCall("<double>1e</double>"),
	testCall("<double>" + strings.Repeat("1", 400) + ".5</double>"),
	testCall("<base64>QQ==\r\n QQ==</base64>"),
	testCall("<base64>Q Q = =</base64>"),
	testCall("<base64>QQ=</base64>"),
	testCall("<base64>&#x51;&#x51;==</base64>"),
	testCall("<dateTime.iso8601>2026-11-23T08:43:45,5+0130</dateTime.iso8601>"),
	testCall("<struct><member><name>a&amp;b</name><value>1</value></member><member><name>a&#38;b</name><value>2</value></member></struct>"),
	testCall("<struct><member><name>x y</name><value><int>z</int></value></member></struct>"),
	testCall("<struct><member><name></name><value><array><data><value><boolean>5</boolean></value></data></array></value></member></struct>"),
	testCall("<struct><member><name>" + strings.Repeat("n", 30) + "</name><value>" + strings.Repeat("v", 30) + "</value></member></struct>"),
	testCall("<array><data><value/><value></value><value> </value></data></array>"),
	testCall("<array/>"),
	testCall("<struct/>"),
	`<methodCall><methodName>a</methodName><params><param/></params></methodCall>`,
	`<methodCall><methodName>a</methodName><params><param><value>1</value>x</param></params></methodCall>`,
	`<methodCall><methodName>a</methodName>x</methodCall>`,
	`<methodCall><methodName>a</methodName></methodCall>x<!-- -->`,
	`<methodCall><methodName>a</methodName></methodCall><x/>`,
	`<methodCall><methodName/></methodCall>`,
	`<methodCall><methodName>&#x20;a&#x9;</methodName></methodCall>`,
	`<methodCall><methodName><![CDATA[a]]></methodName></methodCall>`,
}

// diffLimits returns the limits a fuzz input picks.
func diffLimits(depth, values uint8) Limits {
	return Limits{MaxDepth: 1 + int(depth%12), MaxValues: 1 + int(values)*4}
}

// errorKind names the kind of a decoder error.
func errorKind(err error) string {
	switch {
	case err == nil:
		return "none"
	case errors.Is(err, ErrParse) && errors.Is(err, ErrLimit):
		return "both"
	case errors.Is(err, ErrParse):
		return "parse"
	case errors.Is(err, ErrLimit):
		return "limit"
	}
	return "other"
}

// sameTree reports whether two trees are equal, telling -0.0 from 0.0
// (which reflect.DeepEqual does not).
func sameTree(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameTree(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) || (x == nil) != (y == nil) {
			return false
		}
		for i := range x {
			if !sameTree(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// checkSameDecode decodes data with DecodeCall and with the reference
// decodeCallStd and fails t unless both succeed with equal results, or
// both fail with the same kind of error. For errors of the grammar (not
// malformed XML) the whole message must be the same, position included;
// for malformed XML, the path.
func checkSameDecode(t *testing.T, data []byte, lim Limits) {
	t.Helper()
	method, params, err := DecodeCall(bytes.NewReader(data), lim)
	smethod, sparams, serr := decodeCallStd(bytes.NewReader(data), lim)
	if err != nil {
		var xe *Error
		if !errors.As(err, &xe) || xe.line < 1 || xe.col < 1 {
			t.Fatalf("error %v has no position", err)
		}
		if (method != "") != errors.Is(err, ErrRange) || params != nil {
			t.Fatalf("error %v with results %q %#v", err, method, params)
		}
		// The reference reads a character reference to a surrogate
		// (&#xD800;) as U+FFFD. XML 1.0 allows references only to
		// characters, and surrogates are not: the scanner refuses them.
		if strings.Contains(xe.msg, "names a surrogate") {
			return
		}
	}
	if method != smethod || errors.Is(err, ErrRange) != errors.Is(serr, ErrRange) {
		t.Fatalf("input %q:\nerror %v, method %q\nreference %v, method %q", data, err, method, serr, smethod)
	}
	if kind, skind := errorKind(err), errorKind(serr); kind != skind {
		t.Fatalf("input %q:\nerror %v (%s)\nreference %v (%s)", data, err, kind, serr, skind)
	}
	if err == nil {
		if method != smethod || !sameTree(params, sparams) {
			t.Fatalf("input %q:\ngot %q %#v\nreference %q %#v", data, method, params, smethod, sparams)
		}
		return
	}
	var xe, sxe *Error
	if !errors.As(err, &xe) || !errors.As(serr, &sxe) {
		t.Fatalf("input %q: errors %v and %v are not both *Error", data, err, serr)
	}
	if strings.HasPrefix(sxe.msg, "malformed XML") {
		if !strings.HasPrefix(xe.msg, "malformed XML") || xe.path != sxe.path {
			t.Fatalf("input %q:\nerror %v\nreference %v", data, err, serr)
		}
		return
	}
	if err.Error() != serr.Error() {
		t.Fatalf("input %q:\nerror     %v\nreference %v", data, err, serr)
	}
}

// diffSeeds returns the seed documents of FuzzDecodeCallDiff.
func diffSeeds(tb testing.TB) [][]byte {
	seeds := fuzzSeeds(tb)
	for _, tt := range typeCases {
		seeds = append(seeds, []byte(testCall(tt.value)))
	}
	for _, tt := range documentCases {
		seeds = append(seeds, []byte(tt.doc))
	}
	for _, tt := range limitCases {
		if len(tt.doc) < 10_000 {
			seeds = append(seeds, []byte(tt.doc))
		}
	}
	for _, s := range scanSeeds {
		seeds = append(seeds, []byte(s))
	}
	seeds = append(seeds, benchSubmitBody(tb, 3), benchCompleteBody(tb, 3))
	return seeds
}

func FuzzDecodeCallDiff(f *testing.F) {
	for _, s := range diffSeeds(f) {
		f.Add(s, uint8(7), uint8(255))
		f.Add(s, uint8(1), uint8(2))
	}
	f.Fuzz(func(t *testing.T, data []byte, depth, values uint8) {
		checkSameDecode(t, data, diffLimits(depth, values))
	})
}

// TestDecodeCallMatchesReferenceCut compares the decoders on every
// prefix of the seeds, and on the seeds with one byte changed: the places
// where input ends or breaks are where scanners differ.
func TestDecodeCallMatchesReferenceCut(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	bytesOfInterest := []byte("<>/?!-[]&#;:=\"' \r\nx\x00\xff")
	for _, s := range diffSeeds(t) {
		if len(s) > 2000 {
			continue
		}
		for i := range len(s) + 1 {
			checkSameDecode(t, s[:i], Limits{})
		}
		for range 20 {
			if len(s) == 0 {
				break
			}
			m := bytes.Clone(s)
			m[r.IntN(len(m))] = bytesOfInterest[r.IntN(len(bytesOfInterest))]
			checkSameDecode(t, m, diffLimits(uint8(r.IntN(256)), uint8(r.IntN(256))))
		}
	}
}

func TestDecodeCallSurrogateReference(t *testing.T) {
	for _, ref := range []string{"&#xD800;", "&#xdfff;", "&#55296;"} {
		_, _, err := DecodeCall(strings.NewReader(testCall("<string>"+ref+"</string>")), Limits{})
		if !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "surrogate") {
			t.Errorf("%s: error %v, want ErrParse about a surrogate", ref, err)
		}
	}
}

func TestDecodeCallPositions(t *testing.T) {
	tests := []struct {
		doc  string
		want string // a substring of the error
	}{
		{"<methodCall>\n<methodName>a</methodName>\n<params>\n<param><value>\r\n<bogus/>", "(line 5, col 9)"},
		{"<methodCall>\n  <methodName>a</methodName>\n  <params><param><value><string>\xff</string>", "invalid UTF-8 (line 3, col 33)"},
		{"<methodCall>\n<methodName>a</methodName>\n<params>\n<param><value><string>a &bogus; b</string>", "entity &bogus; (line 4, col 25)"},
		{"<methodCall>\n<methodName>a</methodName>\n<params></param>", "closed by </param> (line 3, col 9)"},
		{"<methodCall>\n<methodName>a</methodName>\n<params>", "unexpected EOF (line 3, col 9)"},
	}
	for _, tt := range tests {
		_, _, err := DecodeCall(strings.NewReader(tt.doc), Limits{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.doc, err, tt.want)
		}
	}
}

// TestIsName checks the name classes against encoding/xml's, which its
// encoder applies to processing instruction targets.
func TestIsName(t *testing.T) {
	valid := func(name string) bool {
		return xml.NewEncoder(io.Discard).EncodeToken(xml.ProcInst{Target: name}) == nil
	}
	p := new(parser)
	// The classes hold only characters of the Basic Multilingual Plane:
	// check all of those, and a sample of the others.
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if r == 0xD800 {
			r = 0xE000
		}
		if r > 0xFFFF {
			r += 96
		}
		if r == ':' {
			continue // the encoder refuses a colon as a whole target, for its own reasons
		}
		s := string(r)
		if got, want := p.isName([]byte(s)), valid(s); got != want {
			t.Fatalf("isName(%q) = %v, encoding/xml says %v", s, got, want)
		}
		if got, want := p.isName([]byte("a"+s)), valid("a"+s); got != want {
			t.Fatalf("isName(%q) = %v, encoding/xml says %v", "a"+s, got, want)
		}
	}
	for _, s := range []string{"", "\xff", "a\xff", "a b", "_:x.y-z9"} {
		if got, want := p.isName([]byte(s)), valid(s); got != want {
			t.Errorf("isName(%q) = %v, encoding/xml says %v", s, got, want)
		}
	}
}

// TestDoubleOK checks the double syntax against the pattern it
// implements.
func TestDoubleOK(t *testing.T) {
	re := regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	r := rand.New(rand.NewPCG(7, 8))
	const alphabet = "0123456789.+-eEx "
	checked := 0
	for range 200_000 {
		b := make([]byte, r.IntN(8))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		if got, want := doubleOK(b), re.Match(b); got != want {
			t.Fatalf("doubleOK(%q) = %v, want %v", b, got, want)
		}
		if re.Match(b) {
			checked++
		}
	}
	if checked < 1000 {
		t.Errorf("only %d valid doubles generated", checked)
	}
}

// TestDecodeCallPooled makes sure nothing of one call leaks into the
// next through the pooled parser, the interned strings included.
func TestDecodeCallPooled(t *testing.T) {
	docs := []string{
		testCall("<struct><member><name>a</name><value>x</value></member></struct>"),
		`<methodCall xmlns:p=""><methodName>b</methodName><params><param><value><p:string>y</p:string></value></param></params></methodCall>`,
		testCall("<array><data><value>1</value><value>" + strings.Repeat("z", 100) + "</value></data></array>"),
		testCall("<string>\xff</string>"),
		testCall(testNest(5, "<struct><member><name>a</name><value>x</value></member>")),
	}
	for range 3 {
		for _, doc := range docs {
			method, params, err := DecodeCall(strings.NewReader(doc), Limits{})
			smethod, sparams, serr := decodeCallStd(strings.NewReader(doc), Limits{})
			if method != smethod || !reflect.DeepEqual(params, sparams) || (err == nil) != (serr == nil) {
				t.Fatalf("%q: got %q %#v %v, reference %q %#v %v", doc, method, params, err, smethod, sparams, serr)
			}
		}
	}
	// A tree handed out stays as it was while later calls run.
	_, first, err := DecodeCall(strings.NewReader(docs[0]), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		DecodeCall(strings.NewReader(docs[2]), Limits{})
	}
	if want := []any{map[string]any{"a": "x"}}; !reflect.DeepEqual(first, want) {
		t.Errorf("first tree became %#v", first)
	}
}

// TestDecodeCallManyNamespaces reads a request that declares many
// namespace prefixes, then uses them: prefixes resolve through a map, as in
// encoding/xml, not by a search through every declaration.
func TestDecodeCallManyNamespaces(t *testing.T) {
	const n = 20_000
	var b strings.Builder
	b.WriteString("<methodCall")
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="urn:%d"`, i, i)
	}
	b.WriteString(` xmlns:q=""><methodName>m</methodName><params><param><value><array><data>`)
	for i := range n {
		fmt.Fprintf(&b, "<value><p%d:nil/></value><value><q:int>%d</q:int></value>", i, i)
	}
	b.WriteString("</data></array></value></param></params></methodCall>")
	doc := []byte(b.String())
	_, params, err := DecodeCall(bytes.NewReader(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a := params[0].([]any)
	if len(a) != 2*n || a[0] != nil || a[2*n-1] != int64(n-1) {
		t.Fatalf("got %d values, first %v, last %v", len(a), a[0], a[len(a)-1])
	}
	checkSameDecode(t, doc, Limits{})
}

// TestDecodeCallTimes checks that a decoded time is the same value
// whichever decoder reads it (a time.Time compares by its fields).
func TestDecodeCallTimes(t *testing.T) {
	doc := testCall("<dateTime.iso8601>20261123T08:43:45.123+01:00</dateTime.iso8601>")
	_, params, err := DecodeCall(strings.NewReader(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 23, 7, 43, 45, 123_000_000, time.UTC)
	if !reflect.DeepEqual(params, []any{want}) {
		t.Errorf("got %#v, want %#v", params, want)
	}
}
