package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/drover/drover/jobs"
)

// Exit codes of "drover store": 0 the data dir is sound (salvage: and
// nothing was lost), 1 damage was found (salvage: it kept what it could;
// the report says what), or the command could not run (the data dir is
// locked by a running master, unreadable, the salvage could not be
// written; then stderr says why, and nothing is on stdout), 2 usage.
const exitDamage = exitFailed

// storeCheckCmd is "drover store check": a stopped master's data dir,
// offline.
func storeCheckCmd(fs *pflag.FlagSet) runFunc {
	dir := fs.String("data-dir", "", "the master's data `dir` (its data_dir)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	return func(pos []string, stdout io.Writer) error {
		if *dir == "" || len(pos) > 0 {
			return usagef("want --data-dir DIR and no arguments")
		}
		r, err := jobs.CheckDataDir(*dir)
		if err != nil {
			return err
		}
		return storeReport(stdout, *asJSON, r, func() { printCheck(stdout, r) }, r.Sound())
	}
}

// storeReport prints a check or salvage report r (as JSON, or by text)
// and returns the exit for damage when it is not ok.
func storeReport(stdout io.Writer, asJSON bool, r any, text func(), ok bool) error {
	if asJSON {
		if err := storeJSON(stdout, r); err != nil {
			return err
		}
	} else {
		text()
	}
	if !ok {
		return &exitError{code: exitDamage}
	}
	return nil
}

// storeSalvageCmd is "drover store salvage": what reads of a damaged
// data dir, copied into a new one.
func storeSalvageCmd(fs *pflag.FlagSet) runFunc {
	dir := fs.String("data-dir", "", "the damaged data `dir` (read only)")
	to := fs.String("to", "", "the new data `dir` to write (must not exist, or be empty)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	return func(pos []string, stdout io.Writer) error {
		if *dir == "" || *to == "" || len(pos) > 0 {
			return usagef("want --data-dir DIR --to NEWDIR and no arguments")
		}
		r, err := jobs.Salvage(*dir, *to)
		if err != nil {
			return err
		}
		return storeReport(stdout, *asJSON, r, func() { printSalvage(stdout, r) }, r.Complete())
	}
}

func storeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// storeRel shortens path to be relative to dir when it is inside it.
func storeRel(dir, path string) string {
	if r, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

func printCheck(w io.Writer, r *jobs.CheckReport) {
	state := "sound"
	if !r.Sound() {
		state = fmt.Sprintf("DAMAGED (%d problem%s)", len(r.Damage), storePlural(len(r.Damage)))
	}
	fmt.Fprintf(w, "data dir %s: %s\n", r.Dir, state)
	b := r.Bolt
	switch {
	case !b.Exists:
		fmt.Fprintf(w, "  %s: missing\n", jobs.BoltFile)
	default:
		fmt.Fprintf(w, "  %s: %d bytes", jobs.BoltFile, b.Size)
		if b.Pages > 0 {
			fmt.Fprintf(w, ", %d pages of %d bytes (%d free), transaction %d", b.Pages, b.PageSize, b.FreePages, b.TxID)
		}
		fmt.Fprintf(w, "\n    %d jobs, highest ID %d, high-water mark %d, checkpointed through LSN %d", b.Records, b.HighestSeq, b.HighWater, b.LSN)
		if b.Checked {
			fmt.Fprint(w, "; bbolt's check ran")
		}
		fmt.Fprintln(w)
	}
	l := r.Log
	fmt.Fprintf(w, "  %s/: %d segment%s, %d frames, %d records", jobs.LogDir, len(l.Segments), storePlural(len(l.Segments)), l.Frames, l.Records)
	if l.FirstLSN > 0 {
		fmt.Fprintf(w, ", LSN %d..%d", l.FirstLSN, l.LastLSN)
	}
	if l.HighWaterFileOK {
		fmt.Fprintf(w, "; %s: %d", jobs.HighWaterFile, l.HighWaterFile)
	}
	fmt.Fprintln(w)
	for _, s := range l.Segments {
		fmt.Fprintf(w, "    %s: %d bytes, format %d, %d frames, %d records", storeRel(r.Dir, s.Path), s.Size, s.Format, s.Frames, s.Records)
		if s.Frames > 0 {
			fmt.Fprintf(w, ", LSN %d..%d, data to offset %d", s.FirstLSN, s.LastLSN, s.End)
		}
		fmt.Fprintln(w)
	}
	switch r.Closed {
	case "closed":
		fmt.Fprint(w, "  the store was closed cleanly")
	case "open":
		fmt.Fprint(w, "  the store was not closed (a crash, or a master is running): a master replays the log at start")
	case "unreadable":
		fmt.Fprint(w, "  the store's state is not known: it is kept in drover.db, which does not read")
	default:
		fmt.Fprint(w, "  the store's state is not recorded (a data dir of an older drover)")
	}
	if r.CleanStopMark {
		fmt.Fprint(w, "; the master's clean-stop mark is set")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %d jobs would load, highest ID %d; high-water mark %d: new jobs get IDs from %d\n",
		r.Records, r.HighestSeq, r.HighWater, r.HighWater+1)
	for _, d := range r.Torn {
		fmt.Fprintf(w, "  torn tail (dropped at start, never acknowledged): %s\n", d)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	if r.Sound() {
		return
	}
	fmt.Fprintln(w, "damage:")
	for _, d := range r.Damage {
		fmt.Fprintf(w, "  - [%s] %s\n", d.Kind, d)
	}
	printStoreLost(w, r.Lost)
	fmt.Fprintf(w, "a master refuses this data dir; copy what reads into a new one with\n  drover store salvage --data-dir %s --to NEWDIR\n", r.Dir)
}

func printStoreLost(w io.Writer, l jobs.LostJobs) {
	if len(l.IDs) > 0 {
		fmt.Fprintf(w, "jobs lost (no version reads): %s\n", storeIDList(l.IDs))
	}
	if len(l.Stale) > 0 {
		fmt.Fprintf(w, "jobs kept as they were before a lost update: %s\n", storeIDList(l.Stale))
	}
	if len(l.Ranges) > 0 {
		fmt.Fprintf(w, "IDs the damaged parts may have held (none of them kept): %s\n", storeRanges(l.Ranges))
	}
}

// storeIDList writes ids (sorted) as ranges: "1..3, 7".
func storeIDList(ids []uint64) string { return storeRanges(jobs.IDRanges(ids)) }

func storeRanges(rs []jobs.IDRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

func printSalvage(w io.Writer, r *jobs.SalvageReport) {
	fmt.Fprintf(w, "salvaged %s into %s: %d jobs (%d from %s, %d from the log), %d other entries; high-water mark %d\n",
		r.From, r.To, r.Kept, r.FromBolt, jobs.BoltFile, r.FromLog, r.Meta, r.HighWater)
	for _, d := range r.Torn {
		fmt.Fprintf(w, "  torn tail dropped (never acknowledged): %s\n", d)
	}
	if r.Complete() {
		fmt.Fprintln(w, "nothing was lost")
		return
	}
	fmt.Fprintln(w, "damage:")
	for _, d := range r.Damage {
		fmt.Fprintf(w, "  - [%s] %s\n", d.Kind, d)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintln(w, "skipped:")
	}
	for _, s := range r.Skipped {
		if s.From < 0 {
			fmt.Fprintf(w, "  %s (all of it)\n", s.File)
			continue
		}
		fmt.Fprintf(w, "  %s bytes %d..%d\n", s.File, s.From, s.To)
	}
	printStoreLost(w, r.Lost)
	fmt.Fprintf(w, "start the master on %s (data_dir); keep %s until you no longer need it\n", r.To, r.From)
}

func storePlural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
