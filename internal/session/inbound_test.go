package session

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wgtorrent/wgtorrent/internal/sockdiag"
	"github.com/wgtorrent/wgtorrent/killswitch"
)

func aps(ss ...string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range ss {
		out = append(out, netip.MustParseAddrPort(s))
	}
	return out
}

func TestInboundPorts(t *testing.T) {
	addrs := []netip.Prefix{netip.MustParsePrefix("10.2.0.2/32"), netip.MustParsePrefix("fd00::2/128")}
	tcp := aps("10.2.0.2:6881", "[fd00::2]:6881", "0.0.0.0:22", "[::]:22", "127.0.0.1:9091", "10.2.0.2:7000")
	udp := aps("10.2.0.2:6881", "10.2.0.2:53000", "0.0.0.0:68", "10.2.0.2:7001")
	gotTCP, gotUDP := inboundPorts(tcp, udp, addrs)
	// sshd on every address and the RPC on loopback are not the engine's;
	// a UDP socket alone (a tracker announce's) is not a listener.
	if want := []uint16{6881, 7000}; !slices.Equal(gotTCP, want) {
		t.Errorf("TCP %v, want %v", gotTCP, want)
	}
	if want := []uint16{6881}; !slices.Equal(gotUDP, want) {
		t.Errorf("UDP %v, want %v", gotUDP, want)
	}
}

type fakeSockets struct {
	mu       sync.Mutex
	tcp, udp []netip.AddrPort
}

func (f *fakeSockets) Bound(p sockdiag.Proto) ([]netip.AddrPort, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p == sockdiag.TCP {
		return slices.Clone(f.tcp), nil
	}
	return slices.Clone(f.udp), nil
}

func (f *fakeSockets) Close() error { return nil }

// TestKillSwitchFollowsTheEnginesListeners: the guard admits the port the
// engine listens on in the tunnel, and moves the admission when the
// engine re-listens elsewhere (a forwarded port), applying the table once
// per change.
func TestKillSwitchFollowsTheEnginesListeners(t *testing.T) {
	c := &calls{}
	fw := &fakeFirewall{c: c}
	socks := &fakeSockets{}
	s, err := start(t.Context(), testOptions(t, killswitch.ModeOn), fw, c.up(nil), func(*slog.Logger) Sockets { return socks })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The test runs the guard's checks itself: it owns s.rs.
	s.guard.stopAndWait()
	iface := s.spec.TunnelInterface
	inbound := func() []string {
		var out []string
		for _, r := range s.rs.Chain("input").Rules {
			if txt := r.String(); strings.Contains(txt, "dport") && strings.Contains(txt, "iifname \""+iface+"\"") {
				out = append(out, txt)
			}
		}
		return out
	}
	applies := func() (n int) {
		for _, x := range c.main() {
			if x == "fw.apply" {
				n++
			}
		}
		return n
	}
	if got := inbound(); len(got) != 0 {
		t.Fatalf("no listener yet, but admitted %q", got)
	}
	socks.mu.Lock()
	socks.tcp, socks.udp = aps("10.2.0.2:6881", "0.0.0.0:22"), aps("10.2.0.2:6881")
	socks.mu.Unlock()
	s.guard.check(s)
	want := []string{`iifname "` + iface + `" tcp dport 6881 accept`, `iifname "` + iface + `" udp dport 6881 accept`}
	if got := inbound(); !slices.Equal(got, want) {
		t.Errorf("admitted %q, want %q", got, want)
	}
	before := applies()
	s.guard.check(s)
	if n := applies(); n != before {
		t.Errorf("the table was applied again (%d times, was %d) with nothing changed", n, before)
	}
	socks.mu.Lock()
	socks.tcp, socks.udp = aps("10.2.0.2:40000"), aps("10.2.0.2:40000")
	socks.mu.Unlock()
	s.guard.check(s)
	want = []string{`iifname "` + iface + `" tcp dport 40000 accept`, `iifname "` + iface + `" udp dport 40000 accept`}
	if got := inbound(); !slices.Equal(got, want) {
		t.Errorf("after the re-listen: admitted %q, want %q", got, want)
	}
	if fw.applied == nil || !slices.Equal(fw.applied.Chain("input").Rules, s.rs.Chain("input").Rules) {
		t.Errorf("the kernel's table is not the one the guard checks against")
	}
}
