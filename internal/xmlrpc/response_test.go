package xmlrpc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// testResponse wraps the XML of one value in a methodResponse.
func testResponse(value string) string {
	return `<?xml version="1.0"?><methodResponse><params><param><value>` +
		value + `</value></param></params></methodResponse>`
}

// pythonResponse and pythonFault are what Python's xmlrpc.server sends
// (xmlrpc.client.dumps with methodresponse=True, and a Fault).
const (
	pythonResponse = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n" +
		"<value><struct>\n<member>\n<name>accepted</name>\n<value><array><data>\n" +
		"<value><struct>\n<member>\n<name>job_id</name>\n<value><string>j1</string></value>\n</member>\n" +
		"<member>\n<name>attempt</name>\n<value><int>2</int></value>\n</member>\n</struct></value>\n" +
		"</data></array></value>\n</member>\n<member>\n<name>rejected</name>\n<value><array><data>\n</data></array></value>\n" +
		"</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n"
	pythonFault = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n" +
		"<name>faultCode</name>\n<value><int>3</int></value>\n</member>\n<member>\n<name>faultString</name>\n" +
		"<value><string>bad request: no &lt;type&gt;</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n"
)

func TestDecodeResponse(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want any
	}{
		{"string", testResponse("<string>ok</string>"), "ok"},
		{"untyped", testResponse("ok"), "ok"},
		{"nil", testResponse("<nil/>"), nil},
		{"struct", testResponse("<struct><member><name>a</name><value><i8>5</i8></value></member></struct>"), map[string]any{"a": int64(5)}},
		{"python", pythonResponse, map[string]any{
			"accepted": []any{map[string]any{"job_id": "j1", "attempt": int64(2)}},
			"rejected": []any{},
		}},
		{"apache nil", `<methodResponse><params><param><value><ex:nil xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"/></value></param></params></methodResponse>`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeResponse(strings.NewReader(tt.doc), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestDecodeResponseFault(t *testing.T) {
	var b bytes.Buffer
	if err := EncodeFault(&b, -32602, "bad params: <x> & \x01"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  string
		want Fault
	}{
		{"ours", b.String(), Fault{Code: -32602, String: "bad params: <x> & \uFFFD"}},
		{"python", pythonFault, Fault{Code: 3, String: "bad request: no <type>"}},
		{"extra member", `<methodResponse><fault><value><struct><member><name>faultString</name><value>x</value></member>` +
			`<member><name>faultCode</name><value><i4>7</i4></value></member><member><name>more</name><value/></member>` +
			`</struct></value></fault></methodResponse>`, Fault{Code: 7, String: "x"}},
	} {
		v, err := DecodeResponse(strings.NewReader(tc.doc), Limits{})
		var f *Fault
		if !errors.As(err, &f) || *f != tc.want || v != nil {
			t.Errorf("%s: got %#v, %v; want fault %+v", tc.name, v, err, tc.want)
		}
		if errors.Is(err, ErrParse) {
			t.Errorf("%s: a fault wraps ErrParse", tc.name)
		}
		if want := "xmlrpc: fault "; err != nil && !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error text %q", tc.name, err)
		}
	}
}

// responseMalformed are responses DecodeResponse must refuse, shared with
// the fuzz seeds.
var responseMalformed = []struct {
	name string
	doc  string
	msg  string
}{
	{"empty", "", "no <methodResponse> element"},
	{"a call", testCall("x"), "root element is <methodCall>, want <methodResponse>"},
	{"empty response", "<methodResponse></methodResponse>", "missing <params> or <fault>"},
	{"no params", "<methodResponse><params></params></methodResponse>", "a response holds one param, not 0"},
	{"two params", "<methodResponse><params><param><value>1</value></param><param><value>2</value></param></params></methodResponse>",
		"a response holds one param, not 2"},
	{"params and fault", "<methodResponse><params><param><value>1</value></param></params><fault/></methodResponse>",
		"unexpected element <fault> in <methodResponse>"},
	{"unknown element", "<methodResponse><result/></methodResponse>", "unexpected element <result> in <methodResponse>"},
	{"fault not a struct", "<methodResponse><fault><value>x</value></fault></methodResponse>", "want a struct in <fault>, got string"},
	{"fault without code", "<methodResponse><fault><value><struct><member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>",
		"want a struct of faultCode (int) and faultString (string)"},
	{"fault code a string", "<methodResponse><fault><value><struct><member><name>faultCode</name><value>1</value></member>" +
		"<member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>", "faultCode (int)"},
	{"fault without value", "<methodResponse><fault></fault></methodResponse>", "missing <value> in <fault>"},
	{"bad value", testResponse("<int>x</int>"), `params[0]: bad <int> "x"`},
	{"bad fault value", "<methodResponse><fault><value><boolean>2</boolean></value></fault></methodResponse>", `fault: bad <boolean>`},
	{"trailing", testResponse("1") + "x", `trailing text "x" after </methodResponse>`},
	{"second root", testResponse("1") + "<a/>", "second root element <a> after </methodResponse>"},
	{"DOCTYPE", `<!DOCTYPE x><methodResponse/>`, "DTDs"},
}

func TestDecodeResponseErrors(t *testing.T) {
	for _, tt := range responseMalformed {
		v, err := DecodeResponse(strings.NewReader(tt.doc), Limits{})
		if !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), tt.msg) || v != nil {
			t.Errorf("%s: got %#v, %v; want ErrParse containing %q", tt.name, v, err, tt.msg)
		}
	}
	deep := testResponse(testNest(4, "x"))
	if _, err := DecodeResponse(strings.NewReader(deep), Limits{MaxDepth: 3}); !errors.Is(err, ErrLimit) {
		t.Errorf("depth 4 of 3: %v, want ErrLimit", err)
	}
	boom := errors.New("reset")
	_, err := DecodeResponse(&failingReader{data: []byte(deep[:20]), err: boom}, Limits{})
	if !errors.Is(err, boom) || errors.Is(err, ErrParse) || !strings.Contains(err.Error(), "reading response") {
		t.Errorf("read error: %v", err)
	}
}

func TestResponseRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 1000 {
		tree := randTree(r, 0)
		var b bytes.Buffer
		if err := EncodeResponse(&b, tree); err != nil {
			t.Fatalf("case %d: encode %#v: %v", i, tree, err)
		}
		doc := b.String()
		got, err := DecodeResponse(&b, Limits{})
		if err != nil {
			t.Fatalf("case %d: decode %q: %v", i, doc, err)
		}
		if !reflect.DeepEqual(got, tree) {
			t.Fatalf("case %d: round trip of %#v\ngave %#v\nvia %q", i, tree, got, doc)
		}
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(pythonResponse))
	f.Add([]byte(pythonFault))
	for _, tt := range responseMalformed {
		f.Add([]byte(tt.doc))
	}
	r := rand.New(rand.NewPCG(11, 12))
	for range 20 {
		var b bytes.Buffer
		if err := EncodeResponse(&b, randTree(r, 0)); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := DecodeResponse(bytes.NewReader(data), Limits{MaxDepth: 8, MaxValues: 10_000})
		var fault *Fault
		switch {
		case errors.As(err, &fault):
			var b bytes.Buffer
			if err := EncodeFault(&b, fault.Code, fault.String); err != nil {
				t.Fatalf("cannot encode the fault %+v: %v", fault, err)
			}
			return
		case err != nil:
			if errors.Is(err, ErrParse) == errors.Is(err, ErrLimit) {
				t.Fatalf("error %v wraps neither or both sentinels", err)
			}
			if v != nil {
				t.Fatalf("error with a result %#v", v)
			}
			return
		}
		var b bytes.Buffer
		if err := EncodeResponse(&b, v); err != nil {
			t.Fatalf("cannot encode what was decoded (%#v): %v", v, err)
		}
		doc := b.String()
		v2, err := DecodeResponse(&b, Limits{MaxDepth: 8, MaxValues: 10_000})
		if err != nil {
			t.Fatalf("cannot decode the re-encoding %q: %v", doc, err)
		}
		if !reflect.DeepEqual(v2, testNormalize(v)) {
			t.Fatalf("round trip changed the response:\n%#v\n%#v", v, v2)
		}
	})
}
