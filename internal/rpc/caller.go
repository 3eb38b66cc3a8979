package rpc

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
)

// A caller on this machine is identified by the kernel, not trusted for
// being local: without a password, only root and the daemon's own user may
// drive the daemon over loopback. Every other local user could otherwise
// make it write anywhere it can, with its rights.

type callerKey struct{}

// caller is who opened a connection, as far as the kernel says.
type caller struct {
	loopback bool
	uid      uint32
	known    bool // uid was read from the kernel
	err      error
}

// ConnContext records who opened c; an http.Server must use it (its
// ConnContext field) for Handler to admit local callers without a password.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	cl := caller{}
	if ra, ok := c.RemoteAddr().(*net.TCPAddr); ok && ra.IP.IsLoopback() {
		cl.loopback = true
		// The caller's socket is the one whose local end is our remote end.
		cl.uid, cl.err = s.o.PeerUID(c.RemoteAddr(), c.LocalAddr())
		cl.known = cl.err == nil
	}
	return context.WithValue(ctx, callerKey{}, cl)
}

// localCallerAllowed admits a loopback caller without a password when the
// kernel says it is root or the daemon's user. A connection of unknown
// origin (no ConnContext) is refused: the check fails closed.
func (s *Server) localCallerAllowed(w http.ResponseWriter, r *http.Request) bool {
	cl, ok := r.Context().Value(callerKey{}).(caller)
	switch {
	case !ok:
		http.Error(w, "403: Forbidden: the daemon cannot tell who is calling; set an RPC username and password", http.StatusForbidden)
		return false
	case !cl.loopback:
		// Beyond loopback without a password: only listeners in --lan
		// ranges are allowed that (CheckListenAddr), by the user's choice.
		return true
	case !cl.known:
		s.log.Warn("rpc: cannot identify a local caller; refused", "err", cl.err)
		http.Error(w, "403: Forbidden: the daemon cannot identify local callers on this system; set an RPC username and password", http.StatusForbidden)
		return false
	case cl.uid == 0 || cl.uid == uint32(os.Geteuid()):
		return true
	}
	http.Error(w, fmt.Sprintf("403: Forbidden: without an RPC password this daemon answers only root and its own user (uid %d); you are uid %d. Ask its owner for the RPC username and password (--rpc-username, --rpc-password).", os.Geteuid(), cl.uid), http.StatusForbidden)
	return false
}
