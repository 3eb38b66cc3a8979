package client

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// fakeTimers records what the redialer schedules; fire runs one by hand.
type fakeTimers struct {
	mu  sync.Mutex
	now time.Time
	due []fakeTimer
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped *bool
}

type stopFlag struct{ p *bool }

func (s stopFlag) Stop() bool { *s.p = true; return true }

func (ft *fakeTimers) after(d time.Duration, f func()) interface{ Stop() bool } {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	stopped := new(bool)
	ft.due = append(ft.due, fakeTimer{d, f, stopped})
	return stopFlag{stopped}
}

// next pops the last scheduled timer that was not stopped.
func (ft *fakeTimers) next(t *testing.T) fakeTimer {
	t.Helper()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for len(ft.due) > 0 {
		tm := ft.due[len(ft.due)-1]
		ft.due = ft.due[:len(ft.due)-1]
		if !*tm.stopped {
			return tm
		}
	}
	t.Fatal("no redial scheduled")
	return fakeTimer{}
}

func (ft *fakeTimers) pending() int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	n := 0
	for _, tm := range ft.due {
		if !*tm.stopped {
			n++
		}
	}
	return n
}

func TestRedialBackoff(t *testing.T) {
	ih := metainfo.Hash{1}
	ap := netip.MustParseAddrPort("10.0.0.7:51413")
	stranger := netip.MustParseAddrPort("10.0.0.8:6881")
	want := true
	var dialed []netip.AddrPort
	r := newRedialer(func(metainfo.Hash) bool { return want }, func(_ metainfo.Hash, a netip.AddrPort) { dialed = append(dialed, a) })
	ft := &fakeTimers{now: time.Unix(1e9, 0)}
	r.after, r.now = ft.after, func() time.Time { return ft.now }

	r.ended(stranger) // never connected: not ours to redial
	if n := ft.pending(); n != 0 {
		t.Fatalf("%d redials scheduled for a peer never connected", n)
	}

	// A seeder that refuses every new connection (it holds our dead one):
	// the delay doubles up to the cap, and every firing dials. A redial
	// ends twice (its first attempt fails, the handshake of the second
	// is closed): one step of backoff all the same.
	var delays []time.Duration
	r.connected(ap, ih)
	for range 8 {
		ft.now = ft.now.Add(time.Second)
		r.ended(ap)
		tm := ft.next(t)
		delays = append(delays, tm.d)
		ft.now = ft.now.Add(tm.d)
		tm.f()
		r.ended(ap)
		r.connected(ap, ih)
	}
	wantDelays := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute, time.Minute}
	for i := range wantDelays {
		if delays[i] != wantDelays[i] {
			t.Fatalf("delays %v, want %v", delays, wantDelays)
		}
	}
	if len(dialed) != 8 {
		t.Fatalf("dialed %d times, want 8", len(dialed))
	}

	// A connection that lasted restarts the backoff.
	r.connected(ap, ih)
	ft.now = ft.now.Add(2 * time.Minute)
	r.ended(ap)
	if tm := ft.next(t); tm.d != redialFirst {
		t.Errorf("after a lasting connection the first redial waits %v, want %v", tm.d, redialFirst)
	}

	// A failed dial continues the backoff; a second report while one
	// redial is pending schedules nothing more.
	r.connected(ap, ih)
	r.ended(ap)
	r.ended(ap)
	if n := ft.pending(); n != 1 {
		t.Errorf("%d redials pending after two reports, want 1", n)
	}

	// A torrent that no longer wants data: no dial, the peer is forgotten.
	want = false
	dialed = nil
	ft.next(t).f()
	if len(dialed) != 0 {
		t.Errorf("dialed %v for a torrent that wants nothing", dialed)
	}
	r.ended(ap)
	if n := ft.pending(); n != 0 {
		t.Errorf("%d redials scheduled for a forgotten peer", n)
	}

	// Closed: nothing is scheduled any more.
	want = true
	r.connected(ap, ih)
	r.close()
	r.ended(ap)
	if n := ft.pending(); n != 0 {
		t.Errorf("%d redials scheduled after close", n)
	}
}

// refusingSeeder answers the BitTorrent handshake and then closes, as
// Transmission does to a second connection from an address it already
// has a (dead) connection with. It counts the connections.
func refusingSeeder(t *testing.T, ih metainfo.Hash) (netip.AddrPort, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				var peerID [20]byte
				copy(peerID[:], "-TR3000-refusing0000")
				var in [68]byte
				if _, err := io.ReadFull(c, in[:]); err != nil || !bytes.Equal(in[28:48], ih[:]) {
					return
				}
				var out bytes.Buffer
				out.WriteString(pp.Protocol)
				out.Write(make([]byte, 8))
				out.Write(ih[:])
				out.Write(peerID[:])
				if _, err := c.Write(out.Bytes()); err != nil {
					return
				}
				conns <- struct{}{}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), conns
}

// TestRedialAfterRefusal: a peer that completes the handshake and closes
// is dialed again within seconds, without any tracker (anacrolix alone
// would wait for the next announce, and there is none here).
func TestRedialAfterRefusal(t *testing.T) {
	e := newEngine(t, Options{DataDir: t.TempDir()})
	mi := makeContent(t, t.TempDir(), "refused")
	m, err := metainfo.Load(bytes.NewReader(mi))
	if err != nil {
		t.Fatal(err)
	}
	ap, conns := refusingSeeder(t, m.HashInfoBytes())
	if _, err := addMetainfo(e, mi, AddOptions{Peers: []netip.AddrPort{ap}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(30 * time.Second)
	for n := 0; n < 3; n++ {
		select {
		case <-conns:
		case <-deadline:
			t.Fatalf("%d connections to the refusing seeder in 30 s, want 3 (the first and two redials)", n)
		}
	}
}
