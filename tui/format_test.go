package tui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/clienttest"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

func TestHumanBytes(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"}, {10 << 10, "10 KiB"},
		{1023<<10 + 1023, "1023 KiB"}, {5<<30 + 800<<20, "5.7 GiB"}, {-1, "-"},
	} {
		if got := humanBytes(tc.in); got != tc.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
		if len(humanBytes(tc.in)) > 8 {
			t.Errorf("humanBytes(%d) = %q is wider than the 8-column Size field", tc.in, humanBytes(tc.in))
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{-1, "-"}, {0, "0s"}, {59 * time.Second, "59s"}, {192 * time.Second, "3m12s"},
		{2*time.Hour + 5*time.Minute, "2h05m"}, {76 * time.Hour, "3d04h"}, {200 * 24 * time.Hour, "∞"},
	} {
		if got := humanDuration(tc.in); got != tc.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProgressBarAndPercent(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{0, "░░░░░░░░   0%"}, {0.999, "███████░  99%"}, {1, "████████ 100%"}, {0.5, "████░░░░  50%"},
	} {
		if got := progressBar(tc.f, 13); got != tc.want {
			t.Errorf("progressBar(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestSparkline(t *testing.T) {
	for _, tc := range []struct {
		in    []int64
		width int
		want  string
	}{
		{nil, 4, "    "},
		{[]int64{0, 0}, 3, " ▁▁"},
		{[]int64{1, 2, 4, 8}, 4, "▁▂▄█"},
		{[]int64{100, 1, 8}, 2, "▁█"}, // only the last width samples count
	} {
		if got := sparkline(tc.in, tc.width); got != tc.want {
			t.Errorf("sparkline(%v, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

// TestValidateSource: the dialog reads the file (~/ is the home
// directory) so it can say what is wrong; parsing itself is client's
// (client.TestParseSource).
func TestValidateSource(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.WriteFile(filepath.Join(home, "a.torrent"), clienttest.Metainfo("a.iso"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "junk.torrent"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := validateSource("  ~/a.torrent ")
	if err != nil || src.Kind() != client.SourceMetainfo || src.Name() != "a.iso" {
		t.Errorf("validateSource(~/a.torrent) = %v %q, %v; want the file read", src.Kind(), src.Name(), err)
	}
	for in, want := range map[string]string{
		"~/junk.torrent":                "not a valid .torrent file",
		"~/missing.torrent":             "not a magnet link, an info hash, or an existing .torrent file",
		"~/":                            "is a directory",
		"magnet:?xt=urn:btih:" + "1234": "40 hex or 32 base32",
	} {
		if _, err := validateSource(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validateSource(%q) = %v, want it to say %q", in, err, want)
		}
	}
}

func TestTunnelBarRates(t *testing.T) {
	var b tunnelBar
	at := epoch
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 1000, TxBytes: 500}, at)
	if b.rxRate != 0 || b.txRate != 0 {
		t.Fatalf("rates after one sample = %d/%d, want 0/0", b.rxRate, b.txRate)
	}
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 5000, TxBytes: 1500}, at.Add(2*time.Second))
	if b.rxRate != 2000 || b.txRate != 500 {
		t.Fatalf("rates = %d/%d, want 2000/500", b.rxRate, b.txRate)
	}
	// A recreated device starts counting from zero again.
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 10, TxBytes: 10}, at.Add(3*time.Second))
	if b.rxRate != 0 || b.txRate != 0 {
		t.Fatalf("rates after a counter reset = %d/%d, want 0/0", b.rxRate, b.txRate)
	}
}

func TestTunnelBarStates(t *testing.T) {
	for _, tc := range []struct {
		state   vpn.State
		armed   bool
		want    string
		notWant string
	}{
		{vpn.StateUp, true, "kill switch armed", "BLOCKING"},
		{vpn.StateConnecting, true, "tunnel CONNECTING", "BLOCKING"},
		{vpn.StateDown, true, "tunnel DOWN — kill switch blocking all traffic", "armed"},
		{vpn.StateStale, true, "kill switch BLOCKING", "armed"},
		{vpn.StateDown, false, "kill switch OFF", "blocking"},
		{vpn.StateUp, false, "kill switch OFF", "armed"},
	} {
		b := tunnelBar{killArmed: tc.armed}
		b.observe(vpn.Status{State: tc.state, Interface: "wg0"}, epoch)
		v := strings.Join(b.view(200, epoch), "\n")
		if !strings.Contains(v, tc.want) || strings.Contains(v, tc.notWant) {
			t.Errorf("%s armed=%v: bar %q, want %q and not %q", tc.state, tc.armed, v, tc.want, tc.notWant)
		}
	}
}

// TestTunnelBarWarnings: what the config keeps the tunnel from reaching
// stays on screen, a line each.
func TestTunnelBarWarnings(t *testing.T) {
	b := tunnelBar{killArmed: true}
	b.observe(vpn.Status{State: vpn.StateUp, Interface: "wg0", Warnings: []string{"AllowedIPs do not cover every IPv4 address"}}, epoch)
	v := b.view(200, epoch)
	if len(v) < 2 || !strings.Contains(v[len(v)-1], "⚠ AllowedIPs do not cover every IPv4 address") {
		t.Errorf("bar %q: want the warning on a line of its own", v)
	}
}

// After a failover the bar names the server's file and counts the moves;
// before any, the endpoint is enough.
func TestTunnelBarFailover(t *testing.T) {
	b := tunnelBar{killArmed: true}
	b.observe(vpn.Status{State: vpn.StateUp, Interface: "wgt0", Endpoint: "198.51.100.7:51820", Server: "ch-zrh.conf"}, epoch)
	if v := strings.Join(b.view(200, epoch), "\n"); strings.Contains(v, "ch-zrh.conf") {
		t.Errorf("bar %q names the server before any move", v)
	}
	b.observe(vpn.Status{State: vpn.StateUp, Interface: "wgt0", Endpoint: "198.51.100.7:51820", Server: "ch-zrh.conf", Moves: 2}, epoch)
	if v := strings.Join(b.view(200, epoch), "\n"); !strings.Contains(v, "⇄ 198.51.100.7:51820 (ch-zrh.conf, 2 moves)") {
		t.Errorf("bar %q: want the server and the moves", v)
	}
}

// The bar follows the measured kill switch state of every refresh.
func TestTunnelBarMeasuredKillSwitch(t *testing.T) {
	m := &model{bar: tunnelBar{killArmed: true}}
	for _, tc := range []struct {
		state         vpn.State
		ks            killswitch.State
		want, notWant string
	}{
		{ks: "armed", state: vpn.StateUp, want: "kill switch armed", notWant: "NOT IN PLACE"},
		{ks: "broken", state: vpn.StateUp, want: "kill switch NOT IN PLACE (restoring)", notWant: "armed"},
		{ks: "unknown", state: vpn.StateDown, want: "tunnel DOWN — kill switch NOT IN PLACE", notWant: "blocking all traffic"},
		{ks: "armed", state: vpn.StateDown, want: "kill switch blocking all traffic", notWant: "NOT IN PLACE"},
		{ks: "off", state: vpn.StateUp, want: "kill switch OFF", notWant: "armed"},
	} {
		m.applyRefresh(refreshMsg{status: vpn.Status{State: tc.state}, hasStatus: true, killSwitch: tc.ks, at: epoch})
		v := strings.Join(m.bar.view(200, epoch), "\n")
		if !strings.Contains(v, tc.want) || strings.Contains(v, tc.notWant) {
			t.Errorf("measured %q, tunnel %s: bar %q, want %q and not %q", tc.ks, tc.state, v, tc.want, tc.notWant)
		}
	}
}

func TestLayoutColumnsFits(t *testing.T) {
	for _, w := range []int{40, 80, 100, 160} {
		cols, nameW := layoutColumns(w)
		total := 2 + nameW
		for _, c := range cols {
			total += c.width + 1
		}
		if w >= 80 && (nameW < minNameWidth || total > w) {
			t.Errorf("width %d: name %d, total %d", w, nameW, total)
		}
		if w >= 100 && len(cols) != len(listColumns) {
			t.Errorf("width %d shows %d of %d columns", w, len(cols), len(listColumns))
		}
	}
}

func TestBuildFileRows(t *testing.T) {
	rows := buildFileRows([]client.File{
		{Index: 0, Path: "t/b.txt", Length: 10, BytesCompleted: 10},
		{Index: 1, Path: "t/d/a.txt", Length: 30, Priority: client.PriorityOff},
		{Index: 2, Path: "t/a.txt", Length: 60, BytesCompleted: 30},
	})
	var got []string
	for _, r := range rows {
		got = append(got, strings.Repeat(" ", r.depth)+r.name+" "+humanBytes(r.length)+" "+prioLabel(r.prio, r.mixed))
	}
	want := []string{"t/ 100 B mixed", " d/ 30 B skip", "  a.txt 30 B skip", " a.txt 60 B normal", " b.txt 10 B normal"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rows[0].done != 40 || len(rows[0].indices) != 3 {
		t.Errorf("root aggregates done=%d indices=%v", rows[0].done, rows[0].indices)
	}
}

func TestViewFitsEverySize(t *testing.T) {
	eng := newFakeEngine()
	m := newModel(t.Context(), eng, newFakeTunnel(), armed())
	m.now = func() time.Time { return epoch }
	m.applyRefresh(refreshMsg{stats: eng.List(), status: newFakeTunnel().Status(), hasStatus: true, at: epoch})
	for _, size := range [][2]int{{80, 24}, {100, 30}, {120, 40}, {60, 15}, {20, 5}} {
		m.Update(sizeMsg(size))
		for _, detail := range []bool{false, true} {
			m.detail = nil
			if detail {
				m.detail = &detailView{id: idBunny, tab: tabInfo}
			}
			v := m.View()
			lines := strings.Split(v, "\n")
			if len(lines) > size[1] {
				t.Errorf("%v detail=%v: %d lines", size, detail, len(lines))
			}
			for i, l := range lines {
				if lipgloss.Width(l) > size[0] {
					t.Errorf("%v detail=%v: line %d is %d wide", size, detail, i, lipgloss.Width(l))
				}
			}
		}
	}
}

func sizeMsg(s [2]int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: s[0], Height: s[1]} }

// TestParseKiB: the limit dialogs take what the command line takes.
func TestParseKiB(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "500": 500 << 10, " 5M ": 5_000_000, "5MiB": 5 << 20, "800k": 800_000} {
		if got, err := parseKiB(in); err != nil || got != want {
			t.Errorf("parseKiB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "fast", "5 parsecs"} {
		if _, err := parseKiB(in); err == nil {
			t.Errorf("parseKiB(%q) accepted", in)
		}
	}
}

// TestAddDialogRefusesTooBig: a .torrent larger than the free space of
// its folder is refused before anything is added (files are allocated in
// full, so it would fail at the first write).
func TestAddDialogRefusesTooBig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.torrent")
	if err := os.WriteFile(path, clienttest.Metainfo("big.iso"), 0o600); err != nil {
		t.Fatal(err)
	}
	eng := clienttest.New()
	m := newModel(t.Context(), eng, newFakeTunnel(), Options{})
	d := newAddDialog(80, "")
	small := t.TempDir()
	d.folder.dir, d.folder.free = small, 1<<20
	d.input.SetValue(path)
	m.dialog = d
	d.update(m, tea.KeyMsg{Type: tea.KeyEnter})
	if !strings.Contains(d.err, "big.iso needs 3.0 MiB; "+small+" has 1.0 MiB free") || m.dialog == nil {
		t.Errorf("dialog error %q, open %v", d.err, m.dialog != nil)
	}
	d.folder.free = 1 << 30
	if cmd := d.update(m, tea.KeyMsg{Type: tea.KeyEnter}); cmd == nil || d.err != "" {
		t.Errorf("with room: error %q, command %v", d.err, cmd != nil)
	}
}

// TestTunnelBarAfterOutage: back up after an outage, the bar does not say
// "UP" alone until a byte came through; a tunnel quiet for a while says
// since when.
func TestTunnelBarAfterOutage(t *testing.T) {
	var b tunnelBar
	b.killArmed = true
	at := epoch
	view := func() string { return strings.Join(b.view(200, at), "\n") }
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 1000}, at)
	at = at.Add(time.Second)
	b.observe(vpn.Status{State: vpn.StateStale, RxBytes: 1000}, at)
	at = at.Add(30 * time.Second)
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 1000}, at)
	if v := view(); !strings.Contains(v, "nothing received since the outage") {
		t.Errorf("up again, nothing in: %q", v)
	}
	// The handshake response and a keepalive: the tunnel's own bytes.
	at = at.Add(time.Second)
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 1000 + 92 + 32}, at)
	if v := view(); !strings.Contains(v, "nothing received since the outage") {
		t.Errorf("up again after a handshake, nothing through the tunnel: %q", v)
	}
	// A redial: SYN-ACK, BitTorrent and extension handshakes, a bitfield
	// (735 bytes in one refresh, measured in the lab).
	at = at.Add(time.Second)
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 1124 + 735}, at)
	if v := view(); !strings.Contains(v, "nothing received since the outage") {
		t.Errorf("up again after a redial's handshakes, no data: %q", v)
	}
	at = at.Add(time.Second)
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 5000}, at)
	if v := view(); strings.Contains(v, "outage") || strings.Contains(v, "nothing in for") {
		t.Errorf("data flowing again: %q", v)
	}
	at = at.Add(12 * time.Second)
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 5000}, at)
	if v := view(); !strings.Contains(v, "nothing in for 12s") {
		t.Errorf("quiet for 12 s: %q", v)
	}
}

func TestTunnelBarPortForward(t *testing.T) {
	b := tunnelBar{killArmed: true}
	b.observe(vpn.Status{State: vpn.StateUp, RxBytes: 1000}, epoch)
	for _, c := range []struct {
		st   portfwd.State
		want string
	}{
		{portfwd.State{Phase: portfwd.Requesting}, "port forwarding: asking the gateway"},
		{portfwd.State{Phase: portfwd.Mapped, Port: 40001}, "port 40001 forwarded"},
		{portfwd.State{Phase: portfwd.Failed, Err: "natpmp: not authorized"}, "port forwarding failed: natpmp: not authorized"},
	} {
		b.fwd = &c.st
		if v := strings.Join(b.view(200, epoch), "\n"); !strings.Contains(v, c.want) {
			t.Errorf("%+v: bar %q lacks %q", c.st, v, c.want)
		}
	}
}
