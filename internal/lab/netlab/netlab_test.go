//go:build linux

package netlab

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

const whoamiPort = 7070

func TestLabBuildAndClose(t *testing.T) {
	skipIfNotRoot(t)
	l, err := New(context.Background(), Options{IPv6Uplink: true, IPv6Tunnel: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	names := labNamespaces(t, l.ID)
	if len(names) != 4 {
		t.Errorf("namespaces for lab %s: got %v, want 4", l.ID, names)
	}
	if l.VPN2 != nil {
		t.Error("VPN2 built without Options.SecondVPN")
	}
	// A process started in a host lives in its namespace and dies with the lab.
	cmd := l.Peer.Command(context.Background(), "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if left := labNamespaces(t, l.ID); len(left) != 0 {
		t.Errorf("namespaces left after Close: %v", left)
	}
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Error("process started in the lab still running after Close")
	}
}

func labNamespaces(t *testing.T, id string) []string {
	t.Helper()
	ents, err := os.ReadDir("/var/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.Contains(e.Name(), id) {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestDirectPath(t *testing.T) {
	l := newT(t, Options{IPv6Uplink: true})
	stop, err := l.Peer.ServeWhoAmI(whoamiPort)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct{ network, addr, want string }{
		{"tcp", "198.18.3.2", "198.18.1.2"},
		{"udp", "198.18.3.2", "198.18.1.2"},
		{"tcp", "2001:db8:3::2", "2001:db8:1::2"},
	} {
		got, err := l.Client.WhoAmI(ctx, tc.network, net.JoinHostPort(tc.addr, fmt.Sprint(whoamiPort)))
		if err != nil {
			t.Errorf("%s to %s: %v", tc.network, tc.addr, err)
			continue
		}
		if host, _, _ := net.SplitHostPort(got); host != tc.want {
			t.Errorf("%s to %s: peer saw %q, want host %s", tc.network, tc.addr, got, tc.want)
		}
	}
	// The lab's routes live in the namespaces: the peer's address is not
	// configured in the test's own namespace.
	if addrs, _ := net.InterfaceAddrs(); strings.Contains(fmt.Sprint(addrs), "198.18.3.2") {
		t.Errorf("lab address leaked into the host namespace: %v", addrs)
	}
}

func TestTunnelDebianServer(t *testing.T) {
	testenv.NeedPrograms(t, "wireguard-go", "wg", "tcpdump")
	l := newT(t, Options{})
	srv, err := l.StartDebianWGServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkTunnel(t, l, srv, l.VPN)
}

func TestTunnelBuiltinServer(t *testing.T) {
	testenv.NeedPrograms(t, "tcpdump")
	l := newT(t, Options{})
	srv, err := l.StartBuiltinWGServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkTunnel(t, l, srv, l.VPN)
}

// checkTunnel brings up a client tunnel to srv, on VPN host vpn, routing the
// peer subnet, checks that the peer sees vpn's address and that the capture
// sees no leak, then that a direct connection to vpn is caught as a leak.
func checkTunnel(t *testing.T, l *Lab, srv WGServer, vpn *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, h := range []*Host{l.Peer, vpn} {
		stop, err := h.ServeWhoAmI(whoamiPort)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	closeClient := startTestClient(t, l, srv.ClientConfig())
	defer closeClient()

	capt, err := l.StartCapture(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	peer := net.JoinHostPort(l.Peer.Addr4.String(), fmt.Sprint(whoamiPort))
	for _, network := range []string{"tcp", "udp"} {
		got, err := l.Client.WhoAmI(ctx, network, peer)
		if err != nil {
			t.Fatalf("whoami %s through the tunnel: %v", network, err)
		}
		if host, _, _ := net.SplitHostPort(got); host != vpn.Addr4.String() {
			t.Errorf("through the tunnel (%s) the peer saw %s, want %s's %s", network, got, vpn.Name, vpn.Addr4)
		}
	}
	leaks, err := capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) != 0 {
		t.Errorf("%d packets outside the tunnel:\n%q", len(leaks), leaks)
	}

	// A connection that bypasses the tunnel must show up.
	capt, err = l.StartCapture(ctx, srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	direct := net.JoinHostPort(vpn.Addr4.String(), fmt.Sprint(whoamiPort))
	got, err := l.Client.WhoAmI(ctx, "tcp", direct)
	if err != nil {
		t.Fatalf("direct whoami: %v", err)
	}
	if host, _, _ := net.SplitHostPort(got); host != l.Client.Addr4.String() {
		t.Errorf("direct connection seen from %s, want %s", got, l.Client.Addr4)
	}
	leaks, err = capt.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(leaks, "\n"), vpn.Addr4.String()+"."+fmt.Sprint(whoamiPort)+":") {
		t.Errorf("capture missed the direct connection to %s; it saw:\n%s", direct, strings.Join(leaks, "\n"))
	}
}

func TestServerRestartKeepsKeys(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(*Lab, context.Context) (WGServer, error)
		needs string
	}{
		{"builtin", (*Lab).StartBuiltinWGServer, ""},
		{"debian", (*Lab).StartDebianWGServer, "wireguard-go"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needs != "" {
				testenv.NeedPrograms(t, tc.needs)
			}
			l := newT(t, Options{IPv6Uplink: true, IPv6Tunnel: true})
			srv, err := tc.start(l, context.Background())
			if err != nil {
				t.Fatal(err)
			}
			stop, err := l.Peer.ServeWhoAmI(whoamiPort)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			cfg := srv.ClientConfig()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			for i, addr := range []string{"198.18.3.2", "2001:db8:3::2"} {
				closeClient := startTestClient(t, l, cfg)
				got, err := l.Client.WhoAmI(ctx, "tcp", net.JoinHostPort(addr, fmt.Sprint(whoamiPort)))
				closeClient()
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
				want := l.VPN.Addr4.String()
				if strings.Contains(addr, ":") {
					want = l.VPN.Addr6.String()
				}
				if host, _, _ := net.SplitHostPort(got); host != want {
					t.Errorf("round %d: peer saw %s, want %s", i, got, want)
				}
				if i == 0 {
					if err := srv.Stop(); err != nil {
						t.Fatal(err)
					}
					if _, err := l.VPN.Netlink().LinkByName("wgs-" + l.ID); err == nil {
						t.Error("tunnel interface still there after Stop")
					}
					if err := srv.Start(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if srv.ClientConfig() != cfg {
				t.Error("client config changed across Stop/Start")
			}
		})
	}
}

// TestSecondVPN: with Options.SecondVPN, a Debian server on each VPN host
// gives the same client key and tunnel addresses (one account) but its own
// server key and endpoint; the client tunnelled through either reaches the
// peer as that server's public address, over IPv4 and IPv6, also while the
// other server is down (a failover); and Close removes the fifth namespace.
func TestSecondVPN(t *testing.T) {
	testenv.NeedPrograms(t, "wireguard-go", "wg", "tcpdump")
	l := newT(t, Options{IPv6Uplink: true, IPv6Tunnel: true, SecondVPN: true})
	if l.VPN2 == nil || l.VPN2.Name != "vpn2" || l.VPN2.NetNS != "wgt-"+l.ID+"-vpn2" {
		t.Fatalf("VPN2 = %+v, want host vpn2 in namespace wgt-%s-vpn2", l.VPN2, l.ID)
	}
	if l.VPN2.Addr4 != netip.MustParseAddr("198.18.4.2") || l.VPN2.Addr6 != netip.MustParseAddr("2001:db8:4::2") {
		t.Errorf("VPN2 at %s and %s, want 198.18.4.2 and 2001:db8:4::2", l.VPN2.Addr4, l.VPN2.Addr6)
	}
	if _, err := l.StartDebianWGServerOn(context.Background(), l.Peer); err == nil {
		t.Error("a server started on the peer host, which does not masquerade")
	}
	srv1, err := l.StartDebianWGServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv2, err := l.StartDebianWGServerOn(context.Background(), l.VPN2)
	if err != nil {
		t.Fatal(err)
	}
	checkSameAccount(t, srv1, srv2)
	if srv1.Interface() == srv2.Interface() {
		t.Errorf("both servers use interface %s: their UAPI sockets would collide", srv1.Interface())
	}

	checkTunnel(t, l, srv1, l.VPN)
	checkTunnel(t, l, srv2, l.VPN2)
	stop, err := l.Peer.ServeWhoAmI(whoamiPort)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	checkSeenAs(t, l, srv1, l.VPN)
	checkSeenAs(t, l, srv2, l.VPN2)

	// Failover: the first server dies, the second still carries the
	// client; the first comes back.
	if err := srv1.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.VPN.Netlink().LinkByName(srv1.Interface()); err == nil {
		t.Error("first server's interface still there after Stop")
	}
	checkSeenAs(t, l, srv2, l.VPN2)
	if err := srv1.Start(); err != nil {
		t.Fatal(err)
	}
	checkSeenAs(t, l, srv1, l.VPN)

	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if left := labNamespaces(t, l.ID); len(left) != 0 {
		t.Errorf("namespaces left after Close: %v", left)
	}
	for _, s := range []WGServer{srv1, srv2} {
		if _, err := os.Stat("/var/run/wireguard/" + s.Interface() + ".sock"); err == nil {
			t.Errorf("UAPI socket of %s left after Close", s.Interface())
		}
	}
}

// checkSameAccount: two servers' client configs share the [Interface]
// (private key, addresses) and differ in the [Peer] (key, endpoint).
func checkSameAccount(t *testing.T, a, b WGServer) {
	t.Helper()
	ca, cb := a.ClientConfig(), b.ClientConfig()
	ifa, _, _ := strings.Cut(ca, "[Peer]")
	ifb, _, _ := strings.Cut(cb, "[Peer]")
	if ifa != ifb {
		t.Errorf("the servers' [Interface] sections differ:\n%s\n%s", ifa, ifb)
	}
	_, pubA, epA, err := parseClientConfig(ca)
	if err != nil {
		t.Fatal(err)
	}
	_, pubB, epB, err := parseClientConfig(cb)
	if err != nil {
		t.Fatal(err)
	}
	if pubA == pubB {
		t.Error("both servers have the same key")
	}
	if epA != a.Endpoint() || epB != b.Endpoint() || epA == epB {
		t.Errorf("endpoints %s and %s, want %s and %s, distinct", epA, epB, a.Endpoint(), b.Endpoint())
	}
}

// checkSeenAs brings up a client tunnel to srv and checks that the peer
// (serving whoami) sees the client as vpn's address over TCP on IPv4 and
// IPv6.
func checkSeenAs(t *testing.T, l *Lab, srv WGServer, vpn *Host) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	closeClient := startTestClient(t, l, srv.ClientConfig())
	defer closeClient()
	for _, tc := range []struct{ peer, want netip.Addr }{
		{l.Peer.Addr4, vpn.Addr4},
		{l.Peer.Addr6, vpn.Addr6},
	} {
		got, err := l.Client.WhoAmI(ctx, "tcp", net.JoinHostPort(tc.peer.String(), fmt.Sprint(whoamiPort)))
		if err != nil {
			t.Fatalf("whoami %s through %s: %v", tc.peer, vpn.Name, err)
		}
		if host, _, _ := net.SplitHostPort(got); host != tc.want.String() {
			t.Errorf("through %s the peer saw %s, want %s", vpn.Name, got, tc.want)
		}
	}
}

func TestBlockUDPAtISP(t *testing.T) {
	l := newT(t, Options{})
	pc, err := l.Peer.ListenUDP(":9999")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	// Each datagram carries its own number and only that one counts: a
	// late one from an earlier try (a loaded machine) is not this one.
	n := 0
	send := func() bool {
		n++
		want := fmt.Sprint(n)
		c, err := l.Client.DialContext(context.Background(), "udp", "198.18.3.2:9999")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(want)); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, 16)
		for {
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				return false
			}
			if string(buf[:k]) == want {
				return true
			}
		}
	}
	// Positive controls may try a few datagrams: UDP is best effort, and
	// one first datagram in a fresh lab was seen lost once, under load.
	arrives := func() bool {
		for range 3 {
			if send() {
				return true
			}
		}
		return false
	}
	if !arrives() {
		t.Fatal("UDP did not arrive before blocking")
	}
	if err := l.BlockUDPAtISP(9999); err != nil {
		t.Fatal(err)
	}
	if send() {
		t.Error("UDP arrived while blocked at the ISP")
	}
	if err := l.UnblockUDPAtISP(9999); err != nil {
		t.Fatal(err)
	}
	if !arrives() {
		t.Error("UDP did not arrive after unblocking")
	}
}

// startTestClient brings up a library WireGuard client in the client
// namespace from cfg, routing only the peer's networks through it (this
// test's simple client; the product's tunnel is package vpn's job).
func startTestClient(t *testing.T, l *Lab, cfg string) (closeClient func()) {
	t.Helper()
	priv, peerPub, endpoint, err := parseClientConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	name := "wgc-" + l.ID
	uapi := fmt.Sprintf("private_key=%s\npublic_key=%s\nendpoint=%s\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\n",
		priv.hex(), peerPub.hex(), endpoint)
	dev, err := startDevice(l.Client, name, uapi, 0)
	if err != nil {
		t.Fatal(err)
	}
	closeClient = func() { dev.Close() }
	pfx := []netip.Prefix{netip.PrefixFrom(TunnelClient4, 32)}
	if strings.Contains(cfg, TunnelClient6.String()) {
		pfx = append(pfx, netip.PrefixFrom(TunnelClient6, 128))
	}
	if err := l.Client.configureLink(name, pfx); err != nil {
		closeClient()
		t.Fatal(err)
	}
	link, err := l.Client.Netlink().LinkByName(name)
	if err != nil {
		closeClient()
		t.Fatal(err)
	}
	dsts := []string{"198.18.3.0/24"}
	if len(pfx) > 1 {
		dsts = append(dsts, "2001:db8:3::/64")
	}
	for _, d := range dsts {
		_, dst, _ := net.ParseCIDR(d)
		if err := l.Client.Netlink().RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst}); err != nil {
			closeClient()
			t.Fatalf("route %s via %s: %v", d, name, err)
		}
	}
	return closeClient
}

// parseClientConfig reads the fields of a ClientConfig needed to bring up a
// library client (tests).
func parseClientConfig(cfg string) (priv, peerPub wgKey, endpoint netip.AddrPort, err error) {
	decode := func(s string) (k wgKey, err error) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			return k, fmt.Errorf("bad key %q", s)
		}
		return wgKey(b), nil
	}
	for line := range strings.Lines(cfg) {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "PrivateKey":
			priv, err = decode(v)
		case "PublicKey":
			peerPub, err = decode(v)
		case "Endpoint":
			endpoint, err = netip.ParseAddrPort(v)
		}
		if err != nil {
			return priv, peerPub, endpoint, fmt.Errorf("netlab: client config %s: %w", k, err)
		}
	}
	if !endpoint.IsValid() {
		return priv, peerPub, endpoint, errors.New("netlab: client config has no Endpoint")
	}
	return priv, peerPub, endpoint, nil
}

var _ = net.IPv4len

// newT is labtest.New, which this package's own tests cannot import.
func newT(t *testing.T, opt Options) *Lab {
	skipIfNotRoot(t)
	return NewT(t, opt)
}

func skipIfNotRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "netlab creates network namespaces, veth links and nftables rules")
}
