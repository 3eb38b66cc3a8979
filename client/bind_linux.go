//go:build linux

package client

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// bindToDevice returns a net.Dialer/ListenConfig Control func that pins the
// socket to iface with SO_BINDTODEVICE before it connects or binds, so the
// kernel can never route it out of another interface, whatever its source
// address or the routing table says.
func bindToDevice(iface string) func(network, address string, c syscall.RawConn) error {
	if iface == "" {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, iface)
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("client: bind %s socket for %s to device %q: %w", network, address, iface, err)
		}
		return nil
	}
}
