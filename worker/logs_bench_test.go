package worker

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/drover/drover/rpcapi"
)

// BenchmarkLogFinish: ending an attempt's log with 5,000 ended logs
// already in log_dir, under the bounds.
func BenchmarkLogFinish(b *testing.B) {
	dir := b.TempDir()
	for i := range 5000 {
		d := filepath.Join(dir, fmt.Sprintf("%d.1", i))
		if err := os.Mkdir(d, 0o700); err != nil {
			b.Fatal(err)
		}
		for _, name := range logStreams {
			if err := os.WriteFile(filepath.Join(d, name), []byte("x"), 0o600); err != nil {
				b.Fatal(err)
			}
		}
	}
	s := newLogStore(&Config{LogDir: dir, LogMaxBytes: 1 << 30, LogMaxAge: time.Hour, Logger: logrus.New()})
	s.prune(time.Now())
	for i := 0; b.Loop(); i++ {
		a := s.open(rpcapi.JobRef{JobID: "b" + fmt.Sprint(i), Attempt: 1})
		a.writer(rpcapi.StreamStdout).Write([]byte("line\n"))
		s.finish(a)
	}
}
