// Command drover runs a drover master or worker, talks to a master from the
// command line, and runs a self-contained demo. Run "drover help" for the
// commands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/drover/drover/bench"
	"github.com/drover/drover/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit code; errors go to
// stderr, as "drover CMD: error".
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) >= 3 && args[0] == "bench" && args[1] == benchRole {
		if err := bench.RunRole(args[2], args[3:], stdout); err != nil {
			fmt.Fprintln(stderr, "drover bench:", err)
			return exitFailed
		}
		return exitOK
	}
	cmd, err := execute(args, stdout, stderr)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.err != nil {
		name := "drover"
		if cmd != nil && cmd.HasParent() {
			name = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "%s: %s\n", name, safeLines(err.Error()))
	}
	code := exitCode(err)
	if code == exitUsage && cmd != nil && cmd.HasParent() {
		fmt.Fprintf(stderr, "Run \"drover help %s\" for its usage.\n", strings.TrimPrefix(cmd.CommandPath(), "drover "))
	}
	return code
}

// execute runs the command line args and returns the command that ran
// (nil if none did) and its error.
func execute(args []string, stdout, stderr io.Writer) (*cobra.Command, error) {
	root := newRoot(stdout, stderr)
	if err := checkCommand(root, args); err != nil {
		return nil, err
	}
	root.SetArgs(normalizeArgs(root, args))
	return root.ExecuteC()
}

// newRoot returns the drover command with every command under it, writing
// to stdout and stderr.
func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "drover",
		Short: "drover runs jobs on a fleet of workers under one master",
		Long: `drover runs jobs on a fleet of workers under one master.

Client commands take --master ADDR (default $DROVER_MASTER, else 127.0.0.1:7070)
and send the token of --token-file F or $DROVER_TOKEN (--token T works too,
but shows T in ps). Flags may come before or after arguments.`,
		Version:       versionLine(buildinfo.Get()),
		SilenceErrors: true,
		// did-you-mean: a command this many edits away, or one the
		// name begins
		SuggestionsMinimumDistance: 2,
		SilenceUsage:               true,
		DisableAutoGenTag:          true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("drover {{.Version}}\n")
	root.Flags().Bool("version", false, "print the version drover was built from")
	root.SetUsageTemplate(root.UsageTemplate() + `{{if not .HasParent}}
` + exitCodes + `
{{end}}`)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddGroup(&cobra.Group{ID: groupClient, Title: "Client commands (talk to a master):"},
		&cobra.Group{ID: groupServer, Title: "Servers:"}, &cobra.Group{ID: groupTool, Title: "Other commands:"})
	root.SetHelpCommandGroupID(groupTool)
	root.SetCompletionCommandGroupID(groupTool)
	for _, c := range commands() {
		root.AddCommand(c.cobra())
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	return root
}

// cobra returns c as a cobra command.
func (c command) cobra() *cobra.Command {
	use := c.name
	if c.args != "" {
		use += " " + c.args
	}
	cc := &cobra.Command{Use: use, Short: c.short, Long: c.long, Example: c.example, GroupID: c.group}
	if cc.Long == "" {
		cc.Long = strings.ToUpper(c.short[:1]) + c.short[1:] + "."
	}
	if c.setup != nil {
		run := c.setup(cc.Flags())
		onceFlags(cc.Flags())
		cc.RunE = func(cmd *cobra.Command, pos []string) error { return run(pos, cmd.OutOrStdout()) }
	}
	for _, s := range c.subs {
		cc.AddCommand(s.cobra())
	}
	if len(c.subs) > 0 {
		cc.RunE = func(cmd *cobra.Command, pos []string) error {
			if len(pos) == 0 {
				return usagef("want a command: %s", subNames(cmd))
			}
			return usagef("unknown command %q: want %s", pos[0], subNames(cmd))
		}
	}
	for name, values := range c.values {
		if cc.Flags().Lookup(name) != nil {
			cc.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	return cc
}

// subNames lists the commands under cmd: "check or salvage".
func subNames(cmd *cobra.Command) string {
	var names []string
	for _, s := range cmd.Commands() {
		if s.IsAvailableCommand() {
			names = append(names, s.Name())
		}
	}
	return strings.Join(names, " or ")
}

// checkCommand refuses a command line whose first word is no command (or
// "help" of no command), with the commands it may have meant.
func checkCommand(root *cobra.Command, args []string) error {
	if len(args) > 1 && args[0] == "help" {
		args = args[1:]
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return nil
	}
	name := args[0]
	if name == cobra.ShellCompRequestCmd || name == cobra.ShellCompNoDescRequestCmd {
		return nil
	}
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return nil
		}
	}
	msg := fmt.Sprintf("unknown command %q", name)
	if s := root.SuggestionsFor(name); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError(errors.New(msg + ` ("drover help" lists the commands)`))
}

// onceFlags makes every flag of fs that takes one value (not a bool, not
// a repeatable one such as --tag) refuse to be given twice, which would
// silently drop the first value.
func onceFlags(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		switch f.Value.(type) {
		case *listFlag, argFlag:
			return
		}
		if f.Value.Type() == "bool" {
			return
		}
		f.Value = &onceValue{Value: f.Value, name: f.Name}
		if f.DefValue == "0s" {
			f.DefValue = "0" // a zero duration: help shows no default, as for other zero values
		}
	})
}

// onceValue is a flag's value that may be set once.
type onceValue struct {
	pflag.Value
	name string
	set  bool
}

func (v *onceValue) Set(s string) error {
	if v.set {
		return fmt.Errorf("given twice: --%s takes one value", v.name)
	}
	v.set = true
	return v.Value.Set(s)
}

// normalizeArgs returns args with the single-dash long flags that Go's
// flag package took (-master ADDR, -json) written with two dashes, as
// the command's flags know them. Values of flags, and what follows "--",
// are left as they are.
func normalizeArgs(root *cobra.Command, args []string) []string {
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		return args
	}
	start := len(args) - len(rest) // the flags and arguments after the command's name
	if start < 0 || start > len(args) {
		return args
	}
	out := append([]string(nil), args...)
	fs := cmd.Flags()
	for i := start; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			continue
		}
		long := strings.HasPrefix(a, "--")
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if f == nil || len(name) < 2 {
			if !long && len(a) == 2 {
				if s := fs.ShorthandLookup(a[1:]); s != nil && s.NoOptDefVal == "" {
					i++ // a short flag's value
				}
			}
			continue
		}
		if !long {
			out[i] = "-" + a
		}
		if !hasValue && f.NoOptDefVal == "" {
			i++ // skip the flag's value
		}
	}
	return out
}
