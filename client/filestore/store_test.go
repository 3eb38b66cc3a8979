package filestore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// fixture is a two-file torrent whose pieces straddle the file boundary,
// its content, and a store to put it in.
type fixture struct {
	info    *metainfo.Info
	ih      metainfo.Hash
	content []byte
	state   string
	dir     string
}

const pieceLen = 32 << 10

func newFixture(t *testing.T) *fixture {
	t.Helper()
	src := t.TempDir()
	content := make([]byte, 5*pieceLen+1000)
	rand.Read(content)
	split := 2*pieceLen + 5000 // file a ends inside piece 2
	if err := os.MkdirAll(filepath.Join(src, "t"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, "t", "a"), content[:split], 0o644)
	os.WriteFile(filepath.Join(src, "t", "b"), content[split:], 0o644)
	info := &metainfo.Info{PieceLength: pieceLen}
	if err := info.BuildFromFilePath(filepath.Join(src, "t")); err != nil {
		t.Fatal(err)
	}
	return &fixture{info: info, ih: metainfo.HashBytes([]byte(t.Name())), content: content,
		state: t.TempDir(), dir: t.TempDir()}
}

func (f *fixture) open(t *testing.T, o Options) (*Store, *storage.Torrent) {
	t.Helper()
	o.StateDir = f.state
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.TorrentDir = func(*metainfo.Info, metainfo.Hash) string { return f.dir }
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	tor, err := storage.NewClient(s).OpenTorrent(context.Background(), f.info, f.ih)
	if err != nil {
		t.Fatal(err)
	}
	return s, tor
}

func (f *fixture) piece(tor *storage.Torrent, i int) storage.Piece {
	p := f.info.Piece(i)
	return tor.PieceWithHash(p, g.Some(p.V1Hash().Unwrap().Bytes()))
}

// download writes piece i in 16 KiB blocks, last block first (peers
// deliver out of order), and checks its hash as anacrolix does.
func (f *fixture) download(t *testing.T, tor *storage.Torrent, i int) {
	t.Helper()
	p := f.piece(tor, i)
	start, n := f.info.Piece(i).Offset(), f.info.Piece(i).Length()
	var offs []int64
	for off := int64(0); off < n; off += 16 << 10 {
		offs = append([]int64{off}, offs...)
	}
	for _, off := range offs {
		end := min(off+16<<10, n)
		if _, err := p.WriteAt(f.content[start+off:start+end], off); err != nil {
			t.Fatal(err)
		}
	}
	f.verify(t, p, i)
	if err := p.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkComplete(); err != nil {
		t.Fatal(err)
	}
}

// downloadAndClose fetches the whole torrent into a store, then closes it.
func (f *fixture) downloadAndClose(t *testing.T) {
	s, tor := f.open(t, Options{})
	f.downloadAll(t, tor)
	tor.Close()
	s.Close()
}

// verify hashes piece i as anacrolix does (through WriteTo).
func (f *fixture) verify(t *testing.T, p storage.Piece, i int) {
	t.Helper()
	h := sha1.New()
	if _, err := p.WriteTo(h); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), f.info.Piece(i).V1Hash().Unwrap().Bytes()) {
		t.Fatalf("piece %d: hash of what was written is wrong", i)
	}
}

func (f *fixture) downloadAll(t *testing.T, tor *storage.Torrent) {
	for i := range f.info.NumPieces() {
		f.download(t, tor, i)
	}
}

func complete(p storage.Piece) bool {
	c := p.Completion()
	return c.Ok && c.Complete
}

func TestDownloadLandsInFilesAndSurvivesRestart(t *testing.T) {
	for _, budget := range []int64{0, -1} { // buffered, and written through
		t.Run(map[int64]string{0: "buffered", -1: "write-through"}[budget], func(t *testing.T) {
			f := newFixture(t)
			s, tor := f.open(t, Options{BufferBytes: budget})
			f.downloadAll(t, tor)
			var got []byte
			for _, name := range []string{"a", "b"} {
				b, err := os.ReadFile(filepath.Join(f.dir, "t", name))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b...)
			}
			if !bytes.Equal(got, f.content) {
				t.Fatal("files on disk differ from the torrent's content")
			}
			if err := tor.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, tor = f.open(t, Options{})
			defer s.Close()
			for i := range f.info.NumPieces() {
				if !complete(f.piece(tor, i)) {
					t.Errorf("piece %d not complete after restart", i)
				}
			}
			// Seeding reads come from disk.
			b := make([]byte, 100)
			if _, err := f.piece(tor, 3).ReadAt(b, 10); err != nil || !bytes.Equal(b, f.content[3*pieceLen+10:][:100]) {
				t.Fatalf("read back piece 3: %v", err)
			}
		})
	}
}

// TestRecordOnlyAfterSync: completion reaches the disk at a flush, not
// before (it must not get ahead of the data).
func TestRecordOnlyAfterSync(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{FlushInterval: time.Hour})
	defer s.Close()
	f.download(t, tor, 0)
	rec := filepath.Join(f.state, "pieces", f.ih.HexString())
	if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record written before any sync: %v", err)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(rec); err != nil {
		t.Fatalf("record not written by Flush: %v", err)
	}
}

func TestFreshTorrentNeedsNoVerifying(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{})
	defer s.Close()
	for i := range f.info.NumPieces() {
		if c := f.piece(tor, i).Completion(); !c.Ok || c.Complete {
			t.Errorf("piece %d of a torrent with no files: %+v, want known incomplete", i, c)
		}
	}
}

func TestExistingDataIsVerified(t *testing.T) {
	f := newFixture(t)
	os.MkdirAll(filepath.Join(f.dir, "t"), 0o755)
	os.WriteFile(filepath.Join(f.dir, "t", "a"), f.content[:2*pieceLen+5000], 0o644)
	s, tor := f.open(t, Options{})
	defer s.Close()
	// Pieces 0-2 touch file a: unknown, so anacrolix hashes them.
	// Pieces 3-5 lie wholly in the missing file b.
	for i, want := range []bool{false, false, false, true, true, true} {
		if c := f.piece(tor, i).Completion(); c.Ok != want || c.Complete {
			t.Errorf("piece %d: %+v, want Ok=%v", i, c, want)
		}
	}
}

func TestDeletedFileIsNoLongerComplete(t *testing.T) {
	f := newFixture(t)
	f.downloadAndClose(t)
	os.Remove(filepath.Join(f.dir, "t", "b"))

	s, tor := f.open(t, Options{})
	defer s.Close()
	for i, want := range []bool{true, true, false, false, false, false} {
		if got := complete(f.piece(tor, i)); got != want {
			t.Errorf("piece %d complete = %v, want %v", i, got, want)
		}
	}
}

// TestFailedRecheckIsSavedAtOnce: a piece the saved record calls complete
// is about to be overwritten once it fails; a crash then must not find it
// complete.
func TestFailedRecheckIsSavedAtOnce(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{FlushInterval: time.Hour})
	f.downloadAll(t, tor)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.piece(tor, 1).MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	r := &record{path: filepath.Join(f.state, "pieces", f.ih.HexString())}
	if err := r.load(f.info.NumPieces()); err != nil {
		t.Fatal(err)
	}
	if _, have := r.get(1); have {
		t.Fatal("record on disk still calls piece 1 complete")
	}
	if _, have := r.get(0); !have {
		t.Fatal("record on disk lost piece 0")
	}
	s.Close()
}

// TestRemovedTorrentStartsAfresh: once a torrent is removed its record is
// gone for good, whether its storage closed before the removal (the sync
// goes on in the background) or after it.
func TestRemovedTorrentStartsAfresh(t *testing.T) {
	for _, closeFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("close first %v", closeFirst), func(t *testing.T) {
			f := newFixture(t)
			s, tor := f.open(t, Options{FlushInterval: time.Hour})
			f.downloadAll(t, tor)
			if closeFirst {
				tor.Close()
			} else {
				s.Flush()
			}
			if err := s.Forget(f.ih); err != nil {
				t.Fatal(err)
			}
			if !closeFirst {
				tor.Close()
			}
			s.Close()
			if _, err := os.Stat(filepath.Join(f.state, "pieces", f.ih.HexString())); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("record of a removed torrent: %v", err)
			}
		})
	}
}

// TestReopenWhileClosing: a moved torrent is reopened before the old
// instance's sync is done; it must see every piece the old one completed.
func TestReopenWhileClosing(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{FlushInterval: time.Hour})
	defer s.Close()
	f.downloadAll(t, tor)
	tor.Close()
	tor2, err := storage.NewClient(s).OpenTorrent(context.Background(), f.info, f.ih)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.info.NumPieces() {
		if !complete(f.piece(tor2, i)) {
			t.Errorf("piece %d not complete in the reopened torrent", i)
		}
	}
}

func TestDamagedRecordMeansVerify(t *testing.T) {
	f := newFixture(t)
	f.downloadAndClose(t)
	rec := filepath.Join(f.state, "pieces", f.ih.HexString())
	b, _ := os.ReadFile(rec)
	b[len(b)-6] ^= 1
	os.WriteFile(rec, b, 0o600)

	s, tor := f.open(t, Options{})
	defer s.Close()
	if c := f.piece(tor, 0).Completion(); c.Ok {
		t.Fatalf("piece 0 with a damaged record: %+v, want unknown", c)
	}
}

func TestSecondProcessIsRefused(t *testing.T) {
	f := newFixture(t)
	s, _ := f.open(t, Options{})
	defer s.Close()
	_, err := Open(Options{StateDir: f.state})
	if err == nil || !strings.Contains(err.Error(), "another wgtorrent") {
		t.Fatalf("second Open: %v", err)
	}
}

func TestUnsafePathRefused(t *testing.T) {
	s, err := Open(Options{StateDir: t.TempDir(), TorrentDir: func(*metainfo.Info, metainfo.Hash) string { return t.TempDir() }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := &metainfo.Info{Name: "t", PieceLength: pieceLen, Pieces: make([]byte, 20),
		Files: []metainfo.FileInfo{{Length: 10, Path: []string{"..", "..", "evil"}}}}
	if _, err := s.OpenTorrent(context.Background(), info, metainfo.Hash{1}); err == nil {
		t.Fatal("a torrent writing outside its directory was opened")
	}
}

// TestWriteErrorKeepsPiece: a verified piece that cannot be written is
// reported, stays readable from memory, and is completed by Retry once
// the problem is gone.
func TestWriteErrorKeepsPiece(t *testing.T) {
	f := newFixture(t)
	var reported []error
	var mu sync.Mutex
	s, tor := f.open(t, Options{OnWriteError: func(ih metainfo.Hash, err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	}})
	defer s.Close()
	// A directory where file b should be: writing it fails.
	blocker := filepath.Join(f.dir, "t", "b")
	os.MkdirAll(blocker, 0o755)

	p := f.piece(tor, 4)
	start := f.info.Piece(4).Offset()
	if _, err := p.WriteAt(f.content[start:start+pieceLen], 0); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkComplete(); err == nil {
		t.Fatal("MarkComplete succeeded without writing")
	}
	if len(reported) != 1 {
		t.Fatalf("write errors reported: %v", reported)
	}
	if complete(p) {
		t.Fatal("piece marked complete though not written")
	}
	// anacrolix believes it complete and may serve it: from memory.
	b := make([]byte, 10)
	if _, err := p.ReadAt(b, 0); err != nil || !bytes.Equal(b, f.content[start:][:10]) {
		t.Fatalf("read of the unwritten piece: %v", err)
	}
	os.Remove(blocker)
	if err := s.Retry(f.ih); err != nil {
		t.Fatal(err)
	}
	if !complete(p) {
		t.Fatal("piece not complete after Retry")
	}
	got, _ := os.ReadFile(blocker)
	inB := start - (2*pieceLen + 5000)
	if int64(len(got)) < inB+pieceLen || !bytes.Equal(got[inB:inB+pieceLen], f.content[start:start+pieceLen]) {
		t.Fatal("file b does not hold piece 4's data after Retry")
	}
}

func TestHandlesClosedOnlyWhenIdle(t *testing.T) {
	dir := t.TempDir()
	c := newHandles(1)
	a, err := c.acquire(filepath.Join(dir, "a"), true, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.acquire(filepath.Join(dir, "b"), true, 10)
	if err != nil {
		t.Fatal(err)
	}
	// Over the limit, but both in use: nothing closed under its user.
	if _, err := a.WriteAt([]byte("x"), 0); err != nil {
		t.Fatalf("handle a closed while in use: %v", err)
	}
	c.release(a) // now idle and least recently used: closed
	if _, err := a.WriteAt([]byte("x"), 0); err == nil {
		t.Fatal("idle handle over the limit was kept open")
	}
	c.forget([]string{b.path}) // in use: closed at release
	if _, err := b.WriteAt([]byte("y"), 0); err != nil {
		t.Fatalf("forgotten handle closed while in use: %v", err)
	}
	c.release(b)
	if _, err := b.WriteAt([]byte("y"), 0); err == nil {
		t.Fatal("forgotten handle still open after release")
	}
	if st, _ := os.Stat(filepath.Join(dir, "a")); st.Size() != 10 {
		t.Fatalf("new file not allocated to its size: %d bytes", st.Size())
	}
}

// TestConcurrentWritesAndFlushes: blocks arrive from several peers at once
// while the flusher runs and the buffer budget runs out (run with -race).
func TestConcurrentWritesAndFlushes(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{FlushInterval: time.Millisecond, BufferBytes: 2 * pieceLen})
	defer s.Close()
	var wg sync.WaitGroup
	for i := range f.info.NumPieces() {
		p := f.piece(tor, i)
		start, n := f.info.Piece(i).Offset(), f.info.Piece(i).Length()
		for off := int64(0); off < n; off += 4 << 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				end := min(off+4<<10, n)
				if _, err := p.WriteAt(f.content[start+off:start+end], off); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	for i := range f.info.NumPieces() {
		p := f.piece(tor, i)
		f.verify(t, p, i)
		if err := p.MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	if s.buffered.Load() != 0 {
		t.Fatalf("%d bytes of piece buffers still held after every piece completed", s.buffered.Load())
	}
}

// Pieces hash themselves (anacrolix then skips its per-block smart-ban
// pass) until one fails its hash: anacrolix hashes that one, so that its
// smart ban can name the peer that sent bad data.
func TestSelfHashUntilAFailure(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{})
	defer s.Close()
	defer tor.Close()
	selfHash := func(i int) (metainfo.Hash, bool) {
		sh, ok := f.piece(tor, i).PieceImpl.(storage.SelfHashing)
		if !ok {
			return metainfo.Hash{}, false
		}
		sum, err := sh.SelfHash()
		if err != nil {
			t.Fatal(err)
		}
		return sum, true
	}
	p := f.piece(tor, 1)
	start := f.info.Piece(1).Offset()
	bad := bytes.Clone(f.content[start : start+pieceLen])
	bad[100] ^= 1
	if _, err := p.WriteAt(bad, 0); err != nil {
		t.Fatal(err)
	}
	if sum, ok := selfHash(1); !ok || sum == f.info.Piece(1).V1Hash().Unwrap() {
		t.Fatalf("self hash of bad data: %v (self-hashing %v)", sum, ok)
	}
	if err := p.MarkNotComplete(); err != nil { // what anacrolix does on a failed hash
		t.Fatal(err)
	}
	if _, ok := selfHash(1); ok {
		t.Error("a piece that failed its hash still hashes itself: smart ban cannot name the peer")
	}
	f.download(t, tor, 1) // anacrolix's way: WriteTo
	f.download(t, tor, 2)
	if sum, ok := selfHash(2); !ok || sum != f.info.Piece(2).V1Hash().Unwrap() {
		t.Errorf("self hash of a good piece: %v (self-hashing %v)", sum, ok)
	}
}

// TestOnVerified: a piece's owner is told once its data is in its files,
// and Verified agrees by then (the engine reads the first bytes of files
// from disk when told).
func TestOnVerified(t *testing.T) {
	f := newFixture(t)
	var s *Store
	var told []int
	s, tor := f.open(t, Options{OnVerified: func(ih metainfo.Hash, i int) {
		if ih != f.ih || !s.Verified(ih, i) {
			t.Errorf("told of piece %d of %s before Verified says so", i, ih)
		}
		b, err := os.ReadFile(filepath.Join(f.dir, "t", "a"))
		if off := f.info.Piece(i).Offset(); i < 2 && (err != nil || !bytes.Equal(b[off:off+100], f.content[off:off+100])) {
			t.Errorf("told of piece %d before its data is in the file (%v)", i, err)
		}
		told = append(told, i)
	}})
	defer s.Close()
	if s.Verified(f.ih, 1) || s.Verified(f.ih, -1) || s.Verified(f.ih, 1<<20) {
		t.Error("Verified before anything was written, or of no piece")
	}
	f.download(t, tor, 1)
	f.download(t, tor, 0)
	if !slices.Equal(told, []int{1, 0}) || !s.Verified(f.ih, 0) || s.Verified(f.ih, 2) {
		t.Errorf("told of %v; want 1 then 0", told)
	}
}
