package client

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// TestRestartKeepsTorrents: after a restart (the tunnel was rebuilt) the
// same handle lists the same torrents, and a download started before it
// completes after it.
func TestRestartKeepsTorrents(t *testing.T) {
	seed, root, mi, id := seeder(t, Options{})
	r, err := NewRestartable(context.Background(), Options{
		Binding:     Binding{IPv4: netip.MustParseAddr("127.0.0.1")},
		DataDir:     t.TempDir(),
		DownloadDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	changes := r.Subscribe(context.Background())
	if _, err := addMetainfo(r, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}, Paused: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := r.Get(id)
	if err != nil || st.State != StatePaused {
		t.Fatalf("after restart: %+v, %v; want the paused torrent back", st, err)
	}
	// The peer given at add time was saved with the torrent.
	if err := r.Resume(id); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.WaitComplete(ctx, id); err != nil {
		t.Fatal(err)
	}
	got, _ := r.Get(id)
	sameTree(t, root, got.DownloadDir)
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Error("Subscribe went quiet after the restart")
	}
}
