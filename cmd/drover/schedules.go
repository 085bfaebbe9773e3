package main

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/rpcapi"
)

// when shows t in local time with how far it is from now: "2026-11-24
// 02:00:00 CET (in 16h12m)", or "-" for the zero time.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	rel := "now"
	switch {
	case d > 0:
		rel = "in " + d.String()
	case d < 0:
		rel = (-d).String() + " ago"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST") + " (" + rel + ")"
}

// schedulesCmd lists the master's cron schedules with their next fire.
func schedulesCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	asJSON := fs.Bool("json", false, "print a JSON array")
	return func(pos []string, stdout io.Writer) error {
		if len(pos) > 0 {
			return usagef("takes no arguments (see drover schedule pause|resume|run|delete NAME)")
		}
		r, err := fetch(conn, rpcapi.MasterClient.ListSchedules)
		if err != nil {
			return err
		}
		views := r.Schedules
		if views == nil {
			views = []rpcapi.ScheduleInfo{}
		}
		if *asJSON {
			return printJSON(stdout, views)
		}
		return printSchedules(stdout, views, time.Now())
	}
}

func printSchedules(w io.Writer, views []rpcapi.ScheduleInfo, now time.Time) error {
	if len(views) == 0 {
		_, err := fmt.Fprintln(w, "no schedules")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tTIMEZONE\tTYPE\tOVERLAP\tCATCH UP\tSTATE\tNEXT FIRE\tLAST FIRE\tLAST JOB")
	for _, v := range views {
		state, next := "active", when(v.Next, now)
		if v.Paused {
			state, next = "paused", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", safeLine(v.Name), safeLine(v.Schedule), safeLine(v.Timezone),
			safeLine(v.Spec.Type), safeLine(v.Overlap), safeLine(v.CatchUp), state, next, when(v.LastFire, now), safeLine(dash(v.LastJob)))
	}
	return tw.Flush()
}

// scheduleCmd pauses or resumes one schedule.
func scheduleCmd(fs *pflag.FlagSet) runFunc {
	conn := addConnFlags(fs)
	asJSON := fs.Bool("json", false, "print the schedule as JSON")
	return func(pos []string, stdout io.Writer) error {
		if len(pos) != 2 || !slices.Contains([]string{"pause", "resume", "run", "delete"}, pos[0]) {
			return usagef("usage: drover schedule pause|resume|run|delete NAME")
		}
		if pos[0] == "run" || pos[0] == "delete" {
			return scheduleAPI(conn, pos[0], pos[1], *asJSON, stdout)
		}
		call := rpcapi.MasterClient.PauseSchedule
		if pos[0] == "resume" {
			call = rpcapi.MasterClient.ResumeSchedule
		}
		s, err := fetchArg(conn, call, pos[1])
		if err != nil {
			return err
		}
		v := s
		if *asJSON {
			return printJSON(stdout, v)
		}
		if v.Paused {
			_, err = fmt.Fprintf(stdout, "schedule %s paused\n", safeLine(v.Name))
			return err
		}
		_, err = fmt.Fprintf(stdout, "schedule %s active; next fire %s\n", safeLine(v.Name), when(v.Next, time.Now()))
		return err
	}
}
