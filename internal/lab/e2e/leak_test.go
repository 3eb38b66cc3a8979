//go:build linux

package e2e

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// recoverWithin is how long a healed fault may take to carry traffic again:
// the WireGuard client re-handshakes some 5-15 s after it notices silence.
const recoverWithin = 45 * time.Second

// peerRecorder records every flow reaching the peer host: the whoami port
// (probes and recovery checks) and DNS.
func peerRecorder(t *testing.T, lab *netlab.Lab) *recorder {
	return startRecorder(t, lab.Peer, []int{whoamiPort, 53}, []int{whoamiPort, 53})
}

// TestLeakKillSwitchFaults injects the faults a tunnel meets in real life,
// one after the other in one lab, with the kill switch on (the default),
// in both isolations. During each fault and its healing, probes run from
// where wgtorrent's traffic starts (the client host in host mode, the
// private namespace in namespace mode) to the peer, the VPN host and the
// ISP; nothing may leave the client outside the tunnel, the peer may never
// see the client's address, and once the fault is healed traffic must flow
// through the tunnel again without help.
func TestLeakKillSwitchFaults(t *testing.T) {
	for _, iso := range []string{"host", "namespace"} {
		t.Run(iso, func(t *testing.T) { leakKillSwitchFaults(t, iso) })
	}
}

func leakKillSwitchFaults(t *testing.T, iso string) {
	needPrograms(t, "tcpdump")
	lab, srv, conf := newLab(t, netlab.Options{})
	rec := peerRecorder(t, lab)
	client := []netip.Addr{lab.Client.Addr4}
	tg := targets4(lab)
	hostBefore := netState(t, lab.Client)

	start := func() (*proc, *netlab.Host) {
		p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json", "--isolation", iso)
		p.waitState(20*time.Second, "state", "up")
		from := lab.Client
		if iso == "namespace" {
			h, release, err := lab.Client.PrivateNetNS(p.Cmd.Process.Pid)
			must(t, err)
			t.Cleanup(release)
			from = h
		}
		waitThroughTunnelFrom(t, lab, from, 10*time.Second)
		return p, from
	}
	p, from := start()

	// Each fault runs only if the ones before it healed: a broken tunnel
	// would make later results meaningless.
	var oldIndex int // wgt0's index before InterfaceDeleted
	faults := []struct {
		name   string
		inject func(t *testing.T)
		heal   func(t *testing.T)
		dead   bool // the tunnel cannot answer during the fault
	}{
		{
			name:   "ServerKilled",
			inject: func(t *testing.T) { must(t, srv.Stop()) },
			heal:   func(t *testing.T) { must(t, srv.Start()) },
			dead:   true,
		},
		{
			name:   "UDPBlackholedAtISP",
			inject: func(t *testing.T) { must(t, lab.BlockUDPAtISP(netlab.WGPort)) },
			heal:   func(t *testing.T) { must(t, lab.UnblockUDPAtISP(netlab.WGPort)) },
			dead:   true,
		},
		{
			name: "InterfaceDeleted",
			inject: func(t *testing.T) {
				nl := from.Netlink()
				link, err := nl.LinkByName("wgt0")
				must(t, err)
				oldIndex = link.Attrs().Index
				must(t, nl.LinkDel(link))
				// Probe now, before the supervisor's rebuild (250 ms later).
				rs := probeRound(from, tg)
				_, err = nl.LinkByName("wgt0")
				t.Logf("probes right after LinkDel (wgt0 back already: %v):\n  %s", err == nil, joinResults(rs))
			},
			heal: func(t *testing.T) {
				// The supervisor heals this one by itself: wait for the new
				// interface (a new link, not the deleted one) to come up.
				nl := from.Netlink()
				deadline := time.Now().Add(15 * time.Second)
				for {
					link, err := nl.LinkByName("wgt0")
					if err == nil && link.Attrs().Index != oldIndex && link.Attrs().Flags&syscall.IFF_UP != 0 {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("wgt0 not rebuilt within 15s; wgtorrent stderr:\n%s", p.Stderr())
					}
					time.Sleep(50 * time.Millisecond) // polling the kernel's link list
				}
			},
		},
	}
	for _, f := range faults {
		ok := t.Run(f.name, func(t *testing.T) {
			capt := startLeakCapture(t, lab, srv.Endpoint())
			stopProbes := backgroundProber(from, tg)
			before := p.Len()
			f.inject(t)
			if f.dead {
				assertNoneReached(t, "during "+f.name, probeRound(from, tg))
				// Hold the fault until wgtorrent sees the tunnel broken (15 s
				// of sending without an answer): by then the WireGuard session
				// is useless and healing needs a new handshake, as in real
				// outages, not just a short blip.
				if st := awaitState(p, before, 30*time.Second, "stale", "down"); st == "" {
					t.Errorf("%s: status stayed up for 30s while the tunnel could carry nothing", f.name)
				} else {
					t.Logf("%s: status %s", f.name, st)
				}
				assertNoneReached(t, f.name+" held", probeRound(from, tg))
			}
			f.heal(t)
			took := waitThroughTunnelFrom(t, lab, from, recoverWithin)
			rounds := stopProbes()
			t.Logf("%s: traffic through the tunnel again %s after healing; %d background probe rounds", f.name, took.Round(100*time.Millisecond), rounds)
			capt.assertNoLeaks(t, f.name)
			rec.assertNeverSaw(t, client...)
			if iso == "namespace" {
				if now := netState(t, lab.Client); now != hostBefore {
					t.Errorf("%s: the client host changed:\nbefore:\n%s\nnow:\n%s", f.name, hostBefore, now)
				}
			}
		})
		if !ok {
			t.Fatalf("fault %s failed: later faults skipped", f.name)
		}
	}

	// Last, as its restarted process belongs to the subtest. In host mode
	// the kill switch outlives the process and blocks the client host; in
	// namespace mode the process took its namespace's way out with it.
	t.Run("SIGKILLAndRestart", func(t *testing.T) {
		capt := startLeakCapture(t, lab, srv.Endpoint())
		stopProbes := backgroundProber(from, tg)
		p.Signal(syscall.SIGKILL)
		p.wait(10 * time.Second)
		if iso == "host" && !killSwitchPresent(t, lab.Client) {
			t.Error("kill switch gone after SIGKILL: a crash must leave the client blocked")
		}
		if iso == "namespace" {
			if links, err := from.Netlink().LinkList(); err != nil || len(links) != 1 {
				t.Errorf("the dead process's namespace holds %d links (%v), want lo alone", len(links), err)
			}
			if now := netState(t, lab.Client); now != hostBefore {
				t.Errorf("the client host changed after SIGKILL:\nbefore:\n%s\nnow:\n%s", hostBefore, now)
			}
		}
		assertNoneReached(t, "wgtorrent dead", probeRound(from, tg))
		rounds := stopProbes()

		p2, from2 := start()
		stopProbes = backgroundProber(from2, tg)
		took := waitThroughTunnelFrom(t, lab, from2, recoverWithin)
		rounds += stopProbes()
		t.Logf("restart: traffic through the tunnel %s after state up; %d background probe rounds", took.Round(100*time.Millisecond), rounds)
		capt.assertNoLeaks(t, "SIGKILL and restart")
		rec.assertNeverSaw(t, client...)

		p2.Signal(syscall.SIGTERM)
		if code := p2.wait(15 * time.Second); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0", code)
		}
		assertNothingLeft(t, lab.Client)
		if iso == "namespace" {
			if now := netState(t, lab.Client); now != hostBefore {
				t.Errorf("the client host changed:\nbefore:\n%s\nafter:\n%s", hostBefore, now)
			}
		}
	})
}

// TestLeakIPv6AndDNS: the client's uplink has global IPv6 and the peer is
// reachable over it, while the tunnel carries IPv4 only; no IPv6 may leave,
// up or down. And with the tunnel down, name lookups (to the peer's DNS or
// to the tunnel's) must fail without a packet leaving.
func TestLeakIPv6AndDNS(t *testing.T) {
	needPrograms(t, "tcpdump")
	lab, srv, conf := newLab(t, netlab.Options{IPv6Uplink: true})
	rec := peerRecorder(t, lab)
	// The tunnel's DNS (100.64.0.1) is the VPN host's: answer there too.
	vpnDNS := startRecorder(t, lab.VPN, nil, []int{53})
	client := []netip.Addr{lab.Client.Addr4, lab.Client.Addr6}
	tg4, tg6 := targets4(lab), targets6(lab)
	all := append(append([]target(nil), tg4...), tg6...)

	// Without wgtorrent, IPv6 reaches the peer: the path a leak would take.
	if r := probeTCP(lab.Client, tg6[0], 0); !r.reached {
		t.Fatalf("lab: IPv6 to the peer does not work even without the tunnel: %s", r)
	}
	// The recorder logs the connection after accepting it: wait for that
	// before forgetting it, or it lands after the reset as a false leak.
	for deadline := time.Now().Add(5 * time.Second); len(rec.sawFrom(lab.Client.Addr6)) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("lab: the peer's recorder never logged the direct IPv6 connection")
		}
		time.Sleep(10 * time.Millisecond) // polling another goroutine's log
	}
	rec.reset()

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	p.waitState(20*time.Second, "state", "up")
	waitThroughTunnel(t, lab, 10*time.Second)

	const name = "tracker.wgtorrent.test"
	peerDNS := lab.Peer.Addr4.String() + ":53"
	tunnelDNS := netlab.TunnelServer4.String() + ":53"

	t.Run("IPv6UplinkTunnelUp", func(t *testing.T) {
		capt := startLeakCapture(t, lab, srv.Endpoint())
		assertNoneReached(t, "IPv6 with the tunnel up", probeRound(lab.Client, tg6))
		capt.assertNoLeaks(t, "IPv6 with the tunnel up")
		rec.assertNeverSaw(t, client...)
	})

	t.Run("DNSTunnelUp", func(t *testing.T) {
		// Both servers answer through the tunnel: the lookups below fail
		// because of the fault, not because of the test's resolver.
		for _, server := range []string{peerDNS, tunnelDNS} {
			addrs, err := lookupVia(lab.Client, server, name, 5*time.Second)
			if err != nil || len(addrs) != 1 || addrs[0] != dnsAnswer.String() {
				t.Errorf("lookup via %s with the tunnel up: %v, %v; want [%s]", server, addrs, err, dnsAnswer)
			}
		}
		rec.assertNeverSaw(t, client...)
	})

	t.Run("ServerDownIPv6AndDNS", func(t *testing.T) {
		capt := startLeakCapture(t, lab, srv.Endpoint())
		stopProbes := backgroundProber(lab.Client, all)
		must(t, srv.Stop())
		assertNoneReached(t, "server down", probeRound(lab.Client, all))
		for _, server := range []string{peerDNS, tunnelDNS} {
			start := time.Now()
			addrs, err := lookupVia(lab.Client, server, name, 3*time.Second)
			if err == nil {
				t.Errorf("lookup via %s with the tunnel down answered %v: the query got out", server, addrs)
			} else {
				t.Logf("lookup via %s with the tunnel down failed after %s: %v", server, time.Since(start).Round(time.Millisecond), err)
			}
		}
		must(t, srv.Start())
		took := waitThroughTunnel(t, lab, recoverWithin)
		rounds := stopProbes()
		t.Logf("traffic through the tunnel again %s after the server restarted; %d background probe rounds", took.Round(100*time.Millisecond), rounds)
		if addrs, err := lookupVia(lab.Client, tunnelDNS, name, 5*time.Second); err != nil {
			t.Errorf("lookup via the tunnel's DNS after recovery: %v", err)
		} else {
			t.Logf("lookup via the tunnel's DNS after recovery: %v", addrs)
		}
		capt.assertNoLeaks(t, "server down, IPv6 and DNS")
		rec.assertNeverSaw(t, client...)
		vpnDNS.assertNeverSaw(t, client...)
	})
}

// TestKillSwitchOffCaptureSeesLeak proves the capture and the recorder catch
// a leak when there is one, and shows what routing alone does without the
// kill switch (--killswitch off):
//   - with wgt0 deleted, plain sockets to the peer fail at once: the
//     unreachable default in the tunnel's table keeps them from falling
//     through to the uplink (routing-level fail-closed), nothing leaves;
//   - a socket carrying the tunnel's fwmark (or bound to the uplink) skips
//     the tunnel's table: its probes reach the peer from 198.18.1.2, and the
//     capture and the peer's recorder both see it;
//   - the client's own subnet (the ISP router) stays reachable outside the
//     tunnel, as with wg-quick (suppress_prefixlength 0 keeps connected
//     routes): only the kill switch closes that.
func TestKillSwitchOffCaptureSeesLeak(t *testing.T) {
	needPrograms(t, "tcpdump")
	lab, srv, conf := newLab(t, netlab.Options{})
	rec := peerRecorder(t, lab)
	tg := targets4(lab)
	peer, isp := tg[0], tg[2]

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json", "--killswitch", "off")
	first := p.waitState(20*time.Second, "state", "up")
	if first["killswitch"] != "off" {
		t.Fatalf("status %v: want killswitch off", first)
	}
	if killSwitchPresent(t, lab.Client) {
		t.Fatal("kill switch table present with --killswitch off")
	}
	waitThroughTunnel(t, lab, 10*time.Second)

	// Routing alone, interface gone. wgtorrent rebuilds wgt0 as soon as it
	// sees it deleted, so it is stopped (SIGSTOP) meanwhile: the probes
	// then always meet the state between the deletion and the rebuild,
	// instead of only when they win the race.
	capt := startLeakCapture(t, lab, srv.Endpoint())
	nl := lab.Client.Netlink()
	link, err := nl.LinkByName("wgt0")
	must(t, err)
	p.Signal(syscall.SIGSTOP)
	must(t, nl.LinkDel(link))
	rs := probeAll(lab.Client, peer, 0)
	_, err = nl.LinkByName("wgt0")
	p.Signal(syscall.SIGCONT)
	leaks := capt.stop(t)
	t.Logf("wgt0 deleted, wgtorrent stopped; plain probes to the peer:\n  %s\ncaptured:\n  %s",
		joinResults(rs), strings.Join(leaks, "\n  "))
	if err == nil {
		t.Fatal("wgt0 came back while wgtorrent was stopped: the routing-only check did not happen")
	}
	if len(leaks) > 0 {
		t.Errorf("without kill switch and with wgt0 gone, plain probes to the peer left through the uplink (the tunnel table's unreachable route should stop them):\n  %s", strings.Join(leaks, "\n  "))
	}
	for _, r := range rs {
		if !strings.Contains(r.outcome, "unreachable") {
			t.Errorf("probe %s: want a routing error (unreachable) while wgt0 is gone", r)
		}
	}
	rec.assertNeverSaw(t, lab.Client.Addr4)
	waitThroughTunnel(t, lab, recoverWithin)

	// Sockets that skip the tunnel's routing, and the client's own subnet.
	capt = startLeakCapture(t, lab, srv.Endpoint())
	rs = append(probeAll(lab.Client, peer, vpn.DefaultFwMark), probeAll(lab.Client, isp, 0)...)
	leaks = capt.stop(t)
	t.Logf("marked probes to the peer, plain probes to the ISP:\n  %s\ncaptured:\n  %s", joinResults(rs), strings.Join(leaks, "\n  "))
	for _, want := range []string{
		"> 198.18.3.2.8080: Flags [S]", "> 198.18.3.2.8080: UDP", "> 198.18.3.2: ICMP echo request",
		"> 198.18.1.1.80: Flags [S]", "> 198.18.1.1.53: ", "> 198.18.1.1: ICMP echo request",
	} {
		if !containsAny(leaks, want) {
			t.Errorf("capture missed a packet sent outside the tunnel (%q); captured:\n  %s", want, strings.Join(leaks, "\n  "))
		}
	}
	if got := rec.sawFrom(lab.Client.Addr4); len(got) == 0 {
		t.Errorf("the peer's recorder did not see the client's address after marked probes reached it; it saw:\n  %s", strings.Join(rec.all(), "\n  "))
	}
}

// probeAll probes one target over TCP, UDP and ICMP with SO_MARK mark.
func probeAll(h *netlab.Host, tg target, mark int) []probeResult {
	return []probeResult{probeTCP(h, tg, mark), probeUDP(h, tg, mark), probeICMP(h, tg, mark)}
}

func joinResults(rs []probeResult) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.String())
	}
	return strings.Join(s, "\n  ")
}

func containsAny(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
