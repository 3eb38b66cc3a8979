//go:build linux

package netlab

import (
	"fmt"
	"net"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// NetworkState describes what a program must leave alone on h when it
// promises not to touch the host's network: links, ip rules, the routes
// of every table and the nftables ruleset. The kernel's own IPv6
// link-local and multicast routes are left out: they appear by themselves
// once a link's IPv6 is ready.
func (h *Host) NetworkState() (string, error) {
	var b strings.Builder
	links, err := h.nl.LinkList()
	if err != nil {
		return "", fmt.Errorf("netlab: %s: list links: %w", h.Name, err)
	}
	for _, l := range links {
		// Up or down, not "running": carrier comes a moment after a link
		// is set up, by itself.
		fmt.Fprintf(&b, "link %s up=%v\n", l.Attrs().Name, l.Attrs().Flags&net.FlagUp != 0)
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := h.nl.RuleList(fam)
		if err != nil {
			return "", fmt.Errorf("netlab: %s: list rules: %w", h.Name, err)
		}
		for _, r := range rules {
			fmt.Fprintf(&b, "rule %s\n", r)
		}
		routes, err := h.nl.RouteListFiltered(fam, &netlink.Route{Table: 0}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return "", fmt.Errorf("netlab: %s: list routes: %w", h.Name, err)
		}
		for _, r := range routes {
			if r.Dst != nil && (r.Dst.IP.IsLinkLocalUnicast() || r.Dst.IP.IsMulticast()) {
				continue
			}
			fmt.Fprintf(&b, "route %s\n", r)
		}
	}
	nft, err := nftables.New(nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		return "", fmt.Errorf("netlab: %s: nftables: %w", h.Name, err)
	}
	tables, err := nft.ListTables()
	if err != nil {
		return "", fmt.Errorf("netlab: %s: list tables: %w", h.Name, err)
	}
	chains, err := nft.ListChains()
	if err != nil {
		return "", fmt.Errorf("netlab: %s: list chains: %w", h.Name, err)
	}
	for _, tb := range tables {
		fmt.Fprintf(&b, "nft table %d %s\n", tb.Family, tb.Name)
		for _, ch := range chains {
			if ch.Table.Name != tb.Name || ch.Table.Family != tb.Family {
				continue
			}
			rules, err := nft.GetRules(tb, ch)
			if err != nil {
				return "", fmt.Errorf("netlab: %s: list rules of %s/%s: %w", h.Name, tb.Name, ch.Name, err)
			}
			fmt.Fprintf(&b, "nft chain %s/%s: %d rules\n", tb.Name, ch.Name, len(rules))
			for _, r := range rules {
				fmt.Fprintf(&b, "  %d %x\n", r.Handle, r.UserData)
			}
		}
	}
	return b.String(), nil
}
