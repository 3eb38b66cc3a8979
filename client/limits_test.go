package client

import (
	"net"
	"testing"
	"time"
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
