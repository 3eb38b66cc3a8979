package sockdiag

import (
	"errors"
	"net"
	"os"
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
