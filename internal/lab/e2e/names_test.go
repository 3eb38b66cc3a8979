package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// dnsmasq is Debian's dnsmasq on a lab host answering names from a hosts
// file: the provider's DNS in TestFollowsAServerThatMoved.
type dnsmasq struct {
	p     *proc
	hosts string
}

func startDnsmasq(t *testing.T, h *netlab.Host, name string, addr netip.Addr) *dnsmasq {
	t.Helper()
	d := &dnsmasq{hosts: filepath.Join(t.TempDir(), "hosts")}
	d.set(t, name, addr)
	// Nothing from /etc: no config file, no upstream, no pid file; as
	// root, so that a reload can read the test's hosts file.
	d.p = startInNS(t, h, nil, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
		"--addn-hosts="+d.hosts, "--listen-address="+h.Addr4.String(), "--bind-interfaces", "--pid-file=",
		"--user=root", "--local-ttl=1", "--log-queries", "--log-facility=-")
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := lookupVia(h, net.JoinHostPort(h.Addr4.String(), "53"), name, time.Second); err == nil {
			return d
		} else if time.Now().After(deadline) {
			t.Fatalf("dnsmasq does not answer %s: %v\n%s", name, err, d.p.Stderr())
		}
		time.Sleep(100 * time.Millisecond) // polling another program's start
	}
}

// set makes name resolve to addr (at start, or with a reload).
func (d *dnsmasq) set(t *testing.T, name string, addr netip.Addr) {
	t.Helper()
	must(t, os.WriteFile(d.hosts, fmt.Appendf(nil, "%s %s\n", addr, name), 0o644))
	if d.p != nil {
		d.p.Signal(syscall.SIGHUP) // rereads the hosts file
	}
}

// queriesFrom counts the queries for name dnsmasq logged from addr.
func (d *dnsmasq) queriesFrom(name string, addr netip.Addr) int {
	return strings.Count(d.p.Stderr(), "query[A] "+name+" from "+addr.String())
}

// TestFollowsAServerThatMoved (issue 25): the config names the VPN server
// by a host name that Debian's dnsmasq answers. A download runs; the
// provider moves the server to a new address (the name's answer changes,
// the old address goes away a little later): wgtorrent looks the name up
// again through the tunnel, follows, and the download completes, without
// a restart, without a failover, and with nothing leaked. In both
// isolation modes: in host mode the kill switch must admit the new
// address before the tunnel sends there.
func TestFollowsAServerThatMoved(t *testing.T) {
	for _, mode := range []string{"namespace", "host"} {
		t.Run(mode, func(t *testing.T) { testFollowsAServerThatMoved(t, mode) })
	}
}

func testFollowsAServerThatMoved(t *testing.T, isolation string) {
	needPrograms(t, "dnsmasq", "unshare", "mount", "tcpdump", "opentracker", "transmission-daemon")
	lab, srv, conf := newLab(t, netlab.Options{})
	const name = "a.vpn.wgtorrent.test"
	oldAddr := lab.VPN.Addr4
	newAddr := oldAddr.Next()
	dns := startDnsmasq(t, lab.Peer, name, oldAddr)

	// The provider's file names the server, and its DNS is the lab's
	// resolver (reached through the tunnel once it is up).
	text, err := os.ReadFile(conf)
	must(t, err)
	byName := strings.Replace(string(text), srv.Endpoint().String(), fmt.Sprintf("%s:%d", name, netlab.WGPort), 1)
	byName = strings.Replace(byName, "DNS = "+netlab.TunnelServer4.String(), "DNS = "+lab.Peer.Addr4.String(), 1)
	dir := t.TempDir()
	confByName := filepath.Join(dir, "a.conf")
	must(t, os.WriteFile(confByName, []byte(byName), 0o600))
	// The first lookup, before the tunnel, goes to the same resolver: the
	// system's resolv.conf, in wgtorrent's own mount namespace only.
	resolv := filepath.Join(dir, "resolv.conf")
	must(t, os.WriteFile(resolv, []byte("nameserver "+lab.Peer.Addr4.String()+"\noptions timeout:1 attempts:2\n"), 0o644))

	tor := makeTorrent(t, lab, defaultContent)
	startTracker(t, lab, tor.InfoHash)
	seed := startSeeder(t, lab, tor)

	out := t.TempDir()
	args := []string{"--config", confByName, "--resolve-every", "3s", "--isolation", isolation,
		"--out", out, "--data", t.TempDir(), "--json", "--no-dht", "--torrent", tor.File, "--max-download-rate", "512KiB"}
	script := `mount --bind "$1" /etc/resolv.conf && shift && exec "$@"`
	p := startInNS(t, lab.Client, nil, "unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", resolv, wgtorrentBin}, args...)...)
	oldEP, newEP := netip.AddrPortFrom(oldAddr, netlab.WGPort), netip.AddrPortFrom(newAddr, netlab.WGPort)
	first := p.waitLine(40*time.Second, "10% downloaded", atLeast(0.10))
	if first["tunnel_endpoint"] != oldEP.String() || complete(first) {
		t.Fatalf("at 10%%: %v; want the download under way through %s", first, oldEP)
	}
	bootstrap := dns.queriesFrom(name, lab.Client.Addr4)
	if bootstrap == 0 {
		t.Fatalf("no lookup of %s from the client before the tunnel: the test does not test what it says\n%s", name, dns.p.Stderr())
	}
	// From here on (the first lookup is the documented plaintext one),
	// nothing but WireGuard to the server's addresses may leave.
	capt := startLeakCapture(t, lab, oldEP, newEP)

	// The provider moves the server: the new address answers, the name
	// points there; the old address goes away once wgtorrent has moved.
	must(t, lab.VPN.WriteSysctls(map[string]string{"net/ipv4/conf/" + netlab.HostIface + "/promote_secondaries": "1"}))
	link, err := lab.VPN.Netlink().LinkByName(netlab.HostIface)
	must(t, err)
	addr := func(a netip.Addr) *netlink.Addr {
		return &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	}
	must(t, lab.VPN.Netlink().AddrAdd(link, addr(newAddr)))
	from := p.Len()
	moved := time.Now()
	dns.set(t, name, newAddr)
	m, _ := waitLineSince(p, from, 30*time.Second, "the tunnel sending to the server's new address", func(m map[string]any) bool {
		return m["tunnel_endpoint"] == newEP.String()
	})
	t.Logf("following the new address %s after the name changed (lookups every 3 s)", time.Since(moved).Round(100*time.Millisecond))
	if complete(m) {
		t.Fatalf("complete before the old address went: the test does not test what it says: %v", m)
	}
	must(t, lab.VPN.Netlink().AddrDel(link, addr(oldAddr)))
	removed := time.Now()
	gone := p.Len()
	frozen := p.Lines(gone - 1)[0]
	// The connections made through the old exit address died with it; the
	// engine finds that by the peer's reset to its next write (a keepalive
	// within 20 s) and dials again, out of the new address; the seeder rechokes every 10 s.
	_, at := waitLineSince(p, gone, 90*time.Second, "payload through the new address", func(m map[string]any) bool {
		return num(m, "bytes_completed") > num(frozen, "bytes_completed")
	})
	t.Logf("payload again %s after the old address went", time.Since(removed).Round(100*time.Millisecond))
	for deadline := time.Now().Add(20 * time.Second); ; {
		peers := seed.stats(t, tor.InfoHash).Peers
		seen := false
		for _, peer := range peers {
			seen = seen || peer.Address == newAddr.String()
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the seeder does not see the server's new address %s: %+v", newAddr, peers)
			break
		}
		time.Sleep(time.Second) // polling another program's state
	}
	done, _ := waitLineSince(p, at, 90*time.Second, "the download complete", complete)
	if num(done, "tunnel_moves") != 0 || done["tunnel_state"] != "up" {
		t.Errorf("at the end: %v; want the tunnel up with no failover (an address change is not a move)", done)
	}
	tor.assertIdentical(t, "download through a server that moved", out)
	// Lookups after the first came through the tunnel: dnsmasq saw them
	// from the VPN server's (masqueraded) addresses, never from the client.
	if n := dns.queriesFrom(name, lab.Client.Addr4); n != bootstrap {
		t.Errorf("%d lookups from the client's own address after the first %d: outside the tunnel", n-bootstrap, bootstrap)
	}
	if dns.queriesFrom(name, oldAddr)+dns.queriesFrom(name, newAddr) == 0 {
		t.Errorf("no lookup came through the tunnel:\n%s", dns.p.Stderr())
	}
	p.Signal(syscall.SIGTERM)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	capt.assertNoLeaks(t, "a server that moved")
	assertNothingLeft(t, lab.Client)
}
