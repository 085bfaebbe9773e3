package master

import "testing"

func TestGCPercentRange(t *testing.T) {
	for _, bad := range []int{5, -1, 20000} {
		c := Config{GCPercent: bad}
		if err := c.Validate(); err == nil {
			t.Errorf("GCPercent %d validated", bad)
		}
	}
	for _, ok := range []int{0, 10, 200, 10000} {
		c := Config{GCPercent: ok}
		if err := c.Validate(); err != nil {
			t.Errorf("GCPercent %d: %v", ok, err)
		}
	}
}
