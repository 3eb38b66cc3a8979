package vpn

import (
	"net/netip"
	"slices"
)

// Defaults follow wg-quick: the fwmark and the table share one number.
const (
	DefaultInterface = "wgt0"
	DefaultFwMark    = 51820
	DefaultTable     = 51820
	// Rule priorities identify our rules, also those a crashed run left.
	// The suppress rule must be looked at first: it lets the main table
	// answer for everything but its default route (LAN, loopback).
	rulePrioLAN      = 5207
	rulePrioSuppress = 5208
	rulePrioTunnel   = 5209
)

// RoutePlan is what the tunnel installs besides the device itself, as data,
// so it can be checked without root.
type RoutePlan struct {
	Table  int
	FwMark uint32
	// Routes are destinations sent into the tunnel, in Table.
	Routes []netip.Prefix
	// Unreachable defaults sit in Table behind the tunnel's routes: a family
	// the tunnel cannot carry, or any traffic while the interface is gone,
	// fails fast here instead of falling through to the uplink.
	Unreachable []netip.Prefix
	// LAN ranges are looked up in the main table before anything else, so
	// that answers to a LAN host that is not on a directly connected
	// subnet (a browser behind Docker's NAT) leave by the LAN's gateway
	// instead of the tunnel. Sockets bound to the tunnel are unaffected,
	// and the kill switch still decides what may go there.
	LAN []netip.Prefix
}

// planRoutes derives the routing for whole-namespace isolation.
func planRoutes(cfg *Config, table int, fwmark uint32, lan []netip.Prefix) RoutePlan {
	p := RoutePlan{Table: table, FwMark: fwmark}
	for _, l := range lan {
		if l = l.Masked(); l.IsValid() && !slices.Contains(p.LAN, l) {
			p.LAN = append(p.LAN, l)
		}
	}
	var has4, has6 bool
	for _, a := range cfg.Interface.Addresses {
		if a.Addr().Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	for _, peer := range cfg.Peers {
		for _, ip := range peer.AllowedIPs {
			ip = ip.Masked()
			if (ip.Addr().Is4() && !has4) || (ip.Addr().Is6() && !has6) {
				continue
			}
			if !slices.Contains(p.Routes, ip) {
				p.Routes = append(p.Routes, ip)
			}
		}
	}
	p.Unreachable = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	return p
}
