package vpn

import (
	"testing"
	"time"
)

func TestReturnWatch(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	var w ReturnWatch
	steps := []struct {
		st   State
		back bool
	}{
		{StateConnecting, false}, // start-up is no outage
		{StateUp, false},
		{StateUp, false},
		{StateStale, false},
		{StateDown, false},
		{StateUp, true}, // back: lastUp is the step before the outage
		{StateUp, false},
	}
	for i, s := range steps {
		lastUp, back := w.Observe(s.st, t0.Add(time.Duration(i)*time.Second))
		if back != s.back {
			t.Fatalf("step %d (%s): back=%v, want %v", i, s.st, back, s.back)
		}
		if back && !lastUp.Equal(t0.Add(2*time.Second)) {
			t.Fatalf("lastUp %v, want the last up before the outage", lastUp.Sub(t0))
		}
	}
}
