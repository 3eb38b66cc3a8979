//go:build linux

package killswitch

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// This file turns RuleSet data into nftables expressions. It is pure too, and
// tested without root; firewall_linux.go sends the result to the kernel.

// TCP header flag bits (byte 13).
const (
	tcpSYN = 0x02
	tcpRST = 0x04
)

// maxComment is nft's limit on comments (it refuses longer ones when a
// listing is loaded back with nft -f).
const maxComment = 128

// exprs compiles a rule into the expressions nft itself would emit.
func (r Rule) exprs() ([]expr.Any, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	m := r.Match
	var out []expr.Any
	cmp := func(data []byte) {
		out = append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data})
	}
	meta := func(key expr.MetaKey) { out = append(out, &expr.Meta{Key: key, Register: 1}) }
	payload := func(base expr.PayloadBase, off, n uint32) {
		out = append(out, &expr.Payload{DestRegister: 1, Base: base, Offset: off, Len: n})
	}
	if m.ARPRequestFor.IsValid() {
		// Ethernet/IPv4 ARP (hlen 6, plen 4), operation request (1), target
		// protocol address at offset 24, as nft emits for
		// "arp operation request arp daddr ip A".
		payload(expr.PayloadBaseNetworkHeader, 4, 2)
		cmp([]byte{6, 4})
		payload(expr.PayloadBaseNetworkHeader, 6, 2)
		cmp(binaryutil.BigEndian.PutUint16(1))
		payload(expr.PayloadBaseNetworkHeader, 24, 4)
		cmp(m.ARPRequestFor.AsSlice())
	}

	// The family must be known before any network-header payload is read.
	switch m.family() {
	case IPv4:
		meta(expr.MetaKeyNFPROTO)
		cmp([]byte{unix.NFPROTO_IPV4})
	case IPv6:
		meta(expr.MetaKeyNFPROTO)
		cmp([]byte{unix.NFPROTO_IPV6})
	}
	if m.IIfName != "" {
		meta(expr.MetaKeyIIFNAME)
		cmp(ifname(m.IIfName))
	}
	if m.NotIIfName != "" {
		meta(expr.MetaKeyIIFNAME)
		out = append(out, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(m.NotIIfName)})
	}
	if m.OIfName != "" {
		meta(expr.MetaKeyOIFNAME)
		cmp(ifname(m.OIfName))
	}
	if m.Mark != 0 {
		meta(expr.MetaKeyMARK)
		cmp(binaryutil.NativeEndian.PutUint32(m.Mark))
	}
	// The protocol must be known before any transport-header payload is read.
	if m.L4Proto != 0 {
		meta(expr.MetaKeyL4PROTO)
		cmp([]byte{m.L4Proto})
	}
	if m.HopLimit != 0 {
		payload(expr.PayloadBaseNetworkHeader, 7, 1)
		cmp([]byte{m.HopLimit})
	}
	addr := func(p netip.Prefix, off4, off6 uint32) {
		if !p.IsValid() {
			return
		}
		off := off4
		if p.Addr().Is6() {
			off = off6
		}
		n := uint32(p.Addr().BitLen() / 8)
		payload(expr.PayloadBaseNetworkHeader, off, n)
		if !p.IsSingleIP() {
			out = append(out, &expr.Bitwise{
				SourceRegister: 1, DestRegister: 1, Len: n,
				Mask: prefixMask(p), Xor: make([]byte, n),
			})
		}
		cmp(p.Masked().Addr().AsSlice())
	}
	addr(m.SAddr, 12, 8)
	addr(m.DAddr, 16, 24)
	if m.SPort != 0 {
		payload(expr.PayloadBaseTransportHeader, 0, 2)
		cmp(binaryutil.BigEndian.PutUint16(m.SPort))
	}
	if m.DPort != 0 {
		payload(expr.PayloadBaseTransportHeader, 2, 2)
		cmp(binaryutil.BigEndian.PutUint16(m.DPort))
	}
	if m.ICMPv6Type != 0 {
		payload(expr.PayloadBaseTransportHeader, 0, 1)
		cmp([]byte{m.ICMPv6Type})
	}
	if m.TCPMidStream {
		payload(expr.PayloadBaseTransportHeader, 13, 1)
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{tcpSYN | tcpRST}, Xor: []byte{0}})
		cmp([]byte{0})
	}
	if m.FibSAddrNotLocal {
		out = append(out,
			&expr.Fib{Register: 1, FlagSADDR: true, ResultADDRTYPE: true},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
		)
	}
	if m.CTState != 0 {
		out = append(out,
			&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(m.CTState), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
		)
	}
	if r.Counter {
		out = append(out, &expr.Counter{})
	}
	switch r.Verdict {
	case Continue:
	case Accept:
		out = append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case Drop:
		out = append(out, &expr.Verdict{Kind: expr.VerdictDrop})
	case RejectTCPReset:
		if m.L4Proto != ProtoTCP {
			return nil, fmt.Errorf("tcp reset needs meta l4proto tcp")
		}
		out = append(out, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	case RejectAdminProhibited:
		out = append(out, &expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED})
	default:
		return nil, fmt.Errorf("unknown verdict %d", r.Verdict)
	}
	return out, nil
}

// comment stores the rule's reason as its nft comment, so `nft list` and
// Status show why each rule is there.
func (r Rule) comment() []byte {
	why := r.Why
	if len(why) > maxComment {
		why = why[:maxComment]
	}
	return userdata.AppendString(nil, userdata.TypeComment, why)
}

// decodeRule is the inverse of exprs for the expressions exprs emits, so that
// Status shows what the kernel really holds. ok is false for anything else.
func decodeRule(exprs []expr.Any) (r Rule, counter *expr.Counter, ok bool) {
	var load string // what register 1 holds
	var mask []byte
	var arp struct{ hdr, request bool }
	prefix := func(data []byte) (netip.Prefix, bool) {
		a, ok := netip.AddrFromSlice(data)
		if !ok {
			return netip.Prefix{}, false
		}
		bits := a.BitLen()
		if mask != nil {
			bits = 0
			for _, m := range mask {
				bits += popcount(m)
			}
		}
		return netip.PrefixFrom(a, bits), true
	}
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			load, mask = fmt.Sprintf("meta %d", e.Key), nil
		case *expr.Payload:
			load, mask = fmt.Sprintf("payload %d %d %d", e.Base, e.Offset, e.Len), nil
		case *expr.Ct:
			load, mask = fmt.Sprintf("ct %d", e.Key), nil
		case *expr.Fib:
			if *e != (expr.Fib{Register: 1, FlagSADDR: true, ResultADDRTYPE: true}) {
				return r, nil, false
			}
			load, mask = "fib saddr type", nil
		case *expr.Bitwise:
			mask = e.Mask
		case *expr.Cmp:
			d := e.Data
			if len(d) == 0 {
				return r, nil, false
			}
			if e.Op == expr.CmpOpNeq {
				switch {
				case load == fmt.Sprintf("ct %d", expr.CtKeySTATE) && len(mask) == 4:
					r.CTState = binaryutil.NativeEndian.Uint32(mask)
				case load == fmt.Sprintf("meta %d", expr.MetaKeyIIFNAME):
					r.NotIIfName = strings.TrimRight(string(d), "\x00")
				case load == "fib saddr type" && len(d) == 4 && binaryutil.NativeEndian.Uint32(d) == unix.RTN_LOCAL:
					r.FibSAddrNotLocal = true
				default:
					return r, nil, false
				}
				continue
			}
			var good bool
			switch load {
			case fmt.Sprintf("meta %d", expr.MetaKeyNFPROTO):
				r.Family, good = map[byte]Family{unix.NFPROTO_IPV4: IPv4, unix.NFPROTO_IPV6: IPv6}[d[0]]
			case fmt.Sprintf("meta %d", expr.MetaKeyIIFNAME):
				r.IIfName, good = strings.TrimRight(string(d), "\x00"), true
			case fmt.Sprintf("meta %d", expr.MetaKeyOIFNAME):
				r.OIfName, good = strings.TrimRight(string(d), "\x00"), true
			case fmt.Sprintf("meta %d", expr.MetaKeyMARK):
				r.Mark, good = binaryutil.NativeEndian.Uint32(d), len(d) == 4
			case fmt.Sprintf("meta %d", expr.MetaKeyL4PROTO):
				r.L4Proto, good = d[0], len(d) == 1
			case fmt.Sprintf("payload %d 7 1", expr.PayloadBaseNetworkHeader):
				r.HopLimit, good = d[0], true
			case fmt.Sprintf("payload %d 12 4", expr.PayloadBaseNetworkHeader),
				fmt.Sprintf("payload %d 8 16", expr.PayloadBaseNetworkHeader):
				r.SAddr, good = prefix(d)
			case fmt.Sprintf("payload %d 16 4", expr.PayloadBaseNetworkHeader),
				fmt.Sprintf("payload %d 24 16", expr.PayloadBaseNetworkHeader):
				r.DAddr, good = prefix(d)
			case fmt.Sprintf("payload %d 0 2", expr.PayloadBaseTransportHeader):
				r.SPort, good = binaryutil.BigEndian.Uint16(d), true
			case fmt.Sprintf("payload %d 2 2", expr.PayloadBaseTransportHeader):
				r.DPort, good = binaryutil.BigEndian.Uint16(d), true
			case fmt.Sprintf("payload %d 13 1", expr.PayloadBaseTransportHeader):
				r.TCPMidStream, good = true, len(mask) == 1 && mask[0] == tcpSYN|tcpRST && d[0] == 0
			case fmt.Sprintf("payload %d 0 1", expr.PayloadBaseTransportHeader):
				r.ICMPv6Type, good = d[0], true
			case fmt.Sprintf("payload %d 4 2", expr.PayloadBaseNetworkHeader):
				arp.hdr, good = string(d) == "\x06\x04", true
			case fmt.Sprintf("payload %d 6 2", expr.PayloadBaseNetworkHeader):
				arp.request, good = string(d) == "\x00\x01", true
			case fmt.Sprintf("payload %d 24 4", expr.PayloadBaseNetworkHeader):
				if arp.hdr && arp.request {
					r.ARPRequestFor, good = netip.AddrFromSlice(d)
				}
			}
			if !good {
				return r, nil, false
			}
		case *expr.Counter:
			r.Counter, counter = true, e
		case *expr.Verdict:
			switch e.Kind {
			case expr.VerdictAccept:
				r.Verdict = Accept
			case expr.VerdictDrop:
				r.Verdict = Drop
			default:
				return r, nil, false
			}
		case *expr.Reject:
			switch {
			case e.Type == unix.NFT_REJECT_TCP_RST:
				r.Verdict = RejectTCPReset
			case e.Type == unix.NFT_REJECT_ICMPX_UNREACH && e.Code == unix.NFT_REJECT_ICMPX_ADMIN_PROHIBITED:
				r.Verdict = RejectAdminProhibited
			default:
				return r, nil, false
			}
		default:
			return r, nil, false
		}
	}
	// An explicit nfproto is implied by the addresses; drop it to render like Build.
	if r.SAddr.IsValid() || r.DAddr.IsValid() || r.HopLimit != 0 || r.ICMPv6Type != 0 {
		r.Family = AnyFamily
	}
	return r, counter, true
}

func popcount(b byte) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}

// ifname pads an interface name to IFNAMSIZ, as the kernel loads it.
func ifname(n string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, n)
	return b
}

func prefixMask(p netip.Prefix) []byte {
	n := p.Addr().BitLen() / 8
	mask := make([]byte, n)
	bits := p.Bits()
	for i := range mask {
		switch {
		case bits >= 8:
			mask[i] = 0xff
			bits -= 8
		case bits > 0:
			mask[i] = ^byte(0xff >> bits)
			bits = 0
		}
	}
	return mask
}

var hooks = map[Hook]*nftables.ChainHook{
	HookInput:      nftables.ChainHookInput,
	HookOutput:     nftables.ChainHookOutput,
	HookForward:    nftables.ChainHookForward,
	HookPrerouting: nftables.ChainHookPrerouting,
}

// arpHooks are the arp family's hook numbers (NF_ARP_IN, NF_ARP_OUT).
var arpHooks = map[Hook]*nftables.ChainHook{
	HookInput:  nftables.ChainHookRef(0),
	HookOutput: nftables.ChainHookRef(1),
}

// queue adds the whole rule set to c's pending batch, replacing any table of
// ours: AddTable makes DelTable safe when there is none, and the kernel
// applies the batch as one transaction, so no packet sees a gap.
func (rs RuleSet) queue(c *nftables.Conn) error {
	if rs.Table == "" {
		return fmt.Errorf("empty rule set (use Build)")
	}
	t := &nftables.Table{Name: rs.Table, Family: nftables.TableFamilyINet}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	if err := queueChains(c, t, rs.Chains); err != nil {
		return err
	}
	// The arp table goes in the same transaction; an old one is replaced,
	// and one no longer wanted is removed.
	at := &nftables.Table{Name: rs.Table, Family: nftables.TableFamilyARP}
	c.AddTable(at)
	c.DelTable(at)
	if len(rs.ARP) > 0 {
		c.AddTable(at)
		return queueChains(c, at, rs.ARP)
	}
	return nil
}

func queueChains(c *nftables.Conn, t *nftables.Table, chains []Chain) error {
	for _, ch := range chains {
		nc := &nftables.Chain{Name: ch.Name, Table: t}
		if ch.Hook != "" {
			hook, ok := hooks[ch.Hook]
			if t.Family == nftables.TableFamilyARP {
				// The arp family numbers its hooks apart: NF_ARP_IN is 0
				// (NF_INET_LOCAL_IN, 1, would be NF_ARP_OUT there).
				hook, ok = arpHooks[ch.Hook]
			}
			if !ok {
				return fmt.Errorf("chain %s: unknown hook %q", ch.Name, ch.Hook)
			}
			var policy nftables.ChainPolicy
			switch ch.Policy {
			case Accept:
				policy = nftables.ChainPolicyAccept
			case Drop:
				policy = nftables.ChainPolicyDrop
			default:
				return fmt.Errorf("chain %s: policy must be accept or drop, not %s", ch.Name, ch.Policy)
			}
			nc.Type = nftables.ChainTypeFilter
			nc.Hooknum = hook
			nc.Priority = nftables.ChainPriorityRef(nftables.ChainPriority(ch.Priority))
			nc.Policy = &policy
		}
		c.AddChain(nc)
		for _, r := range ch.Rules {
			ex, err := r.exprs()
			if err != nil {
				return fmt.Errorf("chain %s: rule %q: %w", ch.Name, r, err)
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: nc, Exprs: ex, UserData: r.comment()})
		}
	}
	return nil
}
