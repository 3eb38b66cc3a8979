//go:build linux

package netlab

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

const (
	natTable    = "netlab-nat"
	faultsTable = "netlab-faults"
)

// setupMasquerade makes VPN host h hide tunnel clients behind its uplink
// address, as a commercial VPN server does.
func (l *Lab) setupMasquerade(h *Host) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		return fmt.Errorf("netlab: nftables in %s: %w", h.Name, err)
	}
	add := func(family nftables.TableFamily, srcOffset, addrLen uint32, mask, network []byte) {
		t := c.AddTable(&nftables.Table{Family: family, Name: natTable})
		ch := c.AddChain(&nftables.Chain{
			Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
			Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource,
		})
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(HostIface)},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: srcOffset, Len: addrLen},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: addrLen, Mask: mask, Xor: make([]byte, addrLen)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: network},
			&expr.Masq{},
		}})
	}
	// ip saddr 100.64.0.0/24 oifname eth0 masquerade
	add(nftables.TableFamilyIPv4, 12, 4, []byte{255, 255, 255, 0}, TunnelNet4.Addr().AsSlice())
	if l.opt.IPv6Tunnel {
		mask := make([]byte, 16)
		for i := range 8 {
			mask[i] = 0xff
		}
		// ip6 saddr fd00:64::/64 oifname eth0 masquerade
		add(nftables.TableFamilyIPv6, 8, 16, mask, TunnelNet6.Addr().AsSlice())
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netlab: %s masquerade rules: %w", h.Name, err)
	}
	return nil
}

// blockedPort is a transport port the ISP drops, both directions.
type blockedPort struct {
	proto byte // unix.IPPROTO_UDP, unix.IPPROTO_TCP
	port  uint16
}

// BlockUDPAtISP makes the ISP drop forwarded UDP to and from port (e.g. the
// WireGuard server's), as a censoring or broken network would.
func (l *Lab) BlockUDPAtISP(port uint16) error {
	return l.block(blockedPort{unix.IPPROTO_UDP, port}, true)
}

// UnblockUDPAtISP undoes BlockUDPAtISP.
func (l *Lab) UnblockUDPAtISP(port uint16) error {
	return l.block(blockedPort{unix.IPPROTO_UDP, port}, false)
}

// BlockTCPAtISP makes the ISP drop forwarded TCP to and from port: a peer
// then reachable by uTP only (traffic leaving the VPN server crosses the
// ISP too).
func (l *Lab) BlockTCPAtISP(port uint16) error {
	return l.block(blockedPort{unix.IPPROTO_TCP, port}, true)
}

func (l *Lab) block(b blockedPort, on bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.blocked = slices.DeleteFunc(l.blocked, func(x blockedPort) bool { return x == b })
	if on {
		l.blocked = append(l.blocked, b)
	}
	return l.applyFaultsLocked()
}

func (l *Lab) applyFaultsLocked() error {
	c, err := nftables.New(nftables.WithNetNSFd(int(l.ISP.ns)))
	if err != nil {
		return fmt.Errorf("netlab: nftables in isp: %w", err)
	}
	t := &nftables.Table{Family: nftables.TableFamilyINet, Name: faultsTable}
	ch := &nftables.Chain{
		Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter,
	}
	if l.faultsTable {
		c.FlushChain(ch)
	} else {
		c.AddTable(t)
		c.AddChain(ch)
	}
	for _, b := range l.blocked {
		for _, off := range []uint32{0, 2} { // sport, dport (UDP and TCP alike)
			c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{b.proto}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(b.port)},
				&expr.Verdict{Kind: expr.VerdictDrop},
			}})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("netlab: isp fault rules (blocked %v): %w", l.blocked, err)
	}
	l.faultsTable = true
	return nil
}

// ifname pads an interface name as the kernel compares it (IFNAMSIZ bytes).
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}
