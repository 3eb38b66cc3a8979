package portfwd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/natpmp"
)

// script is a gateway whose answers the test writes: each request takes
// the next answer (a public port, or an error).
type script struct {
	mu      sync.Mutex
	answers []any // uint16 or error
	calls   []string
}

func (s *script) Map(_ context.Context, p natpmp.Protocol, internal, external uint16, lifetime time.Duration) (natpmp.Mapping, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf("%s %d->%d %s", p, external, internal, lifetime))
	if lifetime == 0 {
		return natpmp.Mapping{Protocol: p}, nil
	}
	if len(s.answers) == 0 {
		return natpmp.Mapping{}, errors.New("script: no more answers")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	if err, ok := a.(error); ok {
		return natpmp.Mapping{}, err
	}
	return natpmp.Mapping{Protocol: p, Internal: internal, External: a.(uint16), Lifetime: lifetime}, nil
}

// run drives a Forwarder through steps waits (each wait returns at once)
// and reports the waits asked for, the ports listened on and the states
// seen after each wait.
func run(t *testing.T, gw *script, steps int) (waits []time.Duration, listened []uint16, states []State) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var f *Forwarder
	f = New(Options{Mapper: gw, Port: 6881,
		Listen: func(p uint16) error { listened = append(listened, p); return nil },
		After: func(d time.Duration) <-chan time.Time {
			waits = append(waits, d)
			states = append(states, f.State())
			if len(waits) == steps {
				cancel()
			}
			c := make(chan time.Time, 1)
			c <- time.Time{}
			return c
		},
	})
	f.Run(ctx)
	return waits, listened, states
}

// TestFollowsThePublicPort: the gateway forwards 40000, not the port asked
// for: the engine listens on 40000 and asks for it again; renewals come
// every 45 s of 60; at the end the mappings are deleted.
func TestFollowsThePublicPort(t *testing.T) {
	gw := &script{answers: []any{uint16(40000), uint16(40000), uint16(40000), uint16(40000), uint16(40000), uint16(40000)}}
	waits, listened, states := run(t, gw, 2)
	if !slices.Equal(listened, []uint16{40000}) {
		t.Errorf("listened on %v, want [40000]", listened)
	}
	if !slices.Equal(waits, []time.Duration{45 * time.Second, 45 * time.Second}) {
		t.Errorf("waits %v, want two renewals 45 s apart", waits)
	}
	if s := states[0]; s.Phase != Mapped || s.Port != 40000 || s.Until.IsZero() {
		t.Errorf("state %+v, want mapped 40000", s)
	}
	want := []string{
		"tcp 6881->6881 1m0s", "udp 40000->6881 1m0s", // the gateway's choice differs
		"tcp 0->6881 0s", "udp 0->6881 0s", // the mapping to our old port dropped
		"tcp 40000->40000 1m0s", "udp 40000->40000 1m0s", // asked again as ours
		"tcp 40000->40000 1m0s", "udp 40000->40000 1m0s", // renewal
		"tcp 0->40000 0s", "udp 0->40000 0s", // released
	}
	if !slices.Equal(gw.calls, want) {
		t.Errorf("requests\n%q\nwant\n%q", gw.calls, want)
	}
}

// TestFailuresBackOff: refusals are retried 5 s, 10 s, 20 s apart, the
// state says why; a later success resets it and a changed port is
// followed.
func TestFailuresBackOff(t *testing.T) {
	refused := &natpmp.ResultError{Code: 2}
	gw := &script{answers: []any{refused, refused, refused, uint16(6881), uint16(6881), uint16(41000), uint16(41000), uint16(41000), uint16(41000)}}
	waits, listened, states := run(t, gw, 5)
	if !slices.Equal(waits, []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 45 * time.Second, 45 * time.Second}) {
		t.Errorf("waits %v", waits)
	}
	if s := states[0]; s.Phase != Failed || s.Err != refused.Error() {
		t.Errorf("state after a refusal %+v", s)
	}
	if s := states[3]; s.Phase != Mapped || s.Port != 6881 {
		t.Errorf("state after success %+v, want mapped 6881", s)
	}
	if !slices.Equal(listened, []uint16{41000}) || states[4].Port != 41000 {
		t.Errorf("after the gateway moved the port: listened %v, state %+v", listened, states[4])
	}
}

// TestNudgeAsksAtOnce: a nudge (the tunnel is back) makes the next request
// without waiting for the renewal.
func TestNudgeAsksAtOnce(t *testing.T) {
	gw := &script{answers: []any{uint16(6881), uint16(6881), uint16(6881), uint16(6881)}}
	ctx, cancel := context.WithCancel(context.Background())
	waits := make(chan time.Duration, 4)
	f := New(Options{Mapper: gw, Port: 6881, Listen: func(uint16) error { return nil },
		After: func(d time.Duration) <-chan time.Time { waits <- d; return nil }, // never fires
	})
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	<-waits // mapped, waiting for the renewal
	f.Nudge()
	<-waits // asked again at once
	cancel()
	<-done
	want := []string{"tcp 6881->6881 1m0s", "udp 6881->6881 1m0s", "tcp 6881->6881 1m0s", "udp 6881->6881 1m0s", "tcp 0->6881 0s", "udp 0->6881 0s"}
	if !slices.Equal(gw.calls, want) {
		t.Errorf("requests %q, want %q", gw.calls, want)
	}
}

// TestOfflineReleasesNothing: once the tunnel is gone for good, stopping
// does not wait on a gateway that cannot hear.
func TestOfflineReleasesNothing(t *testing.T) {
	gw := &script{answers: []any{uint16(6881), uint16(6881)}}
	ctx, cancel := context.WithCancel(context.Background())
	waits := make(chan time.Duration, 1)
	f := New(Options{Mapper: gw, Port: 6881, Listen: func(uint16) error { return nil },
		After: func(d time.Duration) <-chan time.Time { waits <- d; return nil },
	})
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	<-waits
	f.Offline()
	cancel()
	<-done
	if want := []string{"tcp 6881->6881 1m0s", "udp 6881->6881 1m0s"}; !slices.Equal(gw.calls, want) {
		t.Errorf("requests %q, want %q", gw.calls, want)
	}
}

// TestListensOnlyOnceMapped: an engine that listens nowhere yet is told to
// listen on the first mapping, even one to the port asked for, and only
// then; a refusal makes it listen nowhere.
func TestListensOnlyOnceMapped(t *testing.T) {
	refused := &natpmp.ResultError{Code: 2}
	gw := &script{answers: []any{refused, uint16(6881), uint16(6881), uint16(6881), uint16(6881)}}
	ctx, cancel := context.WithCancel(context.Background())
	var listened []uint16
	var states []State
	var f *Forwarder
	f = New(Options{Mapper: gw, Port: 6881, NotListening: true,
		Listen: func(p uint16) error { listened = append(listened, p); return nil },
		After: func(time.Duration) <-chan time.Time {
			states = append(states, f.State())
			if len(states) == 3 {
				cancel()
			}
			c := make(chan time.Time, 1)
			c <- time.Time{}
			return c
		},
	})
	f.Run(ctx)
	if states[0].Phase != Failed {
		t.Errorf("first state %+v, want failed", states[0])
	}
	if !slices.Equal(listened, []uint16{6881}) {
		t.Errorf("listened on %v, want [6881] once, after the first mapping", listened)
	}
	if s := states[1]; s.Phase != Mapped || s.Port != 6881 {
		t.Errorf("state %+v, want mapped 6881", s)
	}
}
