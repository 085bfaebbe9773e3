package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/drover/drover/jobs"
)

// TestSafeText: safeLine and safeLines keep printable text (any script,
// emoji, a backslash) and show every control character, invalid UTF-8
// byte and bidi override or isolate as an escape; safeLines keeps \n and
// \t.
func TestSafeText(t *testing.T) {
	for _, tc := range []struct {
		in, line, lines string
	}{
		{"", "", ""},
		{"plain text, 100% ok", "plain text, 100% ok", "plain text, 100% ok"},
		{`C:\dir\x1b`, `C:\dir\x1b`, `C:\dir\x1b`},
		{"héllo 世界 👩‍💻 \ufffd", "héllo 世界 👩‍💻 \ufffd", "héllo 世界 👩‍💻 \ufffd"},
		{"\x1b[31mRED\x1b[0m", `\x1b[31mRED\x1b[0m`, `\x1b[31mRED\x1b[0m`},
		{"\x1b]0;pwn\x07", `\x1b]0;pwn\x07`, `\x1b]0;pwn\x07`},
		{"a\x00b\bc\fd\x7fe", `a\x00b\x08c\x0cd\x7fe`, `a\x00b\x08c\x0cd\x7fe`},
		{"one\ntwo\tthree\r\n", `one\ntwo\tthree\r\n`, "one\ntwo\tthree\\r\n"},
		{"bad \xff\xfe utf8 \xe2\x82", `bad \xff\xfe utf8 \xe2\x82`, `bad \xff\xfe utf8 \xe2\x82`},
		{"c1 \u0085 \u009b2J", `c1 \u0085 \u009b2J`, `c1 \u0085 \u009b2J`},
		{"admin\u202eexe.txt \u2066x\u2069 \u202a\u202d", `admin\u202eexe.txt \u2066x\u2069 \u202a\u202d`,
			`admin\u202eexe.txt \u2066x\u2069 \u202a\u202d`},
		{"edge \u2029\u2065\u206a\u2029", "edge \u2029\u2065\u206a\u2029", "edge \u2029\u2065\u206a\u2029"},
	} {
		if got := safeLine(tc.in); got != tc.line {
			t.Errorf("safeLine(%q) = %q, want %q", tc.in, got, tc.line)
		}
		if got := safeLines(tc.in); got != tc.lines {
			t.Errorf("safeLines(%q) = %q, want %q", tc.in, got, tc.lines)
		}
	}
	// Nothing a terminal acts on survives, whatever the input.
	var all strings.Builder
	for b := range 256 {
		all.WriteByte(byte(b))
	}
	all.WriteString("\u0080\u009f\u202a\u202e\u2066\u2069")
	for _, s := range []string{safeLine(all.String()), safeLines(all.String())} {
		for _, r := range strings.ReplaceAll(strings.ReplaceAll(s, "\n", ""), "\t", "") {
			if unsafeRune(r, false) || r == '\ufffd' {
				t.Errorf("%q left in %q", r, s)
			}
		}
	}
}

// TestCLIEscapesJobText: a job whose args, group and output hold terminal
// control sequences, a bidi override, NUL and invalid UTF-8 shows them
// escaped in drover job, jobs and group, while drover job --json carries
// the exact text.
func TestCLIEscapesJobText(t *testing.T) {
	c := startCluster(t, 1, `
[commands.evil]
argv = ["sh", "-c", "printf '%s\\033[31mRED\\033]0;pwn\\007 nul\\000 bad\\377 end\\n'  \"$0\"; printf 'oops\\033[2J\\n' >&2", "{x}"]
`)
	arg := "arg\x1b[1m\u202e"
	id := c.submit("--type", "evil", "--arg", "x="+arg, "--group", "g\x1b[5m")
	if _, code := c.drover("wait", id); code != 0 {
		t.Fatalf("wait: exit %d, want 0", code)
	}
	// The output has the job's stdout and stderr.
	wantOut := arg + "\x1b[31mRED\x1b]0;pwn\x07 nul\x00 bad\xff end\n"
	j := c.Job(id)
	if len(j.Attempts) != 1 || !strings.Contains(j.Attempts[0].Output, wantOut) || !strings.Contains(j.Attempts[0].Output, "oops\x1b[2J\n") {
		var got []string
		for _, a := range j.Attempts {
			got = append(got, a.Output)
		}
		t.Fatalf("the master has attempts with outputs %q; want one whose output has %q and oops\\x1b[2J", got, wantOut)
	}
	for _, args := range [][]string{{"job", id}, {"jobs"}, {"group", "g\x1b[5m"}} {
		out := c.mustDrover(args...)
		if i := strings.IndexFunc(out, func(r rune) bool { return r == '\ufffd' || unsafeRune(r, true) }); i >= 0 {
			t.Errorf("drover %q: a control character or invalid UTF-8 at byte %d of:\n%q", args, i, out)
		}
		// A group shows a result's first line: stdout's or stderr's,
		// whichever of the two pipes the worker read first.
		shown := strings.Contains(out, `\x1b[31mRED`) || (args[0] == "group" && strings.Contains(out, `oops\x1b[2J`))
		if !shown && args[0] != "jobs" {
			t.Errorf("drover %q: no escaped \\x1b[31mRED in:\n%q", args, out)
		}
		if !strings.Contains(out, `arg\x1b[1m\u202e`) && args[0] != "group" {
			t.Errorf("drover %q: no escaped arg in:\n%q", args, out)
		}
	}
	if out := c.mustDrover("job", id); !strings.Contains(out, "\n"+safeLine(arg)+`\x1b[31mRED\x1b]0;pwn\x07 nul\x00 bad\xff end`+"\n") {
		t.Errorf("drover job: the output tail is not shown escaped, on its own lines:\n%q", out)
	}

	raw := c.mustDrover("job", id, "--json")
	if !strings.Contains(raw, `\u001b[31mRED\u001b]0;pwn\u0007 nul\u0000 bad`) {
		t.Errorf("drover job --json: the output is not JSON-escaped as it was:\n%q", raw)
	}
	var detail struct {
		Args    map[string]string `json:"args"`
		History []jobs.Attempt    `json:"history"`
	}
	if err := json.Unmarshal([]byte(raw), &detail); err != nil {
		t.Fatal(err)
	}
	// JSON has no invalid UTF-8: encoding/json writes the \xff byte as
	// U+FFFD; the rest is the exact text.
	if len(detail.History) != 1 || !strings.Contains(detail.History[0].Output, strings.ToValidUTF8(wantOut, "\ufffd")) ||
		detail.Args["x"] != arg {
		t.Errorf("drover job --json: args %q, %d attempts; want arg %q and output %q:\n%q", detail.Args, len(detail.History), arg, wantOut, raw)
	}
	// drover logs is the raw stream: byte for byte what the job wrote.
	if out := c.mustDrover("logs", id, "--stream", "stdout"); out != wantOut {
		t.Errorf("drover logs --stream stdout = %q, want the exact bytes %q", out, wantOut)
	}
}
