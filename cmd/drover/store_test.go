package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/internal/testproc"
	"github.com/drover/drover/jobs"
)

// TestPrintStoreLost: `drover store check` lists the lost jobs, the stale
// ones and the ranges the damage may have held, runs of consecutive IDs
// as ranges, and leaves out what is empty.
func TestPrintStoreLost(t *testing.T) {
	var b strings.Builder
	printStoreLost(&b, jobs.LostJobs{IDs: []uint64{1, 2, 3, 7}, Stale: []uint64{9},
		Ranges: []jobs.IDRange{{From: 20, To: 29}, {From: 31, To: 31}}})
	want := "jobs lost (no version reads): 1..3, 7\n" +
		"jobs kept as they were before a lost update: 9\n" +
		"IDs the damaged parts may have held (none of them kept): 20..29, 31\n"
	if b.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	printStoreLost(&b, jobs.LostJobs{MaybeOlder: []uint64{4}})
	if b.String() != "" {
		t.Errorf("nothing lost, stale or in a range printed %q", b.String())
	}
}

// crashedMaster starts a master (bolt store, no workers), submits batches
// of per jobs, one submit each, waits for the spare log segment made
// ahead of need, and kills it with SIGKILL. It returns the cluster's dir
// and the data dir.
func crashedMaster(t *testing.T, batches, per int) (string, string) {
	t.Helper()
	c := testproc.StartCluster(t, testproc.ClusterConfig{})
	for range batches {
		specs := make([]jobs.Spec, per)
		for i := range specs {
			specs[i] = jobs.Spec{Type: "echo", Args: map[string]string{"text": "hi"}}
		}
		c.Submit(specs...)
	}
	data := filepath.Join(c.Dir, "data")
	spare := filepath.Join(data, jobs.LogDir, "0000000000000001.wal")
	testproc.Poll(t, 10*time.Second, "the spare log segment", func() bool {
		_, err := os.Stat(spare)
		return err == nil
	})
	c.Master.Kill()
	return c.Dir, data
}

// restartDamaged starts the master of dir again on its damaged data dir
// and wants it to refuse to start, saying each of want.
func restartDamaged(t *testing.T, dir string, want ...string) {
	t.Helper()
	m := testproc.Options{Name: "master"}.Start(t, testproc.Drover(t), "master", "--config", filepath.Join(dir, "master.toml"))
	if !m.WaitExit(20 * time.Second) {
		t.Fatal("the master started on a damaged data dir")
	}
	if m.Err() == nil {
		t.Fatalf("the master exited 0 on a damaged data dir:\n%s", m.Output())
	}
	for _, w := range append([]string{"is damaged", "nothing was changed"}, want...) {
		if !strings.Contains(m.Output(), w) {
			t.Fatalf("the master's refusal does not say %q:\n%s", w, m.Output())
		}
	}
}

// storeCheck runs "drover store check" on data and wants exit 1 and a
// report that says each of want.
func storeCheck(t *testing.T, data string, want ...string) {
	t.Helper()
	r := testproc.Options{Timeout: 30 * time.Second}.Run(t, testproc.Drover(t), "store", "check", "--data-dir", data)
	if r.Code != 1 {
		t.Fatalf("store check: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, w := range append([]string{"DAMAGED", "a master refuses this data dir"}, want...) {
		if !strings.Contains(r.Stdout, w) {
			t.Fatalf("store check does not say %q:\n%s", w, r.Stdout)
		}
	}
	t.Logf("store check:\n%s", r.Stdout)
}

// TestStoreOldestSegmentDeleted is the outside tester's report, with the
// real binary: 35 jobs acknowledged, kill -9, the first log segment
// deleted, only the empty spare left. store check and the master's start
// both report the segment missing and the IDs its jobs may have had; the
// master does not start.
func TestStoreOldestSegmentDeleted(t *testing.T) {
	dir, data := crashedMaster(t, 35, 1)
	if err := os.Remove(filepath.Join(data, jobs.LogDir, "0000000000000000.wal")); err != nil {
		t.Fatal(err)
	}
	missing := "log segment 0000000000000000.wal is missing"
	storeCheck(t, data, "[missing-segment]", missing, "every frame after LSN 0", "IDs the damaged parts may have held")
	restartDamaged(t, dir, missing, "every frame after LSN 0")
}

// TestStoreLastFrameDamaged: 10 submits of 10 jobs, kill -9, one byte of
// the last frame overwritten. Every sector of the frame holds data: it is
// damage, not a torn tail, and its jobs are named lost.
func TestStoreLastFrameDamaged(t *testing.T) {
	dir, data := crashedMaster(t, 10, 10)
	seg := filepath.Join(data, jobs.LogDir, "0000000000000000.wal")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// The frames: after the 16-byte header, a length, a CRC, the body.
	off, last := int64(16), int64(-1)
	for n := int64(binary.LittleEndian.Uint32(b[off:])); n > 0; n = int64(binary.LittleEndian.Uint32(b[off:])) {
		last, off = off, off+8+n
	}
	if last < 0 {
		t.Fatal("no frame in the log")
	}
	for s := last / 512 * 512; s < off; s += 512 {
		if bytes.Count(b[max(s, last):min(s+512, off)], []byte{0}) == int(min(s+512, off)-max(s, last)) {
			t.Fatalf("the last frame (%d..%d) has a sector of zeros at %d", last, off, s)
		}
	}
	b[(last+off)/2] ^= 0xff
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	at := fmt.Sprintf("0000000000000000.wal at offset %d: checksum mismatch", last)
	storeCheck(t, data, "[bad-frame]", at, "not a torn tail", "jobs lost (no version reads): 91..100")
	restartDamaged(t, dir, at, "job IDs 91..100")
}
