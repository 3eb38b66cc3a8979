//go:build linux

package killswitch

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

func TestRuleExprs(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		want []expr.Any
	}{
		{
			name: "marked endpoint",
			rule: Rule{Match: Match{Mark: 0xca6c, DAddr: netip.MustParsePrefix("192.0.2.1/32"), L4Proto: ProtoUDP, DPort: 51820}, Verdict: Accept},
			want: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0xca6c)},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{192, 0, 2, 1}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0xca, 0x6c}},
				&expr.Verdict{Kind: expr.VerdictAccept},
			},
		},
		{
			name: "v6 source prefix",
			rule: Rule{Match: Match{SAddr: netip.MustParsePrefix("fe80::/10")}, Verdict: Accept},
			want: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 16,
					Mask: []byte{0xff, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Xor: make([]byte, 16)},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: netip.MustParseAddr("fe80::").AsSlice()},
				&expr.Verdict{Kind: expr.VerdictAccept},
			},
		},
		{
			name: "tunnel name, counted tcp reset",
			rule: Rule{Match: Match{OIfName: "wgt0", L4Proto: ProtoTCP}, Counter: true, Verdict: RejectTCPReset},
			want: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("wgt0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
				&expr.Counter{},
				&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
			},
		},
		{
			name: "anti-spoof",
			rule: Rule{Match: Match{NotIIfName: "wgt0", DAddr: netip.MustParsePrefix("10.66.0.2/32"), FibSAddrNotLocal: true}, Verdict: Drop},
			want: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte("wgt0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 66, 0, 2}},
				&expr.Fib{Register: 1, FlagSADDR: true, ResultADDRTYPE: true},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(unix.RTN_LOCAL)},
				&expr.Verdict{Kind: expr.VerdictDrop},
			},
		},
		{
			name: "arp request",
			rule: Rule{Match: Match{ARPRequestFor: netip.MustParseAddr("10.66.0.2")}, Verdict: Drop},
			want: []expr.Any{
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 4, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6, 4}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 6, Len: 2},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 1}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 66, 0, 2}},
				&expr.Verdict{Kind: expr.VerdictDrop},
			},
		},
		{
			name: "tcp mid-stream reset",
			rule: Rule{Match: Match{IIfName: "wgt0", L4Proto: ProtoTCP, TCPMidStream: true}, Verdict: RejectTCPReset},
			want: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte("wgt0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")},
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x06}, Xor: []byte{0}},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}},
				&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
			},
		},
		{
			name: "ct state",
			rule: Rule{Match: Match{CTState: CTEstablished | CTRelated}, Verdict: Accept},
			want: []expr.Any{
				&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
				&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(6), Xor: make([]byte, 4)},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
				&expr.Verdict{Kind: expr.VerdictAccept},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.rule.exprs()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("exprs of %q:\n got %#v\nwant %#v", tt.rule, got, tt.want)
			}
		})
	}
}

// Every rule of every Build result compiles, and its comment is its listing.
func TestRuleSetCompiles(t *testing.T) {
	s := baseSpec()
	s.Endpoints = append(s.Endpoints, ep6)
	s.AllowLAN = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	s.LANInboundPorts = []uint16{9091, 51413}
	s.TunnelAddresses = []netip.Prefix{netip.MustParsePrefix("10.66.0.2/32"), netip.MustParsePrefix("fd00:66::2/128")}
	for _, v6 := range []bool{false, true} {
		s.TunnelIPv6 = v6
		rs, err := Build(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range append(rs.Chains, rs.ARP...) {
			for _, r := range c.Rules {
				if _, err := r.exprs(); err != nil {
					t.Errorf("chain %s rule %q: %v", c.Name, r, err)
				}
				if got, _ := userdata.GetString(r.comment(), userdata.TypeComment); got != r.Why || len(got) > maxComment || strings.Contains(got, `"`) {
					t.Errorf("rule %q: comment %q, want its reason %q (at most %d bytes, no quotes)", r, got, r.Why, maxComment)
				}
				ex, _ := r.exprs()
				back, _, ok := decodeRule(ex)
				if !ok || back.String() != r.String() {
					t.Errorf("decode(exprs(%q)) = %q, %v", r, back, ok)
				}
			}
		}
	}
	bad := Rule{Match: Match{L4Proto: ProtoUDP}, Verdict: RejectTCPReset}
	if _, err := bad.exprs(); err == nil {
		t.Errorf("tcp reset on udp compiled")
	}
}
