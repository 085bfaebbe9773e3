package rpcapi

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// contractMethods lists every method of the contract, from the MasterAPI
// and WorkerAPI interfaces themselves, so that a new method cannot escape
// the auth test.
func contractMethods(t *testing.T) []string {
	var out []string
	for prefix, typ := range map[string]reflect.Type{
		"Master.": reflect.TypeOf((*MasterAPI)(nil)).Elem(),
		"Worker.": reflect.TypeOf((*WorkerAPI)(nil)).Elem(),
	} {
		for i := range typ.NumMethod() {
			name := prefix + typ.Method(i).Name
			if _, ok := xmlNames[name]; !ok {
				t.Errorf("contract method %s has no XML-RPC name", name)
			}
			out = append(out, name)
		}
	}
	return out
}

// argsFor returns zero args and reply values for a contract method.
func argsFor(t *testing.T, method string) (any, any) {
	typ := reflect.TypeOf((*MasterAPI)(nil)).Elem()
	name := method[len("Master."):]
	if method[:7] == "Worker." {
		typ, name = reflect.TypeOf((*WorkerAPI)(nil)).Elem(), method[len("Worker."):]
	}
	m, ok := typ.MethodByName(name)
	if !ok {
		t.Fatalf("no method %s", method)
	}
	return reflect.New(m.Type.In(1).Elem()).Interface(), reflect.New(m.Type.In(2).Elem()).Interface()
}

// TestTokenRequired: with a token set, every contract method over both
// transports is refused without it or with a wrong one, and served with it.
func TestTokenRequired(t *testing.T) {
	const token = "s3cret-token"
	gob, err := NewGoRPCHandler(newFakeMaster("g"), &fakeWorker{name: "w"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(GoRPCPath, RequireToken(token, gob))
	mux.Handle(XMLRPCPath, RequireToken(token, NewXMLRPCHandler(newFakeMaster("x"), &fakeWorker{name: "w"}, XMLRPCOptions{})))
	srv := startServer(t, "127.0.0.1:0", mux)

	methods := contractMethods(t)
	if len(methods) < 15 {
		t.Fatalf("only %d contract methods found", len(methods))
	}
	for _, transport := range []string{TransportGob, TransportXMLRPC} {
		for _, tc := range []struct {
			name   string
			addr   string
			opts   []Option
			refuse bool
		}{
			{"no token", srv.addr, nil, true},
			{"wrong token", srv.addr, []Option{WithToken("s3cret-tokeN")}, true},
			{"token", srv.addr, []Option{WithToken(token)}, false},
			// docs/protocol.md: the token as the password of a URL.
			{"token in the URL", "http://drover:" + token + "@" + srv.addr, nil, false},
			{"wrong token in the URL", "http://drover:s3cret-tokeN@" + srv.addr, nil, true},
		} {
			c, err := NewCaller(tc.addr, transport, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range methods {
				args, reply := argsFor(t, method)
				if method == MasterWait {
					args = &WaitArgs{IDs: []string{"1"}, Timeout: time.Millisecond}
				}
				err := c.Call(ctxT(t, 5*time.Second), method, args, reply)
				if got := errors.Is(err, ErrUnauthorized); got != tc.refuse {
					t.Errorf("%s %s with %s: err %v; want refused=%v", transport, method, tc.name, err, tc.refuse)
				}
				if !tc.refuse && errors.Is(err, ErrUnavailable) {
					t.Errorf("%s %s with %s: %v; want it served", transport, method, tc.name, err)
				}
				if err != nil && strings.Contains(err.Error(), "s3cret") {
					t.Errorf("%s %s with %s: the error shows the token: %v", transport, method, tc.name, err)
				}
			}
			c.Close()
		}
	}
}

func TestTokenOf(t *testing.T) {
	for _, tc := range []struct {
		header, want string
	}{
		{"Bearer abc", "abc"},
		{"bearer abc", "abc"}, // the scheme's name is case-insensitive (RFC 9110)
		{"BEARER  abc ", "abc"},
		{"Basic ZHJvdmVyOmFiYw==", "abc"}, // drover:abc
		{"Basic Onh5eg==", "xyz"},         // :xyz
		{"", ""},
		{"Token abc", ""},
	} {
		r, _ := http.NewRequest("POST", "http://127.0.0.1/RPC2", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := TokenOf(r); got != tc.want {
			t.Errorf("TokenOf(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

// TestTokenMatches: only the same token matches; a prefix, an extension, a
// different token of the same length and an empty one do not.
func TestTokenMatches(t *testing.T) {
	const want = "s3cret-token"
	for _, tc := range []struct {
		got  string
		same bool
	}{
		{want, true},
		{"s3cret-tokeN", false}, // same length
		{"s3cret-toke", false},  // shorter: a prefix
		{want + "n", false},     // longer: an extension
		{"", false},             // none
		{strings.Repeat(want, 100), false},
	} {
		if got := TokenMatches(tc.got, want); got != tc.same {
			t.Errorf("TokenMatches(%q, %q) = %v, want %v", tc.got, want, got, tc.same)
		}
	}
	if !TokenMatches("", "") {
		t.Error(`TokenMatches("", "") = false, want true`)
	}
}
