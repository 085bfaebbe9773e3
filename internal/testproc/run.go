package testproc

// Result is what a process run to its end left.
type Result struct {
	Stdout, Stderr string
	// Output is stdout and stderr interleaved in the order the writes
	// came.
	Output string
	// Code is the exit code; -1 when a signal ended the process.
	Code int
}

// Run runs path with args to its end and returns its output and exit
// code; see Options.Run.
func Run(tb TB, path string, args ...string) Result {
	tb.Helper()
	return Options{}.Run(tb, path, args...)
}

// Run runs path with args to its end and returns its output and exit
// code. The test fails if the process cannot start or outlives Timeout
// (it is killed then).
func (o Options) Run(tb TB, path string, args ...string) Result {
	tb.Helper()
	name, cmd := o.command(path, args)
	p, err := Launch(name, cmd)
	if err != nil {
		tb.Fatalf("%v", err)
		return Result{}
	}
	if o.Timeout > 0 && !p.WaitExit(o.Timeout) {
		p.Kill()
		tb.Fatalf("%s %v: not done within %s\nstdout:\n%s\nstderr:\n%s", name, args, o.Timeout, p.Stdout(), p.Stderr())
		return Result{}
	}
	<-p.Done()
	return Result{Stdout: p.Stdout(), Stderr: p.Stderr(), Output: p.Output(), Code: cmd.ProcessState.ExitCode()}
}
