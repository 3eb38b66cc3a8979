package rpc

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// socketUID asks the kernel (sock_diag) which user owns the TCP socket
// with these ends: the same answer `ss -e` gives.
func socketUID(local, remote net.Addr) (uint32, error) {
	s, err := netlink.SocketGet(local, remote)
	if err != nil {
		return 0, fmt.Errorf("rpc: look up the socket %s -> %s: %w", local, remote, err)
	}
	return s.UID, nil
}
