package master_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
	"github.com/drover/drover/worker"
)

// noticeKeys are the keys of a webhook notice's JSON (README,
// "notifications"), and noticeJobKeys those of its job object.
var (
	noticeKeys    = []string{"id", "event", "group", "state", "counts", "jobs", "failed", "then", "at", "job"}
	noticeJobKeys = []string{"id", "type", "attempts", "exit_code", "error"}
)

// decodeNotice decodes the JSON a webhook received, failing the test on a
// key that noticeKeys (or noticeJobKeys) does not name.
func decodeNotice(t *testing.T, raw []byte) master.Notice {
	t.Helper()
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		t.Fatalf("notice %s: %v", raw, err)
	}
	var jobKeys map[string]json.RawMessage
	if job, ok := keys["job"]; ok {
		if err := json.Unmarshal(job, &jobKeys); err != nil {
			t.Fatalf("notice's job %s: %v", job, err)
		}
	}
	for k := range keys {
		if !slices.Contains(noticeKeys, k) {
			t.Fatalf("notice %s: key %q is not a notice's", raw, k)
		}
	}
	for k := range jobKeys {
		if !slices.Contains(noticeJobKeys, k) {
			t.Fatalf("notice %s: key %q is not a notice job's", raw, k)
		}
	}
	var n master.Notice
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatalf("notice %s: %v", raw, err)
	}
	return n
}

func workHandlers() map[string]worker.HandlerFunc {
	return map[string]worker.HandlerFunc{
		"page": page,
		"bad": func(ctx context.Context, j *jobs.Job) (jobs.Result, error) {
			return jobs.Result{ExitCode: 3}, errors.New("always fails")
		},
	}
}

// nextTry waits until a notifier has made n tries and waits out its
// backoff on fc, which must end lo to hi from now; then it moves fc to the
// end, and the notifier tries again.
func nextTry(t *testing.T, fc *master.FakeClock, tries *atomic.Int32, n int32, lo, hi time.Duration) {
	t.Helper()
	pollT(t, 20*time.Second, fmt.Sprintf("try %d", n), func() bool { return tries.Load() >= n })
	now := fc.Now()
	at := fc.AwaitTimer(t, fmt.Sprintf("the backoff after try %d", n), now.Add(lo), now.Add(hi))
	if got := tries.Load(); got != n {
		t.Fatalf("%d tries before the backoff after try %d ended", got, n)
	}
	fc.AdvanceTo(at)
}

// TestWebhookSignedAndRetried: the first POST gets a 500, the second is
// accepted after the backoff (on the master's fake clock); it carries a
// valid signature and the group's summary.
func TestWebhookSignedAndRetried(t *testing.T) {
	const secret = "s3cret"
	type post struct {
		body []byte
		hdr  http.Header
	}
	posts := make(chan post, 10)
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if tries.Add(1) == 1 {
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
		}
		posts <- post{b, r.Header.Clone()}
	}))
	defer srv.Close()

	m, fc := startClockMaster(t, master.Config{Notify: master.Notify{
		Webhooks: []master.Webhook{{URL: srv.URL + "/hook", Secret: secret}},
		Attempts: 3, RetryBackoff: 20 * time.Second}})
	startWorker(t, m.Addr(), "a", 4, workHandlers())
	mc := client(t, m.Addr())
	specs := pageSpecs("signed", 5, nil)
	specs[2].Type = "bad"
	ids := submit(t, mc, specs...)
	nextTry(t, fc, &tries, 1, 10*time.Second, 20*time.Second) // retry_backoff, half of it random

	var p post
	select {
	case p = <-posts:
	case <-time.After(20 * time.Second):
		t.Fatalf("no webhook accepted (%d tries)", tries.Load())
	}
	sig := p.hdr.Get("X-Drover-Signature")
	if want := master.Sign(secret, p.body); !hmac.Equal([]byte(sig), []byte(want)) || !strings.HasPrefix(sig, "sha256=") {
		t.Fatalf("signature %q, want %q", sig, want)
	}
	if p.hdr.Get("X-Drover-Event") != "group_done" || p.hdr.Get("X-Drover-Delivery") != "group_done/signed/1" {
		t.Fatalf("headers %v", p.hdr)
	}
	b := decodeNotice(t, p.body)
	if b.Event != "group_done" || b.Group != "signed" || b.State != jobs.Failed || b.Jobs != 5 ||
		b.Counts[jobs.Succeeded] != 4 || b.Counts[jobs.Failed] != 1 || !slices.Equal(b.Failed, []string{ids[2]}) {
		t.Fatalf("body %s", p.body)
	}
	g := waitOnDone(t, m, "signed")
	if len(g.OnDone.Errors) != 0 || tries.Load() != 2 {
		t.Fatalf("on_done %+v after %d tries", g.OnDone, tries.Load())
	}
}

// TestWebhookGivesUp: a webhook that always fails is tried Attempts times,
// the backoff doubling between tries (on the master's fake clock); the
// error is recorded (without the URL's path, which may be a token) and
// on_done ends, its times on the master's clock.
func TestWebhookGivesUp(t *testing.T) {
	hook := newHookServer(t)
	hook.failing.Store(true)
	m, fc := startClockMaster(t, master.Config{Notify: master.Notify{Webhooks: []master.Webhook{{URL: hook.URL + "/hook/TOKEN123"}},
		Attempts: 3, RetryBackoff: 10 * time.Second}})
	startWorker(t, m.Addr(), "a", 4, workHandlers())
	submit(t, client(t, m.Addr()), pageSpecs("down", 2, nil)...)
	start := fc.Now()
	nextTry(t, fc, &hook.tries, 1, 5*time.Second, 10*time.Second)
	nextTry(t, fc, &hook.tries, 2, 10*time.Second, 20*time.Second)
	g := waitOnDone(t, m, "down")
	if !g.OnDone.Since.Equal(start) || !g.OnDone.Ended.Equal(fc.Now()) {
		t.Errorf("on_done since %s, ended %s; want %s and %s (the master's clock)", g.OnDone.Since, g.OnDone.Ended, start, fc.Now())
	}
	if len(g.OnDone.Errors) != 1 || !strings.Contains(g.OnDone.Errors[0], "gave up after 3 tries") ||
		!strings.Contains(g.OnDone.Errors[0], "500") || hook.tries.Load() != 3 ||
		strings.Contains(fmt.Sprint(g.OnDone), "TOKEN123") {
		t.Fatalf("on_done %+v after %d tries", g.OnDone, hook.tries.Load())
	}
}

// TestJobFailedNotice: a webhook that takes job_failed hears of a job's
// final failure; one that takes the default events hears of the group.
func TestJobFailedNotice(t *testing.T) {
	failed, groups := newHookServer(t), newHookServer(t)
	st := jobs.NewMemStore()
	m, fc := startClockMaster(t, master.Config{StoreImpl: st, Notify: master.Notify{Webhooks: []master.Webhook{
		{URL: failed.URL, Events: []string{master.EventJobFailed}}, {URL: groups.URL}}}})
	startWorker(t, m.Addr(), "a", 4, workHandlers())
	mc := client(t, m.Addr())
	ids := submit(t, mc, jobs.Spec{Type: "bad", Retries: 1, Group: "x"}, jobs.Spec{Type: "page", Group: "x"})
	retryDue(t, mc, fc, ids[0]) // the master's clock moves through the job's backoff

	var b master.Notice
	select {
	case raw := <-failed.posts:
		b = decodeNotice(t, raw)
	case <-time.After(20 * time.Second):
		t.Fatal("no job_failed notice")
	}
	if b.Event != "job_failed" || b.ID != "job_failed/"+ids[0]+"/2" || b.Group != "x" || b.Job == nil ||
		b.Job.ID != ids[0] || b.Job.Type != "bad" || b.Job.Attempts != 2 || b.Job.ExitCode != 3 || b.Job.Error != "always fails" {
		t.Fatalf("job_failed body %+v job %+v", b, b.Job)
	}
	select {
	case raw := <-groups.posts:
		if b := decodeNotice(t, raw); b.Event != "group_done" || b.State != jobs.Failed {
			t.Fatalf("group notice %s", raw)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no group_done notice")
	}
	waitOnDone(t, m, "x")
	// The job_failed record is deleted once sent: only "init" is left.
	pollT(t, 10*time.Second, "the job_failed record to go", func() bool {
		var keys []string
		st.LoadMeta("notify", func(k string, _ []byte) error { keys = append(keys, k); return nil })
		return slices.Equal(keys, []string{"init"})
	})
	if failed.tries.Load() != 1 || groups.tries.Load() != 1 {
		t.Fatalf("posts: %d job_failed, %d group_done", failed.tries.Load(), groups.tries.Load())
	}
}

// smtpServer is a minimal SMTP server: EHLO/HELO, MAIL, RCPT, DATA, RSET,
// NOOP, QUIT; no AUTH, no TLS. It answers the first reject DATA commands
// with a temporary failure.
type smtpServer struct {
	addr   string
	msgs   chan smtpMsg
	reject atomic.Int32
	tries  atomic.Int32
}

type smtpMsg struct {
	from string
	to   []string
	data string
}

func startSMTP(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: ln.Addr().String(), msgs: make(chan smtpMsg, 10)}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := textproto.NewReader(bufio.NewReader(c))
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 127.0.0.1 test ESMTP")
	var m smtpMsg
	addr := func(arg string) string {
		_, a, _ := strings.Cut(arg, "<")
		a, _, _ = strings.Cut(a, ">")
		return a
	}
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			say("250-127.0.0.1 hello")
			say("250 8BITMIME")
		case "HELO":
			say("250 127.0.0.1")
		case "MAIL":
			m = smtpMsg{from: addr(arg)}
			say("250 ok")
		case "RCPT":
			m.to = append(m.to, addr(arg))
			say("250 ok")
		case "DATA":
			say("354 end with .")
			b, err := r.ReadDotBytes()
			if err != nil {
				return
			}
			s.tries.Add(1)
			if s.reject.Add(-1) >= 0 {
				say("451 try again later")
				continue
			}
			m.data = string(b)
			s.msgs <- m
			say("250 queued")
		case "RSET", "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

// TestEmailNotice: the group's summary is mailed through a real SMTP
// server, after one temporary failure and the backoff (on the master's
// fake clock).
func TestEmailNotice(t *testing.T) {
	smtpd := startSMTP(t)
	smtpd.reject.Store(1)
	hook := newHookServer(t)
	m, fc := startClockMaster(t, master.Config{Notify: master.Notify{RetryBackoff: 10 * time.Second,
		Webhooks: []master.Webhook{{URL: hook.URL}},
		Email: &master.Email{Addr: smtpd.addr, From: "Drover <drover@example.com>",
			To: []string{"ops@example.com", "Dev <dev@example.com>"}}}})
	startWorker(t, m.Addr(), "a", 4, workHandlers())
	submit(t, client(t, m.Addr()), pageSpecs("mail\r\nBcc: x@evil.example", 3, nil)...)
	nextTry(t, fc, &smtpd.tries, 1, 5*time.Second, 10*time.Second)

	var msg smtpMsg
	select {
	case msg = <-smtpd.msgs:
	case <-time.After(20 * time.Second):
		t.Fatalf("no mail (%d tries)", smtpd.tries.Load())
	}
	if msg.from != "drover@example.com" || !slices.Equal(msg.to, []string{"ops@example.com", "dev@example.com"}) {
		t.Fatalf("envelope from %q to %q", msg.from, msg.to)
	}
	pm, err := mail.ReadMessage(strings.NewReader(msg.data))
	if err != nil {
		t.Fatalf("%v in\n%s", err, msg.data)
	}
	body, _ := io.ReadAll(pm.Body)
	subj := pm.Header.Get("Subject")
	if !strings.Contains(subj, "succeeded (3 jobs)") || pm.Header.Get("Bcc") != "" ||
		pm.Header.Get("X-Drover-Event") != "group_done" || !strings.Contains(pm.Header.Get("To"), "ops@example.com") {
		t.Fatalf("headers %v", pm.Header)
	}
	if !strings.Contains(string(body), "Jobs: 3 (succeeded 3, failed 0, cancelled 0)") {
		t.Fatalf("body %q", body)
	}
	g := waitOnDone(t, m, "mail\r\nBcc: x@evil.example")
	if b := decodeNotice(t, <-hook.posts); b.Group != "mail\r\nBcc: x@evil.example" ||
		b.ID != "group_done/mail%0D%0ABcc:%20x@evil.example/1" {
		t.Fatalf("webhook %+v", b)
	}
	if len(g.OnDone.Errors) != 0 || smtpd.tries.Load() != 2 {
		t.Fatalf("on_done %+v after %d tries", g.OnDone, smtpd.tries.Load())
	}
}

func TestNotifyValidate(t *testing.T) {
	for _, tc := range []struct {
		n    master.Notify
		want string
	}{
		{master.Notify{Events: []string{"group_end"}}, `unknown event "group_end"`},
		{master.Notify{Webhooks: []master.Webhook{{URL: "ftp://x/"}}}, "webhook 1: url"},
		{master.Notify{Webhooks: []master.Webhook{{URL: "http:///x"}}}, "has no host"},
		{master.Notify{Webhooks: []master.Webhook{{URL: "http://x/", Events: []string{"x"}}}}, "webhook 1: events"},
		{master.Notify{Email: &master.Email{Addr: "h", From: "a@b.c", To: []string{"d@e.f"}}}, "addr"},
		{master.Notify{Email: &master.Email{Addr: "h:25", From: "a", To: []string{"d@e.f"}}}, "from"},
		{master.Notify{Email: &master.Email{Addr: "h:25", From: "a@b.c"}}, "no recipients"},
		{master.Notify{Attempts: -1}, "attempts"},
		{master.Notify{Timeout: -time.Second}, "negative"},
	} {
		if err := tc.n.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.n, err, tc.want)
		}
	}
	ok := master.Notify{Events: []string{"job_failed"}, Webhooks: []master.Webhook{{URL: "https://x.example/h"}},
		Email: &master.Email{Addr: "localhost:25", From: "a@b.c", To: []string{"d@e.f"}}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	m, err := master.New(master.Config{Listen: "127.0.0.1:0", Store: master.StoreMemory, Logger: master.LogTo(t, "master"),
		Notify: master.Notify{Events: []string{"nope"}}})
	if err == nil {
		err = m.Start() // Config.Validate may check notify; if not, Start must
	}
	if err == nil || !strings.Contains(err.Error(), "notify") {
		t.Fatalf("New or Start: %v", err)
	}
}
