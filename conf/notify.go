package conf

import (
	"net"
	"net/mail"
	"time"

	"github.com/drover/drover/master"
)

var (
	notifyKeys  = []string{"events", "webhooks", "secret", "email", "attempts", "retry_backoff", "max_backoff", "timeout"}
	webhookKeys = []string{"url", "secret", "events"}
	emailKeys   = []string{"addr", "from", "to", "username", "password", "events"}
)

// notify decodes the [notify] table:
//
//	[notify]
//	events = ["group_done", "job_failed"]   # default ["group_done"]
//	webhooks = ["https://hooks.example.com/drover",
//	            { url = "https://ops.example.com/hook", secret = "other", events = ["job_failed"] }]
//	secret = "s3cret"                       # for webhooks that name none
//	attempts = 6                            # tries per delivery
//	retry_backoff = "1s"
//	max_backoff = "1m"
//	timeout = "10s"                         # per try
//
//	[notify.email]
//	addr = "smtp.example.com:587"
//	from = "drover@example.com"
//	to = ["ops@example.com"]                # or one string
//	username = "drover"                     # PLAIN auth (TLS or localhost only)
//	password = "..."
//
// Webhooks may also be written as [[notify.webhooks]] tables.
func (d *decoder) notify(p path, v any) master.Notify {
	var n master.Notify
	before := len(d.errs)
	t := d.table(p, v)
	if t == nil {
		return n
	}
	secret := ""
	var own []bool // per webhook: has a secret of its own
	fs := &fields{durations: map[string]*time.Duration{
		"retry_backoff": &n.RetryBackoff, "max_backoff": &n.MaxBackoff, "timeout": &n.Timeout}}
	d.keys(p, t, fs, notifyKeys, func(kp path, k string, kv any) bool {
		switch k {
		case "events":
			n.Events = d.events(kp, kv)
		case "webhooks":
			n.Webhooks, own = d.webhooks(kp, kv)
		case "secret":
			secret = d.str(kp, kv)
		case "email":
			n.Email = d.email(kp, kv)
		case "attempts":
			n.Attempts = d.integer(kp, kv, 0, 1000)
		default:
			return false
		}
		return true
	})
	for i := range n.Webhooks {
		if !own[i] {
			n.Webhooks[i].Secret = secret
		}
	}
	if _, ok := t["secret"]; ok && len(n.Webhooks) == 0 {
		d.errorf(p.key("secret"), "a secret without webhooks")
	}
	if len(d.errs) == before {
		if err := n.Validate(); err != nil {
			d.wrap(p, err)
		}
	}
	return n
}

// events decodes a list of event names.
func (d *decoder) events(p path, v any) []string {
	a, ok := v.([]any)
	if !ok {
		d.errorf(p, "want an array of events (%q, %q), got %s", master.EventGroupDone, master.EventJobFailed, typeName(v))
		return nil
	}
	out := make([]string, 0, len(a))
	for i, e := range a {
		if e == "" {
			d.errorf(p.index(i), "an empty event")
		} else if s := d.oneOf(p.index(i), e, master.EventGroupDone, master.EventJobFailed); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// webhooks decodes the webhooks: an array of URLs and inline tables, or an
// array of tables. own reports, per webhook, whether it has a secret.
func (d *decoder) webhooks(p path, v any) (hooks []master.Webhook, own []bool) {
	var elems []any
	switch a := v.(type) {
	case []any:
		elems = a
	case []map[string]any:
		for _, e := range a {
			elems = append(elems, e)
		}
	default:
		d.errorf(p, "want an array of URLs or tables { url = \"...\", secret = \"...\" }, got %s", typeName(v))
		return nil, nil
	}
	for i, e := range elems {
		ep := p.index(i)
		var w master.Webhook
		has := false
		urlPath := ep
		switch e := e.(type) {
		case string:
			w.URL = e
		case map[string]any:
			urlPath = ep.key("url")
			if _, ok := e["url"]; !ok {
				d.errorf(ep, "a webhook needs a url")
			}
			d.keys(ep, e, nil, webhookKeys, func(kp path, k string, kv any) bool {
				switch k {
				case "url":
					w.URL = d.str(kp, kv)
				case "secret":
					w.Secret, has = d.str(kp, kv), true
				case "events":
					w.Events = d.events(kp, kv)
				default:
					return false
				}
				return true
			})
		default:
			d.errorf(ep, "want a URL or a table { url = \"...\" }, got %s", typeName(e))
			continue
		}
		if w.URL != "" {
			check := master.Webhook{URL: w.URL}
			if err := check.Validate(); err != nil {
				d.errorf(urlPath, "%v", err)
			}
		}
		hooks = append(hooks, w)
		own = append(own, has)
	}
	return hooks, own
}

// email decodes [notify.email].
func (d *decoder) email(p path, v any) *master.Email {
	t := d.table(p, v)
	if t == nil {
		return nil
	}
	e := &master.Email{}
	fs := &fields{strs: map[string]*string{"username": &e.Username, "password": &e.Password}}
	d.keys(p, t, fs, emailKeys, func(kp path, k string, kv any) bool {
		switch k {
		case "addr":
			e.Addr = d.str(kp, kv)
			if _, port, err := net.SplitHostPort(e.Addr); e.Addr != "" && (err != nil || port == "") {
				d.errorf(kp, "%q: want host:port, e.g. \"smtp.example.com:587\"", e.Addr)
			}
		case "from":
			e.From = d.str(kp, kv)
			d.address(kp, e.From)
		case "to":
			if s, ok := kv.(string); ok {
				e.To = []string{s}
				d.address(kp, s)
				break
			}
			e.To = d.strList(kp, kv)
			if _, ok := kv.([]any); ok && len(e.To) == 0 {
				d.errorf(kp, "no recipients")
			}
			for i, s := range e.To {
				d.address(kp.index(i), s)
			}
		case "events":
			e.Events = d.events(kp, kv)
		default:
			return false
		}
		return true
	})
	for _, k := range []string{"addr", "from", "to"} {
		if _, ok := t[k]; !ok {
			d.errorf(p, "%s is required", k)
		}
	}
	return e
}

// address checks one mail address.
func (d *decoder) address(p path, s string) {
	if _, err := mail.ParseAddress(s); err != nil {
		d.errorf(p, "invalid address %q: %v", s, err)
	}
}
