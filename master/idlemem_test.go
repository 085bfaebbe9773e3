package master

import (
	"testing"
	"time"
)

func TestIdleRelease(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name      string
		from, now heapSample
		want      bool
	}{
		{"idle after a burst", heapSample{allocs: 900 * mib}, heapSample{allocs: 901 * mib, held: 1100 * mib, live: 600 * mib}, true},
		{"still busy", heapSample{allocs: 900 * mib}, heapSample{allocs: 990 * mib, held: 1100 * mib, live: 600 * mib}, false},
		{"idle, little to return", heapSample{allocs: 900 * mib}, heapSample{allocs: 900 * mib, held: 700 * mib, live: 600 * mib}, false},
		{"idle, small heap", heapSample{allocs: 9 * mib}, heapSample{allocs: 9 * mib, held: 60 * mib, live: 10 * mib}, false},
		{"idle, small heap, much garbage", heapSample{allocs: 9 * mib}, heapSample{allocs: 9 * mib, held: 100 * mib, live: 10 * mib}, true},
	} {
		if got := idleRelease(tc.from, tc.now, 2*time.Second); got != tc.want {
			t.Errorf("%s: idleRelease = %v, want %v", tc.name, got, tc.want)
		}
	}
}
