package vpn

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		prefixes, target string
		want             bool
	}{
		{"0.0.0.0/0", "0.0.0.0/0", true},
		{"0.0.0.0/1 128.0.0.0/1", "0.0.0.0/0", true},
		{"0.0.0.0/1", "0.0.0.0/0", false},
		{"10.0.0.0/8", "0.0.0.0/0", false},
		{"::/0", "0.0.0.0/0", false},
		{"::/1 8000::/1", "::/0", true},
		// The "exclude private ranges" list of the AllowedIPs calculators.
		{"0.0.0.0/5 8.0.0.0/7 11.0.0.0/8 12.0.0.0/6 16.0.0.0/4 32.0.0.0/3 64.0.0.0/2 128.0.0.0/3 160.0.0.0/5 168.0.0.0/6 172.0.0.0/12 172.32.0.0/11 172.64.0.0/10 172.128.0.0/9 173.0.0.0/8 174.0.0.0/7 176.0.0.0/4 192.0.0.0/9 192.128.0.0/11 192.160.0.0/13 192.169.0.0/16 192.170.0.0/15 192.172.0.0/14 192.176.0.0/12 192.192.0.0/10 193.0.0.0/8 194.0.0.0/7 196.0.0.0/6 200.0.0.0/5 208.0.0.0/4 224.0.0.0/3", "0.0.0.0/0", false},
		{"0.0.0.0/2 64.0.0.0/2 128.0.0.0/2 192.0.0.0/3 224.0.0.0/4 240.0.0.0/5 248.0.0.0/6 252.0.0.0/7 254.0.0.0/8 255.0.0.0/9 255.128.0.0/9", "0.0.0.0/0", true},
		{"10.1.2.3/8 0.0.0.0/1 128.0.0.0/1", "10.0.0.0/8", true},
		{"", "0.0.0.0/0", false},
	} {
		var ps []netip.Prefix
		for _, f := range strings.Fields(tc.prefixes) {
			ps = append(ps, netip.MustParsePrefix(f))
		}
		if got := covers(ps, netip.MustParsePrefix(tc.target)); got != tc.want {
			t.Errorf("covers(%s, %s) = %v, want %v", tc.prefixes, tc.target, got, tc.want)
		}
	}
}

func TestServerPeerAndReachWarnings(t *testing.T) {
	const iface4 = "[Interface]\nPrivateKey = " + ptPriv + "\nAddress = 10.0.0.2/32\n"
	const iface46 = "[Interface]\nPrivateKey = " + ptPriv + "\nAddress = 10.0.0.2/32, fd00::2/128\n"
	peer := func(key, allowed string) string {
		return "[Peer]\nPublicKey = " + key + "\nEndpoint = 1.2.3.4:51820\nAllowedIPs = " + allowed + "\n"
	}
	for _, tc := range []struct {
		name, text string
		server     int
		ok         bool
		warnings   []string
	}{
		{"one peer", iface4 + peer(ptPub, "0.0.0.0/0"), 0, true, nil},
		{"server second", iface4 + peer(ptPub, "10.99.0.0/24") + peer(ptPub2, "0.0.0.0/0"), 1, true, nil},
		{"server by halves", iface4 + peer(ptPub, "10.99.0.0/24") + peer(ptPub2, "0.0.0.0/1, 128.0.0.0/1"), 1, true, nil},
		{"IPv6 server only", iface46 + peer(ptPub, "10.0.0.0/8") + peer(ptPub2, "::/0"), 1, true,
			[]string{"AllowedIPs do not cover every IPv4 address (no 0.0.0.0/0): the engine reaches only the addresses they list, and peers elsewhere time out"}},
		{"::/0 without an IPv6 address", iface4 + peer(ptPub, "10.0.0.0/8") + peer(ptPub2, "::/0"), 0, false,
			[]string{"AllowedIPs do not cover every IPv4 address (no 0.0.0.0/0): the engine reaches only the addresses they list, and peers elsewhere time out"}},
		{"subnet only", iface4 + peer(ptPub, "10.0.0.0/8"), 0, false,
			[]string{"AllowedIPs do not cover every IPv4 address (no 0.0.0.0/0): the engine reaches only the addresses they list, and peers elsewhere time out"}},
		{"dual stack, IPv4 only routed", iface46 + peer(ptPub, "0.0.0.0/0"), 0, true,
			[]string{"AllowedIPs do not cover every IPv6 address (no ::/0): the engine reaches only the addresses they list, and peers elsewhere time out"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := ptParse(t, "c.conf", tc.text)
			server, ok := cfg.ServerPeer()
			if server != tc.server || ok != tc.ok {
				t.Errorf("ServerPeer() = %d, %v; want %d, %v", server, ok, tc.server, tc.ok)
			}
			if got := cfg.ReachWarnings(); strings.Join(got, "|") != strings.Join(tc.warnings, "|") {
				t.Errorf("ReachWarnings() = %q, want %q", got, tc.warnings)
			}
		})
	}
}

func TestRoutingTable(t *testing.T) {
	rt := filepath.Join(t.TempDir(), "rt_tables")
	if err := os.WriteFile(rt, []byte("#\n255\tlocal\n254\tmain\n253\tdefault\n0\tunspec\n# ours\n100 vpn\n0x65 hexed # comment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(t.TempDir(), "missing"), rt}
	for _, tc := range []struct {
		table string
		want  int
		err   string
	}{
		{"", DefaultTable, ""},
		{"auto", DefaultTable, ""},
		{"off", DefaultTable, ""},
		{"1234", 1234, ""},
		{"vpn", 100, ""},
		{"hexed", 101, ""},
		{"nosuch", 0, `Table on line 7: no routing table is named "nosuch"`},
	} {
		got, err := routingTable(Interface{Table: tc.table, TableLine: 7}, files)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Table %q: error %v, want one containing %q", tc.table, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Table %q = %d, %v; want %d", tc.table, got, err, tc.want)
		}
	}
	// A name that iproute2 maps to a system table is refused too.
	if err := os.WriteFile(rt, []byte("254 mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := routingTable(Interface{Table: "mine", TableLine: 3}, []string{rt}); err == nil || !strings.Contains(err.Error(), "system's main table") {
		t.Errorf("a name for table 254: error %v, want a refusal", err)
	}
}

func TestPeerStatuses(t *testing.T) {
	cfg, _ := ptParse(t, "c.conf", "[Interface]\nPrivateKey = "+ptPriv+"\nAddress = 10.0.0.2/32\n"+
		"[Peer]\nPublicKey = "+ptPub+"\nEndpoint = 198.18.3.2:51999\nAllowedIPs = 10.99.0.0/24\n"+
		"[Peer]\nPublicKey = "+ptPub2+"\nEndpoint = 198.18.2.2:51820\nAllowedIPs = 0.0.0.0/0\n")
	eps := []netip.AddrPort{netip.MustParseAddrPort("198.18.3.2:51999"), netip.MustParseAddrPort("198.18.2.2:51820")}
	server, _ := cfg.ServerPeer()
	// The device lists peers in its own order: the server first here.
	stats := []peerStats{
		{PublicKey: cfg.Peers[1].PublicKey.Hex(), Endpoint: "198.18.2.2:51820", RxBytes: 92, TxBytes: 148},
		{PublicKey: cfg.Peers[0].PublicKey.Hex()},
	}
	got := peerStatuses(cfg, server, eps, stats)
	if len(got) != 2 || got[0].Server || !got[1].Server || got[1].RxBytes != 92 || got[0].Endpoint != "198.18.3.2:51999" || got[1].PublicKey != cfg.Peers[1].PublicKey.String() {
		t.Errorf("peerStatuses = %+v", got)
	}
}
