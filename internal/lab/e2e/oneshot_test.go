//go:build linux

package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// announceLog is an HTTP tracker on the lab's peer host that records the
// info hash of every announce and answers with no peers.
type announceLog struct {
	mu   sync.Mutex
	seen map[string]int
	url  string
}

func startAnnounceLog(t *testing.T, lab *netlab.Lab) *announceLog {
	t.Helper()
	ln, err := lab.Peer.ListenTCP(net.JoinHostPort(lab.Peer.Addr4.String(), "0"))
	must(t, err)
	a := &announceLog{seen: map[string]int{}, url: fmt.Sprintf("http://%s/announce", ln.Addr())}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ih := r.URL.Query().Get("info_hash")
		a.mu.Lock()
		a.seen[hex.EncodeToString([]byte(ih))]++
		a.mu.Unlock()
		w.Write([]byte("d8:intervali60e5:peers0:e"))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

func (a *announceLog) hashes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for h := range a.seen {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// waitFor waits until the tracker has seen every one of want.
func (a *announceLog) waitFor(t *testing.T, p *proc, within time.Duration, want ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		seen := a.hashes()
		missing := false
		for _, w := range want {
			missing = missing || !slices.Contains(seen, w)
		}
		if !missing {
			return
		}
		select {
		case <-p.Exited():
			t.Fatalf("wgtorrent exited (%v) before announcing %v; stderr:\n%s", p.Err(), want, p.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tracker saw %v within %s, want %v", seen, within, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// saveTorrent writes a torrent into a state directory as the engine saves
// it (record and metainfo), announcing to trackerURL; no data exists.
func saveTorrent(t *testing.T, data, name, trackerURL string) string {
	t.Helper()
	pieces := make([]byte, 20)
	rand.Read(pieces)
	ib, err := bencode.Marshal(metainfo.Info{Name: name, Length: 5000, PieceLength: 16 << 10, Pieces: pieces})
	must(t, err)
	mi := metainfo.MetaInfo{InfoBytes: ib, Announce: trackerURL}
	var buf bytes.Buffer
	must(t, mi.Write(&buf))
	ih := mi.HashInfoBytes().HexString()
	dir := filepath.Join(data, "torrents")
	must(t, os.MkdirAll(dir, 0o700))
	must(t, os.WriteFile(filepath.Join(dir, ih+".torrent"), buf.Bytes(), 0o600))
	rec := fmt.Sprintf(`{"info_hash":%q,"download_dir":%q,"added_at":"2026-01-01T00:00:00Z"}`, ih, t.TempDir())
	must(t, os.WriteFile(filepath.Join(dir, ih+".json"), []byte(rec), 0o600))
	return ih
}

// TestOneShotAnnouncesOnlyItsTorrent: `wgtorrent --magnet X` with a
// populated state directory (the TUI's library) announces X and nothing
// else, seen from the tracker; with --data pointing at the library, the
// same. A daemon on that library is the positive control: it announces
// the saved torrents.
func TestOneShotAnnouncesOnlyItsTorrent(t *testing.T) {
	lab, _, conf := newLab(t, netlab.Options{})
	cl := lab.Client
	tr := startAnnounceLog(t, lab)
	stateHome := t.TempDir()
	library := filepath.Join(stateHome, "wgtorrent")
	saved := []string{saveTorrent(t, library, "saved-one", tr.url), saveTorrent(t, library, "saved-two", tr.url)}
	slices.Sort(saved)

	var ihb [20]byte
	rand.Read(ihb[:])
	mine := hex.EncodeToString(ihb[:])
	magnet := "magnet:?xt=urn:btih:" + mine + "&dn=mine&tr=" + tr.url
	env := []string{"XDG_STATE_HOME=" + stateHome}

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default state", nil},
		{"--data is the library", []string{"--data", library}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr.mu.Lock()
			clear(tr.seen)
			tr.mu.Unlock()
			args := append([]string{"--config", conf, "--out", t.TempDir(), "--json", "--no-dht", "--magnet", magnet}, tc.args...)
			p := startInNS(t, cl, env, wgtorrentBin, args...)
			tr.waitFor(t, p, 30*time.Second, mine)
			time.Sleep(5 * time.Second) // the other torrents would have announced by now
			if seen := tr.hashes(); !slices.Equal(seen, []string{mine}) {
				t.Errorf("the tracker saw %v, want only %s (saved: %v)", seen, mine, saved)
			}
			p.Signal(syscall.SIGINT) // a normal stop
			p.wait(20 * time.Second)
			assertNothingLeft(t, cl)
			if _, err := os.Stat(filepath.Join(library, "torrents", mine+".json")); tc.args == nil && err == nil {
				t.Errorf("the one-shot download saved its torrent into the library")
			}
		})
	}
	t.Run("daemon on the library announces it", func(t *testing.T) {
		tr.mu.Lock()
		clear(tr.seen)
		tr.mu.Unlock()
		p := startWgtorrent(t, cl, daemonArgs(conf, library, t.TempDir())...)
		tr.waitFor(t, p, 30*time.Second, saved...)
		stopDaemon(t, p)
	})
}
