package master

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"net/smtp"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/jobs"
)

// The events a notifier can be sent.
const (
	// EventGroupDone is sent once when every job of a group is final.
	EventGroupDone = "group_done"
	// EventJobFailed is sent when a job ends failed (its attempts used up
	// or a permanent error); cancelled jobs are not reported.
	EventJobFailed = "job_failed"
)

// Notify configures the notifiers: webhooks and email sent when a group
// ends and, when asked for, when a job finally fails. The zero value sends
// nothing. Deliveries run on goroutines of the master, never on the path
// of a report; a failed delivery is retried with backoff, then given up
// with an error logged and recorded on the group (GET
// /api/v1/groups/{name}, "on_done").
type Notify struct {
	// Events are the events sent to every notifier that names none of its
	// own: EventGroupDone, EventJobFailed. Default: group_done only.
	Events []string
	// Webhooks receive an HTTP POST of a JSON summary per event.
	Webhooks []Webhook
	// Email, when set, mails a summary per event over SMTP.
	Email *Email
	// Attempts bounds the tries of one delivery (the first one and its
	// retries). Default 6; 1 means no retry.
	Attempts int
	// RetryBackoff is the wait after the first failed try; it doubles per
	// failure up to MaxBackoff, with jitter. Default 1s.
	RetryBackoff time.Duration
	// MaxBackoff caps the wait between tries. Default 1m.
	MaxBackoff time.Duration
	// Timeout bounds one try: the HTTP request with its response, or the
	// SMTP conversation. Default 10s.
	Timeout time.Duration
}

// Webhook is one URL that receives events as a POST with a JSON body
// (Content-Type application/json). The headers X-Drover-Event (the event)
// and X-Drover-Delivery (an ID that is the same on a re-send) come with
// every POST; X-Drover-Signature comes when Secret is set. Any 2xx answer
// is a delivery; anything else, redirects included, or no answer within
// Notify.Timeout is retried.
type Webhook struct {
	// URL is an http:// or https:// URL.
	URL string
	// Secret, when set, signs each body: the header X-Drover-Signature is
	// "sha256=" and the hex HMAC-SHA256 of the body under Secret.
	Secret string
	// Events overrides Notify.Events for this webhook.
	Events []string
}

// Email sends events as plain-text mail through an SMTP server. The
// session uses STARTTLS when the server offers it.
type Email struct {
	// Addr is the SMTP server's host:port (e.g. "smtp.example.com:587").
	Addr string
	// From is the sender address; To are the recipients (at least one).
	From string
	To   []string
	// Username and Password, when Username is set, log in with PLAIN auth,
	// which net/smtp allows only over TLS or to localhost.
	Username string
	Password string
	// Events overrides Notify.Events for the mail.
	Events []string
}

// Validate reports the first invalid setting of n, or nil.
func (n *Notify) Validate() error {
	if err := checkEvents(n.Events); err != nil {
		return fmt.Errorf("master: notify: events: %w", err)
	}
	switch {
	case n.Attempts < 0:
		return fmt.Errorf("master: notify: attempts %d is negative", n.Attempts)
	case n.RetryBackoff < 0 || n.MaxBackoff < 0 || n.Timeout < 0:
		return fmt.Errorf("master: notify: a duration is negative")
	}
	for i := range n.Webhooks {
		if err := n.Webhooks[i].Validate(); err != nil {
			return fmt.Errorf("master: notify: webhook %d: %w", i+1, err)
		}
	}
	if n.Email != nil {
		if err := n.Email.Validate(); err != nil {
			return fmt.Errorf("master: notify: email: %w", err)
		}
	}
	return nil
}

// Validate reports a URL that is not absolute http(s), or unknown events.
func (w *Webhook) Validate() error {
	u, err := url.Parse(w.URL)
	switch {
	case err != nil:
		return fmt.Errorf("url %q: %v", w.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url %q: want an http:// or https:// URL", w.URL)
	case u.Host == "":
		return fmt.Errorf("url %q has no host", w.URL)
	}
	if err := checkEvents(w.Events); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// Validate reports a missing or malformed server, sender or recipient, or
// unknown events.
func (e *Email) Validate() error {
	if _, _, err := net.SplitHostPort(e.Addr); err != nil || e.Addr == "" {
		return fmt.Errorf("addr %q: want host:port", e.Addr)
	}
	if _, err := mail.ParseAddress(e.From); err != nil {
		return fmt.Errorf("from %q: %v", e.From, err)
	}
	if len(e.To) == 0 {
		return fmt.Errorf("to: no recipients")
	}
	for _, t := range e.To {
		if _, err := mail.ParseAddress(t); err != nil {
			return fmt.Errorf("to %q: %v", t, err)
		}
	}
	if err := checkEvents(e.Events); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

func checkEvents(evs []string) error {
	for _, e := range evs {
		if e != EventGroupDone && e != EventJobFailed {
			return fmt.Errorf("unknown event %q (want %q or %q)", e, EventGroupDone, EventJobFailed)
		}
	}
	return nil
}

func (n *Notify) setDefaults() {
	if len(n.Events) == 0 {
		n.Events = []string{EventGroupDone}
	}
	if n.Attempts == 0 {
		n.Attempts = 6
	}
	if n.RetryBackoff == 0 {
		n.RetryBackoff = time.Second
	}
	if n.MaxBackoff == 0 {
		n.MaxBackoff = time.Minute
	}
	if n.Timeout == 0 {
		n.Timeout = 10 * time.Second
	}
}

// notice is what a notifier is told: the JSON body of a webhook POST and
// the content of a mail.
type notice struct {
	// ID names the delivery: "group_done/NAME/ID" (the name path-escaped,
	// ID the group's first job: groupSnap.deliveryID) or
	// "job_failed/ID/ATTEMPT". A delivery re-sent after a master restart
	// has the same ID. It is also the X-Drover-Delivery header.
	ID     string             `json:"id"`
	Event  string             `json:"event"`
	Group  string             `json:"group,omitempty"`
	State  jobs.State         `json:"state"`
	Counts map[jobs.State]int `json:"counts"`
	// Jobs counts the group's jobs (1 for job_failed).
	Jobs int `json:"jobs"`
	// Failed lists the IDs of failed and cancelled jobs, at most
	// rpcapi.MaxUnsuccessful of them (Counts has the totals).
	Failed []string `json:"failed"`
	// Then is the ID of the group's follow-up job, if it has one.
	Then string     `json:"then,omitempty"`
	Job  *noticeJob `json:"job,omitempty"`
	At   time.Time  `json:"at"`
}

// noticeJob is the failed job of a job_failed notice.
type noticeJob struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Attempts int    `json:"attempts"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
}

// notifier delivers notices to the configured webhooks and mail. It has
// no state of its own beyond its configuration: every method may be called
// from many goroutines, and each blocks until its delivery is done or
// given up, or ctx ends.
type notifier struct {
	cfg    Notify
	log    logrus.FieldLogger
	clock  clock // times the backoff between tries
	client *http.Client
	leads  func() bool // Config.leads: a deposed master sends nothing
}

func newNotifier(cfg Notify, log logrus.FieldLogger, c clock) *notifier {
	cfg.setDefaults()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &notifier{cfg: cfg, log: log, clock: c, client: &http.Client{
		Transport: tr,
		// A redirect is an answer that is not 2xx: the webhook is
		// misconfigured, and the signed body must not go elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// action is one delivery a notice needs: a webhook or the mail.
type action struct {
	name string // webhookName(URL) or "email": how logs and records name it
	do   func(ctx context.Context, n *notice) error
}

// actions lists the deliveries that event goes to.
func (nf *notifier) actions(event string) []action {
	var out []action
	for i := range nf.cfg.Webhooks {
		w := &nf.cfg.Webhooks[i]
		if nf.wants(w.Events, event) {
			out = append(out, action{name: webhookName(w.URL), do: func(ctx context.Context, n *notice) error {
				return nf.post(ctx, w, n)
			}})
		}
	}
	if e := nf.cfg.Email; e != nil && nf.wants(e.Events, event) {
		out = append(out, action{name: "email", do: func(ctx context.Context, n *notice) error { return nf.mail(ctx, e, n) }})
	}
	return out
}

// webhookName names a webhook in logs, errors and records without its
// path and query, which often hold a token: "webhook HOST/" and a hash of
// the whole URL.
func webhookName(u string) string {
	host := u
	if p, err := url.Parse(u); err == nil {
		host = p.Host
	}
	sum := sha256.Sum256([]byte(u))
	return "webhook " + host + "/" + hex.EncodeToString(sum[:4])
}

// wants reports whether a notifier with its own events (nil: the
// defaults) takes event.
func (nf *notifier) wants(own []string, event string) bool {
	if len(own) == 0 {
		own = nf.cfg.Events
	}
	return slices.Contains(own, event)
}

// wantsAny reports whether any notifier takes event.
func (nf *notifier) wantsAny(event string) bool { return len(nf.actions(event)) > 0 }

// deliver runs a with the retry policy. It returns nil once a delivery
// succeeded, the last error after Attempts tries, or ctx's error when ctx
// ends first (the delivery is then neither done nor given up).
func (nf *notifier) deliver(ctx context.Context, a action, n *notice) error {
	b := jobs.Backoff{Base: nf.cfg.RetryBackoff, Max: nf.cfg.MaxBackoff}
	log := nf.log.WithFields(logrus.Fields{"notifier": a.name, "delivery": n.ID})
	for try := 1; ; try++ {
		if nf.leads != nil && !nf.leads() {
			// Deposed: the delivery is neither done nor given up; the
			// new leader makes it. Wait for the master to stop.
			<-ctx.Done()
			return ctx.Err()
		}
		tctx, cancel := context.WithTimeout(ctx, nf.cfg.Timeout)
		err := a.do(tctx, n)
		cancel()
		if err == nil {
			log.WithField("tries", try).Info("notification delivered")
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if try >= nf.cfg.Attempts {
			return fmt.Errorf("%s: gave up after %d tries: %w", a.name, try, err)
		}
		d := b.Delay(try)
		log.WithError(err).WithFields(logrus.Fields{"try": try, "retry_in": d}).Warn("notification failed; will retry")
		due, stop := nf.clock.Timer(d)
		select {
		case <-due:
		case <-ctx.Done():
			stop()
			return ctx.Err()
		}
	}
}

// post sends n to one webhook.
func (nf *notifier) post(ctx context.Context, w *Webhook, n *notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "drover")
	req.Header.Set("X-Drover-Event", n.Event)
	req.Header.Set("X-Drover-Delivery", n.ID)
	if w.Secret != "" {
		req.Header.Set("X-Drover-Signature", Sign(w.Secret, body))
	}
	resp, err := nf.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a token
		}
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("HTTP %s: %q", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}

// Sign returns the X-Drover-Signature of a webhook body: "sha256=" and the
// hex HMAC-SHA256 of body under secret. A receiver recomputes it over the
// raw body and compares with hmac.Equal.
func Sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// mail sends n as one message to every recipient of e.
func (nf *notifier) mail(ctx context.Context, e *Email, n *notice) error {
	from, err := mail.ParseAddress(e.From)
	if err != nil {
		return err
	}
	var to []string
	for _, t := range e.To {
		a, err := mail.ParseAddress(t)
		if err != nil {
			return err
		}
		to = append(to, a.Address)
	}
	host, _, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if e.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("smtp: server does not offer AUTH, but a username is set")
		}
		if err := c.Auth(smtp.PlainAuth("", e.Username, e.Password, host)); err != nil {
			return err
		}
	}
	if err := c.Mail(from.Address); err != nil {
		return err
	}
	for _, t := range to {
		if err := c.Rcpt(t); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(message(from, e.To, n)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// message renders n as a mail: headers and a plain-text body.
func message(from *mail.Address, to []string, n *notice) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", headerSafe(strings.Join(to, ", ")))
	hdr("Subject", mime.QEncoding.Encode("utf-8", headerSafe(subject(n))))
	hdr("Date", time.Now().Format(time.RFC1123Z))
	sum := sha256.Sum256([]byte(n.ID))
	hdr("Message-ID", "<"+hex.EncodeToString(sum[:12])+"@drover>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "8bit")
	hdr("X-Drover-Event", n.Event)
	hdr("X-Drover-Delivery", n.ID)
	b.WriteString("\r\n")
	for _, line := range strings.Split(body(n), "\n") {
		// SMTP bounds a line at 1000 bytes with its CRLF: wrap long ones.
		for len(line) > maxMailLine {
			cut := maxMailLine
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			b.WriteString(line[:cut] + "\r\n")
			line = line[cut:]
		}
		b.WriteString(line + "\r\n")
	}
	return b.Bytes()
}

const maxMailLine = 900

// headerSafe drops control characters (CR and LF above all) so that a
// group name cannot add headers.
func headerSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func subject(n *notice) string {
	if n.Event == EventJobFailed {
		return fmt.Sprintf("drover: job %s (%s) failed", n.Job.ID, n.Job.Type)
	}
	return fmt.Sprintf("drover: group %q %s (%d jobs)", n.Group, n.State, n.Jobs)
}

func body(n *notice) string {
	var b strings.Builder
	if n.Event == EventJobFailed {
		fmt.Fprintf(&b, "Job %s (type %s) failed after %d attempts.\n", n.Job.ID, n.Job.Type, n.Job.Attempts)
		if n.Group != "" {
			fmt.Fprintf(&b, "Group: %q\n", n.Group)
		}
		fmt.Fprintf(&b, "Exit code: %d\n", n.Job.ExitCode)
		if n.Job.Error != "" {
			fmt.Fprintf(&b, "Error: %s\n", n.Job.Error)
		}
	} else {
		fmt.Fprintf(&b, "Group %q ended: %s.\n", n.Group, n.State)
		fmt.Fprintf(&b, "Jobs: %d (succeeded %d, failed %d, cancelled %d)\n", n.Jobs,
			n.Counts[jobs.Succeeded], n.Counts[jobs.Failed], n.Counts[jobs.Cancelled])
		if len(n.Failed) > 0 {
			fmt.Fprintf(&b, "Unsuccessful jobs: %s\n", strings.Join(n.Failed, ", "))
		}
		if n.Then != "" {
			fmt.Fprintf(&b, "Follow-up job: %s\n", n.Then)
		}
	}
	fmt.Fprintf(&b, "At: %s", n.At.Format(time.RFC3339))
	return b.String()
}
