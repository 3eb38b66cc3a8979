package session

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// byName is twoServers with host-name endpoints, their addresses kept
// from an earlier start (so nothing is looked up outside the test).
func byName(t *testing.T) Options {
	t.Helper()
	o := twoServers(t)
	for i, name := range []string{"a.vpn.test", "b.vpn.test"} {
		b, err := os.ReadFile(o.ConfigPaths[i])
		if err != nil {
			t.Fatal(err)
		}
		named := strings.NewReplacer("192.0.2.1:", name+":", "198.51.100.7:", name+":").Replace(string(b))
		if err := os.WriteFile(o.ConfigPaths[i], []byte(named), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o.StateDir = t.TempDir()
	kept := `{"a.vpn.test:51820": "192.0.2.1:51820", "b.vpn.test:51820": "198.51.100.7:51820"}`
	if err := os.WriteFile(filepath.Join(o.StateDir, endpointCacheFile), []byte(kept), 0o600); err != nil {
		t.Fatal(err)
	}
	return o
}

// startByName starts a session on byName's files with fakes; the session
// is closed at the end of the test.
func startByName(t *testing.T) (*Session, *calls, endpointCache) {
	t.Helper()
	c := &calls{}
	o := byName(t)
	s, err := start(t.Context(), o, &fakeFirewall{c: c}, c.up(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c, endpointCache{dir: o.StateDir}
}

// answers is a lookup from a table: a missing name does not exist.
func answers(m map[string]any) lookupFunc {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		switch v := m[host].(type) {
		case error:
			return nil, v
		case []string:
			var out []netip.Addr
			for _, a := range v {
				out = append(out, netip.MustParseAddr(a))
			}
			return out, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
}

// TestFollowsAServerThatMoved: a host name that resolves elsewhere is
// followed without a restart: the kill switch admits the new address in
// place of the old before the tunnel sends there; an address still among
// the answers is kept; a server not in use gets its new address for the
// next move; a failed lookup changes nothing.
func TestFollowsAServerThatMoved(t *testing.T) {
	s, c, cache := startByName(t)
	round := func(m map[string]any) []string {
		before := len(c.main())
		s.resolveNames(t.Context(), cache, answers(m))
		return c.main()[before:]
	}

	if got := round(map[string]any{"a.vpn.test": []string{"192.0.2.9", "192.0.2.1"}, "b.vpn.test": []string{"198.51.100.7"}}); len(got) != 0 {
		t.Errorf("the addresses in use are among the answers, yet %q", got)
	}
	if got := round(map[string]any{"a.vpn.test": errors.New("i/o timeout"), "b.vpn.test": errors.New("i/o timeout")}); len(got) != 0 {
		t.Errorf("lookups failed (tunnel down), yet %q", got)
	}
	if got := round(map[string]any{"a.vpn.test": []string{"192.0.2.50"}, "b.vpn.test": []string{"198.51.100.60"}}); !slices.Equal(got, []string{"fw.apply", "tun.readdress [192.0.2.50:51820]"}) {
		t.Errorf("the server in use moved: %q, want the kill switch rebuilt, then the tunnel readdressed", got)
	}
	if got := admitted(s); !slices.Equal(got, []string{"192.0.2.50:51820"}) {
		t.Errorf("admitted %v, want the new address alone", got)
	}
	if kept := cache.load(); kept["a.vpn.test:51820"] != netip.MustParseAddrPort("192.0.2.50:51820") || kept["b.vpn.test:51820"] != netip.MustParseAddrPort("198.51.100.60:51820") {
		t.Errorf("kept for the next start: %v", kept)
	}
	mustMoveTo(t, s, "198.51.100.60:51820") // b, at its new address
}

// TestSkipsAServerWhoseNameIsGone: a name that no longer exists takes its
// server out of the round until it resolves again.
func TestSkipsAServerWhoseNameIsGone(t *testing.T) {
	s, c, cache := startByName(t)
	s.resolveNames(t.Context(), cache, answers(map[string]any{"a.vpn.test": []string{"192.0.2.1"}}))
	before := len(c.main())
	if err := s.move("test"); err == nil || !strings.Contains(err.Error(), "no longer resolve") {
		t.Errorf("move with b's name gone: %v, want an error saying so", err)
	}
	if got := c.main()[before:]; len(got) != 0 {
		t.Errorf("a refused move did %q", got)
	}
	s.resolveNames(t.Context(), cache, answers(map[string]any{"a.vpn.test": []string{"192.0.2.1"}, "b.vpn.test": []string{"198.51.100.7"}}))
	if err := s.move("test"); err != nil {
		t.Errorf("b resolves again: %v", err)
	}
	if got := admitted(s); !slices.Equal(got, []string{"198.51.100.7:51820"}) {
		t.Errorf("admitted %v, want b", got)
	}
}
