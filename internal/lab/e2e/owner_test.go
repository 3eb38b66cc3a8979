//go:build linux

package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/killswitch"
)

// TestSecondInstanceRefused: a second wgtorrent in the namespace of a running
// one (with another interface name, and with the same) is refused with exit 2
// naming the first, and touches nothing: the first keeps its table, its
// rules and its interface, says armed because it is, and nothing leaves
// outside the tunnel while both run and after the second has gone.
func TestSecondInstanceRefused(t *testing.T) {
	needPrograms(t, "tcpdump")
	lab, srv, conf := newLab(t, netlab.Options{})
	rec := peerRecorder(t, lab)
	tg := targets4(lab)

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	p.waitState(20*time.Second, "state", "up")
	waitThroughTunnel(t, lab, 10*time.Second)
	link, err := lab.Client.Netlink().LinkByName("wgt0")
	must(t, err)
	index := link.Attrs().Index

	capt := startLeakCapture(t, lab, srv.Endpoint())
	stopProbes := backgroundProber(lab.Client, tg)
	pid := fmt.Sprintf("PID %d", p.Cmd.Process.Pid)
	for _, extra := range [][]string{{"--interface", "wgt1"}, nil, {"--killswitch", "off", "--interface", "wgt2"}} {
		start := time.Now()
		out, code := runWgtorrent(t, lab.Client, append([]string{"tunnel", "--config", conf, "--json"}, extra...)...)
		if code != 2 || !strings.Contains(out, pid) || !strings.Contains(out, "interface wgt0") {
			t.Errorf("second instance %v: exit %d after %s:\n%s\nwant exit 2 naming %s and interface wgt0", extra, code, time.Since(start).Round(time.Millisecond), out, pid)
		} else {
			t.Logf("second instance %v refused in %s: %s", extra, time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
		}
	}
	// `killswitch off` would strip a live owner too.
	if out, code := runWgtorrent(t, lab.Client, "killswitch", "off"); code != 2 || !strings.Contains(out, pid) {
		t.Errorf("killswitch off under a running instance: exit %d:\n%s\nwant exit 2 naming %s", code, out, pid)
	}

	// The first one: still everything in place, measured so.
	n := p.Len()
	line, _ := waitLineSince(p, n, 5*time.Second, "a status line after the second instance", func(map[string]any) bool { return true })
	if line["killswitch"] != "armed" || line["routing"] != "ok" || line["state"] != "up" {
		t.Errorf("first instance status %v: want state up, killswitch armed, routing ok", line)
	}
	if r, _ := line["killswitch_restores"].(float64); r != 0 {
		t.Errorf("first instance had to restore its kill switch %v times: the second one touched it", r)
	}
	if !killSwitchPresent(t, lab.Client) {
		t.Error("the first instance's kill switch table is gone")
	}
	if missing := missingRules(t, lab.Client); len(missing) > 0 {
		t.Errorf("the first instance's ip rules are gone: %v", missing)
	}
	if link, err := lab.Client.Netlink().LinkByName("wgt0"); err != nil || link.Attrs().Index != index {
		t.Errorf("wgt0 replaced or gone (%v)", err)
	}
	for _, name := range []string{"wgt1", "wgt2"} {
		if _, err := lab.Client.Netlink().LinkByName(name); err == nil {
			t.Errorf("the refused instance created %s", name)
		}
	}
	took := waitThroughTunnel(t, lab, 10*time.Second)
	rounds := stopProbes()
	t.Logf("first instance carries traffic %s after the refusals; %d background probe rounds", took.Round(time.Millisecond), rounds)
	capt.assertNoLeaks(t, "two instances")
	rec.assertNeverSaw(t, lab.Client.Addr4)

	// The claim is per network namespace: another one is free.
	err = lab.Peer.Do(func() error {
		o, err := session.AcquireOwner(session.OwnerInfo{PID: os.Getpid()})
		if err == nil {
			o.Release()
		}
		return err
	})
	if err != nil {
		t.Errorf("claiming another network namespace while the client's is owned: %v", err)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	assertNothingLeft(t, lab.Client)
}

// TestKillSwitchRestoredWhenDeleted deletes the kill switch tables and the
// ip rules under a running instance, as `nft delete table inet wgtorrent`
// and `ip rule del` would: the instance says so (log, restore counter in its
// status line) and puts everything back within 2 s; packets leave outside
// the tunnel only inside that window, whose length is printed.
func TestKillSwitchRestoredWhenDeleted(t *testing.T) {
	needPrograms(t, "tcpdump")
	lab, srv, conf := newLab(t, netlab.Options{})
	rec := peerRecorder(t, lab)
	tg := targets4(lab)

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	p.waitState(20*time.Second, "state", "up")
	waitThroughTunnel(t, lab, 10*time.Second)

	capt := startLeakCapture(t, lab, srv.Endpoint())
	stopProbes := backgroundProber(lab.Client, tg)
	time.Sleep(500 * time.Millisecond) // probes before the deletion: a baseline that must not leak
	n := p.Len()

	deleted := time.Now()
	deleteKillSwitchAndRules(t, lab.Client)
	// (No check that the deletion took: the guard may already have undone
	// it. The restore counters below show it saw the deletion.)
	var restored, ksBack time.Time
	for time.Since(deleted) < 5*time.Second {
		present := killSwitchPresent(t, lab.Client)
		if present && ksBack.IsZero() {
			ksBack = time.Now()
		}
		if present && len(missingRules(t, lab.Client)) == 0 {
			restored = time.Now()
			break
		}
		time.Sleep(5 * time.Millisecond) // polling the kernel: the product's own guard is what is measured
	}
	if restored.IsZero() {
		t.Fatalf("kill switch and rules not back within 5 s; stderr:\n%s", p.Stderr())
	}
	window := restored.Sub(deleted)
	t.Logf("kill switch and ip rules deleted: kill switch back after %s, rules too after %s",
		ksBack.Sub(deleted).Round(time.Millisecond), window.Round(time.Millisecond))
	if window > 2*time.Second {
		t.Errorf("protection back after %s, want within 2 s", window)
	}
	line, _ := waitLineSince(p, n, 2*time.Second, "a status line counting the restore", func(m map[string]any) bool {
		r, _ := m["killswitch_restores"].(float64)
		rt, _ := m["routing_restores"].(float64)
		return r >= 1 && rt >= 1
	})
	t.Logf("status after the deletion: killswitch %v (restores %v), routing %v (restores %v)",
		line["killswitch"], line["killswitch_restores"], line["routing"], line["routing_restores"])
	if !strings.Contains(p.Stderr(), "kill switch missing or changed") {
		t.Errorf("no error logged for the deleted kill switch; stderr:\n%s", p.Stderr())
	}

	time.Sleep(time.Second) // probes after the restore
	rounds := stopProbes()
	leaks := capt.stop(t)
	// tcpdump stamps each line with the time of day; allow 20 ms each side
	// for the two clocks' reading.
	from, to := deleted.Add(-20*time.Millisecond), restored.Add(20*time.Millisecond)
	var inside, outside []string
	for _, l := range leaks {
		if at, ok := stampOf(l, deleted); ok && !at.Before(from) && !at.After(to) {
			inside = append(inside, l)
		} else {
			outside = append(outside, l)
		}
	}
	t.Logf("window %s: %d packets left outside the tunnel inside it, %d outside it (%d probe rounds):\n  %s",
		window.Round(time.Millisecond), len(inside), len(outside), rounds, strings.Join(inside, "\n  "))
	if len(outside) > 0 {
		t.Errorf("packets left outside the tunnel outside the window %s - %s:\n  %s",
			from.Format("15:04:05.000000"), to.Format("15:04:05.000000"), strings.Join(outside, "\n  "))
	}
	// After the restore: the tunnel works and nothing leaks.
	waitThroughTunnel(t, lab, recoverWithin)
	capt = startLeakCapture(t, lab, srv.Endpoint())
	stopProbes = backgroundProber(lab.Client, tg)
	time.Sleep(2 * time.Second)
	stopProbes()
	capt.assertNoLeaks(t, "after the restore")
	_ = rec // the peer may have seen the client inside the window; that is the window's leak

	p.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	assertNothingLeft(t, lab.Client)
}

// stampOf reads the time of day tcpdump puts first on a line, on the day of ref.
func stampOf(line string, ref time.Time) (time.Time, bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return time.Time{}, false
	}
	tod, err := time.ParseInLocation("15:04:05.000000", f[0], time.Local)
	if err != nil {
		return time.Time{}, false
	}
	y, m, d := ref.Date()
	return time.Date(y, m, d, tod.Hour(), tod.Minute(), tod.Second(), tod.Nanosecond(), time.Local), true
}

// missingRules lists which of the tunnel's IPv4 rule priorities are absent.
func missingRules(t *testing.T, h *netlab.Host) []int {
	t.Helper()
	rules, err := h.Netlink().RuleList(unix.AF_INET)
	must(t, err)
	var missing []int
	for _, prio := range []int{5208, 5209} {
		found := false
		for _, r := range rules {
			found = found || r.Priority == prio
		}
		if !found {
			missing = append(missing, prio)
		}
	}
	return missing
}

// TestInboundSpoofAndARP: from the ISP's side, UDP spoofed with the VPN
// endpoint's address reaches a local listener without wgtorrent (control),
// and must not with it; UDP spoofed into a tunnelled flow (to the tunnel
// address, from the flow's peer) must not be delivered; an ARP request for
// the tunnel address must draw no answer, while the uplink address's does.
func TestInboundSpoofAndARP(t *testing.T) {
	lab, conf := whoamiLab(t)
	endpoint := netip.AddrPortFrom(lab.VPN.Addr4, netlab.WGPort)

	pc, err := lab.Client.ListenUDP(":7777")
	must(t, err)
	defer pc.Close()
	listener := netip.AddrPortFrom(lab.Client.Addr4, 7777)
	spoofUDP(t, lab.ISP, endpoint, listener, "control")
	if got := recvAll(pc, time.Second); !strings.Contains(got, "control") {
		t.Fatalf("lab: spoofed UDP did not reach the client's listener even without wgtorrent (got %q)", got)
	}

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	p.waitState(20*time.Second, "state", "up")
	waitThroughTunnel(t, lab, 10*time.Second)

	// A tunnelled flow of an ordinary program: UDP to the peer's whoami.
	peer := netip.AddrPortFrom(lab.Peer.Addr4, whoamiPort)
	fc, err := lab.Client.DialContext(context.Background(), "udp", peer.String())
	must(t, err)
	defer fc.Close()
	_, err = fc.Write([]byte("hello"))
	must(t, err)
	_ = fc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 512)
	if n, err := fc.Read(buf); err != nil || hostOf(strings.TrimSpace(string(buf[:n]))) != lab.VPN.Addr4.String() {
		t.Fatalf("tunnelled UDP flow: %q, %v; want the VPN server's address", buf[:n], err)
	}
	flow := netip.MustParseAddrPort(fc.LocalAddr().String())
	if flow.Addr() != netlab.TunnelClient4 {
		t.Fatalf("flow from %s, want the tunnel address %s", flow, netlab.TunnelClient4)
	}
	// The ISP routes the tunnel address to the client, as an attacker on the
	// uplink would.
	ispLink, err := lab.ISP.Netlink().LinkByName(netlab.ISPClientIface)
	must(t, err)
	must(t, lab.ISP.Netlink().RouteReplace(&netlink.Route{LinkIndex: ispLink.Attrs().Index,
		Dst: &net.IPNet{IP: flow.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}, Gw: lab.Client.Addr4.AsSlice()}))

	spoofUDP(t, lab.ISP, peer, flow, "into-the-flow")
	spoofUDP(t, lab.ISP, endpoint, listener, "to-the-listener")
	spoofUDP(t, lab.ISP, endpoint, netip.AddrPortFrom(flow.Addr(), 7777), "to-the-listener-via-tunnel-address")
	if got := recvAll(pc, 1500*time.Millisecond); got != "" {
		t.Errorf("spoofed UDP from the endpoint's address reached a local listener: %q", got)
	}
	_ = fc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, err := fc.Read(buf); err == nil {
		t.Errorf("spoofed UDP from the uplink was delivered into the tunnelled flow: %q", buf[:n])
	}

	if !arpAnswered(t, lab, lab.Client.Addr4) {
		t.Fatalf("lab: ARP for the client's uplink address %s got no answer", lab.Client.Addr4)
	}
	if arpAnswered(t, lab, netlab.TunnelClient4) {
		t.Errorf("the client answered ARP for its tunnel address %s on the uplink", netlab.TunnelClient4)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
}

// spoofUDP sends one UDP datagram from h with any source address (raw socket).
func spoofUDP(t *testing.T, h *netlab.Host, src, dst netip.AddrPort, payload string) {
	t.Helper()
	pkt := make([]byte, 28+len(payload))
	pkt[0], pkt[8], pkt[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(pkt[12:], s4[:])
	copy(pkt[16:], d4[:])
	binary.BigEndian.PutUint16(pkt[10:], inetChecksum(pkt[:20]))
	binary.BigEndian.PutUint16(pkt[20:], src.Port())
	binary.BigEndian.PutUint16(pkt[22:], dst.Port())
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(payload)))
	copy(pkt[28:], payload) // UDP checksum 0: none, valid for IPv4
	err := h.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: d4})
	})
	if err != nil {
		t.Fatalf("spoof UDP %s -> %s: %v", src, dst, err)
	}
}

// recvAll returns what pc receives within d, joined.
func recvAll(pc net.PacketConn, d time.Duration) string {
	var got []string
	buf := make([]byte, 2048)
	_ = pc.SetReadDeadline(time.Now().Add(d))
	for {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return strings.Join(got, " ")
		}
		got = append(got, string(buf[:n]))
	}
}

// arpAnswered makes the ISP resolve addr on the client's link (a datagram to
// it through a host route on that link) and reports whether the client
// answered the ARP request.
func arpAnswered(t *testing.T, lab *netlab.Lab, addr netip.Addr) bool {
	t.Helper()
	nl := lab.ISP.Netlink()
	link, err := nl.LinkByName(netlab.ISPClientIface)
	must(t, err)
	dst := &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}
	must(t, nl.RouteReplace(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Scope: netlink.SCOPE_LINK}))
	_ = nl.NeighDel(&netlink.Neigh{LinkIndex: link.Attrs().Index, IP: addr.AsSlice()})
	var sent atomic.Bool
	must(t, lab.ISP.Do(func() error {
		c, err := net.Dial("udp", netip.AddrPortFrom(addr, 9).String())
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("arp?"))
		sent.Store(err == nil)
		return nil
	}))
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		neighs, err := nl.NeighList(link.Attrs().Index, netlink.FAMILY_V4)
		must(t, err)
		for _, n := range neighs {
			if n.IP.Equal(addr.AsSlice()) && n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE) != 0 && n.HardwareAddr != nil {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond) // polling the neighbour table
	}
	return false
}

// TestPersistHostNameRestartAndFailedStart: with an endpoint given as a host
// name and --killswitch persist, a restart under the lockdown comes up
// without a name lookup outside the tunnel (the address kept from the first
// start) and nothing leaks; and a start that fails while our table is
// there leaves the table in place.
func TestPersistHostNameRestartAndFailedStart(t *testing.T) {
	needPrograms(t, "tcpdump", "unshare", "mount")
	lab, srv, conf := newLab(t, netlab.Options{})
	stopWhoami, err := lab.Peer.ServeWhoAmI(whoamiPort)
	must(t, err)
	t.Cleanup(stopWhoami)
	dir := t.TempDir()

	// A resolver on the ISP router answering the VPN's name, and a
	// resolv.conf naming it, bind-mounted in the wgtorrent process's own
	// mount namespace only.
	const name = "vpn.wgtorrent.test"
	var queries atomic.Int32
	dns, err := lab.ISP.ListenUDP(":53")
	must(t, err)
	t.Cleanup(func() { dns.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := dns.ReadFrom(buf)
			if err != nil {
				return
			}
			queries.Add(1)
			if r := dnsReplyWith(buf[:n], lab.VPN.Addr4); r != nil {
				_, _ = dns.WriteTo(r, from)
			}
		}
	}()
	resolv := filepath.Join(dir, "resolv.conf")
	must(t, os.WriteFile(resolv, []byte("nameserver "+lab.Client.Gateway4.String()+"\noptions timeout:1 attempts:1\n"), 0o644))
	text, err := os.ReadFile(conf)
	must(t, err)
	byName := filepath.Join(dir, "byname.conf")
	must(t, os.WriteFile(byName, []byte(strings.Replace(string(text), srv.Endpoint().String(), fmt.Sprintf("%s:%d", name, netlab.WGPort), 1)), 0o600))
	data := filepath.Join(dir, "state")
	start := func(extra ...string) *proc {
		args := append([]string{"tunnel", "--config", byName, "--json", "--killswitch", "persist", "--data", data}, extra...)
		script := `mount --bind "$1" /etc/resolv.conf && shift && exec "$@"`
		return startInNS(t, lab.Client, nil, "unshare", append([]string{"-m", "--propagation", "private", "sh", "-c", script, "sh", resolv, wgtorrentBin}, args...)...)
	}

	p := start()
	p.waitState(20*time.Second, "state", "up")
	first := queries.Load()
	if first == 0 {
		t.Fatal("the first start did not look the endpoint up through the lab's resolver: the test does not test what it says")
	}
	t.Logf("first start: %d DNS queries in plaintext before arming (the documented cost of a host name)", first)
	p.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
	if !killSwitchPresent(t, lab.Client) {
		t.Fatal("persist: table gone after exit")
	}

	capt := startLeakCapture(t, lab, srv.Endpoint())
	began := time.Now()
	p2 := start()
	p2.waitState(20*time.Second, "state", "up")
	t.Logf("restart under the lockdown: up after %s", time.Since(began).Round(time.Millisecond))
	waitThroughTunnel(t, lab, 10*time.Second)
	if q := queries.Load(); q != first {
		t.Errorf("the restart sent %d DNS queries outside the tunnel; want none (the kept address)", q-first)
	}
	capt.assertNoLeaks(t, "persist restart with a host-name endpoint")
	p2.Signal(syscall.SIGTERM)
	if code := p2.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}

	// A failing start (server gone) in mode on, with our table there.
	must(t, srv.Stop())
	out, code := runWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--handshake-timeout", "2s", "--data", data)
	if code != 1 {
		t.Errorf("start against a dead server: exit %d, want 1:\n%s", code, out)
	}
	if !killSwitchPresent(t, lab.Client) {
		t.Error("a failed start removed the kill switch that was there before it: the machine is open between restarts")
	}
	if out, code := runWgtorrent(t, lab.Client, "killswitch", "off"); code != 0 {
		t.Fatalf("killswitch off: exit %d:\n%s", code, out)
	}
	assertNothingLeft(t, lab.Client)
}

// TestInstancesInTwoNamespaces: the claim is per network namespace, so two
// instances with different configs in two namespaces run side by side, each
// armed and carrying traffic through its own tunnel.
func TestInstancesInTwoNamespaces(t *testing.T) {
	labA, confA := whoamiLab(t)
	labB, confB := whoamiLab(t)
	pa := startWgtorrent(t, labA.Client, "tunnel", "--config", confA, "--json")
	pb := startWgtorrent(t, labB.Client, "tunnel", "--config", confB, "--json")
	for _, x := range []struct {
		p   *proc
		lab *netlab.Lab
	}{{pa, labA}, {pb, labB}} {
		first := x.p.waitState(20*time.Second, "state", "up")
		if first["killswitch"] != "armed" {
			t.Errorf("lab %s: status %v, want killswitch armed", x.lab.ID, first)
		}
		waitThroughTunnel(t, x.lab, 10*time.Second)
	}
	for _, p := range []*proc{pa, pb} {
		p.Signal(syscall.SIGTERM)
		if code := p.wait(15 * time.Second); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0", code)
		}
	}
	assertNothingLeft(t, labA.Client)
	assertNothingLeft(t, labB.Client)
}

// deleteKillSwitchAndRules does what `nft delete table inet wgtorrent`, the
// same for the arp table, and `ip rule del` of the tunnel's rules would.
func deleteKillSwitchAndRules(t *testing.T, h *netlab.Host) {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(h.NsHandle())))
	must(t, err)
	for _, fam := range []nftables.TableFamily{nftables.TableFamilyINet, nftables.TableFamilyARP} {
		tbl := &nftables.Table{Name: killswitch.TableName, Family: fam}
		c.AddTable(tbl) // makes the delete valid whether or not it exists
		c.DelTable(tbl)
	}
	must(t, c.Flush())
	nl := h.Netlink()
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := nl.RuleList(fam)
		must(t, err)
		for _, r := range rules {
			if r.Priority >= 5207 && r.Priority <= 5209 {
				must(t, nl.RuleDel(&r))
			}
		}
	}
}

// TestDaemonKillSwitchDeletedRestored: a daemon whose kill switch and rules
// are deleted puts them back by itself and keeps serving; /metrics counts
// the restore and shows the measured state.
func TestDaemonKillSwitchDeletedRestored(t *testing.T) {
	lab, _, conf := newLab(t, netlab.Options{})
	cl := lab.Client
	p := startWgtorrent(t, cl, daemonArgs(conf, t.TempDir(), t.TempDir())...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	_, metrics, err := c.get("/metrics")
	must(t, err)
	if v, ok := metricValue(metrics, `wgtorrent_killswitch_state{state="armed"}`); !ok || v != 1 {
		t.Errorf(`wgtorrent_killswitch_state{state="armed"} = %v (present %v), want 1`, v, ok)
	}

	deleted := time.Now()
	deleteKillSwitchAndRules(t, cl)
	var ks, rt float64
	for time.Since(deleted) < 2*time.Second {
		_, metrics, err = c.get("/metrics")
		must(t, err)
		ks, _ = metricValue(metrics, "wgtorrent_killswitch_restored_total")
		rt, _ = metricValue(metrics, "wgtorrent_routing_restored_total")
		if ks >= 1 && rt >= 1 {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the daemon's metrics
	}
	if ks < 1 || rt < 1 {
		t.Fatalf("2 s after the deletion: killswitch restored %v, routing restored %v; want both counted", ks, rt)
	}
	t.Logf("restores counted %s after the deletion", time.Since(deleted).Round(time.Millisecond))
	if !killSwitchPresent(t, cl) || len(missingRules(t, cl)) > 0 {
		t.Error("kill switch or rules not back")
	}
	body, _ := c.waitHealth(t, p, http.StatusOK, 5*time.Second)
	t.Logf("/healthz after the restore: %q", body)
	t.Logf("SIGTERM: stopped in %s", stopDaemon(t, p).Round(10*time.Millisecond))
	assertNothingLeft(t, cl)
}

// TestNothingGetsInThroughTheTunnel: other users of the VPN reach the
// tunnel's address. A service listening on every address of the client
// (sshd's way) is reachable from the VPN server's side with the kill
// switch off (control), and not with it on; the engine's own port is.
func TestNothingGetsInThroughTheTunnel(t *testing.T) {
	lab, conf := whoamiLab(t)
	l, err := lab.Client.ListenTCP(":2222")
	must(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	dial := func(port int, timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		c, err := lab.VPN.DialContext(ctx, "tcp", net.JoinHostPort(netlab.TunnelClient4.String(), fmt.Sprint(port)))
		if err == nil {
			c.Close()
		}
		return err
	}

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--killswitch", "off", "--json")
	p.waitState(20*time.Second, "state", "up")
	waitThroughTunnel(t, lab, 10*time.Second)
	if err := dial(2222, 3*time.Second); err != nil {
		t.Fatalf("lab: the VPN's side cannot reach the client's port 2222 even without the kill switch: %v", err)
	}
	p.Signal(syscall.SIGTERM)
	p.wait(15 * time.Second)

	const peerPort = 45123
	data, out := t.TempDir(), t.TempDir()
	d := startWgtorrent(t, lab.Client, daemonArgs(conf, data, out, "--listen-port", fmt.Sprint(peerPort))...)
	newRPCClient(lab.Client, daemonRPCAddr, "", "").waitHealth(t, d, http.StatusOK, 20*time.Second)
	// The guard admits the engine's port once it reads the listener back
	// from the kernel: a few checks at most.
	deadline := time.Now().Add(5 * time.Second)
	for err := dial(peerPort, time.Second); err != nil; err = dial(peerPort, time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("the engine's port %d is not reachable through the tunnel: %v", peerPort, err)
		}
		time.Sleep(200 * time.Millisecond) // polling an external condition
	}
	for _, port := range []int{2222, 9091} {
		if err := dial(port, 2*time.Second); err == nil {
			t.Errorf("the VPN's side reached the client's port %d through the tunnel", port)
		}
	}
	stopDaemon(t, d)
}
