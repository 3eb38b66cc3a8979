package vpn

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"
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
	LAN    []netip.Prefix
	Logger *slog.Logger
}
