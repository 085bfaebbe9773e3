package worker

import (
	"regexp"
	"strings"
	"testing"
)

var wholePlaceholder = regexp.MustCompile(`^\{[A-Za-z_][A-Za-z0-9_]*\}$`)

// FuzzExpand: whatever the template and the arg value, expansion never
// panics, never changes the number of argv elements, and puts the value
// into the elements literally.
func FuzzExpand(f *testing.F) {
	f.Add("crawl {spider}", "dir/{project}", "quotes; rm -rf / $(id) `id` {other}")
	f.Add("{{literal}} {a}", "", "-rf")
	f.Add("x{a}y{a}z", "{a}", "\x00")
	f.Add("{", "}", "")
	f.Fuzz(func(t *testing.T, tmpl, dir, value string) {
		argv := strings.Fields(tmpl)
		if len(argv) == 0 {
			argv = []string{"prog"}
		}
		names, err := parseTemplate(Command{Argv: argv, Dir: dir})
		if err != nil {
			return
		}
		args := map[string]string{}
		for _, n := range names {
			args[n] = value
		}
		out, outDir, _, err := expand(Command{Argv: argv, Dir: dir}, args)
		if err != nil {
			if !IsPermanent(err) {
				t.Fatalf("expand error is not permanent: %v", err)
			}
			return
		}
		if len(out) != len(argv) {
			t.Fatalf("argv %q became %d elements %q", argv, len(out), out)
		}
		for i, a := range argv {
			if wholePlaceholder.MatchString(a) && out[i] != value {
				t.Fatalf("element %q with value %q became %q", a, value, out[i])
			}
			if !strings.ContainsAny(a, "{}") && out[i] != a {
				t.Fatalf("literal element %q became %q", a, out[i])
			}
		}
		if !strings.ContainsAny(dir, "{}") && outDir != dir {
			t.Fatalf("literal dir %q became %q", dir, outDir)
		}
	})
}
