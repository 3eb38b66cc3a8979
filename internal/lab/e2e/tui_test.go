//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// TestTUIDownloadThroughTunnelOutage drives the TUI in a real terminal
// (tmux) the way a person does: add a magnet link by typing it, watch the
// progress move, see the bar say the kill switch is blocking while the VPN
// server is gone, see the download finish once it is back, press q.
func TestTUIDownloadThroughTunnelOutage(t *testing.T) {
	needPrograms(t, "tmux")
	s := newSwarm(t, true)
	out, data := t.TempDir(), t.TempDir()
	// ~16 s for the content, so the outage lands in the middle.
	term := startTmux(t, s.lab.Client.NetNS, wgtorrentBin, "tui",
		"--config", s.conf, "--out", out, "--data", data, "--no-dht", "--max-download-rate", "1.5MiB")
	t.Cleanup(func() {
		if t.Failed() {
			logTail(t, filepath.Join(data, "wgtorrent.log"), 60)
		}
	})

	term.waitFor(30*time.Second, "the tunnel bar saying the tunnel is up", tunnelUp)
	if !strings.Contains(term.screen(), "kill switch armed") {
		t.Errorf("tunnel up but the bar does not say the kill switch is armed:\n%s", term.screen())
	}

	// A magnet as one would copy it from a page: hash and tracker only, so
	// the name must come from the seeder's metadata.
	magnet := fmt.Sprintf("magnet:?xt=urn:btih:%s&tr=http://%s:%d/announce", s.tor.InfoHash, s.lab.Peer.Addr4, trackerPort)
	term.keys("a")
	term.waitFor(5*time.Second, "the add dialog", func(sc string) bool { return strings.Contains(sc, "Add torrent") })
	term.typeText(magnet)
	term.keys("Enter")

	first := term.waitFor(30*time.Second, "the torrent named from its metadata, with some progress", func(sc string) bool {
		p, ok := rowProgress(sc, s.tor.Name)
		return ok && p >= 1
	})
	p1, _ := rowProgress(first, s.tor.Name)
	if strings.Contains(first, "Add torrent") {
		t.Errorf("the add dialog is still open once the torrent is listed:\n%s", first)
	}
	second := term.waitFor(20*time.Second, fmt.Sprintf("progress beyond %d%%", p1), func(sc string) bool {
		p, ok := rowProgress(sc, s.tor.Name)
		return ok && p > p1 && p >= 20
	})
	p2, _ := rowProgress(second, s.tor.Name)
	t.Logf("progress %d%% then %d%%", p1, p2)
	if p2 >= 100 {
		t.Fatalf("complete before the outage: the rate limit did not hold:\n%s", second)
	}

	stopped := time.Now()
	must(t, s.srv.Stop())
	broken := term.waitFor(40*time.Second, "the bar saying the tunnel is stale or down and the kill switch blocking", tunnelBroken)
	t.Logf("bar broken %s after the server stopped:\n%s", time.Since(stopped).Round(100*time.Millisecond), firstLines(broken, 3))
	held, _ := rowProgress(broken, s.tor.Name)
	if held >= 100 {
		t.Errorf("download complete while the VPN server was down:\n%s", broken)
	}

	must(t, s.srv.Start())
	restarted := time.Now()
	// Every screen until the end: the bar may say plain "UP" only once
	// bytes came through the tunnel again (issue 23). The witnesses: the
	// row's progress moved, or the bar measured kilobytes a second (a
	// handshake and keepalives are a few hundred bytes).
	var claims []string
	flowing := false
	watch := func(sc string) bool {
		p, _ := rowProgress(sc, s.tor.Name)
		flowing = flowing || p > held || barRxKiB.MatchString(firstLines(sc, 2))
		if strings.Contains(sc, "● tunnel UP") && !strings.Contains(sc, "nothing received since the outage") && !flowing {
			claims = append(claims, firstLines(sc, 2))
		}
		return false
	}
	term.waitFor(40*time.Second, "the bar saying the tunnel is up again", func(sc string) bool {
		watch(sc)
		return strings.Contains(sc, "● tunnel UP") && !tunnelBroken(sc)
	})
	t.Logf("tunnel up %s after the server restarted", time.Since(restarted).Round(100*time.Millisecond))
	done := term.waitFor(60*time.Second, "the torrent at 100% and seeding", func(sc string) bool {
		watch(sc)
		p, ok := rowProgress(sc, s.tor.Name)
		return ok && p == 100 && strings.Contains(rowOf(sc, s.tor.Name), "seeding")
	})
	if len(claims) > 0 {
		t.Errorf("the bar said the tunnel was UP, without \"nothing received since the outage\", before any data came through (%d screens); the first:\n%s",
			len(claims), claims[0])
	}
	t.Logf("complete %s after the server restarted:\n%s", time.Since(restarted).Round(100*time.Millisecond), done)
	s.tor.assertIdentical(t, "download in the TUI", out)

	term.quit()
	code := term.waitExit(30 * time.Second)
	if code != 0 {
		t.Errorf("wgtorrent exit status %d after q, want 0; pane:\n%s", code, term.screen())
	}
	assertNothingLeft(t, s.lab.Client)
}

// tunnelUp: the bar shows the tunnel up, not the broken banner.
func tunnelUp(sc string) bool {
	return strings.Contains(sc, "● tunnel UP") && !tunnelBroken(sc)
}

// tunnelBroken: the bar says at once that the tunnel is broken and that the
// kill switch holds traffic back.
func tunnelBroken(sc string) bool {
	return (strings.Contains(sc, "tunnel STALE — ") || strings.Contains(sc, "tunnel DOWN — ")) &&
		strings.Contains(sc, "kill switch blocking all traffic")
}

// barRxKiB: the tunnel bar's receive rate is a kilobyte a second or more.
var barRxKiB = regexp.MustCompile(`rx [0-9.]+ [KMG]iB/s`)

// progressCell is the list's progress column: a bar then a percentage.
var progressCell = regexp.MustCompile(`[█░]+ +(\d{1,3})%`)

// rowOf returns the screen line that names the torrent, or "".
func rowOf(screen, name string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, name) && progressCell.MatchString(l) {
			return l
		}
	}
	return ""
}

// rowProgress reads the percentage on the torrent's row.
func rowProgress(screen, name string) (int, bool) {
	m := progressCell.FindStringSubmatch(rowOf(screen, name))
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(m[1])
	return n, err == nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func logTail(t *testing.T, path string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("log %s: %v", path, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	t.Logf("last lines of %s:\n%s", path, strings.Join(lines[max(len(lines)-n, 0):], "\n"))
}

// tmuxTerm is a program running in a detached tmux session of its own
// (own server socket), read with capture-pane and driven with send-keys.
type tmuxTerm struct {
	t      *testing.T
	sock   string // the server's socket (tmux -S)
	target string
	pid    int    // the pane's shell, leader of the process group wgtorrent runs in
	stderr string // file with the program's stderr
	last   string
}

// startTmux runs bin with args in network namespace ns in a 120x35
// terminal. The pane stays after the program exits, so its exit status
// and last output can be read.
func startTmux(t *testing.T, ns, bin string, args ...string) *tmuxTerm {
	t.Helper()
	dir := t.TempDir()
	if len(filepath.Join(dir, "tmux.sock")) > 100 { // sun_path limit
		// A long test name or TMPDIR: a shorter directory of our own.
		short, err := os.MkdirTemp("/tmp", "wgt-tmux-")
		must(t, err)
		t.Cleanup(func() { os.RemoveAll(short) })
		dir = short
	}
	conf := filepath.Join(dir, "tmux.conf")
	// Set before the program starts, so even an instant exit is kept.
	must(t, os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g history-limit 0\n"), 0o600))
	// A server of our own on a socket in the test's directory: nothing
	// shared with the user's tmux or another test, and removed with it.
	tt := &tmuxTerm{t: t, sock: filepath.Join(dir, "tmux.sock"), target: "s"}
	tt.stderr = filepath.Join(dir, "stderr")
	// The TUI draws on stdout; stderr goes to a file, where it survives the
	// pane (tmux may drop what a program writes just before exiting).
	// The shell stays to write the exit status to a file: tmux's own
	// pane_dead_status was seen to stay empty on a loaded machine.
	argv := append([]string{"sh", "-c", `"$@" 2>>"$0"; echo $? >"$0.exit"`, tt.stderr,
		"env", "TERM=xterm-256color", "ip", "netns", "exec", ns, bin}, args...)
	if _, err := tt.tmux(append([]string{"-f", conf, "new-session", "-d", "-s", tt.target, "-x", "120", "-y", "35"}, argv...)...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tt.close)
	info, err := tt.tmux("display-message", "-p", "-t", tt.target, "#{pane_pid}")
	if err != nil {
		t.Fatal(err)
	}
	tt.pid, err = strconv.Atoi(strings.TrimSpace(info))
	if err != nil {
		t.Fatalf("tmux pane pid %q: %v", info, err)
	}
	return tt
}

func (tt *tmuxTerm) tmux(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// -u: the panes speak UTF-8 whatever the test's locale.
	cmd := exec.CommandContext(ctx, "tmux", append([]string{"-u", "-S", tt.sock}, args...)...)
	b, err := cmd.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("tmux %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(b)))
	}
	return string(b), nil
}

// close stops the program if it still runs (SIGTERM lets it tear down the
// kill switch and tunnel), then the tmux server.
func (tt *tmuxTerm) close() {
	if tt.t.Failed() {
		b, _ := os.ReadFile(tt.stderr)
		tt.t.Logf("terminal at the end:\n%s\nwgtorrent's stderr:\n%s", tt.screen(), b)
	}
	if dead, _ := tt.dead(); !dead && tt.pid > 0 {
		_ = syscall.Kill(-tt.pid, syscall.SIGTERM) // the pane's process group: the shell and wgtorrent
		deadline := time.Now().Add(15 * time.Second)
		for {
			if dead, _ := tt.dead(); dead || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // polling another process's exit
		}
		if dead, _ := tt.dead(); !dead {
			_ = syscall.Kill(-tt.pid, syscall.SIGKILL)
		}
	}
	_, _ = tt.tmux("kill-server")
}

// dead reports whether the program exited, and its exit status (-1 when
// killed by a signal, or when tmux itself is gone).
func (tt *tmuxTerm) dead() (bool, int) {
	b, err := os.ReadFile(tt.stderr + ".exit")
	if err != nil {
		if syscall.Kill(tt.pid, 0) != nil {
			return true, -1 // the pane's shell is gone without a status: killed
		}
		return false, 0
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return true, -1
	}
	if code > 128 {
		tt.t.Logf("wgtorrent killed by signal %d", code-128)
		return true, -1
	}
	return true, code
}

// screen is the visible pane as text; the last good capture when tmux is
// gone.
func (tt *tmuxTerm) screen() string {
	out, err := tt.tmux("capture-pane", "-p", "-t", tt.target)
	if err != nil {
		return tt.last
	}
	tt.last = out
	return out
}

// waitFor polls the screen until ok holds and returns that screen. It
// fails the test with the screen on timeout or if the program exits.
func (tt *tmuxTerm) waitFor(within time.Duration, what string, ok func(string) bool) string {
	tt.t.Helper()
	deadline := time.Now().Add(within)
	for {
		sc := tt.screen()
		if ok(sc) {
			return sc
		}
		if dead, code := tt.dead(); dead {
			tt.t.Fatalf("wgtorrent exited (status %d) before %s; terminal:\n%s", code, what, sc)
		}
		if time.Now().After(deadline) {
			tt.t.Fatalf("waited %s for %s; terminal:\n%s", within, what, sc)
		}
		time.Sleep(200 * time.Millisecond) // polling the terminal, an external state
	}
}

// keys sends tmux key names (a, Enter, Escape...).
func (tt *tmuxTerm) keys(names ...string) {
	tt.t.Helper()
	if _, err := tt.tmux(append([]string{"send-keys", "-t", tt.target}, names...)...); err != nil {
		tt.t.Fatal(err)
	}
}

// typeText types s literally.
func (tt *tmuxTerm) typeText(s string) {
	tt.t.Helper()
	if _, err := tt.tmux("send-keys", "-t", tt.target, "-l", s); err != nil {
		tt.t.Fatal(err)
	}
}

// waitExit waits for the program to exit and returns its status.
// quit presses q, which with torrents running asks first, and q again.
func (tt *tmuxTerm) quit() {
	tt.keys("q")
	tt.waitFor(10*time.Second, "the question before quitting", func(sc string) bool { return strings.Contains(sc, "q again to quit") })
	tt.keys("q")
}

func (tt *tmuxTerm) waitExit(within time.Duration) int {
	tt.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if dead, code := tt.dead(); dead {
			return code
		}
		if time.Now().After(deadline) {
			tt.t.Fatalf("wgtorrent still running %s after q; terminal:\n%s", within, tt.screen())
		}
		time.Sleep(100 * time.Millisecond) // polling another process's exit
	}
}

// TestTUIAsNobody: the TUI run by an ordinary user without any capability
// (nobody, a read-write TUN node arranged for it as a desktop has one):
// wgtorrent runs itself again in a user namespace, keeps the terminal, the
// bar says the tunnel is up in namespace isolation, a magnet typed in
// downloads whole, q exits 0, every file is nobody's, nothing leaks.
func TestTUIAsNobody(t *testing.T) {
	needPrograms(t, "tmux", "setpriv", "unshare", "mknod", "mount")
	s := newSwarm(t, true)
	const nobody = 65534
	dir, bin, conf := nobodyDir(t, "wgt-e2e-tui-", s.srv.ClientConfig(), nobody)
	out, data, tunDir := nobodyWorkDirs(t, dir, nobody)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	term := startTmux(t, s.lab.Client.NetNS, "unshare", tunNodeWrapper(tunDir, "setpriv",
		fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups", "--",
		"env", "HOME="+dir, bin, "tui", "--config", conf, "--out", out, "--data", data, "--no-dht")...)
	t.Cleanup(func() {
		if t.Failed() {
			logTail(t, filepath.Join(data, "wgtorrent.log"), 60)
		}
	})
	up := term.waitFor(30*time.Second, "the tunnel bar saying the tunnel is up", tunnelUp)
	if !strings.Contains(up, "(isolated)") {
		t.Errorf("the bar does not say the isolation is the private namespace:\n%s", firstLines(up, 3))
	}
	term.keys("a")
	term.waitFor(5*time.Second, "the add dialog", func(sc string) bool { return strings.Contains(sc, "Add torrent") })
	term.typeText(s.tor.magnet(s.lab))
	term.keys("Enter")
	term.waitFor(60*time.Second, "the torrent at 100% and seeding", func(sc string) bool {
		p, ok := rowProgress(sc, s.tor.Name)
		return ok && p == 100 && strings.Contains(rowOf(sc, s.tor.Name), "seeding")
	})
	s.tor.assertIdentical(t, "TUI download as nobody", out)
	term.quit()
	if code := term.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit status %d after q, want 0; pane:\n%s", code, term.screen())
	}
	capt.assertNoLeaks(t, "TUI as nobody")
	assertOwnedBy(t, nobody, out, data)
}

// TestTUIKeysAndMarks (issue 23): letters that arrive in one read all
// count (tmux `send-keys -l jj` moves the cursor two rows), and three
// torrents marked with A and paused with one p are paused in the engine,
// as its saved records say, not just on the screen.
func TestTUIKeysAndMarks(t *testing.T) {
	needPrograms(t, "tmux")
	s := newSwarm(t, false)
	small := []netlab.ContentFile{{Path: "one.bin", Size: 256 << 10}}
	var files []string
	hashes := map[string]string{}
	for i := range 3 {
		lt := makeLocalTorrent(t, s.lab, fmt.Sprintf("wgt-mark%d-%s", i+1, s.lab.ID), small)
		files = append(files, lt.File)
		hashes[lt.Name] = lt.InfoHash
	}
	data := t.TempDir()
	term := startTmux(t, s.lab.Client.NetNS, wgtorrentBin, append([]string{"tui",
		"--config", s.conf, "--out", t.TempDir(), "--data", data, "--no-dht"}, files...)...)
	listed := func(sc string) bool {
		for name := range hashes {
			if rowOf(sc, name) == "" {
				return false
			}
		}
		return true
	}
	term.waitFor(30*time.Second, "the three torrents listed", listed)
	term.keys("g")
	// The names in screen order, and the one the cursor is on.
	order := func(sc string) (names []string, cursor string) {
		for _, l := range strings.Split(sc, "\n") {
			for name := range hashes {
				if strings.Contains(l, name) && progressCell.MatchString(l) {
					names = append(names, name)
					if strings.HasPrefix(strings.TrimSpace(l), "›") {
						cursor = name
					}
				}
			}
		}
		return names, cursor
	}
	sc := term.waitFor(5*time.Second, "the cursor on the first row", func(sc string) bool {
		names, cur := order(sc)
		return len(names) == 3 && cur == names[0]
	})
	names, _ := order(sc)
	term.typeText("jj")
	term.waitFor(5*time.Second, "the cursor two rows down after one read of jj", func(sc string) bool {
		_, cur := order(sc)
		return cur == names[2]
	})

	term.keys("A")
	term.waitFor(5*time.Second, "3 marked", func(sc string) bool { return strings.Contains(sc, "3 marked") })
	term.keys("p")
	term.waitFor(10*time.Second, "the three rows paused", func(sc string) bool {
		for name := range hashes {
			if !strings.Contains(rowOf(sc, name), "paused") {
				return false
			}
		}
		return true
	})
	for name, ih := range hashes {
		b, err := os.ReadFile(filepath.Join(data, "torrents", ih+".json"))
		must(t, err)
		var rec struct {
			Paused bool `json:"paused"`
		}
		must(t, json.Unmarshal(b, &rec))
		if !rec.Paused {
			t.Errorf("%s: the engine's record is not paused: %s", name, b)
		}
	}
	term.keys("q") // nothing runs: no question
	if code := term.waitExit(30 * time.Second); code != 0 {
		t.Errorf("exit status %d after q", code)
	}
}
