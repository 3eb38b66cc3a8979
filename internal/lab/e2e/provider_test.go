package e2e

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// handshakeWithin is how soon a tunnel must be up after launch: the
// handshake is started at once, whatever the file says about keepalives.
const handshakeWithin = 2 * time.Second

// TestProviderFiles brings up every provider-shaped file in vpn/testdata
// against Debian's wireguard-go, as the provider wrote it but for the
// keys, the server's address and the tunnel addresses (the lab's), once
// without any PersistentKeepalive and once with one.
func TestProviderFiles(t *testing.T) {
	lab, srv, _ := newLab(t, netlab.Options{IPv6Tunnel: true})
	keys := labKeys(t, lab, srv)
	files, err := filepath.Glob("../../../vpn/testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no provider files: %v", err)
	}
	dir := t.TempDir()
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := vpn.Parse(file, strings.NewReader(string(data)))
		if err != nil {
			t.Fatal(err)
		}
		server, _ := cfg.ServerPeer()
		psk := ""
		if p := cfg.Peers[server].PresharedKey; p != nil {
			psk = p.Base64()
		}
		wantWarnings := len(cfg.ReachWarnings()) > 0
		type variant struct {
			name, keepalive string
			windows         bool // CRLF and a BOM, as a Windows editor saves it
		}
		variants := []variant{{"no keepalive", "", false}, {"keepalive 25", "25", false}}
		if filepath.Base(file) == "mullvad-se-got-wg-001.conf" {
			variants = append(variants, variant{"CRLF and BOM", "", true})
		}
		for _, v := range variants {
			t.Run(filepath.Base(file)+"/"+v.name, func(t *testing.T) {
				if err := srv.SetPresharedKey(psk); err != nil {
					t.Fatal(err)
				}
				text := labShaped(t, string(data), server, keys, v.keepalive)
				if v.windows {
					text = "\uFEFF" + strings.ReplaceAll(text, "\n", "\r\n")
				}
				conf := filepath.Join(dir, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())+".conf")
				if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json", "--handshake-timeout", "10s")
				up := p.waitState(15*time.Second, "state", "up")
				took := time.Since(start)
				t.Logf("up after %s", took.Round(time.Millisecond))
				if took > handshakeWithin {
					t.Errorf("tunnel up %s after launch, want within %s", took.Round(time.Millisecond), handshakeWithin)
				}
				if up["endpoint"] != srv.Endpoint().String() {
					t.Errorf("status endpoint %v, want the server's %s", up["endpoint"], srv.Endpoint())
				}
				if _, has := up["warnings"]; has != wantWarnings {
					t.Errorf("status warnings %v, want warnings: %v", up["warnings"], wantWarnings)
				}
				p.Signal(syscall.SIGTERM)
				if code := p.wait(15 * time.Second); code != 0 {
					t.Fatalf("exit status %d after SIGTERM; stderr:\n%s", code, p.Stderr())
				}
				assertNothingLeft(t, lab.Client)
			})
		}
	}
}

// TestIPv4WithoutKeepalive: a file shaped like ProtonVPN's, IVPN's or
// Surfshark's (IPv4 only, no PersistentKeepalive) comes up at once.
// Before, nothing made wireguard-go send the first handshake.
func TestIPv4WithoutKeepalive(t *testing.T) {
	lab, srv, _ := newLab(t, netlab.Options{})
	conf := writeConf(t, withoutLines(srv.ClientConfig(), "PersistentKeepalive"))
	start := time.Now()
	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	p.waitState(20*time.Second, "state", "up")
	took := time.Since(start)
	t.Logf("up after %s", took.Round(time.Millisecond))
	if took > handshakeWithin {
		t.Errorf("tunnel up %s after launch, want within %s", took.Round(time.Millisecond), handshakeWithin)
	}
}

// TestTableOfTheSystemRefused: Table = 254 (main) is refused with the
// line, and the main table is the same afterwards; a table that holds
// someone else's routes is refused and keeps them.
func TestTableOfTheSystemRefused(t *testing.T) {
	lab, srv, _ := newLab(t, netlab.Options{})
	nl := lab.Client.Netlink()
	before := routeDump(t, nl, unix.RT_TABLE_MAIN)

	text, line := withTable(srv.ClientConfig(), "254")
	out, code := runWgtorrent(t, lab.Client, "tunnel", "--config", writeConf(t, text))
	if code != 2 || !strings.Contains(out, line) || !strings.Contains(out, "main table") {
		t.Errorf("Table = 254: exit %d, output:\n%s\nwant exit 2 naming %s and the main table", code, out, line)
	}
	if after := routeDump(t, nl, unix.RT_TABLE_MAIN); after != before {
		t.Errorf("main table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Someone else's table: a route of theirs in table 1234.
	link, err := nl.LinkByName(netlab.HostIface)
	if err != nil {
		t.Fatal(err)
	}
	theirs := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(t, "10.123.0.0/24"), Table: 1234, Scope: netlink.SCOPE_LINK}
	if err := nl.RouteAdd(theirs); err != nil {
		t.Fatal(err)
	}
	before1234 := routeDump(t, nl, 1234)
	text, line = withTable(srv.ClientConfig(), "1234")
	out, code = runWgtorrent(t, lab.Client, "tunnel", "--config", writeConf(t, text))
	if code == 0 || !strings.Contains(out, "routing table 1234 (Table on "+line+") already holds") {
		t.Errorf("Table = 1234 with a foreign route: exit %d, output:\n%s\nwant a refusal naming the table and the line", code, out)
	}
	if after := routeDump(t, nl, 1234); after != before1234 {
		t.Errorf("table 1234 changed:\nbefore:\n%s\nafter:\n%s", before1234, after)
	}
	if after := routeDump(t, nl, unix.RT_TABLE_MAIN); after != before {
		t.Errorf("main table changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestStatusFollowsTheServer: with another peer listed before the VPN
// server, the status follows the server (the peer with the default
// route) in every line, and lists both peers.
func TestStatusFollowsTheServer(t *testing.T) {
	lab, srv, _ := newLab(t, netlab.Options{})
	other, err := vpn.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	// A peer on the lab's peer host where nothing answers: a site-to-site
	// peer for an office subnet, say.
	extra := fmt.Sprintf("[Peer]\nPublicKey = %s\nEndpoint = %s:51999\nAllowedIPs = 10.99.0.0/24\nPersistentKeepalive = 25\n\n[Peer]", other.Public(), lab.Peer.Addr4)
	conf := writeConf(t, strings.Replace(srv.ClientConfig(), "[Peer]", extra, 1))

	p := startWgtorrent(t, lab.Client, "tunnel", "--config", conf, "--json")
	_, first := waitLineSince(p, 0, 20*time.Second, "state=up", func(m map[string]any) bool { return m["state"] == "up" })
	last, _ := waitLineSince(p, first+4, 15*time.Second, "five status lines", func(map[string]any) bool { return true })
	lines := p.Lines(first)
	for i, m := range lines {
		if m["state"] != "up" || m["endpoint"] != srv.Endpoint().String() {
			t.Errorf("status line %d after the handshake: state %v endpoint %v, want up and the server's %s", i, m["state"], m["endpoint"], srv.Endpoint())
		}
	}
	peers, _ := last["peers"].([]any)
	if len(peers) != 2 {
		t.Fatalf("peers %v, want both listed", last["peers"])
	}
	if p0, p1 := peers[0].(map[string]any), peers[1].(map[string]any); p0["server"] != false || p1["server"] != true || p1["endpoint"] != srv.Endpoint().String() || p0["last_handshake_unix"].(float64) != 0 {
		t.Errorf("peers %v: want the office peer first without a handshake, the server second", peers)
	}
	p.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// labTarget is what a provider's file must say to reach the lab's server.
// withTable adds a Table line to the [Interface] section, and says where.
func withTable(conf, table string) (text, line string) {
	lines := strings.Split(conf, "\n")
	at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "Address") }) + 1
	lines = slices.Insert(lines, at, "Table = "+table)
	return strings.Join(lines, "\n"), fmt.Sprintf("line %d", at+1)
}

type labTarget struct {
	private, serverPublic string
	endpoint              netip.AddrPort
	nobody                netip.Addr // a lab host where nothing answers WireGuard
}

func labKeys(t *testing.T, lab *netlab.Lab, srv netlab.WGServer) labTarget {
	t.Helper()
	cfg, _, err := vpn.Parse("lab.conf", strings.NewReader(srv.ClientConfig()))
	if err != nil {
		t.Fatal(err)
	}
	return labTarget{private: cfg.Interface.PrivateKey.Base64(), serverPublic: cfg.Peers[0].PublicKey.String(),
		endpoint: srv.Endpoint(), nobody: lab.Peer.Addr4}
}

// labShaped rewrites a provider's file for the lab and leaves every other
// line as the provider wrote it: the lab's private key, the lab server's
// key and address for the VPN server's [Peer], the lab's tunnel
// addresses, and endpoints on the lab's peer host (where nothing answers)
// for any other peer. keepalive "" removes PersistentKeepalive, a number
// sets it on the server's peer.
func labShaped(t *testing.T, text string, server int, k labTarget, keepalive string) string {
	t.Helper()
	var out []string
	peer, addressDone := -1, false
	for _, line := range strings.Split(text, "\n") {
		key, _, _ := strings.Cut(strings.TrimSpace(line), "=")
		key = strings.ToLower(strings.TrimSpace(key))
		switch {
		case strings.EqualFold(strings.TrimSpace(line), "[peer]"):
			if peer == server && keepalive != "" {
				out = append(out, "PersistentKeepalive = "+keepalive)
			}
			peer++
		case key == "privatekey":
			line = "PrivateKey = " + k.private
		case key == "address":
			if addressDone {
				continue
			}
			addressDone = true
			addrs := netlab.TunnelClient4.String() + "/32"
			if hasIPv6Address(text) {
				addrs += ", " + netlab.TunnelClient6.String() + "/128"
			}
			line = "Address = " + addrs
		case key == "publickey" && peer == server:
			line = "PublicKey = " + k.serverPublic
		case key == "endpoint" && peer == server:
			line = "Endpoint = " + k.endpoint.String()
		case key == "endpoint":
			line = fmt.Sprintf("Endpoint = %s:%d", k.nobody, 51900+peer)
		case key == "persistentkeepalive":
			continue
		}
		out = append(out, line)
	}
	if peer == server && keepalive != "" {
		out = append(out, "PersistentKeepalive = "+keepalive)
	}
	return strings.Join(out, "\n") + "\n"
}

func hasIPv6Address(text string) bool {
	cfg, _, err := vpn.Parse("f.conf", strings.NewReader(text))
	if err != nil {
		return false
	}
	for _, a := range cfg.Interface.Addresses {
		if a.Addr().Is6() {
			return true
		}
	}
	return false
}

func withoutLines(text, key string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), key) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "wg0.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// routeDump lists a table's routes of both families, one a line, but for
// the kernel's IPv6 link-local routes, which appear on their own once a
// link's address has passed duplicate address detection.
func routeDump(t *testing.T, nl *netlink.Handle, table int) string {
	t.Helper()
	var b strings.Builder
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := nl.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			if r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast() {
				continue
			}
			fmt.Fprintln(&b, r.String())
		}
	}
	return b.String()
}

func prefixNet(t *testing.T, s string) *net.IPNet {
	t.Helper()
	p := netip.MustParsePrefix(s)
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
