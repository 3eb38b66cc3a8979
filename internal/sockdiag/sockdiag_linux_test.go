package sockdiag

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
)

// TestUIDOfOwnSocket: the kernel names this process's user as the owner of
// its own loopback connection, for both ends and both families, and a
// socket that does not exist is ErrNotFound.
func TestUIDOfOwnSocket(t *testing.T) {
	c, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, network := range []string{"tcp4", "tcp6"} {
		ln, err := net.Listen(network, map[string]string{"tcp4": "127.0.0.1:0", "tcp6": "[::1]:0"}[network])
		if err != nil {
			t.Logf("%s: %v (skipped)", network, err)
			continue
		}
		d, err := net.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		a, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []net.Conn{d, a} {
			uid, err := c.UID(s.LocalAddr(), s.RemoteAddr())
			if err != nil || uid != uint32(os.Geteuid()) {
				t.Errorf("%s: UID(%v, %v) = %d, %v; want %d", network, s.LocalAddr(), s.RemoteAddr(), uid, err, os.Geteuid())
			}
		}
		gone := &net.TCPAddr{IP: d.LocalAddr().(*net.TCPAddr).IP, Port: 1}
		if _, err := c.UID(gone, d.RemoteAddr()); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: a socket that does not exist: %v, want ErrNotFound", network, err)
		}
		d.Close()
		a.Close()
		ln.Close()
	}
}

// TestBoundListsWhatAcceptsFromAnyone: listening TCP sockets and
// unconnected UDP ones are listed with their addresses; a connected UDP
// socket and an accepted TCP connection are not.
func TestBoundListsWhatAcceptsFromAnyone(t *testing.T) {
	c, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ln6, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln6.Close()
	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	open, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	connected, err := net.Dial("udp4", open.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer connected.Close()

	has := func(list []netip.AddrPort, a net.Addr) bool {
		return slices.Contains(list, netip.MustParseAddrPort(a.String()))
	}
	tcp, err := c.Bound(TCP)
	if err != nil {
		t.Fatal(err)
	}
	if !has(tcp, ln.Addr()) || !has(tcp, ln6.Addr()) {
		t.Errorf("TCP %v lacks the listeners %v, %v", tcp, ln.Addr(), ln6.Addr())
	}
	if has(tcp, conn.LocalAddr()) {
		t.Errorf("TCP %v lists the connection's end %v", tcp, conn.LocalAddr())
	}
	udp, err := c.Bound(UDP)
	if err != nil {
		t.Fatal(err)
	}
	if !has(udp, open.LocalAddr()) || has(udp, connected.LocalAddr()) {
		t.Errorf("UDP %v: want %v, not the connected %v", udp, open.LocalAddr(), connected.LocalAddr())
	}
}
