package client

import (
	"context"
	"fmt"
	"net"
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
	if err := r.Rebind(context.Background(), Binding{IPv4: netip.MustParseAddr("127.0.0.1")}); err != nil {
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

// TestNoListenUntilForwarded: with NoListen the engine accepts no
// connection, yet downloads by dialling out and names a port to forward;
// Relisten then opens exactly that port.
func TestNoListenUntilForwarded(t *testing.T) {
	seed, root, mi, id := seeder(t, Options{})
	r, err := NewRestartable(context.Background(), Options{
		Binding:     loopback,
		DataDir:     t.TempDir(),
		DownloadDir: t.TempDir(),
		NoListen:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	want := r.ForwardPort()
	if r.ListenPort() != 0 || want < 49152 {
		t.Fatalf("listen port %d, port to forward %d; want none and one of the dynamic range", r.ListenPort(), want)
	}
	if c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", want), time.Second); err == nil {
		c.Close()
		t.Fatalf("something accepts on the port to forward (%d) before it is forwarded", want)
	}
	if _, err := addMetainfo(r, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.WaitComplete(ctx, id); err != nil {
		t.Fatal(err)
	}
	got, _ := r.Get(id)
	sameTree(t, root, got.DownloadDir)

	// The gateway forwards another port: listen there.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := r.Relisten(context.Background(), port); err != nil {
		t.Fatal(err)
	}
	if r.ListenPort() != port || r.ForwardPort() != port {
		t.Errorf("after Relisten(%d): listening on %d, forwarding %d", port, r.ListenPort(), r.ForwardPort())
	}
	c, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		t.Fatalf("nothing accepts on the forwarded port: %v", err)
	}
	c.Close()
}
