package jobs

import "testing"

// BenchmarkCheckpointWrite writes chunks of finished jobs with fresh Seqs
// to drover.db, as a checkpoint does.
func BenchmarkCheckpointWrite(b *testing.B) {
	db, err := openBoltDB(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.close()
	const n = 16384
	js := make([]*Job, n)
	for i := range js {
		js[i] = storeJob(uint64(i + 1))
		js[i].State = Succeeded
		js[i].Attempts = []Attempt{{N: 1, Worker: "w1", Outcome: OK}}
	}
	saved := 0
	for b.Loop() {
		for _, j := range js {
			j.Seq += n
		}
		if err := db.save(Records(js...), nil); err != nil {
			b.Fatal(err)
		}
		saved += n
	}
	b.ReportMetric(float64(saved)/b.Elapsed().Seconds(), "jobs/s")
}
