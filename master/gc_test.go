package master

import "testing"

func TestBinaryGC(t *testing.T) {
	t.Setenv("GOGC", "")
	if got := BinaryGC(0); got != BinaryGCPercent {
		t.Errorf("BinaryGC(0) without GOGC = %d, want %d", got, BinaryGCPercent)
	}
	if got := BinaryGC(150); got != 150 {
		t.Errorf("BinaryGC(150) = %d", got)
	}
	t.Setenv("GOGC", "100")
	if got := BinaryGC(0); got != 0 {
		t.Errorf("BinaryGC(0) with GOGC set = %d, want 0 (the process's setting)", got)
	}
	for _, bad := range []int{5, -1, 20000} {
		c := Config{GCPercent: bad}
		if err := c.Validate(); err == nil {
			t.Errorf("GCPercent %d validated", bad)
		}
	}
}
