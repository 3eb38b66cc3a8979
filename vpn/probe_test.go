package vpn

import (
	"testing"
	"time"
)

// TestProberSchedule follows a tunnel second by second: traffic, then
// quiet (probes spaced out), then broken (a probe every 5 s until the
// server answers), then traffic again.
func TestProberSchedule(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var p prober
	var probes []int // seconds since t0
	traffic := t0
	state := func(s int) State {
		if s >= 60 && s < 80 {
			return StateStale
		}
		return StateUp
	}
	for s := 0; s <= 100; s++ {
		if s <= 3 || s >= 85 {
			traffic = t0.Add(time.Duration(s) * time.Second)
		}
		if p.due(t0.Add(time.Duration(s)*time.Second), state(s), traffic) {
			probes = append(probes, s)
		}
	}
	want := []int{8, 18, 38, 60, 65, 70, 75, 80}
	if len(probes) != len(want) {
		t.Fatalf("probes at %v s, want %v", probes, want)
	}
	for i := range want {
		if probes[i] != want[i] {
			t.Fatalf("probes at %v s, want %v", probes, want)
		}
	}
}

// TestHandshakeIsNotTraffic: a handshake response and a keepalive move the
// received counter but not trafficAt, which the prober goes by.
func TestHandshakeIsNotTraffic(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	var h healthTracker
	st := peerStats{LastHandshake: t0, RxBytes: 10_000, TxBytes: 5_000}
	h.observe(t0, true, st)
	st.RxBytes += 92 + 32
	h.observe(t0.Add(10*time.Second), true, st)
	if !h.trafficAt.Equal(t0) {
		t.Fatalf("trafficAt moved to %v on a handshake's bytes", h.trafficAt)
	}
	st.RxBytes += 1400
	h.observe(t0.Add(11*time.Second), true, st)
	if !h.trafficAt.Equal(t0.Add(11 * time.Second)) {
		t.Fatalf("trafficAt %v after a data packet, want t0+11s", h.trafficAt)
	}
}
