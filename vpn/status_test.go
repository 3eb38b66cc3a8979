package vpn

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseUAPIGet(t *testing.T) {
	get := strings.Join([]string{
		"private_key=" + strings.Repeat("ab", 32),
		"listen_port=40000",
		"fwmark=51820",
		"public_key=" + strings.Repeat("cd", 32),
		"preshared_key=" + strings.Repeat("00", 32),
		"protocol_version=1",
		"endpoint=198.18.2.2:51820",
		"last_handshake_time_sec=1700000000",
		"last_handshake_time_nsec=5",
		"tx_bytes=1234",
		"rx_bytes=5678",
		"persistent_keepalive_interval=25",
		"allowed_ip=0.0.0.0/0",
	}, "\n")
	peers, err := parseUAPIGet(get)
	if err != nil {
		t.Fatal(err)
	}
	want := peerStats{PublicKey: strings.Repeat("cd", 32), Endpoint: "198.18.2.2:51820", LastHandshake: time.Unix(1700000000, 5), RxBytes: 5678, TxBytes: 1234}
	if len(peers) != 1 || peers[0] != want {
		t.Fatalf("got %+v, want %+v", peers, want)
	}
	if _, err := parseUAPIGet("public_key=x\nrx_bytes=lots\n"); err == nil {
		t.Fatal("bad counter accepted")
	}
}

func TestHealthTracker(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	hs := t0.Add(-time.Second)
	steps := []struct {
		name   string
		at     time.Duration
		linkUp bool
		st     peerStats
		want   State
	}{
		{"no handshake yet", 0, true, peerStats{}, StateConnecting},
		{"fresh handshake", 1 * time.Second, true, peerStats{LastHandshake: hs, RxBytes: 1000, TxBytes: 1000}, StateUp},
		{"sending, replies lag a little", 9 * time.Second, true, peerStats{LastHandshake: hs, RxBytes: 1000, TxBytes: 3000}, StateUp},
		{"sending, silence past keepalive timeout", 30 * time.Second, true, peerStats{LastHandshake: hs, RxBytes: 1000, TxBytes: 5000}, StateStale},
		{"reply arrives", 31 * time.Second, true, peerStats{LastHandshake: hs, RxBytes: 1100, TxBytes: 5000}, StateUp},
		{"idle: only a keepalive leaves", 50 * time.Second, true, peerStats{LastHandshake: hs, RxBytes: 1100, TxBytes: 5032}, StateUp},
		{"idle: another keepalive", 75 * time.Second, true, peerStats{LastHandshake: hs, RxBytes: 1100, TxBytes: 5064}, StateUp},
		{"session expired", 200 * time.Second, true, peerStats{LastHandshake: hs, RxBytes: 1100, TxBytes: 5064}, StateDown},
		{"interface gone", 201 * time.Second, false, peerStats{}, StateDown},
	}
	var h healthTracker
	for _, s := range steps {
		if got := h.observe(t0.Add(s.at), s.linkUp, s.st); got != s.want {
			t.Errorf("%s: state %s, want %s", s.name, got, s.want)
		}
	}
}

func TestPlanRoutes(t *testing.T) {
	v4only := &Config{
		Interface: Interface{Addresses: []netip.Prefix{netip.MustParsePrefix("10.64.0.2/32")}},
		Peers:     []Peer{{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}}},
	}
	p := planRoutes(v4only, 51820, 51820, nil)
	if got := prefixes(p.Routes); got != "0.0.0.0/0" {
		t.Errorf("v4-only routes = %s; ::/0 must not be routed without an IPv6 address", got)
	}
	if got := prefixes(p.Unreachable); got != "0.0.0.0/0 ::/0" {
		t.Errorf("unreachable = %s, want both families as the fallback", got)
	}
	dual := &Config{
		Interface: Interface{Addresses: []netip.Prefix{netip.MustParsePrefix("10.64.0.2/32"), netip.MustParsePrefix("fc00::2/128")}},
		Peers: []Peer{
			{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}},
			{AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8"), netip.MustParsePrefix("0.0.0.0/0")}},
		},
	}
	if got := prefixes(planRoutes(dual, 7, 7, nil).Routes); got != "0.0.0.0/0 ::/0 10.0.0.0/8" {
		t.Errorf("dual-stack routes = %s", got)
	}
	lan := []netip.Prefix{netip.MustParsePrefix("192.168.1.7/24"), netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd00::/64")}
	if got := prefixes(planRoutes(dual, 7, 7, lan).LAN); got != "192.168.1.0/24 fd00::/64" {
		t.Errorf("LAN ranges looked up in the main table = %s, want each range once, masked", got)
	}
}

func prefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

func TestUAPIConfigMarksSocketBeforePeers(t *testing.T) {
	priv, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &Config{
		Interface: Interface{PrivateKey: priv, ListenPort: 0},
		Peers: []Peer{{
			PublicKey:           priv.Public(),
			AllowedIPs:          []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
			PersistentKeepalive: 25 * time.Second,
		}},
	}
	got, err := uapiConfig(cfg, 51820, []netip.AddrPort{netip.MustParseAddrPort("198.18.2.2:51820")})
	if err != nil {
		t.Fatal(err)
	}
	mark, peer := strings.Index(got, "fwmark=51820\n"), strings.Index(got, "public_key=")
	if mark < 0 || peer < 0 || mark > peer {
		t.Fatalf("fwmark must precede the first peer:\n%s", got)
	}
	for _, line := range []string{"endpoint=198.18.2.2:51820", "persistent_keepalive_interval=25", "allowed_ip=0.0.0.0/0"} {
		if !strings.Contains(got, line+"\n") {
			t.Errorf("missing %q in\n%s", line, got)
		}
	}
	if _, err := uapiConfig(cfg, 1, nil); err == nil {
		t.Error("endpoint count mismatch accepted")
	}
}
