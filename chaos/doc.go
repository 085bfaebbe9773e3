// Package chaos holds drover's chaos suite: scenarios that break a cluster
// on purpose while a batch of jobs runs, and check the delivery guarantee
// afterwards (execution at least once, recorded outcome exactly once).
//
// Every scenario submits a batch of jobs that append "ID ATTEMPT" to a file
// when they run, breaks something while they run, waits until every job is
// final and then checks that each job ran at least once and is recorded
// succeeded with exactly one ok attempt. Each prints one line:
//
//	scenario=NAME submitted=N executed=E (duplicates D) recorded=R lost_outcomes=0
//
// where executed counts the lines in the file (D of them reruns of a job
// that had already run), recorded counts the jobs succeeded with one ok
// attempt, and lost_outcomes the jobs that are not (it must be 0).
//
// With real drover processes on 127.0.0.1 (the binary is built once):
//
//   - kill_workers: kill -9 a random worker every second or two while 1,000
//     jobs run over 4 workers, restarting it after each kill;
//   - sigstop_worker: SIGSTOP a worker past dead_after, then SIGCONT: it is
//     reaped, its jobs rerun elsewhere and its late reports are dropped
//     (drover_stale_reports_dropped_total rises); its workers run with
//     fence = false, the at-least-once path;
//   - kill_master: kill -9 the master three times during a batch, restarting
//     it on the same data dir.
//
// In process, with drovertest:
//
//   - partition: cut one worker off the master for longer than dead_after,
//     then heal the link;
//   - disk_failure: make the store fail every write for a while: submits
//     get errors (rpcapi.ErrUnavailable), nothing acknowledged is lost, and
//     the master recovers when the store does.
//
// Run it with
//
//	go test -v ./chaos
//
// (-v shows the summary lines). The suite takes about 40 seconds on two
// cores (45 with -race); -short skips it. With -race, the drover binary is
// built with -race too, its logs are checked for data races, and the
// in-process scenarios run half as many jobs.
package chaos
