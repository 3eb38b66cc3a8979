package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

var loopback = Binding{IPv4: netip.MustParseAddr("127.0.0.1")}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CLIENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// makeContent writes a multi-file torrent payload under root/name and
// returns its metainfo bytes.
func makeContent(t *testing.T, root, name string) []byte {
	t.Helper()
	files := map[string]int{
		"a.bin":          300_000,
		"sub/b.bin":      1_234_567,
		"sub/deep/c.txt": 17,
	}
	for p, n := range files {
		full := filepath.Join(root, name, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, n)
		rand.Read(b)
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	info := metainfo.Info{PieceLength: 64 << 10}
	if err := info.BuildFromFilePath(filepath.Join(root, name)); err != nil {
		t.Fatal(err)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	mi := metainfo.MetaInfo{InfoBytes: ib, CreatedBy: "wgtorrent test"}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newEngine(t *testing.T, o Options) *Engine {
	t.Helper()
	if o.Binding.Interface == "" && !o.Binding.IPv4.IsValid() {
		o.Binding = loopback
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	e, err := New(context.Background(), o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	testEnginesMu.Lock()
	testEngines[t] = append(testEngines[t], e)
	testEnginesMu.Unlock()
	t.Cleanup(func() {
		testEnginesMu.Lock()
		delete(testEngines, t)
		testEnginesMu.Unlock()
	})
	return e
}

// testEngines are the engines of each running test, for dumpEngines.
var (
	testEnginesMu sync.Mutex
	testEngines   = map[*testing.T][]*Engine{}
)

// dumpEngines logs anacrolix's own view (peers, choke and interest,
// requests) of every engine of the test, so that a stall says which side
// held back; if that view cannot be had (a lock held), every goroutine.
func dumpEngines(t *testing.T) {
	testEnginesMu.Lock()
	es := slices.Clone(testEngines[t])
	testEnginesMu.Unlock()
	for i, e := range es {
		done := make(chan string, 1)
		go func() {
			var b bytes.Buffer
			e.cl.WriteStatus(&b)
			done <- b.String()
		}()
		select {
		case s := <-done:
			t.Logf("engine %d of %d (listen %v):\n%s", i+1, len(es), e.cl.ListenAddrs(), s)
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<22)
			t.Logf("engine %d: status blocked 5 s (anacrolix's lock held); goroutines:\n%s", i+1, buf[:runtime.Stack(buf, true)])
			return
		}
	}
}

// seeder starts an engine seeding fresh random content; it returns the
// engine, the content root, the metainfo and the torrent ID.
func seeder(t *testing.T, o Options) (*Engine, string, []byte, TorrentID) {
	t.Helper()
	root := t.TempDir()
	mi := makeContent(t, root, "payload")
	o.DataDir = t.TempDir()
	o.DownloadDir = root
	o.Seed = true
	e := newEngine(t, o)
	id, err := addMetainfo(e, mi, AddOptions{})
	if err != nil {
		t.Fatalf("seeder Add: %v", err)
	}
	waitDone(t, e, id, 20*time.Second)
	return e, root, mi, id
}

func waitDone(t *testing.T, e *Engine, id TorrentID, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := e.WaitComplete(ctx, id); err != nil {
		dumpEngines(t)
		st, _ := e.Get(id)
		t.Fatalf("WaitComplete %s: %v; stats %+v", id, err, st)
	}
}

func selfAddr(e *Engine) netip.AddrPort {
	return netip.AddrPortFrom(e.o.Binding.IPv4, uint16(e.ListenPort()))
}

func sameTree(t *testing.T, want, got string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		a, _ := os.ReadFile(p)
		b, err := os.ReadFile(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("downloaded file %s: %v", rel, err)
			return nil
		}
		if !bytes.Equal(a, b) {
			t.Errorf("file %s differs: want %d bytes, got %d", rel, len(a), len(b))
		}
		n++
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("compare trees: %v (%d files)", err, n)
	}
}

func TestDownloadFromSeeder(t *testing.T) {
	seed, root, mi, id := seeder(t, Options{})
	dl := t.TempDir()
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl})
	got, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}})
	if err != nil || got != id {
		t.Fatalf("Add = %q, %v; want %q", got, err, id)
	}
	waitDone(t, leech, id, 30*time.Second)
	sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))

	st, _ := leech.Get(id)
	if st.State != StateSeeding || st.BytesCompleted != st.Length || st.Downloaded < st.Length {
		t.Errorf("leecher stats after download: %+v", st)
	}
	if b, err := os.ReadFile(st.TorrentFile); err != nil || !bytes.Equal(b, mi) {
		t.Errorf("TorrentFile %q: %v, or not the .torrent added", st.TorrentFile, err)
	}
	files, _ := leech.Files(id)
	if len(files) != 3 {
		t.Errorf("Files: %+v", files)
	}
	p, _ := leech.Pieces(id)
	if p.Count == 0 || p.Complete != p.Count || !p.Has(p.Count-1) {
		t.Errorf("Pieces: count %d complete %d", p.Count, p.Complete)
	}

	// A second add of the same torrent says so and names it.
	_, err = addMetainfo(leech, mi, AddOptions{})
	var dup *DuplicateError
	if !errors.Is(err, ErrDuplicate) || !errors.As(err, &dup) || dup.ID != id {
		t.Errorf("duplicate add: %v", err)
	}
}

func TestMagnetFromPeer(t *testing.T) {
	seed, root, _, id := seeder(t, Options{})
	dl := t.TempDir()
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl})
	magnet := "magnet:?xt=urn:btih:" + string(id) + "&dn=payload"
	got, err := addSource(leech, magnet, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}})
	if err != nil || got != id {
		t.Fatalf("Add magnet = %q, %v", got, err)
	}
	waitDone(t, leech, id, 30*time.Second)
	sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))
	// The metainfo fetched over BEP 9 is saved for restarts.
	if _, err := os.Stat(filepath.Join(leech.o.DataDir, "torrents", string(id)+".torrent")); err != nil {
		t.Errorf("metainfo not saved: %v", err)
	}
}

func TestRestartResumes(t *testing.T) {
	seed, root, mi, id := seeder(t, Options{})
	dataDir, dl := t.TempDir(), t.TempDir()
	leech := newEngine(t, Options{DataDir: dataDir, DownloadDir: dl})
	if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
	before, _ := leech.Get(id)
	if err := leech.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	seedSent := seed.List()[0].Uploaded
	saved, _ := filepath.Glob(filepath.Join(dataDir, "torrents", "*"))
	inodes := fileInodes(t, saved)

	again := newEngine(t, Options{DataDir: dataDir, DownloadDir: dl})
	list := again.List()
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("after restart List = %+v", list)
	}
	waitDone(t, again, id, 10*time.Second)
	// A restart reads what was saved; rewriting it cost a seedbox two synced
	// writes a torrent on every start.
	if len(saved) != 2 || !maps.Equal(fileInodes(t, saved), inodes) {
		t.Errorf("restart rewrote the saved torrent (record and metainfo %v)", saved)
	}
	// Give a peer connection the chance to move data if it wrongly wanted to.
	time.Sleep(1500 * time.Millisecond)
	after, _ := again.Get(id)
	if after.BytesCompleted != after.Length || after.Downloaded != before.Downloaded {
		t.Errorf("restart re-downloaded: before %+v after %+v", before, after)
	}
	if !after.AddedAt.Equal(before.AddedAt) || after.DoneAt.IsZero() {
		t.Errorf("times not kept: before %+v after %+v", before, after)
	}
	if up := seed.List()[0].Uploaded; up != seedSent {
		t.Errorf("seeder uploaded %d more bytes after restart", up-seedSent)
	}
	sameTree(t, filepath.Join(root, "payload"), filepath.Join(dl, "payload"))
	// Nothing moved since: closing has nothing to save either.
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(fileInodes(t, saved), inodes) {
		t.Errorf("closing rewrote the record of a torrent that did not change")
	}
}

// fileInodes maps paths to their inode numbers: an atomic rewrite makes a
// new one.
func fileInodes(t *testing.T, paths []string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = fi.Sys().(*syscall.Stat_t).Ino
	}
	return out
}

func TestAddErrors(t *testing.T) {
	e := newEngine(t, Options{DataDir: t.TempDir()})
	tests := []struct {
		name, source, want string
	}{
		{"magnet without hash", "magnet:?dn=foo", "no BitTorrent v1 info hash"},
		{"magnet bad hash", "magnet:?xt=urn:btih:zzzz", "must be 40 hex or 32 base32 digits"},
		{"magnet two hashes", "magnet:?xt=urn:btih:" + strings.Repeat("a", 40) + "&xt=urn:btih:" + strings.Repeat("b", 40), "more than one infohash"},
		{"missing file", filepath.Join(t.TempDir(), "nope.torrent"), "not a magnet link, an info hash, or an existing .torrent file"},
		{"short hash", strings.Repeat("a", 39), "not a magnet link"},
		{"not hex", strings.Repeat("g", 40), "not a magnet link"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := addSource(e, tc.source, AddOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Add(%q) error = %v, want it to mention %q", tc.source, err, tc.want)
			}
		})
	}
	junk := filepath.Join(t.TempDir(), "junk.torrent")
	os.WriteFile(junk, []byte("not bencode"), 0o644)
	if _, err := addSource(e, junk, AddOptions{}); err == nil || !strings.Contains(err.Error(), "not a valid .torrent file") {
		t.Errorf("junk torrent: %v", err)
	}
	// A bare info hash is accepted (as a magnet) and a second add is a duplicate.
	h := strings.Repeat("ab", 20)
	id, err := addSource(e, strings.ToUpper(h), AddOptions{Paused: true})
	if err != nil || id != TorrentID(h) {
		t.Fatalf("Add(hash) = %q, %v", id, err)
	}
	if _, err := addSource(e, "magnet:?xt=urn:btih:"+h, AddOptions{}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate via magnet: %v", err)
	}
	if _, err := e.Get("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(bad id): %v", err)
	}
}

func TestPauseStopsTransfer(t *testing.T) {
	// A slow seeder so the download is still running when we pause.
	seed, _, mi, id := seeder(t, Options{MaxUploadRate: 200_000})
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, _ := leech.Get(id)
		if st.Downloaded > 100_000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("download did not start: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := leech.Pause(id); err != nil {
		t.Fatal(err)
	}
	// In-flight chunks may still land just after the pause.
	time.Sleep(500 * time.Millisecond)
	paused, _ := leech.Get(id)
	time.Sleep(2 * time.Second)
	later, _ := leech.Get(id)
	if paused.State != StatePaused || later.Downloaded != paused.Downloaded || later.PeersConnected != 0 {
		t.Fatalf("paused torrent kept transferring: at pause %+v, 2s later %+v", paused, later)
	}
	if later.BytesCompleted == later.Length {
		t.Fatalf("test too fast: download finished before the pause (%+v)", later)
	}
	seed.SetRateLimits(0, 0)
	if err := leech.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
}

func TestUnwritableDownloadDir(t *testing.T) {
	seed, _, mi, id := seeder(t, Options{})
	parent := t.TempDir()
	bad := filepath.Join(parent, "file-not-dir")
	os.WriteFile(bad, nil, 0o644)
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	got, err := addMetainfo(leech, mi, AddOptions{DownloadDir: filepath.Join(bad, "x"), Peers: []netip.AddrPort{selfAddr(seed)}})
	if err != nil || got != id {
		t.Fatalf("Add: %v", err)
	}
	st, _ := leech.Get(id)
	if st.State != StateError || !strings.Contains(st.Error, "cannot be created") {
		t.Fatalf("stats with unwritable dir: %+v", st)
	}
	if err := leech.Resume(id); err == nil {
		t.Errorf("Resume succeeded with the directory still unusable")
	}
}

func TestRemoveDeletesData(t *testing.T) {
	seed, _, mi, id := seeder(t, Options{})
	dl := t.TempDir()
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl})
	addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}})
	waitDone(t, leech, id, 30*time.Second)
	if err := leech.Remove(id, true); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dl, "payload")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("payload still there: %v", err)
	}
	if len(leech.List()) != 0 {
		t.Errorf("List after remove: %+v", leech.List())
	}
	if _, err := os.Stat(filepath.Join(leech.o.DataDir, "torrents", string(id)+".json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("saved state still there: %v", err)
	}
}

// TestRestoreOnly: an engine told which torrents it works on (a one-shot
// download) leaves the other saved torrents on disk, unloaded.
func TestRestoreOnly(t *testing.T) {
	dataDir := t.TempDir()
	var ids []TorrentID
	e := newEngine(t, Options{DataDir: dataDir, DownloadDir: t.TempDir()})
	for _, name := range []string{"one", "two"} {
		id, err := addMetainfo(e, makeContent(t, t.TempDir(), name), AddOptions{Paused: true})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	e.Close()
	e2 := newEngine(t, Options{DataDir: dataDir, DownloadDir: t.TempDir(), RestoreOnly: ids[1:]})
	if list := e2.List(); len(list) != 1 || list[0].ID != ids[1] {
		t.Errorf("restored %+v, want only %s", list, ids[1])
	}
	e2.Close()
	e3 := newEngine(t, Options{DataDir: dataDir, DownloadDir: t.TempDir()})
	if n := len(e3.List()); n != 2 {
		t.Errorf("the library lost torrents: %d restored, want 2", n)
	}
}

// TestPartialSelectionCompletes: with one file unselected, the torrent is
// done (seeding, DoneAt set, WaitComplete returns, ETA 0) once the others
// are verified, as Transmission and the *arr tools count it, while the
// unselected file's own pieces are never fetched.
func TestPartialSelectionCompletes(t *testing.T) {
	seed, root, mi, id := seeder(t, Options{})
	dl := t.TempDir()
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl})
	if _, err := addMetainfo(leech, mi, AddOptions{Paused: true}); err != nil {
		t.Fatal(err)
	}
	files, err := leech.Files(id)
	if err != nil {
		t.Fatal(err)
	}
	big := -1
	for i, f := range files {
		if strings.HasSuffix(f.Path, "b.bin") {
			big = i
		}
	}
	if big < 0 {
		t.Fatalf("no b.bin among %+v", files)
	}
	if err := leech.SetFilePriority(id, big, PriorityOff); err != nil {
		t.Fatal(err)
	}
	if err := leech.Resume(id); err != nil {
		t.Fatal(err)
	}
	leech.dialAgain(metainfo.NewHashFromHex(string(id)), selfAddr(seed))
	waitDone(t, leech, id, 30*time.Second)
	st, _ := leech.Get(id)
	if st.State != StateSeeding || st.DoneAt.IsZero() || st.ETA != 0 || st.BytesCompleted >= st.Length {
		t.Errorf("after the selected files: %+v; want seeding, DoneAt set, ETA 0, and not the whole torrent", st)
	}
	for _, name := range []string{"a.bin", "sub/deep/c.txt"} {
		want, _ := os.ReadFile(filepath.Join(root, "payload", name))
		got, err := os.ReadFile(filepath.Join(dl, "payload", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, identical %v", name, err, bytes.Equal(got, want))
		}
	}
}

// addMetainfo and addSource add as the front ends do: parse, then Add.
func addMetainfo(c Controller, mi []byte, opts AddOptions) (TorrentID, error) {
	src, err := ParseMetainfo(mi)
	if err != nil {
		return "", err
	}
	return c.Add(context.Background(), src, opts)
}

func addSource(c Controller, s string, opts AddOptions) (TorrentID, error) {
	src, err := ParseSource(s)
	if err != nil {
		return "", err
	}
	return c.Add(context.Background(), src, opts)
}

// TestStalledWhenPeersSilent: a torrent whose connected seeder sends
// nothing any more (as in an outage, its connection still up) is stalled,
// not downloading.
func TestStalledWhenPeersSilent(t *testing.T) {
	old := stallAfter
	stallAfter = time.Second
	t.Cleanup(func() { stallAfter = old })
	seed, _, mi, id := seeder(t, Options{MaxUploadRate: 200_000})
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	waitStats(t, leech, id, 20*time.Second, "downloading", func(st Stats) bool {
		return st.State == StateDownloading && st.Downloaded > 100_000
	})
	seed.SetRateLimits(0, 1) // a byte a second: nothing a chunk can cross
	st := waitStats(t, leech, id, 20*time.Second, "stalled", func(st Stats) bool { return st.State == StateStalled })
	if st.PeersConnected == 0 {
		t.Errorf("the seeder's connection went: %+v; the test wants it kept and silent", st)
	}
}

// TestListenPortKeptAcrossRestarts: without a port given, an engine
// listens on the port its DataDir used last time; when that one is taken
// it takes another and keeps that.
func TestListenPortKeptAcrossRestarts(t *testing.T) {
	data := t.TempDir()
	first := newEngine(t, Options{DataDir: data})
	port := first.ListenPort()
	first.Close()
	again := newEngine(t, Options{DataDir: data})
	if got := again.ListenPort(); got != port {
		t.Errorf("restarted on port %d, want %d as before", got, port)
	}
	again.Close()

	taken, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", loopback.IPv4, port))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	other := newEngine(t, Options{DataDir: data})
	if got := other.ListenPort(); got == port || got == 0 {
		t.Fatalf("port %d taken: listening on %d, want another", port, got)
	}
	other.Close()
	taken.Close()
	if got := newEngine(t, Options{DataDir: data}).ListenPort(); got != other.ListenPort() {
		t.Errorf("after a start on another port: %d, want that one (%d) kept", got, other.ListenPort())
	}
}

// TestRestingSeedWakesWhenAPeerConnects: a complete torrent nobody is
// connected to is looked at only every quietEvery; a leecher connecting
// to it must still show as upload within a sampling round or two, not
// after the rest.
func TestRestingSeedWakesWhenAPeerConnects(t *testing.T) {
	seed, _, mi, id := seeder(t, Options{MaxUploadRate: 1_000_000})
	// Two sampling rounds: the torrent is at rest from the second.
	ticks := seed.Subscribe(t.Context())
	for range 3 {
		<-ticks
	}
	if st, _ := seed.Get(id); !st.LastActive.IsZero() {
		t.Fatalf("the seed moved data before any peer came: %+v", st)
	}
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		<-ticks
		st, _ := seed.Get(id)
		if st.UploadRate > 0 && !st.LastActive.IsZero() {
			d := time.Since(start)
			t.Logf("upload seen %s after the leecher came", d.Round(time.Millisecond))
			if d >= quietEvery/2 {
				t.Errorf("upload seen after %s: the resting torrent was not woken by the connection", d)
			}
			return
		}
		if time.Since(start) > 2*quietEvery {
			t.Fatalf("no upload seen on the seed %s after a leecher came: %+v", 2*quietEvery, st)
		}
	}
}
