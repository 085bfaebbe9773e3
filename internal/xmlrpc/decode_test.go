package xmlrpc

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testCall wraps the XML of one value in a methodCall.
func testCall(value string) string {
	return `<?xml version="1.0"?><methodCall><methodName>m</methodName><params><param><value>` +
		value + `</value></param></params></methodCall>`
}

// testNest returns n arrays nested around inner.
func testNest(n int, inner string) string {
	return strings.Repeat("<array><data><value>", n) + inner + strings.Repeat("</value></data></array>", n)
}

// testNestTree returns n []any nested around inner.
func testNestTree(n int, inner any) any {
	for range n {
		inner = []any{inner}
	}
	return inner
}

// testUTC returns a time in UTC.
func testUTC(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

// typeCases are values the decoder must read, shared with the fuzz
// seeds.
var typeCases = []struct {
	name  string
	value string // the content of <value>
	want  any
}{
	{"int", "<int>42</int>", int64(42)},
	{"int negative", "<int>-7</int>", int64(-7)},
	{"int plus sign", "<int>+7</int>", int64(7)},
	{"int padded", "<int> 12\n</int>", int64(12)},
	{"i4", "<i4>2147483647</i4>", int64(math.MaxInt32)},
	{"i8", "<i8>9223372036854775807</i8>", int64(math.MaxInt64)},
	{"i8 min", "<i8>-9223372036854775808</i8>", int64(math.MinInt64)},
	{"int beyond int32", "<int>4294967296</int>", int64(1 << 32)},
	{"ex:i8", `<ex:i8 xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions">5</ex:i8>`, int64(5)},
	{"boolean 1", "<boolean>1</boolean>", true},
	{"boolean 0", "<boolean>0</boolean>", false},
	{"string", "<string>hello world</string>", "hello world"},
	{"string escapes", "<string>a &amp; b &lt;c&gt; &quot;&apos; &#x41;&#66;</string>", `a & b <c> "' AB`},
	{"string cdata", "<string><![CDATA[<not> & xml]]></string>", "<not> & xml"},
	{"string whitespace kept", "<string>  x\n\t</string>", "  x\n\t"},
	{"string empty", "<string></string>", ""},
	{"string self-closing", "<string/>", ""},
	{"string with comment", "<string>a<!-- c -->b</string>", "ab"},
	{"string unicode", "<string>日本語 🚀 é</string>", "日本語 🚀 é"},
	{"string carriage return reference", "<string>a&#xD;b</string>", "a\rb"},
	{"untyped", "abc", "abc"},
	{"untyped whitespace kept", "  abc  ", "  abc  "},
	{"untyped only whitespace", " \n ", " \n "},
	{"empty value", "", ""},
	{"typed with whitespace around", "\n  <int>1</int>\n  ", int64(1)},
	{"double", "<double>3.25</double>", 3.25},
	{"double exponent", "<double>-1.5e-07</double>", -1.5e-07},
	{"double integral", "<double>10</double>", 10.0},
	{"double leading dot", "<double>.5</double>", 0.5},
	{"double trailing dot", "<double>5.</double>", 5.0},
	{"double negative zero", "<double>-0.0</double>", math.Copysign(0, -1)},
	{"double max", "<double>1.7976931348623157e+308</double>", math.MaxFloat64},
	{"dateTime python", "<dateTime.iso8601>20261123T08:43:45</dateTime.iso8601>", testUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime dashes", "<dateTime.iso8601>2026-11-23T08:43:45</dateTime.iso8601>", testUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime Z", "<dateTime.iso8601>2026-11-23T08:43:45Z</dateTime.iso8601>", testUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime offset", "<dateTime.iso8601>20261123T08:43:45+01:30</dateTime.iso8601>", testUTC(2026, 11, 23, 7, 13, 45, 0)},
	{"dateTime negative offset", "<dateTime.iso8601>2026-11-23T23:00:00-0200</dateTime.iso8601>", testUTC(2026, 11, 24, 1, 0, 0, 0)},
	{"dateTime fraction", "<dateTime.iso8601>2026-11-23T08:43:45.5Z</dateTime.iso8601>", testUTC(2026, 11, 23, 8, 43, 45, 500000000)},
	{"dateTime basic time", "<dateTime.iso8601>20261123T084345</dateTime.iso8601>", testUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime leap day", "<dateTime.iso8601>20240229T00:00:00</dateTime.iso8601>", testUTC(2024, 2, 29, 0, 0, 0, 0)},
	{"dateTime padded", "<dateTime.iso8601> 20261123T08:43:45\n</dateTime.iso8601>", testUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"base64", "<base64>AAH/aGk=</base64>", []byte{0, 1, 0xff, 'h', 'i'}},
	{"base64 wrapped", "<base64>\nAAH/\naGk=\n</base64>", []byte{0, 1, 0xff, 'h', 'i'}},
	{"base64 empty", "<base64></base64>", []byte{}},
	{"base64 only whitespace", "<base64>\n</base64>", []byte{}},
	{"struct", "<struct><member><name>a</name><value><int>1</int></value></member>" +
		"<member><name>b c</name><value>x</value></member></struct>", map[string]any{"a": int64(1), "b c": "x"}},
	{"struct empty", "<struct></struct>", map[string]any{}},
	{"struct empty name", "<struct><member><name></name><value>x</value></member></struct>", map[string]any{"": "x"}},
	{"struct indented", "<struct>\n  <member>\n    <name>a</name>\n    <value><boolean>1</boolean></value>\n  </member>\n</struct>",
		map[string]any{"a": true}},
	{"array", "<array><data><value><int>1</int></value><value>two</value><value><nil/></value></data></array>",
		[]any{int64(1), "two", nil}},
	{"array empty", "<array><data></data></array>", []any{}},
	{"array empty data", "<array><data/></array>", []any{}},
	{"nested", "<struct><member><name>specs</name><value><array><data><value><struct>" +
		"<member><name>args</name><value><struct><member><name>url</name><value><string>u</string></value></member></struct></value></member>" +
		"</struct></value></data></array></value></member></struct>",
		map[string]any{"specs": []any{map[string]any{"args": map[string]any{"url": "u"}}}}},
	{"nil", "<nil/>", nil},
	{"nil long form", "<nil></nil>", nil},
	{"ex:nil", `<ex:nil xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"/>`, nil},
	{"ex:nil undeclared prefix", `<ex:nil/>`, nil},
	{"depth 32", testNest(32, "<int>1</int>"), testNestTree(32, int64(1))},
}

func TestDecodeCallTypes(t *testing.T) {
	for _, tt := range typeCases {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := DecodeCall(strings.NewReader(testCall(tt.value)), Limits{})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if method != "m" {
				t.Errorf("method = %q, want m", method)
			}
			if want := []any{tt.want}; !reflect.DeepEqual(params, want) {
				t.Errorf("params = %#v\nwant %#v", params, want)
			}
			if f, ok := tt.want.(float64); ok && math.Signbit(f) != math.Signbit(params[0].(float64)) {
				t.Errorf("sign of %v lost", f)
			}
		})
	}
}

// documentCases are whole requests the decoder must read, shared with
// the fuzz seeds.
var documentCases = []struct {
	name   string
	doc    string
	method string
	params []any
}{
	{"no params", `<methodCall><methodName>Master.Status</methodName></methodCall>`, "Master.Status", []any{}},
	{"empty params", `<?xml version="1.0"?><methodCall><methodName>a</methodName><params/></methodCall>`, "a", []any{}},
	{"declaration with encoding", `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<methodCall><methodName>a</methodName><params></params></methodCall>` + "\n", "a", []any{}},
	{"indented with comments", `<?xml version="1.0"?>
<!-- a call -->
<methodCall>
  <methodName>Master.Wait</methodName>
  <params>
    <!-- first -->
    <param>
      <value><int>1</int></value>
    </param>
    <param>
      <value><string>x</string></value>
    </param>
  </params>
</methodCall>
<!-- done -->
`, "Master.Wait", []any{int64(1), "x"}},
	{"method name trimmed", "<methodCall><methodName>\n  a.b:c/d_E9\n</methodName></methodCall>", "a.b:c/d_E9", []any{}},
	{"method name 128", "<methodCall><methodName>" + strings.Repeat("a", 128) + "</methodName></methodCall>", strings.Repeat("a", 128), []any{}},
	{"namespace declaration on root", `<methodCall xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"><methodName>a</methodName>` +
		`<params><param><value><ex:nil/></value></param></params></methodCall>`, "a", []any{nil}},
}

func TestDecodeCallDocument(t *testing.T) {
	for _, tt := range documentCases {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := DecodeCall(strings.NewReader(tt.doc), Limits{})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if method != tt.method || !reflect.DeepEqual(params, tt.params) {
				t.Errorf("got %q %#v, want %q %#v", method, params, tt.method, tt.params)
			}
		})
	}
}

// malformed is a table of requests the decoder must refuse, shared with
// the fuzz seeds.
var malformed = []struct {
	name string
	doc  string
	kind error  // ErrParse or ErrLimit
	msg  string // a substring of the error
}{
	{"empty document", "", ErrParse, "no <methodCall>"},
	{"only declaration", `<?xml version="1.0"?>`, ErrParse, "no <methodCall>"},
	{"unclosed tags", `<methodCall><methodName>m</methodName><params><param><value><int>1</int>`, ErrParse, "unexpected EOF"},
	{"unclosed root", `<methodCall><methodName>m</methodName>`, ErrParse, "unexpected EOF"},
	{"mismatched tags", `<methodCall><methodName>m</methodCall>`, ErrParse, "malformed XML"},
	{"not XML", `hello`, ErrParse, "before <methodCall>"},
	{"wrong root", `<methodResponse><params/></methodResponse>`, ErrParse, "root element is <methodResponse>"},
	{"missing methodName", `<methodCall><params/></methodCall>`, ErrParse, "want <methodName>"},
	{"missing methodName empty call", `<methodCall></methodCall>`, ErrParse, "missing <methodName>"},
	{"empty method name", `<methodCall><methodName></methodName></methodCall>`, ErrParse, "bad method name"},
	{"method name with space", `<methodCall><methodName>a b</methodName></methodCall>`, ErrParse, "bad method name"},
	{"method name with semicolon", `<methodCall><methodName>a;b</methodName></methodCall>`, ErrParse, "bad method name"},
	{"method name 129", `<methodCall><methodName>` + strings.Repeat("a", 129) + `</methodName></methodCall>`, ErrParse, "bad method name"},
	{"element in methodName", `<methodCall><methodName>a<b/></methodName></methodCall>`, ErrParse, "unexpected element <b>"},
	{"two methodNames", `<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>`, ErrParse, "unexpected element <methodName>"},
	{"params twice", `<methodCall><methodName>a</methodName><params/><params/></methodCall>`, ErrParse, "unexpected element <params>"},
	{"unknown element in methodCall", `<methodCall><methodName>a</methodName><bogus/></methodCall>`, ErrParse, "unexpected element <bogus>"},
	{"unknown element in params", `<methodCall><methodName>a</methodName><params><value>1</value></params></methodCall>`, ErrParse, "unexpected element <value> in <params>"},
	{"text in params", `<methodCall><methodName>a</methodName><params>x<param><value>1</value></param></params></methodCall>`, ErrParse, `unexpected text "x" in <params>`},
	{"text in methodCall", `<methodCall>x<methodName>a</methodName></methodCall>`, ErrParse, "unexpected text"},
	{"param without value", `<methodCall><methodName>a</methodName><params><param></param></params></methodCall>`, ErrParse, "missing <value> in <param>"},
	{"param with two values", `<methodCall><methodName>a</methodName><params><param><value>1</value><value>2</value></param></params></methodCall>`, ErrParse, "unexpected element <value> in <param>"},
	{"unknown element", testCall("<foo>1</foo>"), ErrParse, "params[0]: unknown element <foo> in <value>"},
	{"unknown namespaced element", testCall("<ex:int>1</ex:int>"), ErrParse, "unknown element <ex:int>"},
	{"two elements in value", testCall("<int>1</int><int>2</int>"), ErrParse, "unexpected element <int> in <value>"},
	{"text mixed with element", testCall("x<int>1</int>"), ErrParse, "mixed with <int>"},
	{"text after element", testCall("<int>1</int>x"), ErrParse, `unexpected text "x" in <value>`},
	{"element in int", testCall("<int><b/>1</int>"), ErrParse, "unexpected element <b> in <int>"},
	{"element in string", testCall("<string>a<b>x</b></string>"), ErrParse, "unexpected element <b> in <string>"},
	{"attribute", `<methodCall><methodName>a</methodName><params><param><value type="int">1</value></param></params></methodCall>`, ErrParse, "unexpected attribute type"},
	{"text inside struct", testCall("<struct>hello<member><name>a</name><value>1</value></member></struct>"), ErrParse, `unexpected text "hello" in <struct>`},
	{"text inside data", testCall("<array><data>x</data></array>"), ErrParse, `unexpected text "x" in <data>`},
	{"text inside array", testCall("<array>x<data></data></array>"), ErrParse, `unexpected text "x" in <array>`},
	{"text inside member", testCall("<struct><member>x<name>a</name><value>1</value></member></struct>"), ErrParse, "unexpected text"},
	{"text inside nil", testCall("<nil>x</nil>"), ErrParse, "unexpected text"},
	{"value in struct", testCall("<struct><value>1</value></struct>"), ErrParse, "unexpected element <value> in <struct>"},
	{"member without value", testCall("<struct><member><name>a</name></member></struct>"), ErrParse, "missing <value> in <member>"},
	{"member value before name", testCall("<struct><member><value>1</value><name>a</name></member></struct>"), ErrParse, "want <name>"},
	{"member with two values", testCall("<struct><member><name>a</name><value>1</value><value>2</value></member></struct>"), ErrParse, "unexpected element <value> in <member>"},
	{"array without data", testCall("<array><value>1</value></array>"), ErrParse, "want <data>"},
	{"array with two datas", testCall("<array><data></data><data></data></array>"), ErrParse, "unexpected element <data> in <array>"},
	{"non-value in data", testCall("<array><data><int>1</int></data></array>"), ErrParse, "params[0][0]: unexpected element <int> in <data>"},
	{"duplicate member", testCall("<struct><member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member></struct>"), ErrParse, `duplicate member "a"`},
	{"boolean 2", testCall("<boolean>2</boolean>"), ErrParse, `bad <boolean> "2"`},
	{"boolean true", testCall("<boolean>true</boolean>"), ErrParse, "bad <boolean>"},
	{"boolean empty", testCall("<boolean/>"), ErrParse, "bad <boolean>"},
	{"int overflow", testCall("<int>9223372036854775808</int>"), ErrParse, "out of int64 range"},
	{"i8 underflow", testCall("<i8>-9223372036854775809</i8>"), ErrParse, "out of int64 range"},
	{"int not a number", testCall("<int>12a</int>"), ErrParse, `bad <int> "12a"`},
	{"int empty", testCall("<i4></i4>"), ErrParse, "bad <i4>"},
	{"int fraction", testCall("<int>1.5</int>"), ErrParse, "bad <int>"},
	{"int underscore", testCall("<int>1_000</int>"), ErrParse, "bad <int>"},
	{"int hex", testCall("<int>0x10</int>"), ErrParse, "bad <int>"},
	{"double garbage", testCall("<double>1.5x</double>"), ErrParse, "bad <double>"},
	{"double nan", testCall("<double>nan</double>"), ErrParse, "bad <double>"},
	{"double inf", testCall("<double>inf</double>"), ErrParse, "bad <double>"},
	{"double hex", testCall("<double>0x1p3</double>"), ErrParse, "bad <double>"},
	{"double overflow", testCall("<double>1e400</double>"), ErrParse, "out of float64 range"},
	{"double empty", testCall("<double></double>"), ErrParse, "bad <double>"},
	{"dateTime garbage", testCall("<dateTime.iso8601>yesterday</dateTime.iso8601>"), ErrParse, "bad <dateTime.iso8601>"},
	{"dateTime month 13", testCall("<dateTime.iso8601>20261301T00:00:00</dateTime.iso8601>"), ErrParse, "out of range"},
	{"dateTime Feb 30", testCall("<dateTime.iso8601>20260230T00:00:00</dateTime.iso8601>"), ErrParse, "no such day"},
	{"dateTime hour 24", testCall("<dateTime.iso8601>20260101T24:00:00</dateTime.iso8601>"), ErrParse, "out of range"},
	{"dateTime leap second", testCall("<dateTime.iso8601>20261231T23:59:60</dateTime.iso8601>"), ErrParse, "out of range"},
	{"dateTime bad offset", testCall("<dateTime.iso8601>20261123T08:43:45+25:00</dateTime.iso8601>"), ErrParse, "bad offset"},
	{"dateTime trailing", testCall("<dateTime.iso8601>20261123T08:43:45Zx</dateTime.iso8601>"), ErrParse, "unexpected text after"},
	{"dateTime mixed separators", testCall("<dateTime.iso8601>2026-1123T08:43:45</dateTime.iso8601>"), ErrParse, "bad month"},
	{"dateTime long fraction", testCall("<dateTime.iso8601>20261123T08:43:45.1234567891</dateTime.iso8601>"), ErrParse, "fraction"},
	{"dateTime before year 0 in UTC", testCall("<dateTime.iso8601>00000101T00:00:00+01:00</dateTime.iso8601>"), ErrParse, "years 0000 to 9999"},
	{"dateTime after year 9999 in UTC", testCall("<dateTime.iso8601>99991231T23:00:00-01:00</dateTime.iso8601>"), ErrParse, "years 0000 to 9999"},
	{"base64 bad characters", testCall("<base64>!!!!</base64>"), ErrParse, "bad <base64>"},
	{"base64 missing padding", testCall("<base64>QQ</base64>"), ErrParse, "bad <base64>"},
	{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE methodCall [<!ENTITY x "y">]><methodCall><methodName>a&x;</methodName></methodCall>`, ErrParse, "DTDs"},
	{"DOCTYPE external", `<!DOCTYPE methodCall SYSTEM "file:///etc/passwd"><methodCall><methodName>a</methodName></methodCall>`, ErrParse, "DTDs"},
	{"undefined entity", testCall("<string>&nbsp;</string>"), ErrParse, "malformed XML"},
	{"bad character reference", testCall("<string>&#0;</string>"), ErrParse, "malformed XML"},
	{"control character", testCall("<string>a\x01b</string>"), ErrParse, "malformed XML"},
	{"invalid UTF-8", testCall("<string>a\xffb</string>"), ErrParse, "malformed XML"},
	{"bare ampersand", testCall("<string>a & b</string>"), ErrParse, "malformed XML"},
	{"processing instruction", testCall("<?php echo 1; ?>"), ErrParse, "processing instruction <?php?>"},
	{"declaration not first", ` <?xml version="1.0"?><methodCall><methodName>a</methodName></methodCall>`, ErrParse, "processing instruction <?xml?>"},
	{"non-UTF-8 encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>a</methodName></methodCall>`, ErrParse, "malformed XML"},
	{"XML 1.1", `<?xml version="1.1"?><methodCall><methodName>a</methodName></methodCall>`, ErrParse, "malformed XML"},
	{"second root", `<methodCall><methodName>a</methodName></methodCall><methodCall><methodName>b</methodName></methodCall>`, ErrParse, "second root element <methodCall>"},
	{"trailing garbage", `<methodCall><methodName>a</methodName></methodCall>garbage`, ErrParse, `trailing text "garbage"`},
	{"trailing broken tag", `<methodCall><methodName>a</methodName></methodCall><`, ErrParse, "malformed XML"},
	{"trailing end tag", `<methodCall><methodName>a</methodName></methodCall></x>`, ErrParse, "malformed XML"},
	{"default namespace", `<methodCall xmlns="urn:x"><methodName>a</methodName></methodCall>`, ErrParse, "root element is <urn:x:methodCall>"},
	{"depth 33", testCall(testNest(33, "<int>1</int>")), ErrLimit, "nested deeper than 32 (MaxDepth)"},
	{"depth 33 in struct", testCall(strings.Repeat("<struct><member><name>a</name><value>", 33) + strings.Repeat("</value></member></struct>", 33)), ErrLimit, "MaxDepth"},
}

func TestDecodeCallErrors(t *testing.T) {
	for _, tt := range malformed {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := DecodeCall(strings.NewReader(tt.doc), Limits{})
			if err == nil {
				t.Fatalf("decoded %q %#v, want an error", method, params)
			}
			other := ErrLimit
			if tt.kind == ErrLimit {
				other = ErrParse
			}
			if !errors.Is(err, tt.kind) || errors.Is(err, other) {
				t.Errorf("error %q: want it to wrap %v only", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "xmlrpc: ") {
				t.Errorf("error %q lacks the xmlrpc: prefix", err)
			}
			if (method != "") != errors.Is(err, ErrRange) || params != nil {
				t.Errorf("on error got %q %#v, want zero values (the method name with ErrRange)", method, params)
			}
		})
	}
}

func TestDecodeCallErrorPosition(t *testing.T) {
	doc := "<methodCall>\n<methodName>a</methodName>\n<params>\n<param><value><struct>\n" +
		"<member><name>specs</name><value><array><data><value><boolean>2</boolean></value></data></array></value></member>\n" +
		"</struct></value></param></params></methodCall>"
	_, _, err := DecodeCall(strings.NewReader(doc), Limits{})
	want := `xmlrpc: params[0].specs[0]: bad <boolean> "2": want 0 or 1 (line 5,`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want prefix %q", err, want)
	}
}

// testFlat returns a call of one array of n empty values.
func testFlat(n int) string {
	return testCall("<array><data>" + strings.Repeat("<value/>", n) + "</data></array>")
}

// limitCases are requests at and over the limits, shared with the fuzz
// seeds.
var limitCases = []struct {
	name string
	doc  string
	lim  Limits
	kind error // nil: accepted
	msg  string
}{
	{"depth 32 default", testCall(testNest(32, "x")), Limits{}, nil, ""},
	{"depth 33 default", testCall(testNest(33, "x")), Limits{}, ErrLimit, "params[0][0][0]"},
	{"depth 3 of 3", testCall(testNest(3, "x")), Limits{MaxDepth: 3}, nil, ""},
	{"depth 4 of 3", testCall(testNest(4, "x")), Limits{MaxDepth: 3}, ErrLimit, "nested deeper than 3 (MaxDepth)"},
	{"negative depth is default", testCall(testNest(32, "x")), Limits{MaxDepth: -1}, nil, ""},
	// The array itself is a value: n elements are n+1 values.
	{"values at limit", testFlat(9), Limits{MaxValues: 10}, nil, ""},
	{"values over limit", testFlat(10), Limits{MaxValues: 10}, ErrLimit, "more than 10 values (MaxValues)"},
	{"values over limit across params", `<methodCall><methodName>a</methodName><params>` +
		strings.Repeat("<param><value>1</value></param>", 3) + `</params></methodCall>`, Limits{MaxValues: 2}, ErrLimit, "params[2]: more than 2 values"},
	{"values default accepts 100k", testFlat(100_000), Limits{}, nil, ""},
}

func TestDecodeCallLimits(t *testing.T) {
	for _, tt := range limitCases {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DecodeCall(strings.NewReader(tt.doc), tt.lim)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.kind) || errors.Is(err, ErrParse) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Fatalf("error = %v, want %v containing %q", err, tt.kind, tt.msg)
			}
		})
	}
	if got := (Limits{}).withDefaults(); got.MaxDepth != 32 || got.MaxValues != 1_000_000 {
		t.Errorf("defaults = %+v", got)
	}
}

// failingReader yields data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDecodeCallReadError(t *testing.T) {
	body := testCall("<string>" + strings.Repeat("x", 10_000) + "</string>")
	for _, cut := range []int{0, 10, 60, 5000, len(body) - 1} {
		rec := httptest.NewRecorder()
		r := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), int64(cut))
		_, _, err := DecodeCall(r, Limits{})
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) || mbe.Limit != int64(cut) {
			t.Errorf("cut %d: error %v is not the *http.MaxBytesError", cut, err)
		}
		if errors.Is(err, ErrParse) || errors.Is(err, ErrLimit) {
			t.Errorf("cut %d: read error %v wraps a decoder sentinel", cut, err)
		}
		if err != nil && !strings.Contains(err.Error(), "reading request") {
			t.Errorf("cut %d: error %q does not say it was reading", cut, err)
		}
	}
	boom := errors.New("connection reset")
	for _, cut := range []int{0, 1, 30, len(body) - 1} {
		_, _, err := DecodeCall(&failingReader{data: []byte(body[:cut]), err: boom}, Limits{})
		if !errors.Is(err, boom) || errors.Is(err, ErrParse) {
			t.Errorf("cut %d: error %v, want the read error alone", cut, err)
		}
	}
	// A body that ends early without a read error is malformed.
	_, _, err := DecodeCall(strings.NewReader(body[:len(body)/2]), Limits{})
	if !errors.Is(err, ErrParse) {
		t.Errorf("truncated body: error %v, want ErrParse", err)
	}
	// The full body within the limit decodes.
	rec := httptest.NewRecorder()
	if _, _, err := DecodeCall(http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), int64(len(body))), Limits{}); err != nil {
		t.Errorf("full body: %v", err)
	}
}
