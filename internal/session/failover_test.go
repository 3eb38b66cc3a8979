package session

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// twoServers is testOptions with a second server's file: another key
// and endpoint, the same addresses and routes (one account).
func twoServers(t *testing.T) Options {
	t.Helper()
	o := testOptions(t, killswitch.ModeOn)
	b := strings.NewReplacer("192.0.2.1:51820", "198.51.100.7:51820",
		"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=").Replace(testConfig)
	p := filepath.Join(filepath.Dir(o.ConfigPaths[0]), "b.conf")
	if err := os.WriteFile(p, []byte(b), 0o600); err != nil {
		t.Fatal(err)
	}
	o.ConfigPaths = append(o.ConfigPaths, p)
	return o
}

func admitted(s *Session) []string {
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	var out []string
	for _, ep := range s.spec.Endpoints {
		out = append(out, ep.String())
	}
	return out
}

// TestMoveAdmitsTheNewServerFirst: a move rebuilds the kill switch for
// the next server's endpoint alone (one transaction), then switches the
// device; moves go round the list.
func TestMoveAdmitsTheNewServerFirst(t *testing.T) {
	c := &calls{}
	s, err := start(t.Context(), twoServers(t), &fakeFirewall{c: c}, c.up(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := admitted(s); !slices.Equal(got, []string{"192.0.2.1:51820"}) {
		t.Fatalf("admitted %v at start, want the first server's endpoint only", got)
	}
	before := len(c.main())
	if err := s.move("test"); err != nil {
		t.Fatal(err)
	}
	if got := c.main()[before:]; !slices.Equal(got, []string{"fw.apply", "tun.switch b.conf"}) {
		t.Errorf("a move did %q, want the kill switch applied, then the switch", got)
	}
	if got := admitted(s); !slices.Equal(got, []string{"198.51.100.7:51820"}) {
		t.Errorf("admitted %v after the move, want the second server's only", got)
	}
	mustMoveTo(t, s, "192.0.2.1:51820") // round the list
}

// mustMoveTo moves s to the next server and checks that the kill switch
// then admits want alone.
func mustMoveTo(t *testing.T, s *Session, want string) {
	t.Helper()
	if err := s.move("test"); err != nil {
		t.Fatal(err)
	}
	if got := admitted(s); !slices.Equal(got, []string{want}) {
		t.Errorf("after a move: admitted %v, want %s alone", got, want)
	}
}

// TestStartPassesOverASilentServer: the first server does not answer:
// the next one is tried, with the kill switch admitting it instead.
func TestStartPassesOverASilentServer(t *testing.T) {
	c := &calls{}
	var tried []string
	up := func(_ context.Context, cfg *vpn.Config, o vpn.Options) (Tunnel, error) {
		tried = append(tried, filepath.Base(cfg.Name)+" "+o.Endpoints[0].String())
		if len(tried) == 1 {
			return nil, vpn.ErrNoHandshake
		}
		return c.up(nil)(context.Background(), cfg, o)
	}
	s, err := start(t.Context(), twoServers(t), &fakeFirewall{c: c}, up, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !slices.Equal(tried, []string{"wg0.conf 192.0.2.1:51820", "b.conf 198.51.100.7:51820"}) {
		t.Errorf("tried %q", tried)
	}
	if got := admitted(s); !slices.Equal(got, []string{"198.51.100.7:51820"}) {
		t.Errorf("admitted %v, want the server in use only", got)
	}
}

// TestFilesOfAnotherAccountRefused: failover keeps the tunnel's DNS, so
// a file with another one is refused before anything is touched.
func TestFilesOfAnotherAccountRefused(t *testing.T) {
	c := &calls{}
	o := twoServers(t)
	b, _ := os.ReadFile(o.ConfigPaths[1])
	os.WriteFile(o.ConfigPaths[1], []byte(strings.Replace(string(b), "[Interface]\n", "[Interface]\nDNS = 10.9.9.9\n", 1)), 0o600)
	_, err := start(t.Context(), o, &fakeFirewall{c: c}, c.up(nil), nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "DNS") {
		t.Fatalf("err %v, want a config error naming DNS", err)
	}
	if got := c.main(); len(got) != 0 {
		t.Errorf("a refused set of files touched %q", got)
	}
}

// TestMoveToAnotherAddress: a server whose file gives the tunnel another
// address: the kill switch's anti-spoofing rules name the new address,
// in the same transaction that admits the endpoint.
func TestMoveToAnotherAddress(t *testing.T) {
	c := &calls{}
	o := twoServers(t)
	b, _ := os.ReadFile(o.ConfigPaths[1])
	os.WriteFile(o.ConfigPaths[1], []byte(strings.Replace(string(b), "10.2.0.2/32", "10.2.0.9/32", 1)), 0o600)
	s, err := start(t.Context(), o, &fakeFirewall{c: c}, c.up(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addrs := func() []netip.Prefix {
		s.ksMu.Lock()
		defer s.ksMu.Unlock()
		return s.spec.TunnelAddresses
	}
	if got := addrs(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.2.0.2/32")}) {
		t.Fatalf("tunnel addresses %v at start", got)
	}
	before := len(c.main())
	if err := s.move("test"); err != nil {
		t.Fatal(err)
	}
	if got := c.main()[before:]; !slices.Equal(got, []string{"fw.apply", "tun.switch b.conf"}) {
		t.Errorf("a move did %q, want one kill switch transaction, then the switch", got)
	}
	if got := addrs(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.2.0.9/32")}) {
		t.Errorf("tunnel addresses %v after the move, want b's", got)
	}
}
