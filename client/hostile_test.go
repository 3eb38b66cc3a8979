package client

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/wgtorrent/wgtorrent/internal/lab/scriptedpeer"
)

// startScriptedPeer serves info on loopback.
func startScriptedPeer(t testing.TB, info []byte) (*scriptedpeer.Peer, netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := scriptedpeer.Start(ln, info)
	t.Cleanup(p.Close)
	return p, ln.Addr().(*net.TCPAddr).AddrPort()
}

// waitState waits until torrent id satisfies ok.
func waitStats(t *testing.T, e *Engine, id TorrentID, d time.Duration, what string, ok func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := e.Get(id)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s: %+v, %v", what, d, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHugePieceLengthRefused is issue 18's crash: a torrent with a piece
// length of 2^40 and a peer that has piece 0 and unchokes. By .torrent it
// is refused up front; by magnet its metadata is fetched, refused, and the
// torrent ends in an error state while another torrent downloads on; after
// a restart it stays refused without fetching again.
func TestHugePieceLengthRefused(t *testing.T) {
	info := scriptedpeer.HugePieceLength()
	peer, paddr := startScriptedPeer(t, info)
	seed, root, mi, goodID := seeder(t, Options{})

	dataDir, dl := t.TempDir(), t.TempDir()
	e := newEngine(t, Options{DataDir: dataDir, DownloadDir: dl})
	_, err := addMetainfo(e, scriptedpeer.TorrentFile(info), AddOptions{Peers: []netip.AddrPort{paddr}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), `"piece length"`) || !strings.Contains(err.Error(), "268435456") {
		t.Fatalf("Add of a 2^40 piece length = %v, want refused naming the field and the limit", err)
	}
	f := filepath.Join(t.TempDir(), "huge.torrent")
	if err := os.WriteFile(f, scriptedpeer.TorrentFile(info), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := addSource(e, f, AddOptions{}); !errors.Is(err, ErrRefused) {
		t.Fatalf("Add(%s) = %v, want refused", f, err)
	}
	if src, err := ParseSource(f); err != nil {
		t.Fatalf("ParseSource(%s) = %v", f, err)
	} else if _, err := src.Load(); !errors.Is(err, ErrRefused) {
		t.Fatalf("Load(%s) = %v, want refused", f, err)
	}

	if _, err := addMetainfo(e, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	id, err := addSource(e, scriptedpeer.Magnet(info), AddOptions{Peers: []netip.AddrPort{paddr}})
	if err != nil {
		t.Fatalf("Add magnet: %v", err)
	}
	st := waitStats(t, e, id, 20*time.Second, "error state", func(s Stats) bool { return s.State == StateError })
	if !strings.Contains(st.Error, "piece length") {
		t.Errorf("error %q does not name the piece length", st.Error)
	}
	if peer.MetaSent.Load() == 0 {
		t.Errorf("the scripted peer sent no metadata: the refusal was not of its info")
	}
	waitDone(t, e, goodID, 30*time.Second)
	sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))
	time.Sleep(500 * time.Millisecond)
	if n := peer.Requests.Load(); n != 0 {
		t.Errorf("%d block requests reached the scripted peer: the engine downloaded from a refused torrent", n)
	}
	e.Close()

	// The saved magnet comes back refused, and is not fetched again.
	sent := peer.MetaSent.Load()
	e2 := newEngine(t, Options{DataDir: dataDir, DownloadDir: dl})
	st, err = e2.Get(id)
	if err != nil || st.State != StateError || !strings.Contains(st.Error, "piece length") {
		t.Errorf("after a restart: %+v, %v; want the error state kept", st, err)
	}
	time.Sleep(time.Second)
	if n := peer.MetaSent.Load(); n != sent {
		t.Errorf("the refused magnet fetched its metadata again after the restart (%d pieces)", n-sent)
	}
}

// TestRestoreRefusesSavedHostileTorrent: a hostile .torrent that reached
// the state directory (by an older version, or by hand) is not restored;
// the engine starts and the others come back.
func TestRestoreRefusesSavedHostileTorrent(t *testing.T) {
	_, _, mi, goodID := seeder(t, Options{})
	dataDir := t.TempDir()
	e := newEngine(t, Options{DataDir: dataDir, DownloadDir: t.TempDir()})
	if _, err := addMetainfo(e, mi, AddOptions{Paused: true}); err != nil {
		t.Fatal(err)
	}
	e.Close()
	info := scriptedpeer.HugePieceLength()
	ih := filepath.Join(dataDir, "torrents", strings.ToLower(scriptedpeer.Magnet(info)[len("magnet:?xt=urn:btih:"):]))
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(ih+".torrent", scriptedpeer.TorrentFile(info), 0o600))
	must(os.WriteFile(ih+".json", []byte(`{"info_hash":"`+filepath.Base(ih)+`","download_dir":"`+t.TempDir()+`"}`), 0o600))

	e2 := newEngine(t, Options{DataDir: dataDir, DownloadDir: t.TempDir()})
	list := e2.List()
	if len(list) != 1 || list[0].ID != goodID {
		t.Errorf("restored %+v; want only %s", list, goodID)
	}
}

// TestMagnetMetadataAnacrolixRefuses: metadata that anacrolix refuses by
// its own checks, before storage, ends the magnet in an error naming the
// field instead of leaving it in "metadata", fetching again forever.
func TestMagnetMetadataAnacrolixRefuses(t *testing.T) {
	cases := []struct {
		name, field string
		info        map[string]any
	}{
		{"zero piece length", "piece length", map[string]any{"name": "zero", "length": 5000, "piece length": 0, "pieces": string(make([]byte, 20))}},
		{"piece count at odds", "pieces", map[string]any{"name": "odds", "length": 5000, "piece length": 16384, "pieces": string(make([]byte, 60))}},
	}
	e := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, err := bencode.Marshal(c.info)
			if err != nil {
				t.Fatal(err)
			}
			peer, paddr := startScriptedPeer(t, info)
			id, err := addSource(e, scriptedpeer.Magnet(info), AddOptions{Peers: []netip.AddrPort{paddr}})
			if err != nil {
				t.Fatalf("Add magnet: %v", err)
			}
			st := waitStats(t, e, id, 20*time.Second, "error state", func(s Stats) bool { return s.State == StateError })
			if !strings.Contains(st.Error, `"`+c.field+`"`) {
				t.Errorf("error %q does not name the field %q", st.Error, c.field)
			}
			if peer.MetaSent.Load() == 0 {
				t.Errorf("the scripted peer sent no metadata: the refusal was not of its info")
			}
		})
	}
}
