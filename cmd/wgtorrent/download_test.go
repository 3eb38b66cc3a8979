package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"

	"github.com/wgtorrent/wgtorrent/client"
)

// TestOneShotState: a download given torrents works on those only, and
// without --data keeps its state apart from the TUI's library.
func TestOneShotState(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	a := "magnet:?xt=urn:btih:" + strings.Repeat("a", 40)
	b := strings.Repeat("B", 40)
	want := []client.TorrentID{client.TorrentID(strings.Repeat("a", 40)), client.TorrentID(strings.Repeat("b", 40))}

	srcs := func(args ...string) []client.Source {
		s, err := parseSources(args)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f := engineFlags{Data: defaultDataDir()}
	if err := f.oneShotState(srcs(a, b, a)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.restoreOnly, want) {
		t.Errorf("restoreOnly %v, want %v", f.restoreOnly, want)
	}
	if o := f.options(nil); !slices.Equal(o.RestoreOnly, want) || o.DataDir != f.Data {
		t.Errorf("engine options: RestoreOnly %v, DataDir %s", o.RestoreOnly, o.DataDir)
	}
	if filepath.Dir(f.Data) != filepath.Join(defaultDataDir(), "oneshot") {
		t.Errorf("state in %s, want a directory of its own under %s/oneshot", f.Data, defaultDataDir())
	}
	// The same torrents in another order: the same state (resume works).
	g := engineFlags{Data: defaultDataDir()}
	if err := g.oneShotState(srcs(b, a)); err != nil || g.Data != f.Data {
		t.Errorf("same torrents, other order: state %s (%v), want %s", g.Data, err, f.Data)
	}
	// Another torrent: other state.
	h := engineFlags{Data: defaultDataDir()}
	if err := h.oneShotState(srcs(a)); err != nil || h.Data == f.Data {
		t.Errorf("other torrents share state %s (%v)", h.Data, err)
	}
	// --data given: used as is, still only the torrents given.
	mine := t.TempDir()
	d := engineFlags{Data: mine}
	if err := d.oneShotState(srcs(a)); err != nil || d.Data != mine || len(d.restoreOnly) != 1 {
		t.Errorf("--data %s became %s, restoreOnly %v (%v)", mine, d.Data, d.restoreOnly, err)
	}
	if _, err := parseSources([]string{a, "/nonexistent.torrent"}); err == nil {
		t.Error("a missing source was accepted")
	}
}

// TestSuspiciousFlag: --suspicious, or WGTORRENT_SUSPICIOUS, reaches the
// engine of the download, the TUI and the daemon's worker; another value
// is refused.
func TestSuspiciousFlag(t *testing.T) {
	parse := func(args ...string) (*cli, error) {
		var c cli
		k, err := kong.New(&c, kong.Name("wgtorrent"), kong.DefaultEnvars("WGTORRENT"),
			kong.Vars{"data_dir": t.TempDir()}, kong.Configuration(envFirstJSON))
		if err != nil {
			t.Fatal(err)
		}
		_, err = k.Parse(args)
		return &c, err
	}
	c, err := parse("--config", "wg0.conf", "--suspicious", "skip", "--magnet", "x")
	if err != nil || c.Download.engineFlags.options(nil).Suspicious != client.SuspectSkip {
		t.Errorf("download --suspicious skip: %v, %q", err, c.Download.Suspicious)
	}
	if c, err = parse("tui", "--config", "wg0.conf"); err != nil || c.TUI.engineFlags.options(nil).Suspicious != client.SuspectWarn {
		t.Errorf("tui by default: %v, %q", err, c.TUI.Suspicious)
	}
	t.Setenv("WGTORRENT_SUSPICIOUS", "pause")
	if c, err = parse("tui", "--config", "wg0.conf"); err != nil || c.TUI.engineFlags.options(nil).Suspicious != client.SuspectPause {
		t.Errorf("tui with WGTORRENT_SUSPICIOUS=pause: %v, %q", err, c.TUI.Suspicious)
	}
	if c, err = parse("daemon", "--config", "wg0.conf", "--data", t.TempDir()); err != nil || c.Daemon.Suspicious != "pause" {
		t.Errorf("daemon with WGTORRENT_SUSPICIOUS=pause: %v, %q", err, c.Daemon.Suspicious)
	}
	if _, err := parse("--config", "wg0.conf", "--suspicious", "delete", "--magnet", "x"); err == nil {
		t.Error("--suspicious delete accepted")
	}
}
