package master_test

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/drover/drover/jobs"
	"github.com/drover/drover/master"
)

// BenchmarkQueuesView: GET /api/v1/queues (and GET /api/v1/status, with
// its attention) on a master holding 100,000 pending jobs of a type no
// worker has, in one lane or spread over 10,000 limit keys (a lane each).
// The view costs O(lanes), not O(jobs).
func BenchmarkQueuesView(b *testing.B) {
	for _, keys := range []int{1, 10000} {
		b.Run(fmt.Sprintf("lanes=%d", keys), func(b *testing.B) {
			m := startAPIMaster(b, master.Config{})
			mc := client(b, m.Addr())
			const total, batch = 100000, 10000
			for i := 0; i < total; i += batch {
				specs := make([]jobs.Spec, batch)
				for k := range specs {
					specs[k] = jobs.Spec{Type: "ocr"}
					if keys > 1 {
						specs[k].LimitKey = fmt.Sprint("site-", (i+k)%keys)
					}
				}
				submit(b, mc, specs...)
			}
			for _, path := range []string{"queues", "status"} {
				b.Run(path, func(b *testing.B) {
					url := "http://" + m.Addr() + "/api/v1/" + path
					for b.Loop() {
						res, err := http.Get(url)
						if err != nil {
							b.Fatal(err)
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != 200 {
							b.Fatal(res.Status)
						}
					}
				})
			}
		})
	}
}
