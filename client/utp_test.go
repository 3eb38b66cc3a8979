package client

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// TestUTPDownload: with Options.UTP the engine downloads from a seeder it
// can reach by uTP only (an anacrolix client without TCP), and listens for
// TCP on uTP's port, so peers learn one port.
func TestUTPDownload(t *testing.T) {
	root := t.TempDir()
	mi := makeContent(t, root, "payload")
	seedAddr := utpSeeder(t, root, mi)

	dl := t.TempDir()
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl, UTP: true})
	if la := leech.cl.ListenAddrs(); len(la) != 2 || la[0].Network() == la[1].Network() || port(la[0]) != port(la[1]) {
		t.Errorf("listen addresses %v: want uTP and TCP on one port", la)
	}
	id, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{seedAddr}})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
	sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))
}

func port(a net.Addr) uint16 {
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Port()
}

// TestUTPPeerDroppedUnderTorrentLimit: a torrent with rate limits of its
// own keeps no uTP peer (anacrolix makes those connections, out of reach
// of our per-connection limiter): nothing comes from a uTP-only seeder
// while the limit is set, and the download completes once it is lifted.
func TestUTPPeerDroppedUnderTorrentLimit(t *testing.T) {
	root := t.TempDir()
	mi := makeContent(t, root, "payload")
	seedAddr := utpSeeder(t, root, mi)
	dl := t.TempDir()
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl, UTP: true})
	id, err := addMetainfo(leech, mi, AddOptions{Paused: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := leech.SetTorrentRateLimits(id, 100_000, 0); err != nil {
		t.Fatal(err)
	}
	if err := leech.Resume(id); err != nil {
		t.Fatal(err)
	}
	ih := metainfo.NewHashFromHex(string(id))
	leech.dialAgain(ih, seedAddr)
	time.Sleep(3 * time.Second) // a window for a connection that must not stay
	if st, _ := leech.Get(id); st.BytesCompleted != 0 || st.PeersConnected != 0 {
		t.Errorf("under a torrent limit: %d bytes from %d uTP peers, want none", st.BytesCompleted, st.PeersConnected)
	}
	if err := leech.SetTorrentRateLimits(id, 0, 0); err != nil {
		t.Fatal(err)
	}
	leech.dialAgain(ih, seedAddr)
	waitDone(t, leech, id, 30*time.Second)
	sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))
}

// utpSeeder seeds mi's content under root from an anacrolix client that
// has no TCP at all: reachable by uTP only.
func utpSeeder(t *testing.T, root string, mi []byte) netip.AddrPort {
	t.Helper()
	cfg := torrent.NewDefaultClientConfig()
	cfg.DataDir = root
	cfg.DefaultStorage = storage.NewFile(root)
	cfg.Seed = true
	cfg.DisableTCP = true
	cfg.NoDHT = true
	cfg.DisableIPv6 = true
	cfg.ListenHost = func(string) string { return "127.0.0.1" }
	cfg.ListenPort = 0
	cfg.NoDefaultPortForwarding = true
	seed, err := torrent.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seed.Close() })
	m, err := metainfo.Load(bytes.NewReader(mi))
	if err != nil {
		t.Fatal(err)
	}
	st, err := seed.AddTorrent(m)
	if err != nil {
		t.Fatal(err)
	}
	<-st.GotInfo()
	if err := st.VerifyDataContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.BytesMissing() != 0 {
		t.Fatalf("the uTP seeder lacks %d bytes of its own data", st.BytesMissing())
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(seed.LocalPort()))
}
