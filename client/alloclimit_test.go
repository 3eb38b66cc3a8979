package client

import (
	"bytes"
	"context"
	"crypto/rand"
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
	id, err := seed.AddMetainfo(context.Background(), buf.Bytes(), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, seed, id, 20*time.Second)
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	if _, err := leech.AddMetainfo(context.Background(), buf.Bytes(), AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
}
