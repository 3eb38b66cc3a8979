package tui

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/clienttest"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/vpn"
)

func TestMain(m *testing.M) {
	// Goldens are plain text: no colour, whatever the terminal running the
	// tests can do.
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// harness runs the UI as a program against a fake engine, tunnel and clock.
type harness struct {
	t     *testing.T
	eng   *clienttest.Fake
	tun   *fakeTunnel
	clock *fakeClock
	tm    *teatest.TestModel
	seen  bytes.Buffer // output drawn since the last input
	calls int          // engine calls already checked by expectCall
}

func start(t *testing.T, w, h int, opt Options, setup func(*harness)) *harness {
	t.Helper()
	hs := &harness{t: t, eng: newFakeEngine(), tun: newFakeTunnel(), clock: &fakeClock{t: epoch}}
	if setup != nil {
		setup(hs)
	}
	m := newModel(t.Context(), hs.eng, hs.tun, opt)
	m.now = hs.clock.now
	m.tickEvery = 0 // the test decides when a refresh happens
	hs.tm = teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
	t.Cleanup(func() { _ = hs.tm.Quit() })
	return hs
}

// keys sends key presses: named keys ("enter", "esc", "tab", "space") or
// runes typed one by one.
func (hs *harness) keys(ks ...string) {
	hs.mark()
	for _, k := range ks {
		switch k {
		case "enter":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyEnter})
		case "esc":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyEsc})
		case "tab":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeyTab})
		case "space":
			hs.tm.Send(tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}})
		default:
			for _, r := range k {
				hs.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
			}
		}
	}
}

// waitFor waits until the program has drawn s since the last keys or tick
// (or since the start).
func (hs *harness) waitFor(s string) {
	hs.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := hs.seen.ReadFrom(hs.tm.Output()); err != nil {
			hs.t.Fatal(err)
		}
		if bytes.Contains(hs.seen.Bytes(), []byte(s)) {
			return
		}
		if time.Now().After(deadline) {
			hs.t.Fatalf("%q not drawn within 5s; drawn since the last input:\n%s", s, ansi.Strip(hs.seen.String()))
		}
		time.Sleep(5 * time.Millisecond) // polling the output buffer
	}
}

// mark forgets output drawn so far, so waitFor sees only what follows.
func (hs *harness) mark() {
	_, _ = hs.seen.ReadFrom(hs.tm.Output())
	hs.seen.Reset()
}

// tick advances the clock by a second and refreshes, as the 1 s tick does.
func (hs *harness) tick() {
	hs.mark()
	hs.clock.advance(time.Second)
	hs.tm.Send(tickMsg{})
}

// expectCall waits for the next engine call that changes something, as
// the fake records it (see clienttest.Fake).
func (hs *harness) expectCall(format string, a ...any) {
	hs.t.Helper()
	want := fmt.Sprintf(format, a...)
	ctx, cancel := context.WithTimeout(hs.t.Context(), 5*time.Second)
	defer cancel()
	calls, err := hs.eng.WaitCalls(ctx, hs.calls+1)
	if err != nil {
		hs.t.Fatalf("no engine call within 5s; want %q", want)
	}
	got := calls[hs.calls]
	hs.calls++
	if got != want {
		hs.t.Fatalf("engine call = %q, want %q", got, want)
	}
}

func (hs *harness) noCall() {
	hs.t.Helper()
	if calls := hs.eng.Calls(); len(calls) > hs.calls {
		hs.t.Fatalf("unexpected engine call %q", calls[hs.calls])
	}
}

// finalView quits and returns the last frame as plain text.
func (hs *harness) finalView() string {
	hs.t.Helper()
	if err := hs.tm.Quit(); err != nil {
		hs.t.Fatal(err)
	}
	m := hs.tm.FinalModel(hs.t, teatest.WithFinalTimeout(5*time.Second))
	return ansi.Strip(m.View())
}

func (hs *harness) golden() string {
	hs.t.Helper()
	v := hs.finalView()
	golden.RequireEqual(hs.t, []byte(v+"\n"))
	return v
}

func armed() Options {
	fwd := func() (portfwd.State, bool) { return portfwd.State{Phase: portfwd.Mapped, Port: 41234}, true }
	return Options{KillSwitch: "armed", PortForward: fwd, DownloadDir: "/srv/torrents"}
}

func TestGoldenList(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	// A second sample one second later gives tunnel rates and a sparkline.
	hs.tun.set(func(s *vpn.Status) { s.RxBytes += 3 << 20; s.TxBytes += 256 << 10 })
	hs.tick()
	hs.waitFor("3.0 MiB/s")
	v := hs.golden()
	for _, want := range []string{"tunnel UP", "kill switch armed", "port 41234 forwarded", "error: write", "rx 3.0 MiB/s"} {
		if !strings.Contains(v, want) {
			t.Errorf("list view lacks %q:\n%s", want, v)
		}
	}
}

func TestGoldenNarrow(t *testing.T) {
	hs := start(t, 80, 24, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	v := hs.golden()
	for i, line := range strings.Split(v, "\n") {
		if w := lipgloss.Width(line); w > 80 {
			t.Errorf("line %d is %d columns wide: %q", i, w, line)
		}
	}
	if n := strings.Count(v, "\n") + 1; n != 24 {
		t.Errorf("view has %d lines, want 24", n)
	}
}

// openBunny opens the detail view of "Big Buck Bunny", second by name.
func openBunny(hs *harness) {
	hs.waitFor("Big Buck Bunny")
	hs.keys("j", "enter")
	hs.waitFor("making-of.mkv")
}

func TestGoldenDetailFiles(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	openBunny(hs)
	v := hs.golden()
	for _, want := range []string{"subs/", "skip", "high"} {
		if !strings.Contains(v, want) {
			t.Errorf("files tab lacks %q:\n%s", want, v)
		}
	}
}

func TestGoldenDetailPeers(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	openBunny(hs)
	hs.keys("tab")
	hs.waitFor("qBittorrent")
	hs.golden()
}

func TestGoldenDetailTrackers(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	openBunny(hs)
	hs.keys("tab", "tab")
	hs.waitFor("tracker.example.org")
	hs.golden()
}

func TestGoldenDetailPieces(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	openBunny(hs)
	hs.keys("tab", "tab", "tab")
	hs.waitFor("276 pieces")
	hs.golden()
}

func TestGoldenDetailInfo(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	openBunny(hs)
	hs.keys("l", "l", "l", "l")
	hs.waitFor("[Info]")
	v := hs.golden()
	if want := "magnet:?xt=urn:btih:" + string(idBunny) + "&dn=Big+Buck+Bunny"; !strings.Contains(strings.ReplaceAll(v, "\n            ", ""), want) {
		t.Errorf("info tab lacks magnet %q:\n%s", want, v)
	}
}

func TestGoldenAddDialogEngineError(t *testing.T) {
	const magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x"
	hs := start(t, 100, 30, armed(), func(hs *harness) {
		hs.eng.FailAdd(magnet, errTest("client: add torrent: storage /srv/torrents is read-only"))
	})
	hs.waitFor("ubuntu-24.04")
	hs.keys("a")
	hs.waitFor("Add torrent")
	hs.keys(magnet, "enter")
	hs.expectCall("add %s dir=/srv/torrents paused=false", magnet)
	hs.waitFor("read-only")
	v := hs.golden()
	if !strings.Contains(v, "Add torrent") {
		t.Errorf("dialog closed after an engine error:\n%s", v)
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestAddDialogValidationError(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("a")
	hs.waitFor("Add torrent")
	hs.keys("magnet:?dn=nohash", "enter")
	hs.waitFor("no BitTorrent v1 info hash")
	hs.keys("esc")
	v := hs.finalView()
	hs.noCall()
	if strings.Contains(v, "Add torrent") {
		t.Errorf("esc did not close the dialog:\n%s", v)
	}
}

func TestGoldenTunnelDown(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("tunnel UP")
	hs.tun.set(func(s *vpn.Status) {
		s.State = vpn.StateDown
		s.LastHandshake = epoch.Add(-200 * time.Second)
	})
	hs.tick()
	hs.waitFor("tunnel DOWN")
	v := hs.golden()
	for _, want := range []string{"tunnel DOWN — kill switch blocking all traffic", "kill switch BLOCKING"} {
		if !strings.Contains(v, want) {
			t.Errorf("tunnel-down view lacks %q:\n%s", want, v)
		}
	}
}

func TestTunnelDownKillSwitchOff(t *testing.T) {
	hs := start(t, 100, 30, Options{KillSwitch: "off"}, func(hs *harness) {
		hs.tun.st.State = vpn.StateStale
	})
	hs.waitFor("tunnel STALE")
	v := hs.finalView()
	if !strings.Contains(v, "kill switch OFF") || !strings.Contains(v, "NOT protected") {
		t.Errorf("stale tunnel without kill switch not flagged:\n%s", v)
	}
}

// TestSeveralLettersInOneRead: key repeat or tmux deliver "jjp" as one
// message; every letter counts, in order.
func TestSeveralLettersInOneRead(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("Big Buck Bunny")
	hs.mark()
	hs.tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("jjp")}) // two rows down: debian, paused
	hs.expectCall("resume %s", idDebian)
}

func TestPauseCallsPause(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("Big Buck Bunny")
	hs.keys("j", "p") // Big Buck Bunny, downloading
	hs.expectCall("pause %s", idBunny)
	hs.waitFor("paused Big Buck Bunny")
	hs.keys("j", "p") // debian, paused: p resumes
	hs.expectCall("resume %s", idDebian)
}

func TestSequentialToggle(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("Big Buck Bunny")
	hs.keys("j", "o")
	hs.expectCall("sequential %s true", idBunny)
	hs.waitFor("in-order download on for Big Buck Bunny")
}

func TestTorrentLimits(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("Big Buck Bunny")
	hs.keys("j", "T")
	hs.waitFor("Limits for Big Buck Bunny")
	hs.keys("500", "tab", "tab", "1.5", "enter")
	hs.expectCall("torrent-limits %s 512000 0", idBunny)
	hs.expectCall("seedgoal %s 1 1.5 0 0s", idBunny)
	hs.waitFor("seeds to ratio 1.5")
}

// TestTorrentLimitsBadRatio: a ratio that is not one keeps the dialog open
// saying why, and changes nothing.
func TestTorrentLimitsBadRatio(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("Big Buck Bunny")
	hs.keys("j", "T")
	hs.waitFor("Limits for Big Buck Bunny")
	hs.keys("tab", "tab", "two", "enter")
	hs.waitFor(`"two" is not a ratio`)
	if c := hs.eng.Calls(); len(c) != 0 {
		t.Errorf("engine changed: %v", c)
	}
}

func TestRemoveConfirm(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys []string
		want string // "" = no call
	}{
		{"keep data", []string{"x", "enter"}, "remove " + string(idBunny) + " delete=false"},
		{"delete data", []string{"x", "d", "enter"}, "remove " + string(idBunny) + " delete=true"},
		{"changed mind", []string{"x", "d", "k", "y"}, "remove " + string(idBunny) + " delete=false"},
		{"cancel", []string{"x", "esc"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := start(t, 100, 30, armed(), nil)
			hs.waitFor("Big Buck Bunny")
			hs.keys("j")
			hs.keys(tc.keys...)
			if tc.want == "" {
				v := hs.finalView()
				hs.noCall()
				if !strings.Contains(v, "Big Buck Bunny") || strings.Contains(v, "Remove torrent") {
					t.Errorf("after cancel:\n%s", v)
				}
				return
			}
			hs.expectCall("%s", tc.want)
			hs.waitFor("removed Big Buck Bunny")
		})
	}
}

func TestAddDialogSubmits(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.torrent")
	metainfo := clienttest.Metainfo("x")
	if err := os.WriteFile(file, metainfo, 0o600); err != nil {
		t.Fatal(err)
	}
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("a")
	hs.waitFor("Add torrent")
	hs.keys(file, "enter")
	hs.expectCall("add %s dir=/srv/torrents paused=false", file)
	hs.waitFor("added x") // the torrent's name, not its hash
	if v := hs.finalView(); strings.Contains(v, "Add torrent") {
		t.Errorf("dialog still open after a successful add:\n%s", v)
	}
}

func TestAddDuplicateSelectsExisting(t *testing.T) {
	const magnet = "magnet:?xt=urn:btih:" + "dddddddddddddddddddddddddddddddddddddddd"
	hs := start(t, 100, 30, armed(), func(hs *harness) {
		hs.eng.FailAdd(magnet, fmt.Errorf("client: add: %w", &client.DuplicateError{ID: idTears}))
	})
	hs.waitFor("ubuntu-24.04")
	hs.keys("a", magnet, "enter")
	hs.expectCall("add %s dir=/srv/torrents paused=false", magnet)
	hs.waitFor("already added")
	v := hs.finalView()
	if strings.Contains(v, "Add torrent") || !strings.Contains(v, "› Tears of Steel") {
		t.Errorf("duplicate add should close the dialog and select the torrent:\n%s", v)
	}
}

func TestAddPathsOnStart(t *testing.T) {
	const magnet = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=new+torrent"
	opt := armed()
	src, err := client.ParseSource(magnet)
	if err != nil {
		t.Fatal(err)
	}
	opt.Add = []client.Source{src}
	hs := start(t, 100, 30, opt, nil)
	hs.expectCall("add %s dir=/srv/torrents paused=false", magnet)
	hs.waitFor("new torrent")
}

func TestFilePriorityCycles(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	openBunny(hs)
	// Rows: Big Buck Bunny/, extras/, making-of.mkv, subs/, de.srt, en.srt,
	// Big Buck Bunny.mp4, poster.jpg.
	hs.keys("j", "j", "space")
	hs.expectCall("prio %s 4 high", idBunny)
	hs.keys("space")
	hs.expectCall("prio %s 4 off", idBunny)
	hs.keys("G", "space") // poster.jpg: high → skip
	hs.expectCall("prio %s 1 off", idBunny)
}

func TestSpeedLimitsDialog(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("L")
	hs.waitFor("Speed limits")
	hs.keys("500", "tab", "100", "enter")
	hs.expectCall("limits 512000 102400")
	hs.waitFor("limit ↓ 500 KiB/s ↑ 100 KiB/s")
}

// TestQuit: with torrents running, q asks first; another key stays, the
// same key again quits.
func TestQuit(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("q")
	hs.waitFor("torrents are running: q again to quit")
	hs.keys("j") // declined: the cursor moves, the question goes
	hs.waitFor("Big Buck Bunny")
	hs.keys("q")
	hs.waitFor("torrents are running: q again to quit")
	hs.keys("q")
	hs.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

// TestQuitIdle: nothing running, q quits at once.
func TestQuitIdle(t *testing.T) {
	hs := start(t, 100, 30, armed(), func(hs *harness) {
		for _, st := range hs.eng.List() {
			hs.eng.Edit(st.ID, func(t *clienttest.Torrent) { t.Stats.State = client.StatePaused })
		}
	})
	hs.waitFor("ubuntu-24.04")
	hs.keys("q")
	hs.tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
}

func TestSortAndFilter(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("/", "iso", "enter")
	hs.waitFor("Torrents 3 of 7")
	hs.keys("s", "S") // size, descending
	hs.waitFor("sort: size ▼")
	v := hs.finalView()
	order := []string{"ubuntu-24.04", "archlinux", "debian"}
	last := -1
	for _, name := range order {
		i := strings.Index(v, name)
		if i < last || i < 0 {
			t.Fatalf("want order %v by size descending:\n%s", order, v)
		}
		last = i
	}
	if strings.Contains(v, "Big Buck Bunny") {
		t.Errorf("filter iso still shows Big Buck Bunny:\n%s", v)
	}
}

// TestMarksBulkPause: Space marks a row and moves on; p stops the marked
// torrents that run, and once all are stopped starts them all; Esc drops
// the marks and p acts on the cursor row again.
func TestMarksBulkPause(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("space", "space") // archlinux (in error: stopped), Big Buck Bunny (downloading)
	hs.waitFor("2 marked")
	hs.keys("p")
	hs.expectCall("pause %s", idBunny)
	hs.waitFor("59% paused") // Big Buck Bunny's row, refreshed: all marked are stopped now
	hs.keys("p")
	hs.expectCall("resume %s", idArch)
	hs.expectCall("resume %s", idBunny)
	hs.waitFor("resumed 2 torrents")
	hs.keys("esc", "p") // the cursor is on debian, paused: p resumes it alone
	hs.expectCall("resume %s", idDebian)
	hs.noCall()
}

// TestMarkAllRemove: A marks every row shown, and one remove dialog
// removes them all.
func TestMarkAllRemove(t *testing.T) {
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	n := len(hs.eng.List())
	hs.keys("A")
	hs.waitFor(fmt.Sprintf("%d marked", n))
	hs.keys("x")
	hs.waitFor(fmt.Sprintf("%d torrents", n))
	hs.keys("enter")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	calls, err := hs.eng.WaitCalls(ctx, n)
	if err != nil {
		t.Fatalf("calls %v: %v", calls, err)
	}
	for _, c := range calls {
		if !strings.HasPrefix(c, "remove ") || !strings.HasSuffix(c, " delete=false") {
			t.Errorf("call %q, want removes keeping data", c)
		}
	}
}

// TestAddDialogFolderAndPaused: the add dialog takes a folder (Tab
// completes it) and "start paused", and the engine gets both.
func TestAddDialogFolderAndPaused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.torrent")
	if err := os.WriteFile(file, clienttest.Metainfo("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "movies")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("a")
	hs.waitFor("Add torrent")
	hs.keys(file, "tab")
	hs.tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU}) // clear the default folder
	hs.keys(filepath.Join(dir, "mo"), "tab")
	hs.waitFor(target + "/")
	hs.keys("tab", "space")
	hs.waitFor("[x] start paused")
	hs.keys("enter")
	hs.expectCall("add %s dir=%s paused=true", file, target)
}

func TestCompletePath(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"movies", "music", ".hidden"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "mofile"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for typed, want := range map[string]string{
		dir + "/mo": dir + "/movies/", // a file of the same prefix is no folder
		dir + "/m":  dir + "/m",       // movies and music share only "m"
		dir + "/mu": dir + "/music/",
		dir + "/x":  dir + "/x",
		dir + "/":   dir + "/m", // hidden folders only when asked for
		dir + "/.h": dir + "/.hidden/",
	} {
		if got := completePath(typed); got != want {
			t.Errorf("completePath(%q) = %q, want %q", typed, got, want)
		}
	}
}

// TestMoveMarked: m moves the data of the marked torrents to the folder
// given.
func TestMoveMarked(t *testing.T) {
	target := t.TempDir()
	hs := start(t, 100, 30, armed(), nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("space", "space")
	hs.waitFor("2 marked")
	hs.keys("m")
	hs.waitFor("Move data")
	hs.tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	hs.keys(target, "enter")
	hs.expectCall("location %s %s move=true", idArch, target)
	hs.expectCall("location %s %s move=true", idBunny, target)
	hs.waitFor("moved to " + target)
}

// TestAltSpeedsKept: t switches to the alternative pair and back, the bar
// says so, and the limits come back after a restart.
func TestAltSpeedsKept(t *testing.T) {
	opt := armed()
	opt.SpeedsFile = filepath.Join(t.TempDir(), "speeds.json")
	hs := start(t, 100, 30, opt, nil)
	hs.waitFor("ubuntu-24.04")
	hs.keys("L")
	hs.waitFor("alt down")
	hs.keys("500", "tab", "100", "tab")
	hs.tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU}) // Transmission's 50 KiB/s by default
	hs.keys("20", "tab")
	hs.tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU})
	hs.keys("10", "enter")
	hs.expectCall("limits 512000 102400")
	hs.keys("t")
	hs.expectCall("limits 20480 10240")
	hs.tick()
	hs.waitFor("alt speeds")
	hs.waitFor("limit ↓ 20 KiB/s ↑ 10 KiB/s")

	again := start(t, 100, 30, opt, nil)
	again.waitFor("ubuntu-24.04")
	again.expectCall("limits 20480 10240") // the alternative pair, still in force
	again.keys("t")
	again.expectCall("limits 512000 102400")
}

var idTrap = hash('9')

// putTrap adds a film whose files are not what their names say, held by
// --suspicious pause.
func putTrap(hs *harness) {
	const mib = 1 << 20
	hs.eng.Put(clienttest.Torrent{
		Stats: client.Stats{ID: idTrap, Name: "Film.2026.1080p.WEB-DL", State: client.StatePaused, Length: 901 * mib,
			ETA: -1, AddedAt: epoch.Add(-time.Hour), DownloadDir: "/srv/torrents",
			Held: "paused for 2 suspicious file(s): resume to download them anyway, or unselect them first",
			Warnings: []client.Warning{
				{File: 0, Path: "Film.2026.1080p.WEB-DL/film.mkv.exe", Code: "double-extension", Reason: "a Windows program (.exe) made to look like a video (.mkv)"},
				{File: 2, Path: "Film.2026.1080p.WEB-DL/sample.mkv", Code: "content", Reason: "named as a video (.mkv) but its content is a Linux program (ELF)"},
			}},
		Files: []client.File{
			{Index: 0, Path: "Film.2026.1080p.WEB-DL/film.mkv.exe", Length: mib},
			{Index: 1, Path: "Film.2026.1080p.WEB-DL/movie.mkv", Length: 880 * mib},
			{Index: 2, Path: "Film.2026.1080p.WEB-DL/sample.mkv", Length: 20 * mib},
		},
	})
}

// TestGoldenSuspicious: the list marks the torrent and says it is held;
// with the cursor on it the status line says why.
func TestGoldenSuspicious(t *testing.T) {
	hs := start(t, 100, 30, armed(), putTrap)
	hs.waitFor("Film.2026")
	hs.keys("j", "j", "j")
	hs.waitFor("held: paused for 2")
	v := hs.golden()
	for _, want := range []string{"› ! Film.2026.1080p.W", "held ", "held: paused for 2 suspicious file(s)"} {
		if !strings.Contains(v, want) {
			t.Errorf("list lacks %q:\n%s", want, v)
		}
	}
}

// TestGoldenSuspiciousDetail: the detail names the suspicious files and
// why, in full, in its Info tab, and marks them in the Files tab.
func TestGoldenSuspiciousDetail(t *testing.T) {
	hs := start(t, 100, 30, armed(), putTrap)
	hs.waitFor("Film.2026")
	hs.keys("j", "j", "j", "enter")
	hs.waitFor("! film.mkv.exe")
	hs.keys("l", "l", "l", "l")
	hs.waitFor("[Info]")
	v := hs.golden()
	words := strings.Join(strings.Fields(v), " ") // wrapped lines joined
	for _, want := range []string{"! 2 suspicious file(s)", "Held paused for 2",
		"Suspicious Film.2026.1080p.WEB-DL/film.mkv.exe: a Windows program (.exe) made to look like a video (.mkv)",
		"Suspicious Film.2026.1080p.WEB-DL/sample.mkv: named as a video (.mkv) but its content is a Linux program (ELF)"} {
		if !strings.Contains(words, want) {
			t.Errorf("info tab lacks %q:\n%s", want, v)
		}
	}
}
