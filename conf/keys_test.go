package conf

import (
	"errors"
	"strings"
	"testing"
)

// TestEveryKeyDecoded: every key a table lists as known (the keys the
// "did you mean" suggestions come from) is decoded there, whether by its
// table's switch or by its fields: a value no key takes is refused with
// an error about that key's value, not as an unknown key.
func TestEveryKeyDecoded(t *testing.T) {
	tables := []struct {
		name, head, tail string
		keys             []string
		parse            func(string, []byte) error
	}{
		{"m.toml", "", "\n", masterKeys, parseErr(ParseMaster)},
		{"m.toml", "[notify]\n", "\n", notifyKeys, parseErr(ParseMaster)},
		{"m.toml", "[notify.email]\n", "\naddr = \"h:25\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\n", emailKeys, parseErr(ParseMaster)},
		{"w.toml", "", "\n", workerKeys, parseErr(ParseWorker)},
		{"w.toml", "[commands.x]\n", "\n", commandKeys, parseErr(ParseWorker)},
		{"j.toml", "[[job]]\n", "\n", jobKeys, parseErr(ParseJobs)},
		{"m.toml", "[notify]\nwebhooks = [{ ", ", url = \"http://x/\" }]\n", webhookKeys, parseErr(ParseMaster)},
		{"m.toml", "[limits]\na = { ", " }\n", limitKeys, parseErr(ParseMaster)},
	}
	for _, tb := range tables {
		for _, k := range tb.keys {
			if strings.Contains(tb.tail, k+" =") {
				continue // a key the table needs, given after the one tested
			}
			// A value of a type no key takes: every key refuses it, but
			// as a value, not as a key.
			src := tb.head + k + " = 1979-05-27" + tb.tail
			err := tb.parse(tb.name, []byte(src))
			var ce *Error
			if !errors.As(err, &ce) || !strings.HasSuffix(ce.Key, k) || strings.Contains(ce.Msg, "unknown key") {
				t.Errorf("%q: %v; want its value refused", src, err)
			}
		}
	}
}

func parseErr[T any](parse func(string, []byte) (T, error)) func(string, []byte) error {
	return func(name string, data []byte) error {
		_, err := parse(name, data)
		return err
	}
}
