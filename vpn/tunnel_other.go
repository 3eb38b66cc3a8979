//go:build !linux

package vpn

import (
	"context"
	"errors"
	"net"
	"net/netip"
)

var errNotLinux = errors.New("vpn: tunnels need Linux (TUN, netlink and policy routing)")

// Tunnel is a stub off Linux.
type Tunnel struct{}

func Up(context.Context, *Config, Options) (*Tunnel, error) { return nil, errNotLinux }
func ResolveEndpoints(context.Context, *Config, *net.Resolver) ([]netip.AddrPort, error) {
	return nil, errNotLinux
}
func (*Tunnel) Status() Status              { return Status{State: StateDown} }
func (*Tunnel) Close() error                { return nil }
func (*Tunnel) Interface() string           { return "" }
func (*Tunnel) FwMark() uint32              { return 0 }
func (*Tunnel) Endpoints() []netip.AddrPort { return nil }
func (*Tunnel) Addresses() []netip.Prefix   { return nil }
func (*Tunnel) Rebuilt() <-chan struct{}    { return nil }
func (*Tunnel) Done() <-chan struct{}       { return nil }
