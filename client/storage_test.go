package client

import (
	"bytes"
	"crypto/rand"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// TestSeedsPastAllocLimit: a seeder keeps serving one peer well past the
// 2 MiB at which anacrolix v1.59.1's defaults stall the connection.
func TestSeedsPastAllocLimit(t *testing.T) {
	root := t.TempDir()
	full := filepath.Join(root, "payload", "big.bin")
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 12<<20)
	rand.Read(b)
	if err := os.WriteFile(full, b, 0o644); err != nil {
		t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: 256 << 10}
	if err := info.BuildFromFilePath(filepath.Join(root, "payload")); err != nil {
		t.Fatal(err)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := (&metainfo.MetaInfo{InfoBytes: ib}).Write(&buf); err != nil {
		t.Fatal(err)
	}
	seed := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: root, Seed: true})
	id, err := addMetainfo(seed, buf.Bytes(), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, seed, id, 20*time.Second)
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	if _, err := addMetainfo(leech, buf.Bytes(), AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
}

// TestSetLocationMovesData: moving a complete torrent keeps it complete
// and its files move with it; re-pointing it where nothing is verifies.
func TestSetLocationMovesData(t *testing.T) {
	seed, root, _, id := seeder(t, Options{})
	dst := t.TempDir()
	if err := seed.SetLocation(id, dst, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "payload")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old data still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "payload", "a.bin")); err != nil {
		t.Errorf("moved data missing: %v", err)
	}
	waitDone(t, seed, id, 10*time.Second)
	st, err := seed.Get(id)
	if err != nil || st.DownloadDir != dst {
		t.Fatalf("after move: dir %q err %v, want %s", st.DownloadDir, err, dst)
	}

	empty := t.TempDir()
	if err := seed.SetLocation(id, empty, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, _ = seed.Get(id)
		if st.BytesCompleted == 0 && st.State != StateChecking {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("re-pointed at an empty directory, still %d bytes complete (%s)", st.BytesCompleted, st.State)
		}
		time.Sleep(50 * time.Millisecond) // polling the engine's verification: no event for it
	}
}

// TestTorrentRateLimit: a per-torrent limit holds a download back (on
// loopback it would finish at once), and lifting it lets it finish.
func TestTorrentRateLimit(t *testing.T) {
	seed, root, mi, id := seeder(t, Options{})
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	if _, err := addMetainfo(leech, mi, AddOptions{Paused: true, Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	if err := leech.SetTorrentRateLimits(id, 100_000, 0); err != nil {
		t.Fatal(err)
	}
	if err := leech.Resume(id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // a measurement window, not a synchronisation
	st, _ := leech.Get(id)
	// 100 kB/s for 2 s, plus one burst (64 KiB) and what sits in socket buffers.
	if st.BytesCompleted >= st.Length || st.Downloaded > 600_000 {
		t.Fatalf("limited to 100 kB/s, yet %d of %d bytes after 2 s", st.Downloaded, st.Length)
	}
	// Progress counts verified pieces only; the rest is "unchecked". Whole
	// pieces are 64 KiB each, the last one shorter: it may be among them.
	const pieceLen = 64 << 10
	last := st.Length % pieceLen
	if whole := st.BytesCompleted%pieceLen == 0 || (st.BytesCompleted >= last && (st.BytesCompleted-last)%pieceLen == 0); !whole {
		t.Errorf("BytesCompleted = %d mid-download: not whole pieces (64 KiB, the last %d), so not only verified data", st.BytesCompleted, last)
	}
	if st.DownloadLimit != 100_000 {
		t.Errorf("Stats.DownloadLimit = %d, want 100000", st.DownloadLimit)
	}
	if err := leech.SetTorrentRateLimits(id, 0, 0); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 20*time.Second)
	got, _ := leech.Get(id)
	sameTree(t, root, got.DownloadDir)
}
