package xmlrpc

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEncodeResponse(t *testing.T) {
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
			if err := EncodeResponse(&b, tt.v); err != nil {
				t.Fatal(err)
			}
			if want := head + tt.want + tail; b.String() != want {
				t.Errorf("got  %q\nwant %q", b.String(), want)
			}
		})
	}
}

// encodeTestStruct is a Go struct, which the encoder does not take.
type encodeTestStruct struct{ A int }

func TestEncodeErrors(t *testing.T) {
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
		{"go struct", encodeTestStruct{}, "result: cannot encode a xmlrpc.encodeTestStruct"},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "year out of 0000 to 9999"},
		{"negative year", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), "year out of 0000 to 9999"},
		{"names collide after repair", map[string]any{"a\x01": 1, "a\x02": 2}, "are the same once made valid XML"},
		{"cycle", cyclic, "nested deeper than 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := EncodeResponse(&b, tt.v)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error = %v, want one containing %q", err, tt.msg)
			}
			if b.Len() != 0 {
				t.Errorf("wrote %d bytes despite the error", b.Len())
			}
		})
	}
	var b bytes.Buffer
	if err := EncodeCall(&b, "bad name"); err == nil || b.Len() != 0 {
		t.Errorf("EncodeCall with a bad method name: err %v, wrote %q", err, b.String())
	}
	if err := EncodeCall(&b, "m", 1, math.NaN()); err == nil || !strings.Contains(err.Error(), "params[1]") {
		t.Errorf("EncodeCall NaN: err %v", err)
	}
	werr := errors.New("disk full")
	if err := EncodeResponse(&failingWriter{werr}, 1); !errors.Is(err, werr) {
		t.Errorf("write error: %v", err)
	}
	if err := EncodeFault(&failingWriter{werr}, 1, "x"); !errors.Is(err, werr) {
		t.Errorf("write error: %v", err)
	}
}

// failingWriter fails every write.
type failingWriter struct{ err error }

func (w *failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestEncodeFault(t *testing.T) {
	var b bytes.Buffer
	if err := EncodeFault(&b, -32700, "parse error: <bad> & \x01"); err != nil {
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

func TestEncodeCall(t *testing.T) {
	var b bytes.Buffer
	if err := EncodeCall(&b, "Master.Status"); err != nil {
		t.Fatal(err)
	}
	want := "<?xml version=\"1.0\"?>\n<methodCall><methodName>Master.Status</methodName><params></params></methodCall>"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	method, params, err := DecodeCall(&b, Limits{})
	if err != nil || method != "Master.Status" || len(params) != 0 || params == nil {
		t.Errorf("decode = %q %#v %v", method, params, err)
	}
}

// randString returns a random string of characters XML can carry,
// favouring the ones that need escaping.
func randString(r *rand.Rand) string {
	pool := []rune("aZ09 _.&<>\"'\t\n\r]é日🚀\u00a0\u2028\uFFFD\U0010FFFD")
	n := r.IntN(12)
	rs := make([]rune, n)
	for i := range rs {
		if r.IntN(4) == 0 {
			// Any valid XML character.
			for {
				c := rune(r.IntN(0x110000))
				if charOK(c) && (c < 0xD800 || c > 0xDFFF) {
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

// randTree returns a random tree of the types DecodeCall produces.
func randTree(r *rand.Rand, depth int) any {
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
		return randString(r)
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
			m[randString(r)] = randTree(r, depth+1)
		}
		return m
	default:
		a := make([]any, r.IntN(5))
		for i := range a {
			a[i] = randTree(r, depth+1)
		}
		return a
	}
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		params := make([]any, r.IntN(4))
		for j := range params {
			params[j] = randTree(r, 0)
		}
		var b bytes.Buffer
		if err := EncodeCall(&b, "Master.Submit", params...); err != nil {
			t.Fatalf("case %d: encode %#v: %v", i, params, err)
		}
		doc := b.String()
		method, got, err := DecodeCall(&b, Limits{})
		if err != nil {
			t.Fatalf("case %d: decode %q: %v", i, doc, err)
		}
		if method != "Master.Submit" || !reflect.DeepEqual(got, params) {
			t.Fatalf("case %d: round trip of %#v\ngave %#v\nvia %q", i, params, got, doc)
		}
		// A response carries the same tree with the same encoding.
		var rb bytes.Buffer
		if err := EncodeResponse(&rb, params); err != nil {
			t.Fatalf("case %d: encode response: %v", i, err)
		}
	}
}

// testNormalize returns a copy of tree with times cut to the second, as
// the encoder writes them.
func testNormalize(tree any) any {
	switch x := tree.(type) {
	case time.Time:
		return x.Truncate(time.Second)
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = testNormalize(v)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, v := range x {
			a[i] = testNormalize(v)
		}
		return a
	}
	return tree
}
