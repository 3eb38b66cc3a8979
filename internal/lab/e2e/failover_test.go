package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab/labtest"
)

// failoverLab is a lab with two VPN servers (Debian's wireguard-go, A on
// VPN and B on VPN2), their client files, a torrent seeded by Transmission
// on the peer host with its tracker, and a leak capture that admits both
// servers' endpoints.
type failoverLab struct {
	lab          *netlab.Lab
	srvA, srvB   netlab.WGServer
	confA, confB string
	tor          *swarmTorrent
	seed         *transmission
	capt         *leakCapture
}

func newFailoverLab(t *testing.T, opt netlab.Options) *failoverLab {
	t.Helper()
	labtest.SkipIfNotRoot(t)
	needPrograms(t, "wireguard-go", "wg", "tcpdump", "opentracker", "transmission-daemon")
	f := &failoverLab{lab: labtest.New(t, opt)}
	var err error
	f.srvA, err = f.lab.StartDebianWGServerOn(context.Background(), f.lab.VPN)
	must(t, err)
	f.srvB, err = f.lab.StartDebianWGServerOn(context.Background(), f.lab.VPN2)
	must(t, err)
	dir := t.TempDir()
	f.confA, f.confB = filepath.Join(dir, "a.conf"), filepath.Join(dir, "b.conf")
	must(t, os.WriteFile(f.confA, []byte(f.srvA.ClientConfig()), 0o600))
	must(t, os.WriteFile(f.confB, []byte(f.srvB.ClientConfig()), 0o600))
	f.tor = makeTorrent(t, f.lab, defaultContent)
	startTracker(t, f.lab, f.tor.InfoHash)
	f.seed = startSeeder(t, f.lab, f.tor)
	f.capt = startLeakCapture(t, f.lab, f.srvA.Endpoint(), f.srvB.Endpoint())
	return f
}

// TestFailoverBetweenServers (issue 25): two VPN servers, Debian's
// wireguard-go on two hosts with their own public addresses, and one
// account's two files. A download through A; A killed: the download goes
// on through B (the seeder sees B's address); B killed with A back: it
// moves back; every server down: it holds still going round, and lands on
// A when A returns, and completes there with identical files. Nothing
// leaked over the whole run.
func TestFailoverBetweenServers(t *testing.T) {
	f := newFailoverLab(t, netlab.Options{SecondVPN: true})
	lab, srvA, srvB, confA, confB, tor, seed, capt := f.lab, f.srvA, f.srvB, f.confA, f.confB, f.tor, f.seed, f.capt

	const after = 5 * time.Second
	out, data := t.TempDir(), t.TempDir()
	// ~24 s for the whole content: room for three outages.
	p := startWgtorrent(t, lab.Client, "--config", confA, "--config", confB, "--failover-after", after.String(),
		"--out", out, "--data", data, "--json", "--no-dht", "--torrent", tor.File, "--max-download-rate", "1MiB")
	first := p.waitLine(40*time.Second, "15% downloaded", atLeast(0.15))
	if first["tunnel_server"] != "a.conf" || complete(first) {
		t.Fatalf("at 15%%: %v; want the download under way through a.conf", first)
	}

	// outage stops stop, starts start, and waits for the move to want and
	// for payload through it; it returns when the payload resumed.
	outage := func(what string, stop, start netlab.WGServer, want string, moves int, payload bool) {
		t.Helper()
		from := p.Len()
		frozen := p.Lines(from - 1)[0]
		if start != nil {
			must(t, start.Start())
		}
		killed := time.Now()
		must(t, stop.Stop())
		// What was in flight at the kill may still land; after that,
		// payload can only come through the next server.
		time.Sleep(3 * time.Second) // a measurement window, not a synchronisation
		frozen = p.Lines(p.Len() - 1)[0]
		_, at := waitLineSince(p, from, 90*time.Second, what+": moved to "+want, func(m map[string]any) bool {
			return m["tunnel_server"] == want && num(m, "tunnel_moves") >= int64(moves)
		})
		moved := time.Since(killed)
		t.Logf("%s: moved to %s %s after the kill", what, want, moved.Round(100*time.Millisecond))
		if payload {
			m, _ := waitLineSince(p, at, 60*time.Second, what+": payload through "+want, func(m map[string]any) bool {
				return num(m, "bytes_completed")+num(m, "bytes_unchecked") > num(frozen, "bytes_completed")+num(frozen, "bytes_unchecked")
			})
			t.Logf("%s: payload again %s after the kill (%d/%d bytes)", what, time.Since(killed).Round(100*time.Millisecond),
				num(m, "bytes_completed"), num(m, "length"))
		}
		// The tunnel calls a silent server stale within ~25 s (a keepalive
		// or probe, then 15 s without an answer); then --failover-after.
		if moved > 25*time.Second+after+5*time.Second {
			t.Errorf("%s: the move took %s, more than stale detection and --failover-after", what, moved.Round(time.Second))
		}
	}
	outage("A killed", srvA, nil, "b.conf", 1, true)
	seesB := func() (bool, any) {
		st := seed.stats(t, tor.InfoHash)
		for _, peer := range st.Peers {
			if peer.Address == lab.VPN2.Addr4.String() {
				return true, st.Peers
			}
		}
		return false, st.Peers
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		ok, peers := seesB()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the seeder does not see B's address %s: %+v", lab.VPN2.Addr4, peers)
			break
		}
		time.Sleep(time.Second) // polling another program's state
	}
	// Back on A, the Transmission seeder still holds the connection from
	// A's address that died when we left A (one connection per address);
	// its retransmissions now reach us and the kill switch answers them
	// with a reset, so it lets that one go and takes the redial.
	outage("B killed, A back", srvB, srvA, "a.conf", 2, true)

	// Every server down: nothing moves, nothing leaks, and the session
	// keeps going round until one answers.
	must(t, srvA.Stop())
	moves := func(n int64) func(map[string]any) bool {
		return func(m map[string]any) bool { return num(m, "tunnel_moves") >= n }
	}
	// From the first move with every server down to the next one: a window
	// after anything in flight at the kill has landed.
	held, at := waitLineSince(p, p.Len(), 90*time.Second, "a move with every server down", moves(3))
	_, at4 := waitLineSince(p, at, 60*time.Second, "going round with every server down", moves(4))
	for _, m := range p.Lines(at)[:at4-at+1] {
		if num(m, "bytes_completed") != num(held, "bytes_completed") {
			t.Fatalf("progress while every server was down: %d bytes, then %v", num(held, "bytes_completed"), m)
		}
	}
	stalled := p.Lines(at4)[0]
	// A, the server last used, returns: the session lands on it on its
	// way round.
	must(t, srvA.Start())
	back := time.Now()
	_, at = waitLineSince(p, at4, 60*time.Second, "A back: moved to it", func(m map[string]any) bool {
		return m["tunnel_server"] == "a.conf" && m["tunnel_state"] == "up"
	})
	t.Logf("every server down: held at %d bytes through %d moves; back on A, up, %s after it returned",
		num(stalled, "bytes_completed"), num(stalled, "tunnel_moves"), time.Since(back).Round(100*time.Millisecond))
	waitLineSince(p, at, 90*time.Second, "the download complete", complete)
	t.Logf("complete %s after A returned", time.Since(back).Round(100*time.Millisecond))
	tor.assertIdentical(t, "download across three servers changes", out)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Errorf("exit status %d at the end of the download, want 0", code)
	}
	capt.assertNoLeaks(t, "failover between two VPN servers")
	assertNothingLeft(t, lab.Client)
}

// TestFailoverToAnotherAddress (issue 25): the provider's servers give
// the account an address each (A 100.64.0.2, B 100.64.0.3). A killed
// mid-download: the tunnel moves to B with B's address, the engine is
// made anew on it (its sockets were bound to A's), and the download
// completes through B with identical files and nothing leaked. In both
// isolation modes: in host mode the kill switch's anti-spoofing rules must
// follow the address.
func TestFailoverToAnotherAddress(t *testing.T) {
	for _, mode := range []string{"namespace", "host", "daemon"} {
		t.Run(mode, func(t *testing.T) { testFailoverToAnotherAddress(t, mode) })
	}
}

func testFailoverToAnotherAddress(t *testing.T, isolation string) {
	f := newFailoverLab(t, netlab.Options{SecondVPN: true, VPN2OwnAddress: true})
	lab, srvA, confA, confB, tor, capt := f.lab, f.srvA, f.confA, f.confB, f.tor, f.capt

	out := t.TempDir()
	servers := []string{"--config", confA, "--config", confB, "--failover-after", "5s", "--max-download-rate", "1MiB"}
	if isolation == "daemon" {
		// The daemon's engine runs in a worker process, told of the move
		// by its parent.
		testDaemonFailoverToAnotherAddress(t, lab, tor, out, servers, srvA.Stop)
	} else {
		p := startWgtorrent(t, lab.Client, append(servers, "--isolation", isolation,
			"--out", out, "--data", t.TempDir(), "--json", "--no-dht", "--torrent", tor.File)...)
		first := p.waitLine(40*time.Second, "15% downloaded", atLeast(0.15))
		if first["tunnel_server"] != "a.conf" || complete(first) {
			t.Fatalf("at 15%%: %v; want the download under way through a.conf", first)
		}
		killed := time.Now()
		must(t, srvA.Stop())
		_, at := waitLineSince(p, p.Len(), 60*time.Second, "moved to b.conf", func(m map[string]any) bool {
			return m["tunnel_server"] == "b.conf"
		})
		t.Logf("moved to b.conf %s after the kill", time.Since(killed).Round(100*time.Millisecond))
		frozen := p.Lines(at)[0]
		_, at = waitLineSince(p, at, 60*time.Second, "payload through b.conf", func(m map[string]any) bool {
			return num(m, "bytes_completed")+num(m, "bytes_unchecked") > num(frozen, "bytes_completed")+num(frozen, "bytes_unchecked")
		})
		t.Logf("payload again %s after the kill", time.Since(killed).Round(100*time.Millisecond))
		if got := tunnelAddressIn(t, lab.Client, isolation, p); got != netlab.TunnelClient4Other.String()+"/32" {
			t.Errorf("the tunnel's address after the move: %q, want B's %s", got, netlab.TunnelClient4Other)
		}
		waitLineSince(p, at, 90*time.Second, "the download complete", complete)
		if code := p.wait(30 * time.Second); code != 0 {
			t.Errorf("exit status %d at the end of the download, want 0", code)
		}
	}
	tor.assertIdentical(t, "download across servers with their own addresses", out)
	capt.assertNoLeaks(t, "failover to another address")
	assertNothingLeft(t, lab.Client)
}

// tunnelAddressIn reads the tunnel interface's IPv4 address from the
// kernel: in h, or in the private namespace wgtorrent p holds.
func tunnelAddressIn(t *testing.T, h *netlab.Host, isolation string, p *proc) string {
	t.Helper()
	if isolation == "namespace" {
		priv, release, err := h.PrivateNetNS(p.Cmd.Process.Pid)
		must(t, err)
		defer release()
		h = priv
	}
	link, err := h.Netlink().LinkByName("wgt0")
	must(t, err)
	addrs, err := h.Netlink().AddrList(link, unix.AF_INET)
	must(t, err)
	var s []string
	for _, a := range addrs {
		s = append(s, a.IPNet.String())
	}
	return strings.Join(s, ",")
}

// testDaemonFailoverToAnotherAddress is the daemon's half of
// TestFailoverToAnotherAddress: the torrent added over RPC, A killed
// (killA) at 15%, the download completed through B.
func testDaemonFailoverToAnotherAddress(t *testing.T, lab *netlab.Lab, tor *swarmTorrent, out string, servers []string, killA func() error) {
	p := startWgtorrent(t, lab.Client, append([]string{"daemon", "--data", t.TempDir(), "--out", out, "--no-dht"}, servers...)...)
	c := newRPCClient(lab.Client, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	id := c.addFile(t, tor.File, nil)
	c.waitTorrent(t, p, id, 40*time.Second, "15% downloaded", func(x daemonTorrent) bool { return x.PercentDone >= 0.15 })
	killed := time.Now()
	must(t, killA())
	var sess map[string]any
	pollDaemon(t, p, 60*time.Second, "moved to b.conf", func() (bool, string) {
		c.call(t, "session-get", nil, &sess)
		tun, _ := sess["wgtorrent-tunnel"].(map[string]any)
		return tun["server"] == "b.conf", fmt.Sprint(tun)
	})
	t.Logf("moved to b.conf %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	x := c.waitTorrent(t, p, id, 90*time.Second, "complete through b.conf", daemonTorrent.complete)
	t.Logf("complete %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	if x.ErrorString != "" {
		t.Errorf("torrent error %q", x.ErrorString)
	}
	if got := tunnelAddressIn(t, lab.Client, "host", p); got != netlab.TunnelClient4Other.String()+"/32" {
		t.Errorf("the tunnel's address after the move: %q, want B's %s", got, netlab.TunnelClient4Other)
	}
	stopDaemon(t, p)
}
