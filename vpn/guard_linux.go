//go:build linux

package vpn

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// This file lets the owner of a tunnel check, while it runs, that the
// policy routing it installed is still in the kernel, and put back what
// someone removed (another program, `ip rule flush`, a network manager).
// It adds nothing to what Up installs.

// RoutingProblems lists what of the tunnel's routing is missing: ip rules,
// the unreachable defaults of its table and, while its interface exists,
// the routes through it (described with "dev"; right after the supervisor
// recreated the interface they may be missing for a moment). Empty means
// all there.
func (t *Tunnel) RoutingProblems() ([]string, error) {
	var missing []string
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if t.opt.NetNS != nil {
			break // an isolated tunnel has no rules
		}
		have, err := netlink.RuleList(fam)
		if err != nil {
			if fam == unix.AF_INET6 {
				continue // IPv6 disabled
			}
			return nil, fmt.Errorf("vpn: list ip rules: %w", err)
		}
		for _, want := range t.rules() {
			if want.Family != fam {
				continue
			}
			if !slices.ContainsFunc(have, func(r netlink.Rule) bool { return sameRule(want, &r) }) {
				missing = append(missing, "ip rule "+describeRule(want))
			}
		}
	}
	routes, err := t.missingRoutes()
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.LinkIndex != 0 {
			missing = append(missing, fmt.Sprintf("route %s dev %s table %d", r.Dst, t.opt.Interface, r.Table))
		} else {
			missing = append(missing, fmt.Sprintf("route %s table %d", r.Dst, r.Table))
		}
	}
	return missing, nil
}

// RestoreRouting adds back the missing rules and routes.
func (t *Tunnel) RestoreRouting() error {
	var errs []error
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if t.opt.NetNS != nil {
			break // an isolated tunnel has no rules
		}
		have, err := netlink.RuleList(fam)
		if err != nil {
			continue
		}
		for _, want := range t.rules() {
			if want.Family != fam || slices.ContainsFunc(have, func(r netlink.Rule) bool { return sameRule(want, &r) }) {
				continue
			}
			if err := netlink.RuleAdd(want); err != nil && !errors.Is(err, unix.EEXIST) {
				errs = append(errs, fmt.Errorf("vpn: restore rule priority %d: %w", want.Priority, err))
			}
		}
	}
	routes, err := t.missingRoutes()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, r := range routes {
		if err := t.nl.RouteReplace(r); err != nil && !isNoIPv6(prefixOf(r.Dst), err) {
			errs = append(errs, fmt.Errorf("vpn: restore route %s table %d: %w", r.Dst, r.Table, err))
		}
	}
	return errors.Join(errs...)
}

// missingRoutes are the plan's routes not in the kernel. The routes through
// the interface count only while it exists: the supervisor rebuilds it,
// routes included.
func (t *Tunnel) missingRoutes() ([]*netlink.Route, error) {
	var want []*netlink.Route
	for _, dst := range t.plan.Unreachable {
		want = append(want, unreachableRoute(dst, t.plan.Table))
	}
	if link, err := t.nl.LinkByName(t.opt.Interface); err == nil {
		for _, dst := range t.plan.Routes {
			want = append(want, &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(dst), Table: t.plan.Table, Scope: netlink.SCOPE_LINK})
		}
	}
	var missing []*netlink.Route
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		have, err := t.nl.RouteListFiltered(fam, &netlink.Route{Table: t.plan.Table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			if fam == unix.AF_INET6 {
				continue
			}
			return nil, fmt.Errorf("vpn: list routes of table %d: %w", t.plan.Table, err)
		}
		for _, w := range want {
			if (w.Dst.IP.To4() != nil) != (fam == unix.AF_INET) {
				continue
			}
			typ := w.Type
			if typ == 0 {
				typ = unix.RTN_UNICAST // as the kernel lists what was added without a type
			}
			found := slices.ContainsFunc(have, func(r netlink.Route) bool {
				return routeDst(r.Dst, fam) == w.Dst.String() && r.Type == typ &&
					(w.LinkIndex == 0 || r.LinkIndex == w.LinkIndex)
			})
			if !found {
				missing = append(missing, w)
			}
		}
	}
	return missing, nil
}

func sameRule(want *netlink.Rule, r *netlink.Rule) bool {
	if r.Priority != want.Priority || r.Table != want.Table || r.Mark != want.Mark || r.Invert != want.Invert ||
		r.SuppressPrefixlen != want.SuppressPrefixlen {
		return false
	}
	return ipNetString(r.Dst) == ipNetString(want.Dst)
}

func describeRule(r *netlink.Rule) string {
	s := fmt.Sprintf("priority %d", r.Priority)
	if r.Mark != 0 {
		not := ""
		if r.Invert {
			not = "not "
		}
		s += fmt.Sprintf(" %sfwmark %d", not, r.Mark)
	}
	if r.Dst != nil {
		s += " to " + r.Dst.String()
	}
	s += fmt.Sprintf(" lookup %d", r.Table)
	if r.SuppressPrefixlen >= 0 {
		s += fmt.Sprintf(" suppress_prefixlength %d", r.SuppressPrefixlen)
	}
	if r.Family == unix.AF_INET6 {
		s = "-6 " + s
	}
	return s
}

func ipNetString(n *net.IPNet) string {
	if n == nil {
		return ""
	}
	return n.String()
}

func prefixOf(n *net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

// routeDst renders a listed route's destination; a default route may be
// listed without one.
func routeDst(n *net.IPNet, fam int) string {
	if n != nil {
		return n.String()
	}
	if fam == unix.AF_INET6 {
		return "::/0"
	}
	return "0.0.0.0/0"
}
