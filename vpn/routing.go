package vpn

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
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

// defaultRoutes are the default routes of the families the tunnel has an
// address in: what the engine needs the tunnel to carry.
func (c *Config) defaultRoutes() []netip.Prefix {
	var has4, has6 bool
	for _, a := range c.Interface.Addresses {
		if a.Addr().Is4() {
			has4 = true
		} else {
			has6 = true
		}
	}
	var d []netip.Prefix
	if has4 {
		d = append(d, netip.MustParsePrefix("0.0.0.0/0"))
	}
	if has6 {
		d = append(d, netip.MustParsePrefix("::/0"))
	}
	return d
}

// ServerPeer is the index of the peer that carries the default route (its
// AllowedIPs cover every address of a family the tunnel has an address
// in): the VPN server, whose handshake and counters the status follows.
// With no such peer it is the first peer with an Endpoint (or 0), and ok
// is false.
func (c *Config) ServerPeer() (i int, ok bool) {
	for i, p := range c.Peers {
		for _, d := range c.defaultRoutes() {
			if covers(p.AllowedIPs, d) {
				return i, true
			}
		}
	}
	for i, p := range c.Peers {
		if p.EndpointHost != "" {
			return i, false
		}
	}
	return 0, false
}

// ReachWarnings say which families the peers' AllowedIPs together do not
// cover in full: the engine's connections to addresses outside them go
// nowhere (nothing leaks, they time out), which a user would otherwise
// only see as torrents that never find peers.
func (c *Config) ReachWarnings() []string {
	var all []netip.Prefix
	for _, p := range c.Peers {
		all = append(all, p.AllowedIPs...)
	}
	var w []string
	for _, d := range c.defaultRoutes() {
		if covers(all, d) {
			continue
		}
		fam := "IPv4"
		if d.Addr().Is6() {
			fam = "IPv6"
		}
		w = append(w, fmt.Sprintf("AllowedIPs do not cover every %s address (no %s): the engine reaches only the addresses they list, and peers elsewhere time out", fam, d))
	}
	return w
}

// covers reports whether the union of ps holds every address of target.
// It splits target in halves only where a smaller prefix lies inside it,
// so its work grows with len(ps), not with the address space.
func covers(ps []netip.Prefix, target netip.Prefix) bool {
	inside := false
	for _, p := range ps {
		p = p.Masked()
		if p.Addr().Is4() != target.Addr().Is4() {
			continue
		}
		if p.Bits() <= target.Bits() && p.Contains(target.Addr()) {
			return true
		}
		if target.Contains(p.Addr()) {
			inside = true
		}
	}
	bits := target.Bits()
	if !inside || bits == target.Addr().BitLen() {
		return false
	}
	upper := target.Addr().AsSlice()
	upper[bits/8] |= 0x80 >> (bits % 8)
	hi, _ := netip.AddrFromSlice(upper)
	return covers(ps, netip.PrefixFrom(target.Addr(), bits+1)) && covers(ps, netip.PrefixFrom(hi, bits+1))
}

// rtTables are where iproute2 names routing tables, as wg-quick reads them.
var rtTables = []string{"/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables", "/usr/lib/iproute2/rt_tables"}

// routingTable is the table the tunnel's routes go in: the config's Table
// when it gives a number or a name iproute2 knows, else DefaultTable.
// The parser has refused the system's tables already; a name is checked
// here, once it is resolved.
func routingTable(in Interface, files []string) (int, error) {
	lineErr := func(format string, args ...any) error {
		return fmt.Errorf("vpn: Table on line %d: %s", in.TableLine, fmt.Sprintf(format, args...))
	}
	switch in.Table {
	case "", "auto", "off":
		return DefaultTable, nil
	}
	if n, err := strconv.ParseUint(in.Table, 10, 32); err == nil {
		return int(n), nil
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			line, _, _ = strings.Cut(line, "#")
			fields := strings.Fields(line)
			if len(fields) != 2 || fields[1] != in.Table {
				continue
			}
			n, err := strconv.ParseUint(fields[0], 0, 32)
			if err != nil {
				continue
			}
			for name, sys := range systemTables {
				if uint32(n) == sys {
					return 0, lineErr("%v", errSystemTable(name, sys))
				}
			}
			return int(n), nil
		}
	}
	return 0, lineErr("no routing table is named %q in %s: give the table's number instead", in.Table, strings.Join(files, " or "))
}
