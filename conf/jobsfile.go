package conf

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
)

// KeyPrefix starts the Key of every spec loaded from a jobs file.
const KeyPrefix = "file:"

var jobKeys = []string{"type", "args", "priority", "retries", "timeout", "group", "key",
	"tags", "limit_key", "unique_key", "unique_for", "run_at", "delay",
	"input", "then", "name", "schedule", "overlap", "timezone", "catch_up", "broadcast"}

// LoadJobs reads the jobs file at path. See ParseJobs.
func LoadJobs(path string) ([]jobs.Spec, error) {
	return readFile(path, ParseJobs)
}

// ParseJobs decodes data, the content of a jobs file called name (used in
// errors only): one [[job]] table per job, in file order.
//
// Every spec gets a stable Key, so that loading the same file again (a
// master restart) submits nothing twice. With an explicit key = "k" the
// Key is "file:k". Otherwise it is "file:" + the hex SHA-256 of the spec's
// content (type, args, priority, retries, timeout, group) + "#n", where n
// counts the identical specs earlier in the file: two identical entries
// are two jobs, and editing one entry changes only that entry's key.
func ParseJobs(name string, data []byte) ([]jobs.Spec, error) {
	root, d, err := parse(name, data)
	if err != nil {
		return nil, err
	}
	var entries []map[string]any
	for k, v := range root {
		p := path{k}
		if k != "job" {
			d.unknown(p, []string{"job"})
			continue
		}
		entries = d.tableArray(p, v, "an array of tables ([[job]])")
	}
	specs := make([]jobs.Spec, 0, len(entries))
	explicit := make([]bool, 0, len(entries))
	for i, e := range entries {
		if e == nil {
			continue
		}
		s, ok := d.job(path{"job"}.index(i), e)
		specs = append(specs, s)
		explicit = append(explicit, ok)
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	seen := make(map[string]int, len(specs)) // key → index in specs
	dups := make(map[string]int)             // content hash → count so far
	scheds := make(map[string]int)           // schedule name → index in specs
	for i := range specs {
		s := &specs[i]
		p := path{"job"}.index(i)
		if s.Schedule != "" {
			// The master refuses the file whole for it; here the error
			// names the line.
			if j, ok := scheds[s.Name]; ok {
				d.errorf(p.key("name"), "schedule %q is also the name of job[%d]", s.Name, j+1)
			}
			scheds[s.Name] = i
		}
		if explicit[i] {
			s.Key = KeyPrefix + s.Key
			p = p.key("key")
		} else {
			h := specHash(s)
			s.Key = KeyPrefix + h + "#" + strconv.Itoa(dups[h])
			dups[h]++
		}
		if j, ok := seen[s.Key]; ok {
			d.errorf(p, "key %q is also the key of job[%d]", s.Key, j+1)
		}
		seen[s.Key] = i
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	return specs, nil
}

// job decodes one [[job]] table at p. ok reports an explicit key, which is
// returned in the spec's Key without its prefix.
func (d *decoder) job(p path, t map[string]any) (s jobs.Spec, ok bool) {
	before := len(d.errs)
	fs := &fields{
		strs: map[string]*string{
			"type":       &s.Type,
			"group":      &s.Group,
			"limit_key":  &s.LimitKey,
			"unique_key": &s.UniqueKey,
			"input":      &s.Input,
			"name":       &s.Name,
			"schedule":   &s.Schedule,
			"timezone":   &s.Timezone,
		},
		lists:     map[string]*[]string{"tags": &s.Tags},
		durations: map[string]*time.Duration{"timeout": &s.Timeout, "unique_for": &s.UniqueFor, "delay": &s.Delay},
	}
	d.keys(p, t, fs, jobKeys, func(kp path, k string, v any) bool {
		switch k {
		case "args":
			s.Args = d.args(kp, v)
		case "priority":
			s.Priority = d.integer(kp, v, math.MinInt, math.MaxInt)
		case "retries":
			s.Retries = d.integer(kp, v, 0, jobs.MaxRetries)
		case "run_at":
			s.RunAt = d.timestamp(kp, v)
		case "broadcast":
			b, ok := v.(bool)
			if !ok {
				d.errorf(kp, "want true or false, got %s", typeName(v))
			}
			s.Broadcast = b
		case "then":
			if t := d.table(kp, v); t != nil {
				then, _ := d.job(kp, t)
				s.Then = &then
			}
		case "overlap":
			s.Overlap = d.oneOf(kp, v, jobs.OverlapSkip, jobs.OverlapAllow, jobs.OverlapQueue)
		case "catch_up":
			s.CatchUp = d.oneOf(kp, v, jobs.CatchUpNone, jobs.CatchUpOne)
		case "key":
			s.Key, ok = d.str(kp, v), true
			if s.Key == "" {
				d.errorf(kp, "must not be empty (leave it out for a key made from the job's content)")
			}
		default:
			return false
		}
		return true
	})
	if _, has := t["type"]; !has && len(d.errs) == before {
		d.errorf(p.key("type"), "missing: every job needs a type")
	}
	if len(d.errs) == before {
		if err := s.Validate(); err != nil {
			d.wrap(p, err)
		} else if s.Schedule != "" {
			// The master's own check (the cron syntax, and the floor of
			// "@every"), here so that the error names this file and line.
			if err := master.CheckSchedule(s.Schedule, s.Timezone); err != nil {
				d.wrap(p.key("schedule"), err)
			}
		}
	}
	return s, ok
}

// specHash returns the hex SHA-256 of a canonical encoding of s's content.
// Keys of jobs already submitted depend on it: do not change the encoding.
// Each field is written as "name len:value\n"; args are sorted by name;
// the timeout is in nanoseconds.
func specHash(s *jobs.Spec) string {
	h := sha256.New()
	field(h, "type", s.Type)
	for _, k := range slices.Sorted(maps.Keys(s.Args)) {
		field(h, "arg", k)
		field(h, "value", s.Args[k])
	}
	field(h, "priority", strconv.Itoa(s.Priority))
	field(h, "retries", strconv.Itoa(s.Retries))
	field(h, "timeout", strconv.FormatInt(int64(s.Timeout), 10))
	field(h, "group", s.Group)
	// Fields added later are hashed only when set, so the keys of jobs
	// that do not use them stay the same.
	for _, t := range s.Tags {
		field(h, "tag", t)
	}
	// In a fixed order: ranging over a map would make the key of a spec
	// with two of these fields differ from one load to the next.
	for _, f := range [][2]string{{"limit_key", s.LimitKey}, {"unique_key", s.UniqueKey}} {
		if f[1] != "" {
			field(h, f[0], f[1])
		}
	}
	if s.UniqueFor != 0 {
		field(h, "unique_for", strconv.FormatInt(int64(s.UniqueFor), 10))
	}
	if !s.RunAt.IsZero() {
		field(h, "run_at", s.RunAt.UTC().Format(time.RFC3339Nano))
	}
	if s.Delay != 0 {
		field(h, "delay", strconv.FormatInt(int64(s.Delay), 10))
	}
	for _, f := range [][2]string{{"input", s.Input}, {"name", s.Name}, {"schedule", s.Schedule},
		{"overlap", s.Overlap}, {"timezone", s.Timezone}, {"catch_up", s.CatchUp}} {
		if f[1] != "" {
			field(h, f[0], f[1])
		}
	}
	if s.Broadcast {
		field(h, "broadcast", "true")
	}
	if s.Then != nil {
		field(h, "then", specHash(s.Then))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func field(h hash.Hash, name, value string) {
	fmt.Fprintf(h, "%s %d:%s\n", name, len(value), value)
}
