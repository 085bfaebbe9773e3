package master

import (
	"cmp"
	"strings"
	"unicode/utf8"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// Reply sizes. A listing page ends before the item that would bring its
// estimated size past max_reply_bytes (maxReplyBytes), so the estimate
// must bound the encoded size from above in every transport: a job's
// strings as textBytes counts them, plus fixed overheads for the members
// around them (XML-RPC's tags are the largest). TestReplyCapHostile
// checks the bound against the real encoders.
const (
	pageOverhead    = 1024 // the reply around a page's items, and the cursor
	jobOverhead     = 3072 // the job's and its spec's fixed members
	attemptOverhead = 768
	eventOverhead   = 192
	itemOverhead    = 64 // an arg, tag or child
	// The same allowances for a worker, a group, a lane of the queues
	// view (and each of its reasons: eventOverhead) and an attention item.
	workerOverhead    = 1024
	groupOverhead     = 512
	queueOverhead     = 1536
	attentionOverhead = 384
)

// textBytes bounds the bytes s takes once encoded in a reply by any
// transport. XML-RPC writes &, <, > and \r as entities (up to 5 bytes)
// and a byte of invalid UTF-8 as U+FFFD (3); JSON writes <, >, & and
// control characters as \u00XX (6), " and \ as two bytes, a byte of
// invalid UTF-8 as \ufffd (6) and U+2028 and U+2029 as \u2028 (6 for 3);
// gob writes s as it is.
func textBytes(s string) int {
	n := len(s)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == '&' || c == '<' || c == '>' || c == 0x7f:
				n += 5
			case c == '"' || c == '\\':
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5
		case r == '\u2028' || r == '\u2029':
			n += 3
		}
		i += size
	}
	return n
}

// jobReplyBytes bounds the encoded size of j in a reply (list_jobs): the
// encoded size of its strings plus fixed overheads. It encodes nothing.
func jobReplyBytes(j *jobs.Job) int {
	n := jobOverhead + len(j.ID) + specBytes(&j.Spec) + textBytes(j.Worker) + textBytes(j.Parent) + textBytes(j.Pin) + textBytes(j.Submitter)
	if t := j.Spec.Then; t != nil {
		n += jobOverhead + specBytes(t)
	}
	for i := range j.Attempts {
		a := &j.Attempts[i]
		n += attemptOverhead + textBytes(a.Worker) + textBytes(a.Error) + textBytes(a.Output) + textBytes(a.Data)
		for k, v := range a.Stats {
			n += itemOverhead + textBytes(k) + textBytes(v)
		}
	}
	for i := range j.Events {
		n += eventOverhead + textBytes(j.Events[i].Text)
	}
	for _, c := range j.Children {
		n += itemOverhead + len(c)
	}
	return n
}

func specBytes(s *jobs.Spec) int {
	n := textBytes(s.Type) + textBytes(s.Group) + textBytes(s.Key) + textBytes(s.LimitKey) + textBytes(s.UniqueKey) +
		textBytes(s.Input) + textBytes(s.Name) + textBytes(s.Schedule)
	for k, v := range s.Args {
		n += itemOverhead + textBytes(k) + textBytes(v)
	}
	for _, t := range s.Tags {
		n += itemOverhead + textBytes(t)
	}
	return n
}

// viewBytes bounds the encoded size of j in a JSON listing (rpcapi.ViewJob).
func viewBytes(j *jobs.Job) int {
	n := jobOverhead/2 + len(j.ID) + textBytes(j.Spec.Type) + textBytes(j.Spec.Group) + textBytes(j.Worker)
	for k, v := range j.Spec.Args {
		n += itemOverhead + textBytes(k) + textBytes(v)
	}
	if k := len(j.Attempts); k > 0 {
		e := j.Attempts[k-1].Error
		n += textBytes(e[:min(len(e), rpcapi.MaxListError)]) + 4
	}
	return n
}

// workerReplyBytes bounds the encoded size of wi in a reply.
func workerReplyBytes(wi *rpcapi.WorkerInfo) int {
	n := workerOverhead + textBytes(wi.ID) + textBytes(wi.Name) + textBytes(wi.Addr)
	for _, t := range wi.Types {
		n += itemOverhead + textBytes(t)
	}
	for _, t := range wi.Tags {
		n += itemOverhead + textBytes(t)
	}
	return n + len(wi.Jobs)*(itemOverhead+32)
}

// capAttention keeps the first items of att that fit in max bytes of a
// reply (the first one always), and returns how many it left out and the
// size of those it kept.
func capAttention(att []rpcapi.Attention, max int) (kept []rpcapi.Attention, more, size int) {
	for i := range att {
		a := &att[i]
		n := attentionOverhead + textBytes(a.Kind) + textBytes(a.Text) + textBytes(a.Link)
		if size+n > max && i > 0 {
			return att[:i], len(att) - i, size
		}
		size += n
	}
	return att, 0, size
}

// queueReplyBytes bounds the encoded size of v in a reply (list_queues,
// GET /api/v1/queues).
func queueReplyBytes(v *rpcapi.QueueView) int {
	n := queueOverhead + textBytes(v.Type) + textBytes(v.LimitKey) + textBytes(v.Pin)
	for _, t := range v.Tags {
		n += itemOverhead + textBytes(t)
	}
	for _, w := range v.Waiting {
		n += eventOverhead + textBytes(w.Reason)
	}
	return n
}

// capQueues keeps the first rows of the queues view that fit in max bytes
// (the first one always), and counts the others in more.
func capQueues(rows []rpcapi.QueueView, more, max int) ([]rpcapi.QueueView, int) {
	n := pageOverhead
	for i := range rows {
		if n += queueReplyBytes(&rows[i]); n > max && i > 0 {
			return rows[:i], more + len(rows) - i
		}
	}
	return rows, more
}

// capIDs keeps the first strings of list that fit in max bytes of a
// reply, each as textBytes counts it plus itemOverhead, and returns how
// many it left out.
func capIDs(list []string, max int) ([]string, int) {
	n := 0
	for i, s := range list {
		if n += itemOverhead + textBytes(s); n > max {
			return list[:i], len(list) - i
		}
	}
	return list, 0
}

// cmpIDs orders job IDs as their numbers.
func cmpIDs(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}
