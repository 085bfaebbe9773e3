package conf

import (
	"strings"
	"testing"
)

// wantRefused parses each source of cases, as the file called name, with
// parse, and fails unless it is refused with an error that contains the
// text the source maps to.
func wantRefused[T any](t *testing.T, parse func(string, []byte) (T, error), name string, cases map[string]string) {
	t.Helper()
	for src, want := range cases {
		if _, err := parse(name, []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q:\n got %v\nwant %q", src, err, want)
		}
	}
}
