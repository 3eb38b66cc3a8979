package session

import (
	"context"
	"net/netip"

	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Firewall is the kill switch as the session drives it: killswitch.Firewall
// in the kernel, or a fake that records the order of calls in the
// session's unit tests.
type Firewall interface {
	Apply(killswitch.RuleSet) error
	Verify(killswitch.RuleSet) error
	Remove() error
	Status() (killswitch.Status, error)
	Watch() (changes <-chan struct{}, stop func(), err error)
}

// Tunnel is the WireGuard tunnel as the session and the front ends use it:
// *vpn.Tunnel, or a fake.
type Tunnel interface {
	Status() vpn.Status
	Interface() string
	Addresses() []netip.Prefix
	Rebuilt() <-chan struct{}
	RoutingProblems() ([]string, error)
	RestoreRouting() error
	// Switch moves the tunnel to another server (failover).
	Switch(cfg *vpn.Config, endpoints []netip.AddrPort) error
	// Readdress sends to new addresses of the same server.
	Readdress(endpoints []netip.AddrPort) error
	Close() error
}

// upFunc brings the tunnel up (vpn.Up).
type upFunc func(context.Context, *vpn.Config, vpn.Options) (Tunnel, error)

func vpnUp(ctx context.Context, cfg *vpn.Config, o vpn.Options) (Tunnel, error) {
	t, err := vpn.Up(ctx, cfg, o)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return t, nil
}

var (
	_ Firewall = killswitch.Firewall{}
	_ Tunnel   = (*vpn.Tunnel)(nil)
)
