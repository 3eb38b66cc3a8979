package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// calls is the order in which the session touched the kill switch and the
// tunnel, shared by the two fakes.
type calls struct {
	mu  sync.Mutex
	got []string
}

func (c *calls) add(s string) {
	c.mu.Lock()
	c.got = append(c.got, s)
	c.mu.Unlock()
}

// main is the calls without the guard's reads (Verify, Status, Watch,
// routing checks): the steps that change something.
func (c *calls) main() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.got {
		switch s {
		case "fw.verify", "fw.status", "fw.watch", "tun.routing":
		default:
			out = append(out, s)
		}
	}
	return out
}

type fakeFirewall struct {
	c          *calls
	present    bool    // a table of ours is in the kernel before Start
	applyErr   error   // every Apply fails
	verifyErrs []error // one a Verify, then verifyErr
	verifyErr  error
	applied    *killswitch.RuleSet
}

func (f *fakeFirewall) Apply(rs killswitch.RuleSet) error {
	f.c.add("fw.apply")
	if f.applyErr != nil {
		return f.applyErr
	}
	f.applied = &rs
	return nil
}

func (f *fakeFirewall) Verify(killswitch.RuleSet) error {
	f.c.add("fw.verify")
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	if len(f.verifyErrs) > 0 {
		err := f.verifyErrs[0]
		f.verifyErrs = f.verifyErrs[1:]
		return err
	}
	return f.verifyErr
}

func (f *fakeFirewall) Remove() error { f.c.add("fw.remove"); return nil }

func (f *fakeFirewall) Status() (killswitch.Status, error) {
	f.c.add("fw.status")
	return killswitch.Status{Present: f.present}, nil
}

func (f *fakeFirewall) Watch() (<-chan struct{}, func(), error) {
	f.c.add("fw.watch")
	return nil, func() {}, errors.New("no watching in a unit test")
}

type fakeTunnel struct {
	c       *calls
	rebuilt chan struct{}
}

func (t *fakeTunnel) Status() vpn.Status { return vpn.Status{State: vpn.StateUp} }
func (t *fakeTunnel) Interface() string  { return "wgtest0" }
func (t *fakeTunnel) Addresses() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("10.2.0.2/32")}
}
func (t *fakeTunnel) Rebuilt() <-chan struct{}           { return t.rebuilt }
func (t *fakeTunnel) RoutingProblems() ([]string, error) { t.c.add("tun.routing"); return nil, nil }
func (t *fakeTunnel) RestoreRouting() error              { t.c.add("tun.restore"); return nil }
func (t *fakeTunnel) Close() error                       { t.c.add("tun.close"); return nil }
func (t *fakeTunnel) Switch(cfg *vpn.Config, _ []netip.AddrPort) error {
	t.c.add("tun.switch " + filepath.Base(cfg.Name))
	return nil
}

func (t *fakeTunnel) Readdress(eps []netip.AddrPort) error {
	t.c.add(fmt.Sprintf("tun.readdress %v", eps))
	return nil
}

// up is vpn.Up for the fakes: it records, and fails with err if given.
func (c *calls) up(err error) upFunc {
	return func(context.Context, *vpn.Config, vpn.Options) (Tunnel, error) {
		c.add("tun.up")
		if err != nil {
			return nil, err
		}
		return &fakeTunnel{c: c, rebuilt: make(chan struct{})}, nil
	}
}

const testConfig = `[Interface]
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
Address = 10.2.0.2/32
ListenPort = 51999

[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
AllowedIPs = 0.0.0.0/0
Endpoint = 192.0.2.1:51820
`

// testOptions is a host-mode session with a config whose endpoint is an
// address (no lookup), and an owner socket of the test's own.
func testOptions(t *testing.T, mode killswitch.Mode) Options {
	t.Helper()
	ownerSocket = fmt.Sprintf("@wgtorrent-test/%d/%d", os.Getpid(), time.Now().UnixNano())
	p := filepath.Join(t.TempDir(), "wg0.conf")
	if err := os.WriteFile(p, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return Options{ConfigPaths: []string{p}, KillSwitch: mode, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func wantCalls(t *testing.T, c *calls, want ...string) {
	t.Helper()
	if got := c.main(); !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
}

// TestStartAndCloseOrder: the kill switch is armed before the tunnel comes
// up, and removed only after the tunnel is down; the guard measured it
// (state armed is read, not assumed).
func TestStartAndCloseOrder(t *testing.T) {
	c := &calls{}
	fw := &fakeFirewall{c: c}
	s, err := start(t.Context(), testOptions(t, killswitch.ModeOn), fw, c.up(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.KillSwitchState(); st != killswitch.StateArmed {
		t.Errorf("state %q after start, want armed", st)
	}
	if fw.applied == nil || !strings.Contains(fw.applied.String(), "192.0.2.1") {
		t.Errorf("applied rules do not allow the endpoint: %v", fw.applied)
	}
	if b := s.Binding(); b.Interface != "wgtest0" || b.IPv4 != netip.MustParseAddr("10.2.0.2") {
		t.Errorf("binding %+v, want the tunnel's interface and address", b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, c, "fw.apply", "tun.up", "tun.close", "fw.remove")
	// The claim is released: another session can start.
	s2, err := start(t.Context(), testOptions(t, killswitch.ModeOn), &fakeFirewall{c: &calls{}}, (&calls{}).up(nil), nil)
	if err != nil {
		t.Fatalf("second session after close: %v", err)
	}
	s2.Close()
}

// TestSecondSessionTouchesNothing: while one session owns the namespace,
// another is refused before it reads or changes anything.
func TestSecondSessionTouchesNothing(t *testing.T) {
	c := &calls{}
	o := testOptions(t, killswitch.ModeOn)
	s, err := start(t.Context(), o, &fakeFirewall{c: c}, c.up(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c2 := &calls{}
	if _, err := start(t.Context(), o, &fakeFirewall{c: c2}, c2.up(nil), nil); !errors.Is(err, ErrOwned) {
		t.Fatalf("second session: %v, want ErrOwned", err)
	}
	if len(c2.got) != 0 {
		t.Errorf("the refused session touched %q", c2.got)
	}
}

// TestStartFailures: a start that fails leaves the machine as closed as it
// found it: rules it added go, a table that was there before stays, and
// the namespace is free again.
func TestStartFailures(t *testing.T) {
	errUp := errors.New("no handshake")
	for _, tc := range []struct {
		name    string
		mode    killswitch.Mode
		present bool
		apply   error
		up      error
		want    []string
	}{
		{"apply fails: no tunnel", killswitch.ModeOn, false, errors.New("netlink: operation not permitted"), nil, []string{"fw.apply"}},
		{"tunnel fails: our rules go", killswitch.ModeOn, false, nil, errUp, []string{"fw.apply", "tun.up", "fw.remove"}},
		{"tunnel fails: the table there before stays", killswitch.ModeOn, true, nil, errUp, []string{"fw.apply", "tun.up"}},
		{"tunnel fails under persist: the table stays", killswitch.ModePersist, true, nil, errUp, []string{"fw.apply", "tun.up"}},
		{"tunnel fails, kill switch off", killswitch.ModeOff, false, nil, errUp, []string{"tun.up"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &calls{}
			o := testOptions(t, tc.mode)
			_, err := start(t.Context(), o, &fakeFirewall{c: c, present: tc.present, applyErr: tc.apply}, c.up(tc.up), nil)
			if err == nil {
				t.Fatal("start succeeded")
			}
			wantCalls(t, c, tc.want...)
			s, err := start(t.Context(), o, &fakeFirewall{c: &calls{}}, (&calls{}).up(nil), nil)
			if err != nil {
				t.Fatalf("the failed start kept the namespace: %v", err)
			}
			s.Close()
		})
	}
}

// TestCloseByMode: persist leaves the kill switch in place, off never
// touched it.
func TestCloseByMode(t *testing.T) {
	for mode, want := range map[killswitch.Mode][]string{
		killswitch.ModePersist: {"fw.apply", "tun.up", "tun.close"},
		killswitch.ModeOff:     {"tun.up", "tun.close"},
	} {
		c := &calls{}
		s, err := start(t.Context(), testOptions(t, mode), &fakeFirewall{c: c}, c.up(nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		if mode == killswitch.ModeOff && s.KillSwitchState() != killswitch.StateOff {
			t.Errorf("off: state %q", s.KillSwitchState())
		}
		s.Close()
		t.Run(string(mode), func(t *testing.T) { wantCalls(t, c, want...) })
	}
}

// TestGuardPutsBack: a kill switch found missing is applied again before
// the tunnel comes up, and counted; one that cannot be read is "unknown",
// never "armed".
func TestGuardPutsBack(t *testing.T) {
	c := &calls{}
	fw := &fakeFirewall{c: c, verifyErrs: []error{killswitch.ErrNotInstalled}}
	s, err := start(t.Context(), testOptions(t, killswitch.ModeOn), fw, c.up(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantCalls(t, c, "fw.apply", "fw.apply", "tun.up")
	if ks, _ := s.Restores(); ks != 1 || s.KillSwitchState() != killswitch.StateArmed {
		t.Errorf("restores %d, state %q; want 1, armed", ks, s.KillSwitchState())
	}

	c2 := &calls{}
	unreadable := &fakeFirewall{c: c2, verifyErr: errors.New("netlink: permission denied")}
	s2, err := start(t.Context(), testOptions(t, killswitch.ModeOn), unreadable, c2.up(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if armed, err := s2.KillSwitchArmed(); armed || err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("unreadable kill switch: armed %v, %v; want not armed, saying why", armed, err)
	}
}

// TestBadConfig: a config that does not parse is the user's to fix
// (ErrConfig), and nothing is touched.
func TestBadConfig(t *testing.T) {
	o := testOptions(t, killswitch.ModeOn)
	if err := os.WriteFile(o.ConfigPaths[0], []byte("[Interface]\nPrivateKey = nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &calls{}
	_, err := start(t.Context(), o, &fakeFirewall{c: c}, c.up(nil), nil)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad config: %v, want ErrConfig naming line 2", err)
	}
	if len(c.got) != 0 {
		t.Errorf("a bad config touched %q", c.got)
	}
}
