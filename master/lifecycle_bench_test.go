package master

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/rpcapi"
)

// BenchmarkLifecycle runs jobs through a master's own methods, with no
// network: Submit a batch, Fetch it as a pull worker, Complete it. It
// measures the master's CPU and allocations per job (one op is one job)
// apart from the wire.
func BenchmarkLifecycle(b *testing.B) {
	for _, store := range []string{StoreMemory, StoreBolt} {
		b.Run("store="+store, func(b *testing.B) {
			m := startT(b, Config{Listen: "127.0.0.1:0", Store: store, DataDir: b.TempDir(), Logger: quietLog(),
				HeartbeatInterval: time.Minute, DeadAfter: time.Hour})
			ctx := context.Background()
			const batch = 1000
			var reg rpcapi.RegisterReply
			if err := m.wire.Register(ctx, &rpcapi.RegisterArgs{Name: "bench", Types: []string{"noop"}, Slots: batch,
				Mode: rpcapi.ModePull}, &reg); err != nil {
				b.Fatal(err)
			}
			specs := make([]jobs.Spec, batch)
			for i := range specs {
				specs[i] = jobs.Spec{Type: "noop"}
			}
			b.ReportAllocs()
			done := 0
			for b.Loop() {
				if done%batch == 0 {
					var sr rpcapi.SubmitReply
					if err := m.wire.Submit(ctx, &rpcapi.SubmitArgs{Specs: specs}, &sr); err != nil {
						b.Fatal(err)
					}
					var tasks []rpcapi.Task
					for len(tasks) < batch {
						var fr rpcapi.FetchReply
						if err := m.wire.Fetch(ctx, &rpcapi.FetchArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Timeout: time.Second}, &fr); err != nil {
							b.Fatal(err)
						}
						tasks = append(tasks, fr.Tasks...)
					}
					reps := make([]rpcapi.Report, len(tasks))
					for i, t := range tasks {
						reps[i] = rpcapi.Report{JobID: t.JobID, Attempt: t.Attempt, Outcome: jobs.OK}
					}
					var cr rpcapi.CompleteReply
					if err := m.wire.Complete(ctx, &rpcapi.CompleteArgs{WorkerID: reg.WorkerID, Secret: reg.Secret, Reports: reps}, &cr); err != nil {
						b.Fatal(err)
					}
					if cr.Accepted != batch {
						b.Fatal(fmt.Sprintf("accepted %d of %d", cr.Accepted, batch))
					}
				}
				done++
			}
		})
	}
}
