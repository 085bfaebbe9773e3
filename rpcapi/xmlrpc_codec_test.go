package rpcapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/kolo/xmlrpc"
)

// xmlTestCall wraps the XML of one value in a methodCall.
func xmlTestCall(value string) string {
	return `<?xml version="1.0"?><methodCall><methodName>m</methodName><params><param><value>` +
		value + `</value></param></params></methodCall>`
}

// xmlTestNest returns n arrays nested around inner.
func xmlTestNest(n int, inner string) string {
	return strings.Repeat("<array><data><value>", n) + inner + strings.Repeat("</value></data></array>", n)
}

// xmlTestNestTree returns n []any nested around inner.
func xmlTestNestTree(n int, inner any) any {
	for range n {
		inner = []any{inner}
	}
	return inner
}

// xmlTestUTC returns a time in UTC.
func xmlTestUTC(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
	return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
}

// xmlTypeCases are values the decoder must read, shared with the fuzz
// seeds.
var xmlTypeCases = []struct {
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
	{"dateTime python", "<dateTime.iso8601>20261123T08:43:45</dateTime.iso8601>", xmlTestUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime dashes", "<dateTime.iso8601>2026-11-23T08:43:45</dateTime.iso8601>", xmlTestUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime Z", "<dateTime.iso8601>2026-11-23T08:43:45Z</dateTime.iso8601>", xmlTestUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime offset", "<dateTime.iso8601>20261123T08:43:45+01:30</dateTime.iso8601>", xmlTestUTC(2026, 11, 23, 7, 13, 45, 0)},
	{"dateTime negative offset", "<dateTime.iso8601>2026-11-23T23:00:00-0200</dateTime.iso8601>", xmlTestUTC(2026, 11, 24, 1, 0, 0, 0)},
	{"dateTime fraction", "<dateTime.iso8601>2026-11-23T08:43:45.5Z</dateTime.iso8601>", xmlTestUTC(2026, 11, 23, 8, 43, 45, 500000000)},
	{"dateTime basic time", "<dateTime.iso8601>20261123T084345</dateTime.iso8601>", xmlTestUTC(2026, 11, 23, 8, 43, 45, 0)},
	{"dateTime leap day", "<dateTime.iso8601>20240229T00:00:00</dateTime.iso8601>", xmlTestUTC(2024, 2, 29, 0, 0, 0, 0)},
	{"dateTime padded", "<dateTime.iso8601> 20261123T08:43:45\n</dateTime.iso8601>", xmlTestUTC(2026, 11, 23, 8, 43, 45, 0)},
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
	{"depth 32", xmlTestNest(32, "<int>1</int>"), xmlTestNestTree(32, int64(1))},
}

func TestXMLDecodeCallTypes(t *testing.T) {
	for _, tt := range xmlTypeCases {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := xmlDecodeCall(strings.NewReader(xmlTestCall(tt.value)), xmlLimits{})
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

// xmlDocumentCases are whole requests the decoder must read, shared with
// the fuzz seeds.
var xmlDocumentCases = []struct {
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

func TestXMLDecodeCallDocument(t *testing.T) {
	for _, tt := range xmlDocumentCases {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := xmlDecodeCall(strings.NewReader(tt.doc), xmlLimits{})
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if method != tt.method || !reflect.DeepEqual(params, tt.params) {
				t.Errorf("got %q %#v, want %q %#v", method, params, tt.method, tt.params)
			}
		})
	}
}

// xmlMalformed is a table of requests the decoder must refuse, shared with
// the fuzz seeds.
var xmlMalformed = []struct {
	name string
	doc  string
	kind error  // errXMLParse or errXMLLimit
	msg  string // a substring of the error
}{
	{"empty document", "", errXMLParse, "no <methodCall>"},
	{"only declaration", `<?xml version="1.0"?>`, errXMLParse, "no <methodCall>"},
	{"unclosed tags", `<methodCall><methodName>m</methodName><params><param><value><int>1</int>`, errXMLParse, "unexpected EOF"},
	{"unclosed root", `<methodCall><methodName>m</methodName>`, errXMLParse, "unexpected EOF"},
	{"mismatched tags", `<methodCall><methodName>m</methodCall>`, errXMLParse, "malformed XML"},
	{"not XML", `hello`, errXMLParse, "before <methodCall>"},
	{"wrong root", `<methodResponse><params/></methodResponse>`, errXMLParse, "root element is <methodResponse>"},
	{"missing methodName", `<methodCall><params/></methodCall>`, errXMLParse, "want <methodName>"},
	{"missing methodName empty call", `<methodCall></methodCall>`, errXMLParse, "missing <methodName>"},
	{"empty method name", `<methodCall><methodName></methodName></methodCall>`, errXMLParse, "bad method name"},
	{"method name with space", `<methodCall><methodName>a b</methodName></methodCall>`, errXMLParse, "bad method name"},
	{"method name with semicolon", `<methodCall><methodName>a;b</methodName></methodCall>`, errXMLParse, "bad method name"},
	{"method name 129", `<methodCall><methodName>` + strings.Repeat("a", 129) + `</methodName></methodCall>`, errXMLParse, "bad method name"},
	{"element in methodName", `<methodCall><methodName>a<b/></methodName></methodCall>`, errXMLParse, "unexpected element <b>"},
	{"two methodNames", `<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>`, errXMLParse, "unexpected element <methodName>"},
	{"params twice", `<methodCall><methodName>a</methodName><params/><params/></methodCall>`, errXMLParse, "unexpected element <params>"},
	{"unknown element in methodCall", `<methodCall><methodName>a</methodName><bogus/></methodCall>`, errXMLParse, "unexpected element <bogus>"},
	{"unknown element in params", `<methodCall><methodName>a</methodName><params><value>1</value></params></methodCall>`, errXMLParse, "unexpected element <value> in <params>"},
	{"text in params", `<methodCall><methodName>a</methodName><params>x<param><value>1</value></param></params></methodCall>`, errXMLParse, `unexpected text "x" in <params>`},
	{"text in methodCall", `<methodCall>x<methodName>a</methodName></methodCall>`, errXMLParse, "unexpected text"},
	{"param without value", `<methodCall><methodName>a</methodName><params><param></param></params></methodCall>`, errXMLParse, "missing <value> in <param>"},
	{"param with two values", `<methodCall><methodName>a</methodName><params><param><value>1</value><value>2</value></param></params></methodCall>`, errXMLParse, "unexpected element <value> in <param>"},
	{"unknown element", xmlTestCall("<foo>1</foo>"), errXMLParse, "params[0]: unknown element <foo> in <value>"},
	{"unknown namespaced element", xmlTestCall("<ex:int>1</ex:int>"), errXMLParse, "unknown element <ex:int>"},
	{"two elements in value", xmlTestCall("<int>1</int><int>2</int>"), errXMLParse, "unexpected element <int> in <value>"},
	{"text mixed with element", xmlTestCall("x<int>1</int>"), errXMLParse, "mixed with <int>"},
	{"text after element", xmlTestCall("<int>1</int>x"), errXMLParse, `unexpected text "x" in <value>`},
	{"element in int", xmlTestCall("<int><b/>1</int>"), errXMLParse, "unexpected element <b> in <int>"},
	{"element in string", xmlTestCall("<string>a<b>x</b></string>"), errXMLParse, "unexpected element <b> in <string>"},
	{"attribute", `<methodCall><methodName>a</methodName><params><param><value type="int">1</value></param></params></methodCall>`, errXMLParse, "unexpected attribute type"},
	{"text inside struct", xmlTestCall("<struct>hello<member><name>a</name><value>1</value></member></struct>"), errXMLParse, `unexpected text "hello" in <struct>`},
	{"text inside data", xmlTestCall("<array><data>x</data></array>"), errXMLParse, `unexpected text "x" in <data>`},
	{"text inside array", xmlTestCall("<array>x<data></data></array>"), errXMLParse, `unexpected text "x" in <array>`},
	{"text inside member", xmlTestCall("<struct><member>x<name>a</name><value>1</value></member></struct>"), errXMLParse, "unexpected text"},
	{"text inside nil", xmlTestCall("<nil>x</nil>"), errXMLParse, "unexpected text"},
	{"value in struct", xmlTestCall("<struct><value>1</value></struct>"), errXMLParse, "unexpected element <value> in <struct>"},
	{"member without value", xmlTestCall("<struct><member><name>a</name></member></struct>"), errXMLParse, "missing <value> in <member>"},
	{"member value before name", xmlTestCall("<struct><member><value>1</value><name>a</name></member></struct>"), errXMLParse, "want <name>"},
	{"member with two values", xmlTestCall("<struct><member><name>a</name><value>1</value><value>2</value></member></struct>"), errXMLParse, "unexpected element <value> in <member>"},
	{"array without data", xmlTestCall("<array><value>1</value></array>"), errXMLParse, "want <data>"},
	{"array with two datas", xmlTestCall("<array><data></data><data></data></array>"), errXMLParse, "unexpected element <data> in <array>"},
	{"non-value in data", xmlTestCall("<array><data><int>1</int></data></array>"), errXMLParse, "params[0][0]: unexpected element <int> in <data>"},
	{"duplicate member", xmlTestCall("<struct><member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member></struct>"), errXMLParse, `duplicate member "a"`},
	{"boolean 2", xmlTestCall("<boolean>2</boolean>"), errXMLParse, `bad <boolean> "2"`},
	{"boolean true", xmlTestCall("<boolean>true</boolean>"), errXMLParse, "bad <boolean>"},
	{"boolean empty", xmlTestCall("<boolean/>"), errXMLParse, "bad <boolean>"},
	{"int overflow", xmlTestCall("<int>9223372036854775808</int>"), errXMLParse, "out of int64 range"},
	{"i8 underflow", xmlTestCall("<i8>-9223372036854775809</i8>"), errXMLParse, "out of int64 range"},
	{"int not a number", xmlTestCall("<int>12a</int>"), errXMLParse, `bad <int> "12a"`},
	{"int empty", xmlTestCall("<i4></i4>"), errXMLParse, "bad <i4>"},
	{"int fraction", xmlTestCall("<int>1.5</int>"), errXMLParse, "bad <int>"},
	{"int underscore", xmlTestCall("<int>1_000</int>"), errXMLParse, "bad <int>"},
	{"int hex", xmlTestCall("<int>0x10</int>"), errXMLParse, "bad <int>"},
	{"double garbage", xmlTestCall("<double>1.5x</double>"), errXMLParse, "bad <double>"},
	{"double nan", xmlTestCall("<double>nan</double>"), errXMLParse, "bad <double>"},
	{"double inf", xmlTestCall("<double>inf</double>"), errXMLParse, "bad <double>"},
	{"double hex", xmlTestCall("<double>0x1p3</double>"), errXMLParse, "bad <double>"},
	{"double overflow", xmlTestCall("<double>1e400</double>"), errXMLParse, "out of float64 range"},
	{"double empty", xmlTestCall("<double></double>"), errXMLParse, "bad <double>"},
	{"dateTime garbage", xmlTestCall("<dateTime.iso8601>yesterday</dateTime.iso8601>"), errXMLParse, "bad <dateTime.iso8601>"},
	{"dateTime month 13", xmlTestCall("<dateTime.iso8601>20261301T00:00:00</dateTime.iso8601>"), errXMLParse, "out of range"},
	{"dateTime Feb 30", xmlTestCall("<dateTime.iso8601>20260230T00:00:00</dateTime.iso8601>"), errXMLParse, "no such day"},
	{"dateTime hour 24", xmlTestCall("<dateTime.iso8601>20260101T24:00:00</dateTime.iso8601>"), errXMLParse, "out of range"},
	{"dateTime leap second", xmlTestCall("<dateTime.iso8601>20261231T23:59:60</dateTime.iso8601>"), errXMLParse, "out of range"},
	{"dateTime bad offset", xmlTestCall("<dateTime.iso8601>20261123T08:43:45+25:00</dateTime.iso8601>"), errXMLParse, "bad offset"},
	{"dateTime trailing", xmlTestCall("<dateTime.iso8601>20261123T08:43:45Zx</dateTime.iso8601>"), errXMLParse, "unexpected text after"},
	{"dateTime mixed separators", xmlTestCall("<dateTime.iso8601>2026-1123T08:43:45</dateTime.iso8601>"), errXMLParse, "bad month"},
	{"dateTime long fraction", xmlTestCall("<dateTime.iso8601>20261123T08:43:45.1234567891</dateTime.iso8601>"), errXMLParse, "fraction"},
	{"dateTime before year 0 in UTC", xmlTestCall("<dateTime.iso8601>00000101T00:00:00+01:00</dateTime.iso8601>"), errXMLParse, "years 0000 to 9999"},
	{"dateTime after year 9999 in UTC", xmlTestCall("<dateTime.iso8601>99991231T23:00:00-01:00</dateTime.iso8601>"), errXMLParse, "years 0000 to 9999"},
	{"base64 bad characters", xmlTestCall("<base64>!!!!</base64>"), errXMLParse, "bad <base64>"},
	{"base64 missing padding", xmlTestCall("<base64>QQ</base64>"), errXMLParse, "bad <base64>"},
	{"DOCTYPE", `<?xml version="1.0"?><!DOCTYPE methodCall [<!ENTITY x "y">]><methodCall><methodName>a&x;</methodName></methodCall>`, errXMLParse, "DTDs"},
	{"DOCTYPE external", `<!DOCTYPE methodCall SYSTEM "file:///etc/passwd"><methodCall><methodName>a</methodName></methodCall>`, errXMLParse, "DTDs"},
	{"undefined entity", xmlTestCall("<string>&nbsp;</string>"), errXMLParse, "malformed XML"},
	{"bad character reference", xmlTestCall("<string>&#0;</string>"), errXMLParse, "malformed XML"},
	{"control character", xmlTestCall("<string>a\x01b</string>"), errXMLParse, "malformed XML"},
	{"invalid UTF-8", xmlTestCall("<string>a\xffb</string>"), errXMLParse, "malformed XML"},
	{"bare ampersand", xmlTestCall("<string>a & b</string>"), errXMLParse, "malformed XML"},
	{"processing instruction", xmlTestCall("<?php echo 1; ?>"), errXMLParse, "processing instruction <?php?>"},
	{"declaration not first", ` <?xml version="1.0"?><methodCall><methodName>a</methodName></methodCall>`, errXMLParse, "processing instruction <?xml?>"},
	{"non-UTF-8 encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><methodCall><methodName>a</methodName></methodCall>`, errXMLParse, "malformed XML"},
	{"XML 1.1", `<?xml version="1.1"?><methodCall><methodName>a</methodName></methodCall>`, errXMLParse, "malformed XML"},
	{"second root", `<methodCall><methodName>a</methodName></methodCall><methodCall><methodName>b</methodName></methodCall>`, errXMLParse, "second root element <methodCall>"},
	{"trailing garbage", `<methodCall><methodName>a</methodName></methodCall>garbage`, errXMLParse, `trailing text "garbage"`},
	{"trailing broken tag", `<methodCall><methodName>a</methodName></methodCall><`, errXMLParse, "malformed XML"},
	{"trailing end tag", `<methodCall><methodName>a</methodName></methodCall></x>`, errXMLParse, "malformed XML"},
	{"default namespace", `<methodCall xmlns="urn:x"><methodName>a</methodName></methodCall>`, errXMLParse, "root element is <urn:x:methodCall>"},
	{"depth 33", xmlTestCall(xmlTestNest(33, "<int>1</int>")), errXMLLimit, "nested deeper than 32 (MaxDepth)"},
	{"depth 33 in struct", xmlTestCall(strings.Repeat("<struct><member><name>a</name><value>", 33) + strings.Repeat("</value></member></struct>", 33)), errXMLLimit, "MaxDepth"},
}

func TestXMLDecodeCallErrors(t *testing.T) {
	for _, tt := range xmlMalformed {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := xmlDecodeCall(strings.NewReader(tt.doc), xmlLimits{})
			if err == nil {
				t.Fatalf("decoded %q %#v, want an error", method, params)
			}
			other := errXMLLimit
			if tt.kind == errXMLLimit {
				other = errXMLParse
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
			if method != "" || params != nil {
				t.Errorf("on error got %q %#v, want zero values", method, params)
			}
		})
	}
}

func TestXMLDecodeCallErrorPosition(t *testing.T) {
	doc := "<methodCall>\n<methodName>a</methodName>\n<params>\n<param><value><struct>\n" +
		"<member><name>specs</name><value><array><data><value><boolean>2</boolean></value></data></array></value></member>\n" +
		"</struct></value></param></params></methodCall>"
	_, _, err := xmlDecodeCall(strings.NewReader(doc), xmlLimits{})
	want := `xmlrpc: params[0].specs[0]: bad <boolean> "2": want 0 or 1 (line 5,`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want prefix %q", err, want)
	}
}

// xmlTestFlat returns a call of one array of n empty values.
func xmlTestFlat(n int) string {
	return xmlTestCall("<array><data>" + strings.Repeat("<value/>", n) + "</data></array>")
}

// xmlLimitCases are requests at and over the limits, shared with the fuzz
// seeds.
var xmlLimitCases = []struct {
	name string
	doc  string
	lim  xmlLimits
	kind error // nil: accepted
	msg  string
}{
	{"depth 32 default", xmlTestCall(xmlTestNest(32, "x")), xmlLimits{}, nil, ""},
	{"depth 33 default", xmlTestCall(xmlTestNest(33, "x")), xmlLimits{}, errXMLLimit, "params[0][0][0]"},
	{"depth 3 of 3", xmlTestCall(xmlTestNest(3, "x")), xmlLimits{MaxDepth: 3}, nil, ""},
	{"depth 4 of 3", xmlTestCall(xmlTestNest(4, "x")), xmlLimits{MaxDepth: 3}, errXMLLimit, "nested deeper than 3 (MaxDepth)"},
	{"negative depth is default", xmlTestCall(xmlTestNest(32, "x")), xmlLimits{MaxDepth: -1}, nil, ""},
	// The array itself is a value: n elements are n+1 values.
	{"values at limit", xmlTestFlat(9), xmlLimits{MaxValues: 10}, nil, ""},
	{"values over limit", xmlTestFlat(10), xmlLimits{MaxValues: 10}, errXMLLimit, "more than 10 values (MaxValues)"},
	{"values over limit across params", `<methodCall><methodName>a</methodName><params>` +
		strings.Repeat("<param><value>1</value></param>", 3) + `</params></methodCall>`, xmlLimits{MaxValues: 2}, errXMLLimit, "params[2]: more than 2 values"},
	{"values default accepts 100k", xmlTestFlat(100_000), xmlLimits{}, nil, ""},
}

func TestXMLDecodeCallLimits(t *testing.T) {
	for _, tt := range xmlLimitCases {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := xmlDecodeCall(strings.NewReader(tt.doc), tt.lim)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.kind) || errors.Is(err, errXMLParse) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Fatalf("error = %v, want %v containing %q", err, tt.kind, tt.msg)
			}
		})
	}
	if got := (xmlLimits{}).withDefaults(); got.MaxDepth != 32 || got.MaxValues != 1_000_000 {
		t.Errorf("defaults = %+v", got)
	}
}

// xmlFailingReader yields data, then err.
type xmlFailingReader struct {
	data []byte
	err  error
}

func (r *xmlFailingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestXMLDecodeCallReadError(t *testing.T) {
	body := xmlTestCall("<string>" + strings.Repeat("x", 10_000) + "</string>")
	for _, cut := range []int{0, 10, 60, 5000, len(body) - 1} {
		rec := httptest.NewRecorder()
		r := http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), int64(cut))
		_, _, err := xmlDecodeCall(r, xmlLimits{})
		var mbe *http.MaxBytesError
		if !errors.As(err, &mbe) || mbe.Limit != int64(cut) {
			t.Errorf("cut %d: error %v is not the *http.MaxBytesError", cut, err)
		}
		if errors.Is(err, errXMLParse) || errors.Is(err, errXMLLimit) {
			t.Errorf("cut %d: read error %v wraps a decoder sentinel", cut, err)
		}
		if err != nil && !strings.Contains(err.Error(), "reading request") {
			t.Errorf("cut %d: error %q does not say it was reading", cut, err)
		}
	}
	boom := errors.New("connection reset")
	for _, cut := range []int{0, 1, 30, len(body) - 1} {
		_, _, err := xmlDecodeCall(&xmlFailingReader{data: []byte(body[:cut]), err: boom}, xmlLimits{})
		if !errors.Is(err, boom) || errors.Is(err, errXMLParse) {
			t.Errorf("cut %d: error %v, want the read error alone", cut, err)
		}
	}
	// A body that ends early without a read error is malformed.
	_, _, err := xmlDecodeCall(strings.NewReader(body[:len(body)/2]), xmlLimits{})
	if !errors.Is(err, errXMLParse) {
		t.Errorf("truncated body: error %v, want errXMLParse", err)
	}
	// The full body within the limit decodes.
	rec := httptest.NewRecorder()
	if _, _, err := xmlDecodeCall(http.MaxBytesReader(rec, io.NopCloser(strings.NewReader(body)), int64(len(body))), xmlLimits{}); err != nil {
		t.Errorf("full body: %v", err)
	}
}

func TestXMLEncodeResponse(t *testing.T) {
	const head = "<?xml version=\"1.0\"?>\n<methodResponse><params><param><value>"
	const tail = "</value></param></params></methodResponse>"
	tests := []struct {
		name string
		v    any
		want string // between head and tail
	}{
		{"int", 42, "<int>42</int>"},
		{"int64 max int32", int64(math.MaxInt32), "<int>2147483647</int>"},
		{"int64 min int32", int64(math.MinInt32), "<int>-2147483648</int>"},
		{"int64 beyond int32", int64(math.MaxInt32 + 1), "<i8>2147483648</i8>"},
		{"int64 below int32", int64(math.MinInt32 - 1), "<i8>-2147483649</i8>"},
		{"int 2**40", 1 << 40, "<i8>1099511627776</i8>"},
		{"true", true, "<boolean>1</boolean>"},
		{"false", false, "<boolean>0</boolean>"},
		{"double", 1.5, "<double>1.5</double>"},
		{"double integral", 3.0, "<double>3</double>"},
		{"double small", 1e-7, "<double>1e-07</double>"},
		{"double big", 1e21, "<double>1e+21</double>"},
		{"double big plain", 1e20, "<double>100000000000000000000</double>"},
		{"string", "a & b <c> ]]> \"q\" 'a'", "<string>a &amp; b &lt;c&gt; ]]&gt; \"q\" 'a'</string>"},
		{"string empty", "", "<string></string>"},
		{"string whitespace", "\t\n ", "<string>\t\n </string>"},
		{"string carriage return", "a\rb\r\n", "<string>a&#xD;b&#xD;\n</string>"},
		{"string control chars", "a\x00b\x01c\x1fd\x7fe", "<string>a\uFFFDb\uFFFDc\uFFFDd\x7fe</string>"},
		{"string invalid UTF-8", "x\xffy\xc3", "<string>x\uFFFDy\uFFFD</string>"},
		{"string noncharacters", "\uFFFE\uFFFF\uFFFD", "<string>\uFFFD\uFFFD\uFFFD</string>"},
		{"string unicode", "日本語 🚀", "<string>日本語 🚀</string>"},
		{"bytes", []byte{0, 1, 0xff}, "<base64>AAH/</base64>"},
		{"bytes empty", []byte{}, "<base64></base64>"},
		{"bytes nil", []byte(nil), "<base64></base64>"},
		{"time UTC", time.Date(2026, 11, 23, 8, 43, 45, 999_999_999, time.UTC), "<dateTime.iso8601>20261123T08:43:45</dateTime.iso8601>"},
		{"time offset", time.Date(2026, 11, 23, 8, 43, 45, 0, time.FixedZone("", -3600)), "<dateTime.iso8601>20261123T09:43:45</dateTime.iso8601>"},
		{"time year 1", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "<dateTime.iso8601>00010101T00:00:00</dateTime.iso8601>"},
		{"nil", nil, "<nil/>"},
		{"struct sorted", map[string]any{"b": 1, "a": "x", "A": nil, "": true},
			"<struct><member><name></name><value><boolean>1</boolean></value></member>" +
				"<member><name>A</name><value><nil/></value></member>" +
				"<member><name>a</name><value><string>x</string></value></member>" +
				"<member><name>b</name><value><int>1</int></value></member></struct>"},
		{"struct name escaped", map[string]any{"<&>\x01": 1}, "<struct><member><name>&lt;&amp;&gt;\uFFFD</name><value><int>1</int></value></member></struct>"},
		{"struct empty", map[string]any{}, "<struct></struct>"},
		{"struct nil", map[string]any(nil), "<struct></struct>"},
		{"array", []any{1, "two", []any{}, map[string]any{}}, "<array><data><value><int>1</int></value><value><string>two</string></value>" +
			"<value><array><data></data></array></value><value><struct></struct></value></data></array>"},
		{"array nil", []any(nil), "<array><data></data></array>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := xmlEncodeResponse(&b, tt.v); err != nil {
				t.Fatal(err)
			}
			if want := head + tt.want + tail; b.String() != want {
				t.Errorf("got  %q\nwant %q", b.String(), want)
			}
		})
	}
}

func TestXMLEncodeErrors(t *testing.T) {
	cyclic := []any{nil}
	cyclic[0] = cyclic
	tests := []struct {
		name string
		v    any
		msg  string
	}{
		{"NaN", math.NaN(), "result: cannot encode NaN"},
		{"Inf", map[string]any{"a": []any{math.Inf(1)}}, "result.a[0]: cannot encode +Inf"},
		{"unsupported type", map[string]any{"x": struct{}{}}, "result.x: cannot encode a struct {}"},
		{"int32", int32(1), "cannot encode a int32"},
		{"go struct", RegisterArgs{}, "cannot encode a rpcapi.RegisterArgs (map it with wireFromGo first)"},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "year out of 0000 to 9999"},
		{"negative year", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), "year out of 0000 to 9999"},
		{"names collide after repair", map[string]any{"a\x01": 1, "a\x02": 2}, "are the same once made valid XML"},
		{"cycle", cyclic, "nested deeper than 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := xmlEncodeResponse(&b, tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error = %v, want one containing %q", err, tt.msg)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", b.Len())
			}
		})
	}
	var b bytes.Buffer
	if err := xmlEncodeCall(&b, "bad name"); err == nil || b.Len() != 0 {
		t.Errorf("xmlEncodeCall with a bad method name: err %v, wrote %q", err, b.String())
	}
	if err := xmlEncodeCall(&b, "m", 1, math.NaN()); err == nil || !strings.Contains(err.Error(), "params[1]") {
		t.Errorf("xmlEncodeCall NaN: err %v", err)
	}
	werr := errors.New("disk full")
	if err := xmlEncodeResponse(&xmlFailingWriter{werr}, 1); !errors.Is(err, werr) {
		t.Errorf("write error: %v", err)
	}
	if err := xmlEncodeFault(&xmlFailingWriter{werr}, 1, "x"); !errors.Is(err, werr) {
		t.Errorf("write error: %v", err)
	}
}

// xmlFailingWriter fails every write.
type xmlFailingWriter struct{ err error }

func (w *xmlFailingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestXMLEncodeFault(t *testing.T) {
	var b bytes.Buffer
	if err := xmlEncodeFault(&b, -32700, "parse error: <bad> & \x01"); err != nil {
		t.Fatal(err)
	}
	want := "<?xml version=\"1.0\"?>\n<methodResponse><fault><value><struct>" +
		"<member><name>faultCode</name><value><int>-32700</int></value></member>" +
		"<member><name>faultString</name><value><string>parse error: &lt;bad&gt; &amp; \uFFFD</string></value></member>" +
		"</struct></value></fault></methodResponse>"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

func TestXMLEncodeCall(t *testing.T) {
	var b bytes.Buffer
	if err := xmlEncodeCall(&b, "Master.Status"); err != nil {
		t.Fatal(err)
	}
	want := "<?xml version=\"1.0\"?>\n<methodCall><methodName>Master.Status</methodName><params></params></methodCall>"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	method, params, err := xmlDecodeCall(&b, xmlLimits{})
	if err != nil || method != "Master.Status" || len(params) != 0 || params == nil {
		t.Errorf("decode = %q %#v %v", method, params, err)
	}
}

// xmlRandString returns a random string of characters XML can carry,
// favouring the ones that need escaping.
func xmlRandString(r *rand.Rand) string {
	pool := []rune("aZ09 _.&<>\"'\t\n\r]é日🚀\u00a0\u2028\uFFFD\U0010FFFD")
	n := r.IntN(12)
	rs := make([]rune, n)
	for i := range rs {
		if r.IntN(4) == 0 {
			// Any valid XML character.
			for {
				c := rune(r.IntN(0x110000))
				if xmlCharOK(c) && (c < 0xD800 || c > 0xDFFF) {
					rs[i] = c
					break
				}
			}
			continue
		}
		rs[i] = pool[r.IntN(len(pool))]
	}
	return string(rs)
}

// xmlRandTree returns a random tree of the types xmlDecodeCall produces.
func xmlRandTree(r *rand.Rand, depth int) any {
	kinds := 11
	if depth >= 4 {
		kinds = 9 // no more containers
	}
	switch r.IntN(kinds) {
	case 0:
		switch r.IntN(4) {
		case 0:
			return int64(r.IntN(200) - 100)
		case 1:
			return []int64{math.MinInt64, math.MaxInt64, math.MinInt32, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32 - 1}[r.IntN(6)]
		default:
			return r.Int64() >> r.IntN(64) * int64(1-2*r.IntN(2))
		}
	case 1:
		return r.IntN(2) == 0
	case 2, 3:
		return xmlRandString(r)
	case 4:
		for {
			var f float64
			switch r.IntN(3) {
			case 0:
				f = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
			case 1:
				f = float64(r.IntN(1000)) / 8
			default:
				f = math.Float64frombits(r.Uint64())
			}
			if !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case 5:
		lo, hi := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
		return time.Unix(lo+r.Int64N(hi-lo+1), 0).UTC()
	case 6:
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	case 7:
		return nil
	case 8:
		return ""
	case 9:
		m := map[string]any{}
		for range r.IntN(5) {
			m[xmlRandString(r)] = xmlRandTree(r, depth+1)
		}
		return m
	default:
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = xmlRandTree(r, depth+1)
		}
		return a
	}
}

func TestXMLRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		params := make([]any, r.IntN(4))
		for j := range params {
			params[j] = xmlRandTree(r, 0)
		}
		var b bytes.Buffer
		if err := xmlEncodeCall(&b, "Master.Submit", params...); err != nil {
			t.Fatalf("case %d: encode %#v: %v", i, params, err)
		}
		doc := b.String()
		method, got, err := xmlDecodeCall(&b, xmlLimits{})
		if err != nil {
			t.Fatalf("case %d: decode %q: %v", i, doc, err)
		}
		if method != "Master.Submit" || !reflect.DeepEqual(got, params) {
			t.Fatalf("case %d: round trip of %#v\ngave %#v\nvia %q", i, params, got, doc)
		}
		// A response carries the same tree with the same encoding.
		var rb bytes.Buffer
		if err := xmlEncodeResponse(&rb, params); err != nil {
			t.Fatalf("case %d: encode response: %v", i, err)
		}
	}
}

// xmlTestNormalize returns a copy of tree with times cut to the second, as
// the encoder writes them.
func xmlTestNormalize(tree any) any {
	switch x := tree.(type) {
	case time.Time:
		return x.Truncate(time.Second)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = xmlTestNormalize(v)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, v := range x {
			a[i] = xmlTestNormalize(v)
		}
		return a
	}
	return tree
}

// xmlPythonCorpus returns the committed Python requests, by base name.
func xmlPythonCorpus(tb testing.TB) map[string][]byte {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "python", "*.xml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no Python corpus in testdata/python (err %v)", err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		out[strings.TrimSuffix(filepath.Base(f), ".xml")] = b
	}
	return out
}

func TestXMLDecodePythonCorpus(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	type call struct {
		method string
		params []any
	}
	want := map[string]call{
		"scalars": {"Master.Status", []any{
			int64(0), int64(1), int64(-1), int64(math.MaxInt32), int64(math.MinInt32),
			true, false,
			3.25, -0.5, 0.1, 1e100, 1e-7, 5e-324, math.MaxFloat64, math.Copysign(0, -1),
			"hello", "",
			nil,
		}},
		"unicode": {"Master.Submit", []any{
			"h\u00e9llo w\u00f6rld", "\u65e5\u672c\u8a9e", "emoji \U0001F680", "a&b<c>d", "tab\there\nnewline",
			"  spaces  ", "]]>", "quotes \" and '", "\u00a0nbsp and \u2028 line separator",
		}},
		"binary": {"Master.Complete", []any{
			[]byte("\x00\x01\xffhello"), []byte{}, func() []byte {
				b := make([]byte, 256)
				for i := range b {
					b[i] = byte(i)
				}
				return b
			}(),
		}},
		"datetime": {"Master.Wait", []any{
			utc(2026, 11, 23, 8, 43, 45), utc(1999, 12, 31, 23, 59, 59), utc(1, 1, 1, 0, 0, 0), utc(2024, 2, 29, 12, 0, 0),
		}},
		"submit": {"Master.Submit", []any{map[string]any{"specs": []any{
			map[string]any{
				"type":     "shell",
				"args":     map[string]any{"cmd": "echo hi", "url": "http://example.com/?a=1&b=2"},
				"priority": int64(5),
				"retries":  int64(2),
				"timeout":  1.5,
				"group":    "g1",
				"key":      "k1",
			},
			map[string]any{"type": "noop"},
			map[string]any{"type": "sleep", "args": map[string]any{}, "timeout": "250ms", "group": nil},
		}}}},
		"register": {"Master.Register", []any{map[string]any{
			"name": "py-1", "addr": "http://127.0.0.1:9000/RPC2", "types": []any{"shell", "py"}, "slots": int64(4),
			"transport": "xmlrpc", "mode": "pull", "running": []any{map[string]any{"job_id": "j1", "attempt": int64(2)}},
		}}},
		"complete": {"Master.Complete", []any{map[string]any{
			"worker_id": "w-7",
			"reports": []any{
				map[string]any{"job_id": "j1", "attempt": int64(1), "outcome": "ok", "exit_code": int64(0),
					"output": "done\n", "data": `{"n": 1}`, "permanent": false},
				map[string]any{"job_id": "j2", "attempt": int64(3), "outcome": "error", "exit_code": int64(2),
					"error": "exit status 2", "permanent": true, "output": nil},
			},
		}}},
		"none":       {"Master.Status", []any{nil, map[string]any{"a": nil, "b": []any{nil, int64(1)}}, []any{nil}}},
		"empty":      {"Master.ListWorkers", []any{}},
		"containers": {"Master.ListJobs", []any{map[string]any{}, []any{}, map[string]any{"": "empty name", "x y": []any{[]any{}, map[string]any{}}}, []any{[]any{int64(1), []any{int64(2), []any{int64(3)}}}}}},
		"deep":       {"Master.Status", []any{xmlTestNestTree(32, "bottom")}},
		// XML turns line ends (CR, CRLF) into LF; Python's own decoder does too.
		"carriage_return": {"Master.Status", []any{"a\nb", "c\nd"}},
	}
	corpus := xmlPythonCorpus(t)
	for name, data := range corpus {
		t.Run(name, func(t *testing.T) {
			method, params, err := xmlDecodeCall(bytes.NewReader(data), xmlLimits{})
			if strings.HasPrefix(name, "invalid_") {
				if !errors.Is(err, errXMLParse) {
					t.Fatalf("decode = %q %#v, %v; want errXMLParse", method, params, err)
				}
				return
			}
			w, ok := want[name]
			if !ok {
				t.Fatalf("no expectation for testdata/python/%s.xml: add one", name)
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if method != w.method || !reflect.DeepEqual(params, w.params) {
				t.Errorf("got %q %#v\nwant %q %#v", method, params, w.method, w.params)
			}
		})
	}
	for name := range want {
		if _, ok := corpus[name]; !ok {
			t.Errorf("testdata/python/%s.xml is missing: run python3 testdata/python/gen.py", name)
		}
	}
}

// xmlPython returns the path of python3, or skips the test without it
// (fails it on CI, where python3 must be present).
func xmlPython(t *testing.T) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 is required on CI for the XML-RPC interoperability tests: %v", err)
		}
		t.Skipf("python3 not found in PATH (%v): skipping the XML-RPC interoperability test with Python's xmlrpc.client", err)
	}
	return py
}

// xmlRunPython runs python3 with args, feeding it stdin, and returns its
// stdout.
func xmlRunPython(t *testing.T, py string, stdin []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("python3: %v\nstderr:\n%s", err, stderr.String())
	}
	return stdout.Bytes()
}

func TestXMLPythonCorpusUpToDate(t *testing.T) {
	py := xmlPython(t)
	dir := t.TempDir()
	xmlRunPython(t, py, nil, filepath.Join("testdata", "python", "gen.py"), dir)
	corpus := xmlPythonCorpus(t)
	fresh, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	if len(fresh) != len(corpus) {
		t.Errorf("gen.py writes %d files, testdata/python holds %d: rerun gen.py", len(fresh), len(corpus))
	}
	for _, f := range fresh {
		b, _ := os.ReadFile(f)
		name := strings.TrimSuffix(filepath.Base(f), ".xml")
		if !bytes.Equal(b, corpus[name]) {
			t.Errorf("testdata/python/%s.xml differs from what gen.py writes now: rerun gen.py", name)
		}
	}
}

// xmlPythonLoads is the script that reads a JSON list of XML-RPC documents
// on stdin, decodes each with xmlrpc.client.loads and prints the results as
// JSON (bytes and datetimes tagged).
const xmlPythonLoads = `
import base64, datetime, json, sys, xmlrpc.client

def conv(v):
    if isinstance(v, bytes):
        return {"$base64": base64.b64encode(v).decode()}
    if isinstance(v, datetime.datetime):
        return {"$datetime": v.isoformat()}
    if isinstance(v, dict):
        return {k: conv(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [conv(x) for x in v]
    return v

out = []
for doc in json.load(sys.stdin):
    try:
        params, method = xmlrpc.client.loads(doc, use_builtin_types=True)
        out.append({"method": method, "params": conv(list(params))})
    except xmlrpc.client.Fault as f:
        out.append({"fault": f.faultCode, "string": f.faultString})
json.dump(out, sys.stdout)
`

// xmlJSONNormalize decodes JSON with numbers as int64 or float64.
func xmlJSONNormalize(t *testing.T, data []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("bad JSON %s: %v", data, err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case json.Number:
			if n, err := x.Int64(); err == nil {
				return n
			}
			f, err := x.Float64()
			if err != nil {
				t.Fatalf("bad number %s", x)
			}
			return f
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	return walk(v)
}

func TestXMLEncodeReadByPython(t *testing.T) {
	py := xmlPython(t)
	tree := map[string]any{
		"big":       1 << 40,
		"neg_big":   int64(-1 << 40),
		"max_int64": int64(math.MaxInt64),
		"max_int32": int64(math.MaxInt32),
		"min_int32": int64(math.MinInt32),
		"ctl":       "a\x01b\x00c\x1fd\uFFFEe",
		"bad_utf8":  "x\xffy",
		"cr":        "a\rb\r\nc\n",
		"escape":    "<&>]]>'\"",
		"unicode":   "日本語 🚀",
		"nested":    map[string]any{"a": map[string]any{"b": []any{1, "two", 3.5, true, false, []any{}}}, "empty": map[string]any{}},
		"when":      time.Date(2026, 11, 23, 8, 43, 45, 999, time.FixedZone("CET", 3600)),
		"bytes":     []byte{0, 1, 2, 254, 255},
		"nil":       nil,
		"empty":     "",
		"floats":    []any{0.1, math.Copysign(0, -1), 1e-7, 1e21, math.MaxFloat64, 5e-324},
	}
	var docs []string
	var b bytes.Buffer
	if err := xmlEncodeResponse(&b, tree); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, b.String())
	b.Reset()
	if err := xmlEncodeFault(&b, -32602, "bad params: <x> & \x01"); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, b.String())
	b.Reset()
	if err := xmlEncodeCall(&b, "Worker.Assign", "w1", int64(-5), nil); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, b.String())
	b.Reset()
	// A real reply, mapped by wireFromGo.
	reply, err := wireFromGo(&RegisterReply{WorkerID: "w-1", HeartbeatInterval: 1500 * time.Millisecond, DeadAfter: 10 * time.Second,
		Cancel: []JobRef{{JobID: "j1", Attempt: 3}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := xmlEncodeResponse(&b, reply); err != nil {
		t.Fatal(err)
	}
	docs = append(docs, b.String())
	in, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	got := xmlJSONNormalize(t, xmlRunPython(t, py, in, "-c", xmlPythonLoads))
	want := xmlJSONNormalize(t, []byte(`[
	{"method": null, "params": [{
		"big": 1099511627776,
		"neg_big": -1099511627776,
		"max_int64": 9223372036854775807,
		"max_int32": 2147483647,
		"min_int32": -2147483648,
		"ctl": "a\ufffdb\ufffdc\ufffdd\ufffde",
		"bad_utf8": "x\ufffdy",
		"cr": "a\rb\r\nc\n",
		"escape": "<&>]]>'\"",
		"unicode": "日本語 🚀",
		"nested": {"a": {"b": [1, "two", 3.5, true, false, []]}, "empty": {}},
		"when": {"$datetime": "2026-11-23T07:43:45"},
		"bytes": {"$base64": "AAEC/v8="},
		"nil": null,
		"empty": "",
		"floats": [0.1, -0.0, 1e-7, 1e21, 1.7976931348623157e308, 5e-324]
	}]},
	{"fault": -32602, "string": "bad params: <x> & \ufffd"},
	{"method": "Worker.Assign", "params": ["w1", -5, null]},
	{"method": null, "params": [{"worker_id": "w-1", "heartbeat_interval": 1.5, "dead_after": 10.0,
		"cancel": [{"job_id": "j1", "attempt": 3}]}]}
]`))
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", "  ")
		wj, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("Python read\n%s\nwant\n%s", gj, wj)
	}
}

// xmlFuzzSeeds returns the seed documents shared by the fuzz targets.
func xmlFuzzSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	corpus := xmlPythonCorpus(tb)
	for _, name := range slices.Sorted(maps.Keys(corpus)) {
		seeds = append(seeds, corpus[name])
	}
	for _, tt := range xmlMalformed {
		seeds = append(seeds, []byte(tt.doc))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		var b bytes.Buffer
		if err := xmlEncodeCall(&b, "Master.Submit", xmlRandTree(r, 0), xmlRandTree(r, 0)); err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b.Bytes())
	}
	return seeds
}

func FuzzXMLDecodeCall(f *testing.F) {
	for _, s := range xmlFuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		method, params, err := xmlDecodeCall(bytes.NewReader(data), xmlLimits{MaxDepth: 8, MaxValues: 10_000})
		if err != nil {
			if errors.Is(err, errXMLParse) == errors.Is(err, errXMLLimit) {
				t.Fatalf("error %v wraps neither or both sentinels", err)
			}
			if method != "" || params != nil {
				t.Fatalf("error with results %q %#v", method, params)
			}
			return
		}
		if !xmlValidMethodName(method) || params == nil {
			t.Fatalf("decoded bad method %q or nil params", method)
		}
		var b bytes.Buffer
		if err := xmlEncodeCall(&b, method, params...); err != nil {
			t.Fatalf("cannot encode what was decoded (%q %#v): %v", method, params, err)
		}
		if err := xmlEncodeResponse(io.Discard, params); err != nil {
			t.Fatalf("cannot encode the params as a response: %v", err)
		}
		doc := b.String()
		method2, params2, err := xmlDecodeCall(&b, xmlLimits{MaxDepth: 8, MaxValues: 10_000})
		if err != nil {
			t.Fatalf("cannot decode the re-encoding %q: %v", doc, err)
		}
		if method2 != method || !reflect.DeepEqual(params2, xmlTestNormalize(params)) {
			t.Fatalf("round trip changed the call:\n%q %#v\n%q %#v", method, params, method2, params2)
		}
	})
}

// xmlBenchBody returns the request body kolo/xmlrpc writes for the
// contract call method (as XMLClient.Call makes it) with args.
func xmlBenchBody(tb testing.TB, method string, args any) []byte {
	tb.Helper()
	tree, err := wireFromGo(args)
	if err != nil {
		tb.Fatal(err)
	}
	body, err := xmlrpc.EncodeMethodCall(xmlNames[method], tree)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// xmlBenchSubmitBody returns a submit_jobs call of n specs, as the bench
// client sends them.
func xmlBenchSubmitBody(tb testing.TB, n int) []byte {
	specs := make([]jobs.Spec, n)
	for i := range specs {
		specs[i] = jobs.Spec{Type: "bench.noop"}
	}
	return xmlBenchBody(tb, MasterSubmit, &SubmitArgs{Specs: specs})
}

// xmlBenchCompleteBody returns a task_complete call of n reports, as a
// worker sends them for no-op jobs.
func xmlBenchCompleteBody(tb testing.TB, n int) []byte {
	reports := make([]Report, n)
	for i := range reports {
		reports[i] = Report{JobID: strconv.Itoa(100_000 + i), Attempt: 1, Outcome: jobs.OK}
	}
	return xmlBenchBody(tb, MasterComplete, &CompleteArgs{WorkerID: "w-1", Reports: reports})
}

// BenchmarkXMLDecodeCall compares the decoder (fast) with the reference
// decoder built on encoding/xml (std) on the calls the master reads most.
func BenchmarkXMLDecodeCall(b *testing.B) {
	bodies := []struct {
		name string
		body []byte
	}{
		{"submit1000", xmlBenchSubmitBody(b, 1000)},
		{"complete250", xmlBenchCompleteBody(b, 250)},
	}
	decoders := []struct {
		name   string
		decode func(io.Reader, xmlLimits) (string, []any, error)
	}{
		{"std", xmlDecodeCallStd},
		{"fast", xmlDecodeCall},
	}
	for _, bb := range bodies {
		for _, d := range decoders {
			b.Run(bb.name+"/"+d.name, func(b *testing.B) {
				b.SetBytes(int64(len(bb.body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := d.decode(bytes.NewReader(bb.body), xmlLimits{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
