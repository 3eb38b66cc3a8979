package vpn

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/conn"
)

// ErrNoHandshake means the server never answered within the timeout.
var ErrNoHandshake = errors.New("no handshake")

// Options tune Up. The zero value gives wg-quick's defaults.
type Options struct {
	Interface        string           // default DefaultInterface
	FwMark           uint32           // default: config FwMark, else DefaultFwMark
	Table            int              // default: config Table if numeric, else DefaultTable
	Endpoints        []netip.AddrPort // one per peer, resolved; nil: resolve with the system resolver
	HandshakeTimeout time.Duration    // default 15s
	// LAN ranges are routed by the main table, outside the tunnel (see
	// RoutePlan.LAN): the kill switch's allowed LAN.
	LAN []netip.Prefix
	// NetNS, when set, is where the tunnel's interface goes: a private
	// namespace whose only way out it becomes (its routes go in that
	// namespace's main table, no policy rules, no fwmark routing). The
	// WireGuard UDP socket stays in the process's own namespace, and the
	// process's namespace is not touched at all.
	NetNS Namespace
	// Bind carries the encrypted packets; nil = wireguard-go's default,
	// sockets in the process's namespace.
	Bind   conn.Bind
	Logger *slog.Logger
}

// Namespace is a network namespace the tunnel's interface can live in
// (internal/netns.NS).
type Namespace interface {
	// Do runs fn on a thread inside the namespace.
	Do(fn func() error) error
	// Fd is the namespace's descriptor.
	Fd() int
}
