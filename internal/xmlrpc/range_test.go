package xmlrpc

import (
	"errors"
	"strings"
	"testing"
)

// TestDecodeCallRange: a number its element cannot hold, in a call that is
// otherwise well-formed, wraps ErrRange as well as ErrParse and comes with
// the method name; one in a malformed call, or a number badly written, is
// a parse error only.
func TestDecodeCallRange(t *testing.T) {
	for _, v := range []string{
		"<double>nan</double>", "<double>NaN</double>", "<double> -Inf </double>", "<double>+infinity</double>",
		"<double>1e400</double>", "<double>-1e400</double>",
		"<int>99999999999999999999</int>", "<i4>-9223372036854775809</i4>", "<i8>9223372036854775808</i8>",
	} {
		method, params, err := DecodeCall(strings.NewReader(testCall(v)), Limits{})
		if !errors.Is(err, ErrRange) || !errors.Is(err, ErrParse) || errors.Is(err, ErrLimit) ||
			method != "m" || params != nil || !strings.Contains(err.Error(), "params[0]: ") {
			t.Errorf("%s: %q %#v %v; want the method, no params, and an error at params[0] wrapping ErrRange and ErrParse",
				v, method, params, err)
		}
	}
	for _, v := range []string{"<double>nanx</double>", "<double>0x1p3</double>", "<double>--inf</double>", "<int>1e3</int>",
		"<double>nan</double><bogus/>"} {
		method, _, err := DecodeCall(strings.NewReader(testCall(v)), Limits{})
		if !errors.Is(err, ErrParse) || errors.Is(err, ErrRange) || method != "" {
			t.Errorf("%s: %q %v; want a parse error only", v, method, err)
		}
	}
	// The first number out of range is the one reported, and only once
	// the document is read to its end.
	two := `<?xml version="1.0"?><methodCall><methodName>m</methodName><params>` +
		`<param><value><double>inf</double></value></param><param><value><int>1e3</int></value></param></params></methodCall>`
	if _, _, err := DecodeCall(strings.NewReader(two), Limits{}); errors.Is(err, ErrRange) || !strings.Contains(err.Error(), "params[1]") {
		t.Errorf("range then bad int: %v; want the parse error at params[1]", err)
	}
	two = strings.Replace(two, "<int>1e3</int>", "<double>nan</double>", 1)
	if _, _, err := DecodeCall(strings.NewReader(two), Limits{}); !errors.Is(err, ErrRange) || !strings.Contains(err.Error(), `params[0]: bad <double> "inf"`) {
		t.Errorf("two out of range: %v; want the first, at params[0]", err)
	}
	resp := `<?xml version="1.0"?><methodResponse><params><param><value><double>nan</double></value></param></params></methodResponse>`
	if v, err := DecodeResponse(strings.NewReader(resp), Limits{}); !errors.Is(err, ErrRange) || v != nil {
		t.Errorf("response with NaN: %#v %v; want ErrRange", v, err)
	}
}
