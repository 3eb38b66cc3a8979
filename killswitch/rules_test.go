package killswitch

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var (
	ep4 = netip.MustParseAddrPort("192.0.2.1:51820")
	ep6 = netip.MustParseAddrPort("[2001:db8::1]:51821")
)

func baseSpec() Spec {
	return Spec{TunnelInterface: "wgt0", Endpoints: []netip.AddrPort{ep4}, FwMark: 0xca6c, ListenPort: 40000}
}

// ruleTexts renders a chain's rules (without reasons) for comparisons.
func ruleTexts(t *testing.T, rs RuleSet, chain string) []string {
	t.Helper()
	c := rs.Chain(chain)
	if c == nil {
		t.Fatalf("no chain %q in\n%s", chain, rs)
	}
	var out []string
	for _, r := range c.Rules {
		out = append(out, r.String())
	}
	return out
}

func indexOf(rules []string, want string) int { return slices.Index(rules, want) }

func TestBuild(t *testing.T) {
	const (
		tunnelOut     = `oifname "wgt0" accept`
		ep4Out        = `meta mark 0x0000ca6c ip daddr 192.0.2.1 udp dport 51820 accept`
		ep6Out        = `meta mark 0x0000ca6c ip6 daddr 2001:db8::1 udp dport 51821 accept`
		ep4In         = `ip saddr 192.0.2.1 udp sport 51820 udp dport 40000 accept`
		ep6In         = `ip6 saddr 2001:db8::1 udp sport 51821 udp dport 40000 accept`
		v6RejectTCP   = `meta nfproto ipv6 meta l4proto tcp counter reject with tcp reset`
		v6Reject      = `meta nfproto ipv6 counter reject with icmpx admin-prohibited`
		lanAccept     = `ip daddr 192.168.1.0/24 accept`
		lanDNSUDP     = `ip daddr 192.168.1.0/24 udp dport 53 counter reject with icmpx admin-prohibited`
		lanDNSTCP     = `ip daddr 192.168.1.0/24 tcp dport 53 counter reject with tcp reset`
		lan6Accept    = `ip6 daddr fd00::/8 accept`
		lanIn         = `ip saddr 192.168.1.0/24 tcp dport 9091 accept`
		lanReplies    = `ip saddr 192.168.1.0/24 ct state established,related accept`
		lan6In        = `ip6 saddr fd00::/8 tcp dport 9091 accept`
		ndNS          = `ip6 hoplimit 255 icmpv6 type nd-neighbor-solicit accept`
		mld           = `ip6 hoplimit 1 icmpv6 type mld2-listener-report accept`
		tunnelReplies = `iifname "wgt0" ct state established,related accept`
	)
	lan := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name          string
		spec          func(*Spec)
		wantOut       []string // present, in this order
		wantNotOut    []string
		wantIn        []string
		wantNotIn     []string
		wantModeChain string
	}{
		{
			name:          "v4 endpoint, no LAN, no v6",
			spec:          func(s *Spec) {},
			wantOut:       []string{`oifname "lo" accept`, ndNS, mld, ep4Out, v6RejectTCP, v6Reject, tunnelOut},
			wantNotOut:    []string{lanAccept, lanDNSUDP},
			wantIn:        []string{`iifname "lo" accept`, tunnelReplies, ep4In},
			wantNotIn:     []string{lanIn, lanReplies, `iifname "wgt0" accept`, `iifname "wgt0" tcp dport 6881 accept`},
			wantModeChain: "mode-on",
		},
		{
			name:    "v4 and v6 endpoints",
			spec:    func(s *Spec) { s.Endpoints = []netip.AddrPort{ep4, ep6} },
			wantOut: []string{ep4Out, ep6Out, v6RejectTCP, tunnelOut},
			wantIn:  []string{ep4In, ep6In},
		},
		{
			name: "v4-mapped endpoint is unmapped",
			spec: func(s *Spec) {
				s.Endpoints = []netip.AddrPort{netip.MustParseAddrPort("[::ffff:192.0.2.1]:51820")}
			},
			wantOut: []string{ep4Out},
		},
		{
			name: "LAN allowed, v6 off: DNS to LAN rejected before the LAN accept, v6 LAN ignored",
			spec: func(s *Spec) {
				s.AllowLAN = lan
				s.LANInboundPorts = []uint16{9091}
			},
			wantOut:    []string{v6Reject, tunnelOut, lanDNSUDP, lanDNSTCP, lanAccept},
			wantNotOut: []string{lan6Accept},
			wantIn:     []string{lanReplies, ep4In, lanIn},
			wantNotIn:  []string{lan6In},
		},
		{
			name: "LAN allowed, v6 on",
			spec: func(s *Spec) {
				s.AllowLAN = lan
				s.LANInboundPorts = []uint16{9091}
				s.TunnelIPv6 = true
			},
			wantOut:    []string{tunnelOut, lanDNSUDP, lanAccept, lan6Accept},
			wantNotOut: []string{v6Reject, v6RejectTCP},
			wantIn:     []string{lanIn, lan6In},
		},
		{
			name:       "LAN host prefix is masked",
			spec:       func(s *Spec) { s.AllowLAN = []netip.Prefix{netip.MustParsePrefix("192.168.1.77/24")} },
			wantOut:    []string{lanAccept},
			wantNotOut: []string{`ip daddr 192.168.1.77/24 accept`},
		},
		{
			name: "the engine's ports open to peers through the tunnel only",
			spec: func(s *Spec) {
				s.InboundTCP = []uint16{6881}
				s.InboundUDP = []uint16{6881, 42000}
			},
			wantIn: []string{tunnelReplies, `iifname "wgt0" tcp dport 6881 accept`, `iifname "wgt0" udp dport 6881 accept`,
				`iifname "wgt0" udp dport 42000 accept`, `iifname "wgt0" tcp flags & (syn | rst) == 0x0 counter reject with tcp reset`, `counter drop`},
			wantNotIn: []string{`tcp dport 6881 accept`, `iifname "wgt0" tcp dport 42000 accept`},
		},
		{
			name:          "persist mode recorded",
			spec:          func(s *Spec) { s.Mode = ModePersist },
			wantModeChain: "mode-persist",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.spec(&s)
			rs, err := Build(s)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			out, in := ruleTexts(t, rs, "output"), ruleTexts(t, rs, "input")
			checkOrder := func(chain string, got, want, notWant []string) {
				last := -1
				for _, w := range want {
					i := indexOf(got, w)
					if i < 0 {
						t.Errorf("%s: missing %q", chain, w)
						continue
					}
					if i < last {
						t.Errorf("%s: %q out of order", chain, w)
					}
					last = i
				}
				for _, w := range notWant {
					if indexOf(got, w) >= 0 {
						t.Errorf("%s: unexpected %q", chain, w)
					}
				}
			}
			checkOrder("output", out, tt.wantOut, tt.wantNotOut)
			checkOrder("input", in, tt.wantIn, tt.wantNotIn)
			if tt.wantModeChain != "" && rs.Chain(tt.wantModeChain) == nil {
				t.Errorf("no mode chain %q", tt.wantModeChain)
			}
			checkInvariants(t, rs)
			if t.Failed() {
				t.Logf("rule set:\n%s", rs)
			}
		})
	}
}

// checkInvariants asserts what must hold for every spec.
func checkInvariants(t *testing.T, rs RuleSet) {
	t.Helper()
	if rs.Table != TableName {
		t.Errorf("table %q, want %q", rs.Table, TableName)
	}
	for _, name := range []string{"output", "input", "forward"} {
		c := rs.Chain(name)
		if c == nil {
			t.Fatalf("missing chain %s", name)
		}
		if c.Policy != Drop || string(c.Hook) != name {
			t.Errorf("chain %s: hook %q policy %s, want hook %s policy drop", name, c.Hook, c.Policy, name)
		}
	}
	if n := len(rs.Chain("forward").Rules); n != 0 {
		t.Errorf("forward has %d rules, want none", n)
	}
	out := rs.Chain("output").Rules
	for _, r := range out {
		// An established flow must not follow a fallen tunnel out of the uplink.
		if r.CTState != 0 {
			t.Errorf("output has a conntrack accept: %q", r)
		}
		// Only the marked tunnel socket may reach an address outside lo, the tunnel and the LAN.
		if r.Verdict == Accept && r.OIfName == "" && r.DAddr.IsValid() && r.DAddr.Bits() == r.DAddr.Addr().BitLen() &&
			r.DPort != 547 && r.DPort != 67 && r.Mark == 0 {
			t.Errorf("output accepts a host without the mark: %q", r)
		}
	}
	tail := out[len(out)-2:]
	if tail[0].String() != "meta l4proto tcp counter reject with tcp reset" ||
		tail[1].String() != "counter reject with icmpx admin-prohibited" {
		t.Errorf("output does not end with the counted rejects: %q, %q", tail[0], tail[1])
	}
	in := rs.Chain("input").Rules
	for _, r := range in {
		// Conntrack replies only from where the sender can be trusted: the
		// tunnel, or a LAN the user allowed; never from anywhere on the uplink.
		if r.CTState != 0 && r.IIfName == "" && !r.SAddr.IsValid() {
			t.Errorf("input accepts conntrack state from any interface and source: %q", r)
		}
		// The endpoint's packets only to the tunnel's own socket.
		if r.Verdict == Accept && r.L4Proto == ProtoUDP && r.SPort != 0 && r.SPort != 67 && r.SPort != 547 && r.DPort == 0 {
			t.Errorf("input accepts UDP from a port to any local port: %q", r)
		}
	}
	for _, r := range out {
		// DHCP may not reach port 67 of any host through the uplink.
		if r.DPort == 67 && r.DAddr != netip.MustParsePrefix("255.255.255.255/32") {
			t.Errorf("output lets DHCP out to more than broadcast: %q", r)
		}
	}
	if last := in[len(in)-1]; last.String() != "counter drop" {
		t.Errorf("input ends with %q, want counter drop", last)
	}
	for _, c := range rs.Chains {
		for _, r := range c.Rules {
			if r.Verdict == RejectTCPReset && r.L4Proto != ProtoTCP {
				t.Errorf("tcp reset without tcp match: %q", r)
			}
		}
	}
	listing := rs.String()
	if !strings.Contains(listing, "table inet wgtorrent") || !strings.Contains(listing, "policy drop;") {
		t.Errorf("listing lacks table/policy:\n%s", listing)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    func(*Spec)
		wantIs  error
		wantSub string
	}{
		{"no interface", func(s *Spec) { s.TunnelInterface = "" }, ErrInterfaceName, ""},
		{"long interface", func(s *Spec) { s.TunnelInterface = "abcdefghijklmnop" }, ErrInterfaceName, ""},
		{"slash in interface", func(s *Spec) { s.TunnelInterface = "wg/0" }, ErrInterfaceName, ""},
		{"space in interface", func(s *Spec) { s.TunnelInterface = "wg 0" }, ErrInterfaceName, ""},
		{"no mark", func(s *Spec) { s.FwMark = 0 }, ErrNoMark, ""},
		{"no endpoints", func(s *Spec) { s.Endpoints = nil }, ErrNoEndpoints, ""},
		{"no listen port", func(s *Spec) { s.ListenPort = 0 }, ErrNoListenPort, ""},
		{"bad tunnel address", func(s *Spec) { s.TunnelAddresses = []netip.Prefix{{}} }, nil, "invalid tunnel address"},
		{"generation with a space", func(s *Spec) { s.Generation = "1 2" }, nil, "invalid generation"},
		{"zero port", func(s *Spec) { s.Endpoints = []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:0")} }, nil, "invalid endpoint"},
		{"unspecified endpoint", func(s *Spec) { s.Endpoints = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:51820")} }, nil, "invalid endpoint"},
		{"zero endpoint", func(s *Spec) { s.Endpoints = []netip.AddrPort{{}} }, nil, "invalid endpoint"},
		{"LAN /0 allows everything", func(s *Spec) { s.AllowLAN = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")} }, nil, "invalid LAN range"},
		{"LAN zero prefix", func(s *Spec) { s.AllowLAN = []netip.Prefix{{}} }, nil, "invalid LAN range"},
		{"inbound port 0", func(s *Spec) { s.LANInboundPorts = []uint16{0} }, nil, "port 0"},
		{"mode off", func(s *Spec) { s.Mode = ModeOff }, ErrModeOff, ""},
		{"unknown mode", func(s *Spec) { s.Mode = "sometimes" }, nil, "unknown mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.spec(&s)
			rs, err := Build(s)
			if err == nil {
				t.Fatalf("Build succeeded, want error; rule set:\n%s", rs)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v, want %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantSub) || !strings.HasPrefix(err.Error(), "killswitch: ") {
				t.Errorf("error %q, want prefix killswitch: and %q", err, tt.wantSub)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"", ModeOn, false},
		{"on", ModeOn, false},
		{"ON", ModeOn, false},
		{" persist ", ModePersist, false},
		{"off", ModeOff, false},
		{"yes", "", true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// The anti-spoof chain (wg-quick's raw rule) and the arp table come with
// the tunnel's addresses, and render as nft would list them.
func TestBuildAntiSpoofAndARP(t *testing.T) {
	s := baseSpec()
	s.TunnelAddresses = []netip.Prefix{netip.MustParsePrefix("10.66.0.2/32"), netip.MustParsePrefix("fd00:66::2/128")}
	s.Generation = "4242-1"
	rs, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Chain("antispoof")
	if c == nil || c.Hook != HookPrerouting || c.Priority != PriorityRaw || c.Policy != Accept {
		t.Fatalf("antispoof chain %+v, want hook prerouting priority -300 policy accept\n%s", c, rs)
	}
	got := ruleTexts(t, rs, "antispoof")
	want := []string{
		`iifname != "wgt0" ip daddr 10.66.0.2 fib saddr type != local counter drop`,
		`iifname != "wgt0" ip6 daddr fd00:66::2 fib saddr type != local counter drop`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("antispoof rules %q, want %q", got, want)
	}
	if len(rs.ARP) != 1 || rs.ARP[0].Hook != HookInput || len(rs.ARP[0].Rules) != 1 ||
		rs.ARP[0].Rules[0].String() != "arp operation request arp daddr ip 10.66.0.2 counter drop" {
		t.Errorf("arp chains %+v, want one input chain dropping requests for 10.66.0.2", rs.ARP)
	}
	if rs.Chain("gen-4242-1") == nil {
		t.Errorf("no generation chain in\n%s", rs)
	}
	listing := rs.String()
	for _, w := range []string{"table arp wgtorrent {", "chain antispoof {", "type filter hook prerouting priority -300; policy accept;", "# spoofed: "} {
		if !strings.Contains(listing, w) {
			t.Errorf("listing lacks %q:\n%s", w, listing)
		}
	}
	checkInvariants(t, rs)

	s.TunnelAddresses = nil
	s.Generation = ""
	rs, err = Build(s)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Chain("antispoof") != nil || rs.ARP != nil {
		t.Errorf("without tunnel addresses: antispoof %v, arp %v; want neither", rs.Chain("antispoof"), rs.ARP)
	}
}
