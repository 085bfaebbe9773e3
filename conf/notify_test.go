package conf

import (
	"reflect"
	"testing"
	"time"

	"github.com/drover/drover/master"
)

func TestNotifyConf(t *testing.T) {
	m, err := ParseMaster("m.toml", []byte(`
[notify]
events = ["group_done", "job_failed"]
webhooks = [
  "https://hooks.example.com/drover",
  { url = "http://127.0.0.1:9000/hook", secret = "own", events = ["job_failed"] },
]
secret = "shared"
attempts = 3
retry_backoff = "100ms"
max_backoff = "2s"
timeout = "5s"

[notify.email]
addr = "smtp.example.com:587"
from = "Drover <drover@example.com>"
to = ["ops@example.com", "dev@example.com"]
username = "drover"
password = "pw"
events = ["group_done"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := master.Notify{
		Events: []string{"group_done", "job_failed"},
		Webhooks: []master.Webhook{
			{URL: "https://hooks.example.com/drover", Secret: "shared"},
			{URL: "http://127.0.0.1:9000/hook", Secret: "own", Events: []string{"job_failed"}},
		},
		Email: &master.Email{Addr: "smtp.example.com:587", From: "Drover <drover@example.com>",
			To: []string{"ops@example.com", "dev@example.com"}, Username: "drover", Password: "pw",
			Events: []string{"group_done"}},
		Attempts: 3, RetryBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, Timeout: 5 * time.Second,
	}
	if got := m.Config.Notify; !reflect.DeepEqual(got, want) {
		t.Fatalf("notify\n got %+v\nwant %+v", got, want)
	}

	// Webhooks as an array of tables, and one recipient as a string.
	m, err = ParseMaster("m.toml", []byte(`
[[notify.webhooks]]
url = "https://a.example/h"
[[notify.webhooks]]
url = "https://b.example/h"
secret = "b"
[notify.email]
addr = "localhost:25"
from = "d@example.com"
to = "ops@example.com"
`))
	if err != nil {
		t.Fatal(err)
	}
	n := m.Config.Notify
	if len(n.Webhooks) != 2 || n.Webhooks[1].Secret != "b" || n.Webhooks[0].Secret != "" ||
		!reflect.DeepEqual(n.Email.To, []string{"ops@example.com"}) {
		t.Fatalf("notify %+v", n)
	}

	wantRefused(t, ParseMaster, "m.toml", map[string]string{
		"[notify]\nwebhook = [\"http://x/\"]\n":                                                `m.toml:2: notify.webhook: unknown key (did you mean "webhooks"?)`,
		"[notify]\nwebhooks = [\"ftp://x/\"]\n":                                                `m.toml:2: notify.webhooks[1]: url "ftp://x/": want an http:// or https:// URL`,
		"[notify]\nwebhooks = [\n \"http://x/\",\n { url = \"x\" },\n]\n":                      `m.toml:4: notify.webhooks[2].url: url "x"`,
		"[notify]\nwebhooks = [{ secret = \"s\" }]\n":                                          `m.toml:2: notify.webhooks[1]: a webhook needs a url`,
		"[notify]\nwebhooks = [{ url = \"http://x/\", sekret = \"s\" }]\n":                     `notify.webhooks[1].sekret: unknown key (did you mean "secret"?)`,
		"[notify]\nevents = [\"group_end\"]\n":                                                 `m.toml:2: notify.events[1]: invalid value "group_end"`,
		"[notify]\nevents = \"group_done\"\n":                                                  `m.toml:2: notify.events: want an array of events`,
		"[notify]\nsecret = \"s\"\n":                                                           `m.toml:2: notify.secret: a secret without webhooks`,
		"[notify]\nattempts = -1\n":                                                            `m.toml:2: notify.attempts: must not be negative`,
		"[notify]\ntimeout = \"10\"\n":                                                         `m.toml:2: notify.timeout: invalid duration "10"`,
		"[notify.email]\naddr = \"smtp.example.com\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\n":      `m.toml:2: notify.email.addr: "smtp.example.com": want host:port`,
		"[notify.email]\naddr = \"h:25\"\nfrom = \"not an address\"\nto = \"d@e.f\"\n":         `m.toml:3: notify.email.from: invalid address "not an address"`,
		"[notify.email]\naddr = \"h:25\"\nfrom = \"a@b.c\"\nto = [\"d@e.f\", \"x\"]\n":         `m.toml:4: notify.email.to[2]: invalid address "x"`,
		"[notify.email]\naddr = \"h:25\"\nfrom = \"a@b.c\"\n":                                  `m.toml:1: notify.email: to is required`,
		"[notify.email]\naddr = \"h:25\"\nfrom = \"a@b.c\"\nto = []\n":                         `m.toml:4: notify.email.to: no recipients`,
		"[notify.email]\naddr = \"h:25\"\nfrom = \"a@b.c\"\nto = \"d@e.f\"\nsubject = \"x\"\n": `m.toml:5: notify.email.subject: unknown key`,
	})
}
