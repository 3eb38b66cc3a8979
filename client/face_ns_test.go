package client

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/anacrolix/torrent"
)

// countingNS stands in for a network namespace: it counts the sockets
// made through it.
type countingNS struct{ n atomic.Int32 }

func (c *countingNS) Do(fn func() error) error { c.n.Add(1); return fn() }

// TestEverySocketMadeInTheNamespace: with Binding.NetNS, every kind of
// socket the engine makes (tracker and webseed dials, DNS, UDP tracker
// sockets, listeners, peer dials) is made through the namespace.
func TestEverySocketMadeInTheNamespace(t *testing.T) {
	ns := &countingNS{}
	lo := netip.MustParseAddr("127.0.0.1")
	f, err := newNetFace(Binding{IPv4: lo, DNS: []netip.Addr{lo}, NetNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	steps := []struct {
		what string
		do   func() (interface{ Close() error }, error)
	}{
		{"tracker dial", func() (interface{ Close() error }, error) {
			return f.DialContext(context.Background(), "tcp4", ln.Addr().String())
		}},
		{"DNS dial", func() (interface{ Close() error }, error) { return f.dialDNS(context.Background(), "udp", "") }},
		{"UDP tracker socket", func() (interface{ Close() error }, error) { return f.ListenPacket("udp4", ":0") }},
		{"TCP listener", func() (interface{ Close() error }, error) {
			return f.listenTCP("tcp4", netip.AddrPortFrom(lo, 0))
		}},
		{"DHT socket", func() (interface{ Close() error }, error) {
			return f.listenPacket("udp4", netip.AddrPortFrom(lo, 0))
		}},
		{"peer dial", func() (interface{ Close() error }, error) {
			d := limitedDialer{torrent.NetworkDialer{Network: "tcp4", Dialer: f.peerDialer("tcp4")}, &peerConns{}, f}
			return d.Dial(context.Background(), ln.Addr().String())
		}},
	}
	for _, s := range steps {
		before := ns.n.Load()
		c, err := s.do()
		if err != nil {
			t.Errorf("%s: %v", s.what, err)
			continue
		}
		c.Close()
		if ns.n.Load() != before+1 {
			t.Errorf("%s: made outside the namespace (%d calls through it, want 1)", s.what, ns.n.Load()-before)
		}
	}
}
