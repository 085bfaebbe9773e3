package master

// A fire's schedule record goes into the commit of its job (cron.go,
// "Durability"): fireWrite carries it through the submit.

import (
	"context"
	"time"

	"github.com/drover/drover/jobs"
)

// fireWrite carries a fire's schedule record into the submit of its job,
// whose commit writes it with the job (committer.addFresh), and brings
// back what became of it. The submit runs on the scheduler's goroutine,
// which alone reads and writes it.
type fireWrite struct {
	metas []jobs.MetaRecord
	// Set by the submit once the job's commit is done: written when the
	// record was committed with the job; storeErr when the commit failed,
	// so that neither is durable. Both stay unset when the submit made no
	// new job (its key is known, or it failed before its commit).
	written  bool
	storeErr error
}

// records returns the meta records to commit with the job (nil for no
// fire).
func (fw *fireWrite) records() []jobs.MetaRecord {
	if fw == nil {
		return nil
	}
	return fw.metas
}

// settle notes the outcome of the job's commit: err is the commit's
// error, metaErr that of the records when the store wrote them apart
// (batch.metaErr).
func (fw *fireWrite) settle(err, metaErr error) {
	if fw == nil {
		return
	}
	fw.storeErr = err
	fw.written = err == nil && metaErr == nil
}

type fireWriteKey struct{}

// withFireWrite returns ctx for the submit of a fire's job.
func withFireWrite(ctx context.Context, fw *fireWrite) context.Context {
	if fw == nil {
		return ctx
	}
	return context.WithValue(ctx, fireWriteKey{}, fw)
}

// fireWriteOf returns the fireWrite withFireWrite put in ctx, or nil.
func fireWriteOf(ctx context.Context) *fireWrite {
	fw, _ := ctx.Value(fireWriteKey{}).(*fireWrite)
	return fw
}

// submitFire submits the job of schedule name's fire at instant at, and
// returns its ID (the existing job's, if one has the fire's key). fw, if
// not nil, goes with the submit (fireWrite).
func (c *core) submitFire(name string, spec jobs.Spec, at time.Time, fw *fireWrite) (string, error) {
	js := jobSpec(spec)
	js.Key = fireKey(name, at)
	ctx := withFireWrite(withSubmitter(context.Background(), fireSubmitter(name)), fw)
	return c.submit(ctx, js)
}
