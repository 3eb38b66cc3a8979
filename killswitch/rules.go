package killswitch

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// TableName is the name of our nftables table (family inet). A table left by a
// crashed run is recognised by this name and replaced atomically.
const TableName = "wgtorrent"

// Priority of our base chains: "filter" (0). It runs after conntrack (-200),
// route-type mangle chains (-150) and DNAT (-100), so the output interface and
// destination we judge are the final ones after any re-routing. Order against
// other tables' filter chains does not matter for safety: a packet must be
// accepted by every base chain on a hook, so our drop/reject always wins.
const Priority int32 = 0

// Spec describes what the kill switch must let through.
type Spec struct {
	TunnelInterface string           // e.g. "wgt0"; traffic out/in through it is accepted
	Endpoints       []netip.AddrPort // WireGuard server(s), already resolved (v4 and/or v6)
	FwMark          uint32           // mark carried by the tunnel's own UDP socket (required, non-zero)
	AllowLAN        []netip.Prefix   // LAN ranges the user allows (default none)
	LANInboundPorts []uint16         // TCP ports LAN hosts may connect to (e.g. RPC 9091); replies allowed
	TunnelIPv6      bool             // tunnel has IPv6; if false no IPv6 leaves except link housekeeping
	Mode            Mode             // ModeOn or ModePersist ("" = ModeOn); recorded in the table
	// ListenPort is the local UDP port of the tunnel's own socket (required):
	// the endpoint's packets are let in to that port and no other.
	ListenPort uint16
	// InboundTCP and InboundUDP are the ports peers may open connections
	// to through the tunnel (the engine's listeners, as the kernel lists
	// them); anything else from the tunnel enters only as a reply, so a
	// service listening on every address (sshd) is not offered to the
	// VPN's other users.
	InboundTCP, InboundUDP []uint16
	// TunnelAddresses are the tunnel's own addresses: packets to them that
	// arrive on any other interface are spoofed (wg-quick's raw-table rule,
	// CVE-2019-14899), and ARP requests for them are not answered.
	TunnelAddresses []netip.Prefix
	// Generation names this application of the rule set (an empty chain
	// "gen-<Generation>"): a table that reads back with another generation
	// was written by someone else. "" writes no generation chain.
	Generation string
}

// Hook is the netfilter hook a base chain is attached to; "" is a regular chain.
type Hook string

const (
	HookInput   Hook = "input"
	HookOutput  Hook = "output"
	HookForward Hook = "forward"
	// HookPrerouting runs before the routing decision: the anti-spoof chain
	// drops there, at raw priority, before conntrack sees the packet.
	HookPrerouting Hook = "prerouting"
)

// PriorityRaw is the priority of the anti-spoof chain: before conntrack
// (-200), as wg-quick's raw-table rule.
const PriorityRaw int32 = -300

// Verdict is what a rule (or a chain policy) does with a matching packet.
type Verdict int

const (
	Continue Verdict = iota // no verdict: go on with the next rule
	Accept
	Drop
	RejectTCPReset        // reject with tcp reset (TCP only)
	RejectAdminProhibited // reject with icmpx admin-prohibited (ICMP or ICMPv6 by family)
)

// IsReject reports whether v answers the sender with an error.
func (v Verdict) IsReject() bool { return v == RejectTCPReset || v == RejectAdminProhibited }

func (v Verdict) String() string {
	switch v {
	case Continue:
		return "continue"
	case Accept:
		return "accept"
	case Drop:
		return "drop"
	case RejectTCPReset:
		return "reject with tcp reset"
	case RejectAdminProhibited:
		return "reject with icmpx admin-prohibited"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Family restricts a rule to one IP version.
type Family uint8

const (
	AnyFamily Family = iota
	IPv4
	IPv6
)

// IP protocol numbers used in matches.
const (
	ProtoTCP    uint8 = 6
	ProtoUDP    uint8 = 17
	ProtoICMPv6 uint8 = 58
)

// CT state bits (as the kernel numbers them).
const (
	CTEstablished uint32 = 1 << 1
	CTRelated     uint32 = 1 << 2
)

// Match is a conjunction of conditions; zero-valued fields match anything.
type Match struct {
	Family     Family       // implied by SAddr/DAddr when those are set
	IIfName    string       // input interface name
	OIfName    string       // output interface name
	Mark       uint32       // meta mark (non-zero to match)
	HopLimit   uint8        // IPv6 hop limit (non-zero to match; requires IPv6)
	SAddr      netip.Prefix // source prefix
	DAddr      netip.Prefix // destination prefix
	L4Proto    uint8        // IP protocol (required by ports and ICMPv6Type)
	SPort      uint16       // transport source port
	DPort      uint16       // transport destination port
	ICMPv6Type uint8        // ICMPv6 type (non-zero to match; requires L4Proto ICMPv6)
	CTState    uint32       // any of these conntrack state bits
	NotIIfName string       // input interface name is not this one
	// FibSAddrNotLocal matches packets whose source address is not one of
	// this machine's own (fib saddr type != local).
	FibSAddrNotLocal bool
	// TCPMidStream matches TCP segments that neither open nor reset a
	// connection (tcp flags & (syn | rst) == 0); needs L4Proto TCP.
	TCPMidStream bool
	// ARPRequestFor matches an Ethernet/IPv4 ARP request for this address
	// (only in the arp table; nothing else may be set with it).
	ARPRequestFor netip.Addr
}

// Rule is one nftables rule as data.
type Rule struct {
	Match
	Counter bool
	Verdict Verdict
	Why     string // the reason, stored as the rule's nft comment (max 128 bytes, no quotes)
}

// Chain is one chain of our table. Hook "" makes a regular chain (used only
// as the mode marker).
type Chain struct {
	Name     string
	Hook     Hook
	Priority int32
	Policy   Verdict // Accept or Drop, for base chains
	Rules    []Rule
}

// RuleSet is the whole table as plain data: Build makes it, Firewall.Apply
// writes it, tests read it.
type RuleSet struct {
	Table  string
	Mode   Mode
	Chains []Chain
	// ARP are the chains of a second table of the same name in family arp
	// (IPv4 ARP is not seen by inet chains); written and removed with the
	// inet table in the same transaction.
	ARP []Chain
}

// modeChainPrefix names an empty regular chain whose name records the mode:
// google/nftables v0.3.0 cannot set table or chain comments, and an empty
// chain that nothing jumps to costs nothing per packet.
const modeChainPrefix = "mode-"

// genChainPrefix names an empty chain recording the generation (Spec.Generation).
const genChainPrefix = "gen-"

// ModeChainName is the name of the marker chain recording m.
func ModeChainName(m Mode) string { return modeChainPrefix + string(m) }

// Chain returns the chain called name, or nil.
func (rs RuleSet) Chain(name string) *Chain {
	for i := range rs.Chains {
		if rs.Chains[i].Name == name {
			return &rs.Chains[i]
		}
	}
	return nil
}

// Errors returned by Build.
var (
	ErrInterfaceName = errors.New("invalid tunnel interface name")
	ErrNoMark        = errors.New("fwmark is required (non-zero): the tunnel's own UDP socket must carry it")
	ErrNoEndpoints   = errors.New("at least one WireGuard endpoint is required")
	ErrModeOff       = errors.New(`mode "off" has no rule set; remove the table instead`)
	ErrNoListenPort  = errors.New("the tunnel's local UDP port is required (non-zero): only it may receive the endpoint's packets")
)

// Build validates s and returns the rule set. It is pure: no root, no kernel.
func Build(s Spec) (RuleSet, error) {
	if err := validIfName(s.TunnelInterface); err != nil {
		return RuleSet{}, fmt.Errorf("killswitch: %w: %q: %v", ErrInterfaceName, s.TunnelInterface, err)
	}
	if s.FwMark == 0 {
		return RuleSet{}, fmt.Errorf("killswitch: %w", ErrNoMark)
	}
	if len(s.Endpoints) == 0 {
		return RuleSet{}, fmt.Errorf("killswitch: %w", ErrNoEndpoints)
	}
	if s.ListenPort == 0 {
		return RuleSet{}, fmt.Errorf("killswitch: %w", ErrNoListenPort)
	}
	var tunnelAddrs []netip.Addr
	for _, p := range s.TunnelAddresses {
		a := p.Addr().Unmap()
		if !p.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			return RuleSet{}, fmt.Errorf("killswitch: invalid tunnel address %q", p)
		}
		tunnelAddrs = append(tunnelAddrs, a.WithZone(""))
	}
	if strings.ContainsAny(s.Generation, " \t\n\x00/\"") || len(s.Generation) > 64 {
		return RuleSet{}, fmt.Errorf("killswitch: invalid generation %q", s.Generation)
	}
	mode := s.Mode
	switch mode {
	case "":
		mode = ModeOn
	case ModeOn, ModePersist:
	case ModeOff:
		return RuleSet{}, fmt.Errorf("killswitch: %w", ErrModeOff)
	default:
		return RuleSet{}, fmt.Errorf("killswitch: unknown mode %q", s.Mode)
	}
	endpoints := make([]netip.AddrPort, 0, len(s.Endpoints))
	for _, ep := range s.Endpoints {
		a := ep.Addr().Unmap()
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || ep.Port() == 0 {
			return RuleSet{}, fmt.Errorf("killswitch: invalid endpoint %q: want a unicast address and a non-zero port", ep)
		}
		endpoints = append(endpoints, netip.AddrPortFrom(a.WithZone(""), ep.Port()))
	}
	var lan []netip.Prefix
	for _, p := range s.AllowLAN {
		if !p.IsValid() || p.Bits() == 0 || p.Addr().Is4In6() {
			return RuleSet{}, fmt.Errorf("killswitch: invalid LAN range %q: want a non-empty prefix such as 192.168.1.0/24", p)
		}
		// Without IPv6 in the tunnel no IPv6 may leave at all (see package doc).
		if p.Addr().Is6() && !s.TunnelIPv6 {
			continue
		}
		lan = append(lan, p.Masked())
	}
	for _, port := range s.LANInboundPorts {
		if port == 0 {
			return RuleSet{}, fmt.Errorf("killswitch: LAN inbound port 0 is not a port")
		}
	}

	rs := RuleSet{
		Table: TableName,
		Mode:  mode,
		Chains: []Chain{
			{Name: ModeChainName(mode)},
			{Name: "output", Hook: HookOutput, Priority: Priority, Policy: Drop, Rules: outputRules(s, endpoints, lan)},
			{Name: "input", Hook: HookInput, Priority: Priority, Policy: Drop, Rules: inputRules(s, endpoints, lan)},
			// A host that forwards (containers, VMs) would route their traffic
			// past the output hook: forward nothing.
			{Name: "forward", Hook: HookForward, Priority: Priority, Policy: Drop},
		},
	}
	if len(tunnelAddrs) > 0 {
		rs.Chains = append(rs.Chains, Chain{Name: "antispoof", Hook: HookPrerouting, Priority: PriorityRaw, Policy: Accept, Rules: antispoofRules(s, tunnelAddrs)})
		rs.ARP = []Chain{{Name: "input", Hook: HookInput, Priority: Priority, Policy: Accept, Rules: arpRules(tunnelAddrs)}}
	}
	if s.Generation != "" {
		rs.Chains = append([]Chain{{Name: genChainPrefix + s.Generation}}, rs.Chains...)
	}
	for _, c := range append(slices.Clone(rs.Chains), rs.ARP...) {
		for _, r := range c.Rules {
			if err := r.check(); err != nil {
				return RuleSet{}, fmt.Errorf("killswitch: chain %s: rule %q: %w", c.Name, r, err)
			}
		}
	}
	return rs, nil
}

func outputRules(s Spec, endpoints []netip.AddrPort, lan []netip.Prefix) []Rule {
	rs := []Rule{
		{Match: Match{OIfName: "lo"}, Verdict: Accept, Why: "loopback stays on the machine"},
	}
	// Link housekeeping: without neighbour discovery the LAN link (which
	// carries the tunnel's own packets) breaks. Hop limit 255 (1 for MLD)
	// keeps these packets on the link.
	for _, nd := range []struct {
		typ, hop uint8
		why      string
	}{
		{133, 255, "IPv6 router solicitation (link housekeeping)"},
		{135, 255, "IPv6 neighbour solicitation (link housekeeping)"},
		{136, 255, "IPv6 neighbour advertisement (link housekeeping)"},
		{143, 1, "MLDv2 report (link housekeeping)"},
	} {
		rs = append(rs, Rule{Match: Match{Family: IPv6, HopLimit: nd.hop, L4Proto: ProtoICMPv6, ICMPv6Type: nd.typ}, Verdict: Accept, Why: nd.why})
	}
	// DHCP keeps the uplink's address leased: without it a persistent lockdown
	// would lose the link (and so the tunnel) when the lease expires. Only
	// broadcast, which never leaves the link: a unicast renewal (T1) is
	// refused and the client rebinds by broadcast at T2, well before the
	// lease ends; port 67 of any other host stays closed.
	rs = append(rs,
		Rule{Match: Match{DAddr: netip.MustParsePrefix("255.255.255.255/32"), L4Proto: ProtoUDP, SPort: 68, DPort: 67}, Verdict: Accept, Why: "DHCPv4 client broadcast (keeps the uplink lease; stays on the link)"},
		Rule{Match: Match{DAddr: netip.MustParsePrefix("ff02::1:2/128"), L4Proto: ProtoUDP, SPort: 546, DPort: 547}, Verdict: Accept, Why: "DHCPv6 client (keeps the uplink lease)"},
	)
	for _, ep := range endpoints {
		rs = append(rs, Rule{
			Match:   Match{Mark: s.FwMark, DAddr: hostPrefix(ep.Addr()), L4Proto: ProtoUDP, DPort: ep.Port()},
			Verdict: Accept,
			Why:     "the tunnel's own encrypted UDP to its endpoint (marked socket only)",
		})
	}
	if !s.TunnelIPv6 {
		rs = append(rs, rejectAll(Match{Family: IPv6}, "tunnel has no IPv6: no IPv6 leaves at all")...)
	}
	rs = append(rs, Rule{Match: Match{OIfName: s.TunnelInterface}, Verdict: Accept, Why: "everything through the tunnel"})
	for _, p := range lan {
		// DNS to the LAN would reveal every name looked up: DNS only via the tunnel.
		rs = append(rs,
			Rule{Match: Match{DAddr: p, L4Proto: ProtoUDP, DPort: 53}, Counter: true, Verdict: RejectAdminProhibited, Why: "no DNS to the LAN: DNS only through the tunnel"},
			Rule{Match: Match{DAddr: p, L4Proto: ProtoTCP, DPort: 53}, Counter: true, Verdict: RejectTCPReset, Why: "no DNS to the LAN: DNS only through the tunnel"},
		)
	}
	for _, p := range lan {
		rs = append(rs, Rule{Match: Match{DAddr: p}, Verdict: Accept, Why: "allowed LAN range (also replies to LAN inbound connections)"})
	}
	// No generic "ct state established" here: a flow set up through the tunnel
	// would then leave through the uplink when the tunnel dies.
	return append(rs, rejectAll(Match{}, "everything else: refused at once so programs fail fast")...)
}

// rejectAll rejects what m matches: TCP with a reset, the rest with ICMP(v6)
// admin-prohibited, each counted.
func rejectAll(m Match, why string) []Rule {
	tcp := m
	tcp.L4Proto = ProtoTCP
	return []Rule{
		{Match: tcp, Counter: true, Verdict: RejectTCPReset, Why: why},
		{Match: m, Counter: true, Verdict: RejectAdminProhibited, Why: why},
	}
}

func inputRules(s Spec, endpoints []netip.AddrPort, lan []netip.Prefix) []Rule {
	// No "ct state established,related" without an interface or source: a
	// spoofed packet from the uplink that fits a tunnelled flow's conntrack
	// entry would be delivered to it (CVE-2019-14899).
	rs := []Rule{
		{Match: Match{IIfName: "lo"}, Verdict: Accept, Why: "loopback"},
		{Match: Match{IIfName: s.TunnelInterface, CTState: CTEstablished | CTRelated}, Verdict: Accept, Why: "replies through the tunnel"},
	}
	for _, p := range s.InboundTCP {
		rs = append(rs, Rule{Match: Match{IIfName: s.TunnelInterface, L4Proto: ProtoTCP, DPort: p}, Verdict: Accept, Why: "a peer connecting to the engine through the tunnel"})
	}
	for _, p := range s.InboundUDP {
		rs = append(rs, Rule{Match: Match{IIfName: s.TunnelInterface, L4Proto: ProtoUDP, DPort: p}, Verdict: Accept, Why: "a peer (uTP, DHT) reaching the engine through the tunnel"})
	}
	// A segment of a connection we no longer have: the peer's side of one
	// that died while its path did (a VPN server left, then used again).
	// A reset, as any host would answer, lets the peer drop it at once
	// instead of retransmitting for minutes into a silent drop.
	rs = append(rs, Rule{Match: Match{IIfName: s.TunnelInterface, L4Proto: ProtoTCP, TCPMidStream: true}, Counter: true, Verdict: RejectTCPReset,
		Why: "a segment of a connection we do not have: reset, so the peer lets it go"})
	for _, p := range lan {
		rs = append(rs, Rule{Match: Match{SAddr: p, CTState: CTEstablished | CTRelated}, Verdict: Accept, Why: "replies from an allowed LAN range"})
	}
	for _, ep := range endpoints {
		rs = append(rs, Rule{
			Match:   Match{SAddr: hostPrefix(ep.Addr()), L4Proto: ProtoUDP, SPort: ep.Port(), DPort: s.ListenPort},
			Verdict: Accept,
			Why:     "the endpoint's UDP to the tunnel's own socket only",
		})
	}
	for _, nd := range []struct {
		typ uint8
		why string
	}{
		{134, "IPv6 router advertisement (link housekeeping)"},
		{135, "IPv6 neighbour solicitation (link housekeeping)"},
		{136, "IPv6 neighbour advertisement (link housekeeping)"},
	} {
		rs = append(rs, Rule{Match: Match{Family: IPv6, HopLimit: 255, L4Proto: ProtoICMPv6, ICMPv6Type: nd.typ}, Verdict: Accept, Why: nd.why})
	}
	// DHCP answers come from an address we never sent to (broadcast, or the
	// server's own), so conntrack does not see them as replies.
	rs = append(rs,
		Rule{Match: Match{Family: IPv4, L4Proto: ProtoUDP, SPort: 67, DPort: 68}, Verdict: Accept, Why: "DHCPv4 server answers"},
		Rule{Match: Match{SAddr: netip.MustParsePrefix("fe80::/10"), L4Proto: ProtoUDP, SPort: 547, DPort: 546}, Verdict: Accept, Why: "DHCPv6 server answers"},
	)
	for _, p := range lan {
		for _, port := range s.LANInboundPorts {
			rs = append(rs, Rule{Match: Match{SAddr: p, L4Proto: ProtoTCP, DPort: port}, Verdict: Accept, Why: "LAN host to an allowed local service"})
		}
	}
	return append(rs, Rule{Counter: true, Verdict: Drop, Why: "everything else"})
}

// antispoofRules are wg-quick's raw-table rule: a packet for a tunnel
// address that arrives on any other interface, from an address that is not
// our own, was not sent through the tunnel.
func antispoofRules(s Spec, addrs []netip.Addr) []Rule {
	var rs []Rule
	for _, a := range addrs {
		rs = append(rs, Rule{
			Match:   Match{NotIIfName: s.TunnelInterface, DAddr: hostPrefix(a), FibSAddrNotLocal: true},
			Counter: true,
			Verdict: Drop,
			Why:     "spoofed: the tunnel address from outside the tunnel",
		})
	}
	return rs
}

// arpRules keep the tunnel's IPv4 addresses out of ARP answers: the kernel
// answers for any local address on any interface (arp_ignore 0), which
// tells the LAN which VPN address this host has (Mullvad MLLVD-CR-24-03).
// The tunnel itself carries no ARP.
func arpRules(addrs []netip.Addr) []Rule {
	var rs []Rule
	for _, a := range addrs {
		if a.Is4() {
			rs = append(rs, Rule{Match: Match{ARPRequestFor: a}, Counter: true, Verdict: Drop, Why: "no ARP answer for the tunnel address"})
		}
	}
	return rs
}

func hostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// validIfName applies the kernel's rules for interface names (dev_valid_name).
func validIfName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > 15:
		return errors.New("longer than 15 bytes")
	case name == "." || name == "..":
		return errors.New("reserved")
	case strings.ContainsAny(name, "/: \t\n\r\v\f\x00"):
		return errors.New("contains '/', ':', NUL or white space")
	}
	return nil
}

// family returns the IP version m is restricted to, explicitly or through its
// addresses.
func (m Match) family() Family {
	for _, p := range []netip.Prefix{m.SAddr, m.DAddr} {
		if p.IsValid() {
			if p.Addr().Is4() {
				return IPv4
			}
			return IPv6
		}
	}
	if m.HopLimit != 0 || m.ICMPv6Type != 0 {
		return IPv6
	}
	return m.Family
}

// check reports matches the kernel could not express the way we mean them.
func (m Match) check() error {
	if m.ARPRequestFor.IsValid() {
		if !m.ARPRequestFor.Is4() || m != (Match{ARPRequestFor: m.ARPRequestFor}) {
			return fmt.Errorf("an ARP match takes one IPv4 address and nothing else")
		}
		return nil
	}
	fam := m.family()
	for _, p := range []netip.Prefix{m.SAddr, m.DAddr} {
		if p.IsValid() && ((p.Addr().Is4() && fam != IPv4) || (p.Addr().Is6() && fam != IPv6)) {
			return fmt.Errorf("match mixes address families")
		}
	}
	if m.Family != AnyFamily && m.Family != fam {
		return fmt.Errorf("match mixes address families")
	}
	if (m.SPort != 0 || m.DPort != 0) && m.L4Proto != ProtoTCP && m.L4Proto != ProtoUDP {
		return fmt.Errorf("ports need tcp or udp")
	}
	if m.ICMPv6Type != 0 && m.L4Proto != ProtoICMPv6 {
		return fmt.Errorf("icmpv6 type needs l4proto icmpv6")
	}
	if m.TCPMidStream && m.L4Proto != ProtoTCP {
		return fmt.Errorf("tcp flags need l4proto tcp")
	}
	return nil
}

func protoName(p uint8) string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMPv6:
		return "icmpv6"
	}
	return fmt.Sprint(p)
}

var icmpv6TypeNames = map[uint8]string{
	133: "nd-router-solicit",
	134: "nd-router-advert",
	135: "nd-neighbor-solicit",
	136: "nd-neighbor-advert",
	143: "mld2-listener-report",
}

// String renders the match the way nft lists it.
func (m Match) String() string {
	var parts []string
	fam := m.family()
	ip := "ip"
	if fam == IPv6 {
		ip = "ip6"
	}
	if fam != AnyFamily && !m.SAddr.IsValid() && !m.DAddr.IsValid() && m.HopLimit == 0 {
		parts = append(parts, "meta nfproto ipv"+map[Family]string{IPv4: "4", IPv6: "6"}[fam])
	}
	if m.ARPRequestFor.IsValid() {
		return "arp operation request arp daddr ip " + m.ARPRequestFor.String()
	}
	if m.IIfName != "" {
		parts = append(parts, fmt.Sprintf("iifname %q", m.IIfName))
	}
	if m.NotIIfName != "" {
		parts = append(parts, fmt.Sprintf("iifname != %q", m.NotIIfName))
	}
	if m.OIfName != "" {
		parts = append(parts, fmt.Sprintf("oifname %q", m.OIfName))
	}
	if m.Mark != 0 {
		parts = append(parts, fmt.Sprintf("meta mark 0x%08x", m.Mark))
	}
	if m.HopLimit != 0 {
		parts = append(parts, fmt.Sprintf("ip6 hoplimit %d", m.HopLimit))
	}
	if m.SAddr.IsValid() {
		parts = append(parts, ip+" saddr "+prefixString(m.SAddr))
	}
	if m.DAddr.IsValid() {
		parts = append(parts, ip+" daddr "+prefixString(m.DAddr))
	}
	switch {
	case m.SPort != 0 || m.DPort != 0:
		if m.SPort != 0 {
			parts = append(parts, fmt.Sprintf("%s sport %d", protoName(m.L4Proto), m.SPort))
		}
		if m.DPort != 0 {
			parts = append(parts, fmt.Sprintf("%s dport %d", protoName(m.L4Proto), m.DPort))
		}
	case m.ICMPv6Type != 0:
		name, ok := icmpv6TypeNames[m.ICMPv6Type]
		if !ok {
			name = fmt.Sprint(m.ICMPv6Type)
		}
		parts = append(parts, "icmpv6 type "+name)
	case m.TCPMidStream:
		parts = append(parts, "tcp flags & (syn | rst) == 0x0")
	case m.L4Proto != 0:
		parts = append(parts, "meta l4proto "+protoName(m.L4Proto))
	}
	if m.FibSAddrNotLocal {
		parts = append(parts, "fib saddr type != local")
	}
	if m.CTState != 0 {
		var st []string
		if m.CTState&CTEstablished != 0 {
			st = append(st, "established")
		}
		if m.CTState&CTRelated != 0 {
			st = append(st, "related")
		}
		parts = append(parts, "ct state "+strings.Join(st, ","))
	}
	return strings.Join(parts, " ")
}

func prefixString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// String renders the rule as nft lists it (without the reason).
func (r Rule) String() string { return r.format("") }

// format renders the rule with counts ("packets 1 bytes 60") after "counter".
func (r Rule) format(counts string) string {
	var parts []string
	if m := r.Match.String(); m != "" {
		parts = append(parts, m)
	}
	if r.Counter {
		parts = append(parts, "counter")
		if counts != "" {
			parts = append(parts, counts)
		}
	}
	if r.Verdict != Continue {
		parts = append(parts, r.Verdict.String())
	}
	return strings.Join(parts, " ")
}

// Header renders the chain's type line, or "" for a regular chain.
func (c Chain) Header() string {
	if c.Hook == "" {
		return ""
	}
	return fmt.Sprintf("type filter hook %s priority %d; policy %s;", c.Hook, c.Priority, c.Policy)
}

// String renders an nft-like listing of the table, each rule followed by
// the reason it is there.
func (rs RuleSet) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s { # mode %s\n", rs.Table, rs.Mode)
	writeChains(&b, rs.Chains)
	b.WriteString("}\n")
	if len(rs.ARP) > 0 {
		fmt.Fprintf(&b, "table arp %s {\n", rs.Table)
		writeChains(&b, rs.ARP)
		b.WriteString("}\n")
	}
	return b.String()
}

func writeChains(b *strings.Builder, chains []Chain) {
	for _, c := range chains {
		fmt.Fprintf(b, "\tchain %s {\n", c.Name)
		if h := c.Header(); h != "" {
			fmt.Fprintf(b, "\t\t%s\n", h)
		} else if strings.HasPrefix(c.Name, modeChainPrefix) {
			b.WriteString("\t\t# empty: its name records the mode\n")
		} else if strings.HasPrefix(c.Name, genChainPrefix) {
			b.WriteString("\t\t# empty: its name records who applied this table, and when\n")
		}
		for _, r := range c.Rules {
			fmt.Fprintf(b, "\t\t%s", r)
			if r.Why != "" {
				fmt.Fprintf(b, " # %s", r.Why)
			}
			b.WriteString("\n")
		}
		b.WriteString("\t}\n")
	}
}
