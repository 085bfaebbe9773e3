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

	"slices"

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

// walSegments lists the log segments of the data dir data, in order.
func walSegments(t *testing.T, data string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(data, jobs.LogDir))
	if err != nil {
		t.Fatal(err)
	}
	var segs []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			segs = append(segs, e.Name())
		}
	}
	slices.Sort(segs)
	return segs
}

// sameDamage wants each damage line of the store check report (the
// "  - [kind] " lines) said as it is in the master's refusal.
func sameDamage(t *testing.T, report, refusal string) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(report, "\n") {
		if !strings.HasPrefix(l, "  - [") {
			continue
		}
		n++
		d := l[strings.Index(l, "] ")+2:]
		if !strings.Contains(refusal, d) {
			t.Fatalf("the master's refusal does not name the damage as store check does:\n%s\nrefusal:\n%s", d, refusal)
		}
	}
	if n == 0 {
		t.Fatalf("no damage line in the report:\n%s", report)
	}
}

// storeCheckReport runs "drover store check" on data and returns its
// stdout, wanting exit code want.
func storeCheckReport(t *testing.T, data string, want int) string {
	t.Helper()
	r := testproc.Options{Timeout: 30 * time.Second}.Run(t, testproc.Drover(t), "store", "check", "--data-dir", data)
	if r.Code != want {
		t.Fatalf("store check: exit %d, want %d\n%s%s", r.Code, want, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// refusal starts the master of dir on its damaged data dir, wants it to
// refuse, saying what restartDamaged wants, and returns what it said.
func refusal(t *testing.T, dir string) string {
	t.Helper()
	m := testproc.Options{Name: "master"}.Start(t, testproc.Drover(t), "master", "--config", filepath.Join(dir, "master.toml"))
	if !m.WaitExit(20*time.Second) || m.Err() == nil {
		t.Fatalf("the master started on a damaged data dir:\n%s", m.Output())
	}
	for _, w := range []string{"is damaged", "nothing was changed"} {
		if !strings.Contains(m.Output(), w) {
			t.Fatalf("the master's refusal does not say %q:\n%s", w, m.Output())
		}
	}
	return m.Output()
}

// TestStoreNewestSegmentsDeleted: jobs of 4 KiB submitted until the log
// has rotated (a sealed segment waiting for its checkpoint, the current
// one, the spare), kill -9, then the current segment and the spare
// deleted. The log left ends cleanly, but drover.db says segments up to
// the spare were made: store check and the master's refusal both name
// them missing, in the same words, and the jobs acknowledged in them
// lost.
func TestStoreNewestSegmentsDeleted(t *testing.T) {
	c := testproc.StartCluster(t, testproc.ClusterConfig{})
	data := filepath.Join(c.Dir, "data")
	blob := strings.Repeat("x", 4<<10)
	deadline := time.Now().Add(60 * time.Second)
	submitted := 0
	for len(walSegments(t, data)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the log did not rotate after %d jobs: segments %v", submitted, walSegments(t, data))
		}
		specs := make([]jobs.Spec, 200)
		for i := range specs {
			specs[i] = jobs.Spec{Type: "echo", Args: map[string]string{"text": blob}}
		}
		c.Submit(specs...)
		submitted += len(specs)
	}
	c.Master.Kill()
	segs := walSegments(t, data)
	t.Logf("%d jobs submitted; segments after kill -9: %v", submitted, segs)
	if len(segs) < 2 {
		t.Fatalf("segments %v, want at least the current one and the spare", segs)
	}
	newest := segs[len(segs)-2:]
	for _, s := range newest {
		if err := os.Remove(filepath.Join(data, jobs.LogDir, s)); err != nil {
			t.Fatal(err)
		}
	}
	// With a sealed segment left, the log left ends cleanly: drover.db
	// names the current segment as made (and the spare, unless the kill
	// came before that was written: the spare then had no frame); with
	// none (its checkpoint was done), no segment is left at all.
	want := []string{"log segment", " " + newest[0], "(the newest segments deleted)", "if they held any"}
	if len(segs) == 2 {
		want = []string{"holds no log segment"}
	}
	report := storeCheckReport(t, data, 1)
	for _, w := range append([]string{"DAMAGED (1 problem)", "a master refuses this data dir"}, want...) {
		if !strings.Contains(report, w) {
			t.Fatalf("store check does not say %q:\n%s", w, report)
		}
	}
	t.Logf("store check:\n%s", report)
	sameDamage(t, report, refusal(t, c.Dir))
}

// TestStoreSpareDeleted: the empty segment made ahead of need deleted
// after kill -9. Nothing tells it from a current segment that held
// jobs: it is named missing, "if they held any", and the master does
// not start.
//
// The spare's file appears just before drover.db records it: a kill
// between the two leaves a spare drover.db does not name, which holds
// nothing, and deleting it is no damage (store check says sound). Then
// the test crashes another master, up to five.
func TestStoreSpareDeleted(t *testing.T) {
	want := "log segment 0000000000000001.wal is missing: drover.db says segments up to 0000000000000001.wal were made, but the log ends at 0000000000000000.wal (the newest segments deleted)"
	for try := 1; ; try++ {
		dir, data := crashedMaster(t, 5, 1)
		if err := os.Remove(filepath.Join(data, jobs.LogDir, "0000000000000001.wal")); err != nil {
			t.Fatal(err)
		}
		r := testproc.Options{Timeout: 30 * time.Second}.Run(t, testproc.Drover(t), "store", "check", "--data-dir", data)
		if r.Code == 0 && strings.Contains(r.Stdout, ": sound") && try < 5 {
			t.Logf("try %d: the master was killed before drover.db named its spare (store check: sound); again", try)
			continue
		}
		storeCheck(t, data, "[missing-segment]", want, "if they held any")
		sameDamage(t, storeCheckReport(t, data, 1), refusal(t, dir))
		return
	}
}

// TestStoreSegmentRenamed: after kill -9 the first log segment is
// renamed, to another number, to another name in wal/, and into the data
// dir. store check names it once, as renamed, with the name to give it
// back, and nothing lost; the master refuses in the same words; renamed
// back, the data dir is sound.
func TestStoreSegmentRenamed(t *testing.T) {
	dir, data := crashedMaster(t, 5, 1)
	seg := filepath.Join(data, jobs.LogDir, "0000000000000000.wal")
	for _, to := range []string{
		filepath.Join(data, jobs.LogDir, "0000000000000007.wal"),
		seg + ".bak",
		filepath.Join(data, "segment.old"),
	} {
		if err := os.Rename(seg, to); err != nil {
			t.Fatal(err)
		}
		report := storeCheckReport(t, data, 1)
		for _, w := range []string{"DAMAGED (1 problem)", "[renamed-segment] " + to + ": is log segment 0000000000000000.wal under another name",
			"rename it back to " + seg} {
			if !strings.Contains(report, w) {
				t.Fatalf("renamed to %s: store check does not say %q:\n%s", to, w, report)
			}
		}
		for _, not := range []string{"no acknowledged frame", "[missing-segment]", "[bad-segment]", "[log-gap]", "IDs the damaged parts may have held"} {
			if strings.Contains(report, not) {
				t.Fatalf("renamed to %s: store check says %q:\n%s", to, not, report)
			}
		}
		t.Logf("store check:\n%s", report)
		sameDamage(t, report, refusal(t, dir))
		if err := os.Rename(to, seg); err != nil {
			t.Fatal(err)
		}
		if r := storeCheckReport(t, data, 0); !strings.Contains(r, ": sound") {
			t.Fatalf("renamed back: %s", r)
		}
	}
}
