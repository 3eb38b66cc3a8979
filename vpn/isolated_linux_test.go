package vpn_test

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab/labtest"
	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
	"github.com/wgtorrent/wgtorrent/internal/netns"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// TestTunnelInPrivateNamespace: with NetNS the tunnel's interface lives in
// a namespace of its own, whose only way out it is, against a WireGuard
// server nobody here wrote; the namespace the process runs in (here the
// lab's client host) gains no route, rule or interface.
func TestTunnelInPrivateNamespace(t *testing.T) {
	testenv.NeedPrograms(t, "wireguard-go", "wg")
	lab := labtest.New(t, netlab.Options{})
	srv, err := lab.StartDebianWGServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stop, err := lab.Peer.ServeWhoAmI(8080)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	cfg, _, err := vpn.Parse("lab.conf", strings.NewReader(srv.ClientConfig()))
	if err != nil {
		t.Fatal(err)
	}
	before := hostState(t, lab.Client)

	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	tun, err := vpn.Up(context.Background(), cfg, vpn.Options{
		NetNS:     ns,
		Bind:      lab.Client.Bind(), // the process's namespace, as far as the tunnel knows
		Endpoints: []netip.AddrPort{srv.Endpoint()},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tun.Close()
	if st := tun.Status(); st.State != vpn.StateUp {
		t.Errorf("status %+v, want up", st)
	}
	if during := hostState(t, lab.Client); during != before {
		t.Errorf("the outer namespace changed while the tunnel is up:\nbefore:\n%s\nduring:\n%s", before, during)
	}

	// Inside: the peer is reached through the tunnel and sees the VPN
	// server's address; lo and the tunnel are the only interfaces.
	var seen string
	err = ns.Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(lab.Peer.Addr4.String(), "8080"), 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		seen, err = bufio.NewReader(c).ReadString('\n')
		return err
	})
	if err != nil {
		t.Fatalf("TCP to the peer from inside the namespace: %v", err)
	}
	if ip, _, _ := net.SplitHostPort(strings.TrimSpace(seen)); ip != lab.VPN.Addr4.String() {
		t.Errorf("the peer saw %q, want the VPN server's %s", seen, lab.VPN.Addr4)
	}
	inner, err := netlink.NewHandleAt(ns.Handle())
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	links, err := inner.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	if strings.Join(names, " ") != "lo wgt0" {
		t.Errorf("interfaces inside: %v, want lo and wgt0 only", names)
	}

	// The server gone: nothing inside reaches the peer by another way.
	must(t, srv.Stop())
	err = ns.Do(func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(lab.Peer.Addr4.String(), "8080"), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err == nil {
		t.Error("the peer was reachable from inside with the VPN server down")
	}
	must(t, tun.Close())
	if after := hostState(t, lab.Client); after != before {
		t.Errorf("the outer namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// hostState is what a tunnel must not change in h.
func hostState(t *testing.T, h *netlab.Host) string {
	t.Helper()
	st, err := h.NetworkState()
	must(t, err)
	return st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
