package client

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// trapPiece is the piece length of trapContent: every file but the last
// fills whole pieces, so none shares a piece with another.
const trapPiece = 16 << 10

// trapContent writes the usual trap under root/name: a Windows program
// named as a film (film.mkv.exe, a tiny PE header), a "sample" whose bytes
// are a Linux program, and an ordinary film and subtitles. It returns the
// metainfo.
func trapContent(t *testing.T, root, name string) []byte {
	t.Helper()
	pe := make([]byte, 256)
	copy(pe, "MZ")
	pe[0x3c] = 0x80
	copy(pe[0x80:], "PE\x00\x00")
	for _, f := range []struct {
		path string
		head []byte
		size int
	}{
		{"film.mkv.exe", pe, trapPiece},
		{"movie.mkv", []byte("\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska"), 4 * trapPiece},
		{"sample.mkv", []byte("\x7fELF\x02\x01\x01\x00"), 4 * trapPiece},
		{"subs.srt", []byte("1\n00:00:01,000 --> 00:00:04,000\nHello\n"), 0},
	} {
		b := make([]byte, max(f.size, len(f.head)))
		rand.Read(b)
		copy(b, f.head)
		full := filepath.Join(root, name, f.path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	info := metainfo.Info{PieceLength: trapPiece}
	if err := info.BuildFromFilePath(filepath.Join(root, name)); err != nil {
		t.Fatal(err)
	}
	mi := metainfo.MetaInfo{InfoBytes: bencode.MustMarshal(info)}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// trapSwarm: an engine seeding trapContent, and a leecher with policy
// downloading it into dl.
func trapSwarm(t *testing.T, policy SuspectPolicy) (seed, leech *Engine, root, dl string, id TorrentID) {
	t.Helper()
	root = t.TempDir()
	mi := trapContent(t, root, "trap")
	seed = newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: root, Seed: true})
	id, err := addMetainfo(seed, mi, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, seed, id, 20*time.Second)
	dl = t.TempDir()
	leech = newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: dl, Suspicious: policy})
	if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	return seed, leech, root, dl, id
}

// warned maps the warnings by file name (the last part of the path).
func warned(st Stats) map[string]Warning {
	m := map[string]Warning{}
	for _, w := range st.Warnings {
		m[w.Path[strings.LastIndexByte(w.Path, '/')+1:]] = w
	}
	return m
}

func bothFlagged(st Stats) bool {
	w := warned(st)
	return w["film.mkv.exe"].Code == "double-extension" && w["sample.mkv"].Code == "content"
}

func fileNamed(t *testing.T, e *Engine, id TorrentID, name string) File {
	t.Helper()
	files, err := e.Files(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f.Path, "/"+name) {
			return f
		}
	}
	t.Fatalf("no %s among %+v", name, files)
	return File{}
}

// TestSuspiciousWarn: the default reports a program named as a film by
// name and a "sample" that is an ELF program by its first bytes, and
// downloads everything.
func TestSuspiciousWarn(t *testing.T) {
	_, leech, root, dl, id := trapSwarm(t, "")
	waitDone(t, leech, id, 30*time.Second)
	st := waitStats(t, leech, id, 10*time.Second, "both flagged", bothFlagged)
	w := warned(st)
	if len(w) != 2 || !strings.Contains(w["sample.mkv"].Reason, "Linux program (ELF)") ||
		!strings.Contains(w["film.mkv.exe"].Reason, "Windows program (.exe)") || w["film.mkv.exe"].Path != "trap/film.mkv.exe" {
		t.Errorf("warnings %+v: want film.mkv.exe by name and sample.mkv by content, nothing else", st.Warnings)
	}
	if st.Held != "" || st.State != StateSeeding {
		t.Errorf("warn only: state %s, held %q", st.State, st.Held)
	}
	sameTree(t, filepath.Join(root, "trap"), filepath.Join(dl, "trap"))
}

// TestSuspiciousSkip: the program named as a film is never requested; the
// ELF "sample" only as far as the piece holding its first bytes, then
// left out; the rest completes. A restart keeps both out and the
// warnings; a file the user turns back on stays on.
func TestSuspiciousSkip(t *testing.T) {
	_, leech, root, dl, id := trapSwarm(t, SuspectSkip)
	waitDone(t, leech, id, 30*time.Second)
	st := waitStats(t, leech, id, 10*time.Second, "both flagged", bothFlagged)
	if st.State != StateSeeding {
		t.Errorf("the rest complete: state %s", st.State)
	}
	for _, name := range []string{"movie.mkv", "subs.srt"} {
		want, _ := os.ReadFile(filepath.Join(root, "trap", name))
		got, err := os.ReadFile(filepath.Join(dl, "trap", name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v, identical %v", name, err, bytes.Equal(got, want))
		}
	}
	if _, err := os.Stat(filepath.Join(dl, "trap", "film.mkv.exe")); !os.IsNotExist(err) {
		t.Errorf("film.mkv.exe is on disk (%v): it was fetched", err)
	}
	exe, sample := fileNamed(t, leech, id, "film.mkv.exe"), fileNamed(t, leech, id, "sample.mkv")
	if exe.Priority != PriorityOff || exe.BytesCompleted != 0 || sample.Priority != PriorityOff || sample.BytesCompleted != trapPiece {
		t.Errorf("film.mkv.exe %+v, sample.mkv %+v: want both off, nothing of the first fetched, the first piece of the second", exe, sample)
	}
	want, _ := os.ReadFile(filepath.Join(root, "trap", "sample.mkv"))
	got, _ := os.ReadFile(filepath.Join(dl, "trap", "sample.mkv"))
	if len(got) < trapPiece || !bytes.Equal(got[:trapPiece], want[:trapPiece]) || bytes.Contains(got[trapPiece:], want[trapPiece:trapPiece+64]) {
		t.Errorf("sample.mkv on disk: %d bytes: want its first piece and nothing after", len(got))
	}

	// Restarted: still left out, still warned; the user turns film.mkv.exe
	// back on, and that holds across another restart.
	dataDir := leech.o.DataDir
	leech.Close()
	again := newEngine(t, Options{DataDir: dataDir, DownloadDir: dl, Suspicious: SuspectSkip})
	st = waitStats(t, again, id, 10*time.Second, "flagged after a restart", bothFlagged)
	if st.State != StateSeeding {
		t.Errorf("after a restart: state %s", st.State)
	}
	if f := fileNamed(t, again, id, "sample.mkv"); f.Priority != PriorityOff {
		t.Errorf("sample.mkv after a restart: %+v", f)
	}
	exe = fileNamed(t, again, id, "film.mkv.exe")
	if err := again.SetFilePriority(id, exe.Index, PriorityNormal); err != nil {
		t.Fatal(err)
	}
	again.Close()
	third := newEngine(t, Options{DataDir: dataDir, DownloadDir: dl, Suspicious: SuspectSkip})
	waitStats(t, third, id, 10*time.Second, "flagged after a second restart", bothFlagged)
	if f := fileNamed(t, third, id, "film.mkv.exe"); f.Priority != PriorityNormal {
		t.Errorf("film.mkv.exe turned on by the user, after a restart: %+v", f)
	}
}

// TestSuspiciousPause: the torrent is held before anything is requested;
// resumed, it downloads until the ELF "sample" holds it again (a new
// finding); resumed again it completes, and a restart does not hold it.
func TestSuspiciousPause(t *testing.T) {
	_, leech, root, dl, id := trapSwarm(t, SuspectPause)
	st := waitStats(t, leech, id, 10*time.Second, "held", func(st Stats) bool { return st.Held != "" })
	if st.State != StatePaused || st.Downloaded != 0 || len(st.Warnings) != 1 || !strings.Contains(st.Held, "1 suspicious file") {
		t.Errorf("held: %+v; want paused with nothing downloaded, for film.mkv.exe", st)
	}
	if err := leech.Resume(id); err != nil {
		t.Fatal(err)
	}
	st = waitStats(t, leech, id, 30*time.Second, "held again for sample.mkv", func(st Stats) bool { return st.Held != "" && bothFlagged(st) })
	if st.State != StatePaused || !strings.Contains(st.Held, "2 suspicious file") {
		t.Errorf("held again: %+v", st)
	}
	if err := leech.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
	sameTree(t, filepath.Join(root, "trap"), filepath.Join(dl, "trap"))

	dataDir := leech.o.DataDir
	leech.Close()
	again := newEngine(t, Options{DataDir: dataDir, DownloadDir: dl, Suspicious: SuspectPause})
	st = waitStats(t, again, id, 10*time.Second, "flagged after a restart", bothFlagged)
	if st.Held != "" || st.State != StateSeeding {
		t.Errorf("after resuming past its findings and a restart: state %s, held %q", st.State, st.Held)
	}
}

func TestParseSuspectPolicy(t *testing.T) {
	for in, want := range map[string]SuspectPolicy{"": SuspectWarn, "warn": SuspectWarn, "skip": SuspectSkip, "pause": SuspectPause} {
		if got, err := ParseSuspectPolicy(in); err != nil || got != want {
			t.Errorf("ParseSuspectPolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSuspectPolicy("delete"); err == nil {
		t.Error(`"delete" accepted`)
	}
}
