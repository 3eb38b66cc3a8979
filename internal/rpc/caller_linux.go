package rpc

import (
	"net"

	"github.com/wgtorrent/wgtorrent/internal/sockdiag"
)

// socketUID asks the kernel (sock_diag) which user owns the TCP socket
// with these ends, in this process's network namespace: the same answer
// `ss -e` gives. The daemon's worker, which may live in another namespace
// than its RPC connections, sets Options.PeerUID instead.
func socketUID(local, remote net.Addr) (uint32, error) {
	c, err := sockdiag.Open()
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.UID(local, remote)
}
