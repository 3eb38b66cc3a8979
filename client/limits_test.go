package client

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
)

// TestSilentSince: after an outage, the connections that received nothing
// since the tunnel was last up are the ones to close; one that did is kept.
func TestSilentSince(t *testing.T) {
	var p peerConns
	conn := func() (ours, theirs net.Conn) {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		c, err := net.Dial("tcp4", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(); s.Close() })
		return p.track(c, true), s
	}
	quiet, _ := conn()
	talking, peer := conn()
	lastUp := time.Now()
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := talking.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	silent := p.silentSince(lastUp)
	if len(silent) != 1 || silent[0] != quiet.(*limitedConn) {
		t.Fatalf("silent %v, want only the quiet connection", silent)
	}
	quiet.Close()
	if s := p.silentSince(time.Now().Add(time.Hour)); len(s) != 1 || s[0] != talking.(*limitedConn) {
		t.Fatalf("a closed connection is still listed: %v", s)
	}
}

// TestRedialFromTheAbortedPort: a connection aborted after an outage is
// dialled again from its local port (what lets a peer that still holds it
// through the same VPN server let the new one in); once connected, the
// port is forgotten until the next abort.
func TestRedialFromTheAbortedPort(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	face, err := newNetFace(loopback)
	if err != nil {
		t.Fatal(err)
	}
	p := &peerConns{}
	d := limitedDialer{torrent.NetworkDialer{Network: "tcp4", Dialer: face.peerDialer("tcp4")}, p, face}
	first, err := d.Dial(t.Context(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	port := first.LocalAddr().(*net.TCPAddr).Port
	first.(*limitedConn).abort()
	again, err := d.Dial(t.Context(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.LocalAddr().(*net.TCPAddr).Port; got != port {
		t.Errorf("dialled again from port %d, want the aborted connection's %d", got, port)
	}
	if kept := p.keptPort(netip.MustParseAddrPort(l.Addr().String())); kept != 0 {
		t.Errorf("port %d still kept after a connection was made from it", kept)
	}
}
