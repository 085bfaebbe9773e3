package main

import "io"

// cmdFunc returns a function that runs drover command name on args in
// this process, writing its output to stdout, and returns its error.
func cmdFunc(name string) func(args []string, stdout io.Writer) error {
	return func(args []string, stdout io.Writer) error {
		_, err := execute(append([]string{name}, args...), stdout, io.Discard)
		return err
	}
}

// The commands that tests run in this process.
var (
	runJob     = cmdFunc("job")
	runJobs    = cmdFunc("jobs")
	runGroup   = cmdFunc("group")
	runCancel  = cmdFunc("cancel")
	runWait    = cmdFunc("wait")
	runWorkers = cmdFunc("workers")
	runLogs    = cmdFunc("logs")
)
