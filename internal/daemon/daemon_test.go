package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/clienttest"
	"github.com/wgtorrent/wgtorrent/vpn"
)

func TestWatcherAddsOnceAndKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Minute)
	eng := clienttest.New()
	dup := clienttest.Metainfo("dup")
	eng.Put(clienttest.Torrent{Stats: client.Stats{ID: clienttest.HashOf(dup)}})
	for name, body := range map[string][]byte{"good.torrent": clienttest.Metainfo("good"), "dup.torrent": dup,
		"bad.torrent": []byte("bad"), "fresh.torrent": clienttest.Metainfo("fresh")} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		if name != "fresh.torrent" {
			os.Chtimes(p, old, old)
		}
	}
	w := &watcher{dir: dir, eng: eng, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w.scan(context.Background())
	w.scan(context.Background())
	var added []string
	for _, st := range eng.List() {
		added = append(added, st.Name)
	}
	if !slices.Equal(added, []string{"", "good"}) {
		t.Errorf("torrents %q, want the one there and good, added once", added)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	var got []string
	for _, n := range names {
		got = append(got, filepath.Base(n))
	}
	want := "bad.torrent.invalid dup.torrent.added fresh.torrent good.torrent.added"
	if strings.Join(got, " ") != want {
		t.Errorf("files %v, want %s (nothing lost; a file still being written waits)", got, want)
	}
}

func TestHealth(t *testing.T) {
	up := vpn.Status{State: vpn.StateUp, LastHandshake: time.Now(), Endpoint: "198.18.2.2:51820"}
	armed := func() (bool, error) { return true, nil }
	cases := []struct {
		name   string
		st     vpn.Status
		ks     func() (bool, error)
		ok     bool
		reason string
	}{
		{"healthy", up, armed, true, "ok"},
		{"tunnel stale", vpn.Status{State: vpn.StateStale, LastHandshake: time.Now(), Endpoint: "e"}, armed, false, "tunnel stale"},
		{"old handshake", vpn.Status{State: vpn.StateUp, LastHandshake: time.Now().Add(-time.Hour), Endpoint: "e"}, armed, false, "no handshake"},
		{"kill switch gone", up, func() (bool, error) { return false, nil }, false, "kill switch not armed"},
		{"kill switch unknown", up, func() (bool, error) { return false, errors.New("netlink: EPERM") }, false, "unknown"},
	}
	for _, c := range cases {
		h := Health{Tunnel: func() vpn.Status { return c.st }, KillSwitch: c.ks}
		ok, reason := h.Healthy()
		if ok != c.ok || !strings.Contains(reason, c.reason) {
			t.Errorf("%s: (%v, %q), want (%v, ~%q)", c.name, ok, reason, c.ok, c.reason)
		}
	}
}
