package e2e

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

const whoamiPort = 8080

// TestTunnelAgainstDebianServer: the tunnel comes up against a WireGuard
// server nobody here wrote, carries TCP and UDP, hides the client's address,
// reports real counters, and leaves nothing behind on SIGINT.
func TestTunnelAgainstDebianServer(t *testing.T) {
	lab, conf := whoamiLab(t)

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	first := p.waitState(20*time.Second, "state", "up")
	if first["interface"] != "wgt0" || first["endpoint"] != "198.18.2.2:51820" || first["killswitch"] != "armed" {
		t.Errorf("status line %v: want interface wgt0, endpoint 198.18.2.2:51820, killswitch armed", first)
	}
	if hs, _ := first["last_handshake_unix"].(float64); hs < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last_handshake_unix %v is not a recent handshake", first["last_handshake_unix"])
	}

	peer := net.JoinHostPort(lab.Peer.Addr4.String(), "8080")
	for _, network := range []string{"tcp", "udp"} {
		seen, err := lab.Client.WhoAmI(context.Background(), network, peer)
		if err != nil {
			t.Fatalf("%s to the peer through the tunnel: %v", network, err)
		}
		if ip := hostOf(seen); ip != lab.VPN.Addr4.String() {
			t.Errorf("%s: the peer saw %s, want the VPN server's %s (the client is %s)", network, seen, lab.VPN.Addr4, lab.Client.Addr4)
		}
	}
	rx0, tx0 := first["rx_bytes"].(float64), first["tx_bytes"].(float64)
	p.waitLine(10*time.Second, "growing rx/tx counters", func(m map[string]any) bool {
		return m["rx_bytes"].(float64) > rx0 && m["tx_bytes"].(float64) > tx0
	})

	p.Signal(syscall.SIGINT)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGINT, want 0; stderr:\n%s", code, p.Stderr())
	}
	assertNothingLeft(t, lab.Client)
}

// TestTunnelCrashLeftoversReplaced: after SIGKILL the interface, rules and
// kill switch stay (fail-closed); the next start replaces them and works.
func TestTunnelCrashLeftoversReplaced(t *testing.T) {
	lab, conf := whoamiLab(t)
	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	p.waitState(20*time.Second, "state", "up")
	p.Signal(syscall.SIGKILL)
	p.wait(10 * time.Second)
	if _, err := lab.Client.Netlink().LinkByName("wgt0"); err != nil {
		t.Logf("interface gone with the process (%v); the kernel removes a TUN whose fd closes", err)
	}
	if !killSwitchPresent(t, lab.Client) {
		t.Fatal("kill switch table removed by SIGKILL: the client must stay blocked after a crash")
	}

	p2 := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	p2.waitState(20*time.Second, "state", "up")
	if _, err := lab.Client.WhoAmI(context.Background(), "tcp", net.JoinHostPort(lab.Peer.Addr4.String(), "8080")); err != nil {
		t.Fatalf("tunnel after restart: %v", err)
	}
	p2.Signal(syscall.SIGTERM)
	if code := p2.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit status %d after SIGTERM, want 0", code)
	}
	assertNothingLeft(t, lab.Client)
}

func TestTunnelErrors(t *testing.T) {
	lab, srv, conf := newLab(t, netlab.Options{})
	dir := t.TempDir()

	broken := filepath.Join(dir, "broken.conf")
	good, _ := os.ReadFile(conf)
	bad := strings.Replace(string(good), "[Peer]", "[Peer]\nPublicKey = notbase64!", 1)
	if err := os.WriteFile(broken, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runWgtorrent(t, lab.Client, "tunnel", "--config", broken)
	if code != 2 || !strings.Contains(out, "line") || !strings.Contains(out, "PublicKey") {
		t.Errorf("broken config: exit %d, output:\n%s\nwant exit 2 and a message naming the line and PublicKey", code, out)
	}

	// The server's peer without an Endpoint: refused before anything
	// starts, with the line, whatever the kill switch mode.
	noEndpoint := filepath.Join(dir, "no-endpoint.conf")
	if err := os.WriteFile(noEndpoint, []byte(withoutLines(string(good), "Endpoint")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runWgtorrent(t, lab.Client, "tunnel", "--config", noEndpoint, "--killswitch", "off")
	if code != 2 || !strings.Contains(out, "line 6") || !strings.Contains(out, "has no Endpoint") {
		t.Errorf("no Endpoint: exit %d, output:\n%s\nwant exit 2 naming line 6 and the missing Endpoint", code, out)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	out, code = runWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--handshake-timeout", "2s")
	t.Logf("server down:\n%s", out)
	for _, want := range []string{"no handshake with 198.18.2.2:51820 (Endpoint on line 8", "blocks UDP port 51820", "does not know your public key", "PublicKey on the [Peer] on line 6"} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("server down: exit %d, output:\n%s\nwant exit 1 and %q", code, out, want)
		}
	}
	assertNothingLeft(t, lab.Client)
}

// whoamiLab is a lab with a Debian WireGuard server and a whoami server on
// the peer host.
func whoamiLab(t *testing.T) (*netlab.Lab, string) {
	t.Helper()
	lab, _, conf := newLab(t, netlab.Options{})
	stop, err := lab.Peer.ServeWhoAmI(whoamiPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return lab, conf
}

func runWgtorrent(t *testing.T, h *netlab.Host, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := h.Command(ctx, wgtorrentBin, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("run wgtorrent %v: %v", args, err)
	}
	return string(out), 0
}

// assertNothingLeft checks the client namespace holds nothing wgtorrent made.
func assertNothingLeft(t *testing.T, h *netlab.Host) {
	t.Helper()
	nl := h.Netlink()
	if _, err := nl.LinkByName("wgt0"); err == nil {
		t.Error("interface wgt0 left behind")
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := nl.RuleList(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if r.Table == vpn.DefaultTable || (r.Priority >= 5207 && r.Priority <= 5209) {
				t.Errorf("rule left behind: %v", r)
			}
		}
		routes, err := nl.RouteListFiltered(fam, &netlink.Route{Table: vpn.DefaultTable}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			t.Errorf("route left behind in table %d: %v", vpn.DefaultTable, r)
		}
	}
	if killSwitchPresent(t, h) {
		t.Error("kill switch table left behind in mode on")
	}
}

func killSwitchPresent(t *testing.T, h *netlab.Host) bool {
	t.Helper()
	st, err := killswitch.Firewall{NetNS: int(h.NsHandle())}.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st.Present
}

func hostOf(addrport string) string {
	ap, err := netip.ParseAddrPort(addrport)
	if err != nil {
		return addrport
	}
	return ap.Addr().String()
}

// TestKillSwitchPersistLockdown: with --killswitch persist the table
// outlives a clean exit and keeps blocking; `killswitch status` reports it
// and `killswitch off` removes it.
func TestKillSwitchPersistLockdown(t *testing.T) {
	lab, conf := whoamiLab(t)
	peer := net.JoinHostPort(lab.Peer.Addr4.String(), "8080")

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json", "--killswitch", "persist")
	p.waitState(20*time.Second, "state", "up")
	p.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0", code)
	}
	out, code := runWgtorrent(t, lab.Client, "killswitch", "status")
	if code != 0 || !strings.Contains(out, "armed, mode persist") {
		t.Errorf("status after exit: exit %d:\n%s\nwant armed, mode persist", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_, err := lab.Client.WhoAmI(ctx, "tcp", peer)
	cancel()
	if err == nil {
		t.Fatal("the peer was reachable outside the tunnel while the persist lockdown was in place")
	}

	out, code = runWgtorrent(t, lab.Client, "killswitch", "off")
	if code != 0 {
		t.Fatalf("killswitch off: exit %d:\n%s", code, out)
	}
	if seen, err := lab.Client.WhoAmI(context.Background(), "tcp", peer); err != nil || hostOf(seen) != lab.Client.Addr4.String() {
		t.Errorf("after killswitch off the direct path should work again: saw %q, err %v", seen, err)
	}
	assertNothingLeft(t, lab.Client)
}
