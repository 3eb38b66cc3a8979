//go:build linux

package client

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

const netnsChildEnv = "WGTORRENT_CLIENT_NETNS_CHILD"

// TestSocketsStayOnInterface runs the engine in a fresh network namespace
// (the test binary re-executes itself with CLONE_NEWNET, so nothing touches
// the host's network). Inside: lo, and a veth "wgt0" with 10.77.0.1 standing
// in for the tunnel. Two engines bound to wgt0 exchange a torrent and
// announce to a tracker on 10.77.0.1; every socket in the namespace must be
// bound to wgt0, and a tracker and a peer on 127.0.0.1 (reachable for any
// unbound socket) must never be contacted.
func TestSocketsStayOnInterface(t *testing.T) {
	if !inFreshNamespaces(t, syscall.CLONE_NEWNET) {
		return
	}

	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", "wgt0", "type", "veth", "peer", "name", "wgt1"},
		{"addr", "add", "10.77.0.1/24", "dev", "wgt0"},
		{"link", "set", "wgt0", "up"},
		{"link", "set", "wgt1", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	tunnelIP := netip.MustParseAddr("10.77.0.1")
	bind := Binding{Interface: "wgt0", IPv4: tunnelIP, DNS: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}

	var inTunnel, outside, lured atomic.Int32
	tunnelTracker := serveTracker(t, "10.77.0.1:0", &inTunnel)
	lanTracker := serveTracker(t, "127.0.0.1:0", &outside)
	lure, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lure.Close()
	go func() {
		for {
			c, err := lure.Accept()
			if err != nil {
				return
			}
			lured.Add(1)
			c.Close()
		}
	}()

	root := t.TempDir()
	raw := makeContent(t, root, "payload")
	mi, err := metainfo.Load(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	mi.AnnounceList = [][]string{
		{"http://" + tunnelTracker + "/announce"},
		{"http://" + lanTracker + "/announce"},
		{"http://tracker.invalid:80/announce"}, // resolved only via Binding.DNS
	}
	var sb strings.Builder
	mi.Write(&sb)
	withTrackers := []byte(sb.String())

	seed := newEngine(t, Options{Binding: bind, DataDir: t.TempDir(), DownloadDir: root, Seed: true, DHT: true})
	id, err := addMetainfo(seed, withTrackers, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, seed, id, 20*time.Second)

	dl := t.TempDir()
	leech := newEngine(t, Options{Binding: bind, DataDir: t.TempDir(), DownloadDir: dl, DHT: true})
	lureAddr := netip.MustParseAddrPort(lure.Addr().String())
	if _, err := addMetainfo(leech, withTrackers, AddOptions{
		Peers: []netip.AddrPort{lureAddr, netip.AddrPortFrom(tunnelIP, uint16(seed.ListenPort()))},
	}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
	sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))

	// Give the trackers and the lure time to be (wrongly) contacted.
	deadline := time.Now().Add(5 * time.Second)
	for inTunnel.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)

	out, err := exec.Command("ss", "-tuanH").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	engineSockets := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		local := f[4]
		if f[1] == "TIME-WAIT" {
			continue // closed sockets: the kernel no longer reports their device
		}
		// The test's own trackers and lure (listeners and accepted
		// connections) are plain sockets.
		if local == tunnelTracker || local == lanTracker || local == lure.Addr().String() {
			continue
		}
		if !strings.Contains(local, "%wgt0:") {
			t.Errorf("socket not bound to wgt0: %s", line)
			continue
		}
		engineSockets++
	}
	if engineSockets < 4 {
		t.Errorf("expected at least the 2 TCP listeners and 2 DHT sockets bound to wgt0, saw %d:\n%s", engineSockets, out)
	}
	if inTunnel.Load() == 0 {
		t.Errorf("tracker inside the tunnel was never announced to")
	}
	if n := outside.Load(); n != 0 {
		t.Errorf("tracker on 127.0.0.1 (outside the tunnel) got %d announces", n)
	}
	if n := lured.Load(); n != 0 {
		t.Errorf("peer on 127.0.0.1 (outside the tunnel) got %d connections", n)
	}
	trs, _ := leech.Trackers(id)
	t.Logf("trackers: %+v", trs)
	t.Logf("sockets:\n%s", out)
}

// inFreshNamespaces re-executes the running test in new namespaces (flags:
// CLONE_NEWNET, CLONE_NEWNS) and reports false in the parent, which has
// already checked the child's result; it reports true in the child, which
// runs the test body. Nothing the child does reaches the host's network or
// mounts, and the namespaces vanish with it.
func inFreshNamespaces(t *testing.T, flags uintptr) bool {
	t.Helper()
	if os.Getenv(netnsChildEnv) == t.Name() {
		if flags&syscall.CLONE_NEWNS != 0 {
			// Keep our mounts out of the host's mount table.
			if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
				t.Fatalf("make mounts private: %v", err)
			}
		}
		return true
	}
	testenv.NeedRoot(t, "runs in fresh network/mount namespaces")
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsChildEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("child in fresh namespaces failed: %v\n%s", err, out)
	}
	if testing.Verbose() {
		t.Logf("child output:\n%s", out)
	}
	return false
}

// TestDiskFull downloads into a 512 KiB tmpfs (in a private mount
// namespace): the torrent must stop in the error state saying the disk is
// full, and the process must survive. Given room and resumed, it must
// complete with every byte right: nothing verified was lost meanwhile.
func TestDiskFull(t *testing.T) {
	if !inFreshNamespaces(t, syscall.CLONE_NEWNET|syscall.CLONE_NEWNS) {
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=512k"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })

	seed, seedRoot, mi, id := seeder(t, Options{})
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: small})
	if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := leech.WaitComplete(ctx, id)
	st, _ := leech.Get(id)
	if err == nil || st.State != StateError || !strings.Contains(st.Error, "disk full") {
		t.Fatalf("WaitComplete = %v; stats %+v", err, st)
	}
	t.Logf("torrent stopped with: %s", st.Error)

	if err := syscall.Mount("tmpfs", small, "tmpfs", syscall.MS_REMOUNT, "size=8m"); err != nil {
		t.Fatalf("grow tmpfs: %v", err)
	}
	if err := leech.Resume(id); err != nil {
		t.Fatalf("Resume with room on the disk: %v", err)
	}
	waitDone(t, leech, id, 30*time.Second)
	got, _ := leech.Get(id)
	sameTree(t, seedRoot, got.DownloadDir)
}

// serveTracker runs a minimal HTTP tracker that counts announces and
// returns no peers.
func serveTracker(t *testing.T, addr string, hits *atomic.Int32) string {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := bencode.Marshal(map[string]any{"interval": 60, "peers": ""})
		w.Write(b)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
