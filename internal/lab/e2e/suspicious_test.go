//go:build linux

package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab/labtest"
)

// trapPiece is the piece length of the trap torrent: every file but the
// last fills whole pieces, so none shares a piece with another and a file
// left out is never written.
const trapPiece = 16 << 10

// trapFiles is the usual trap of public trackers: a Windows program named
// as a film (a tiny PE header), a "sample" whose bytes are a Linux
// program, beside an ordinary film and its subtitles.
var trapFiles = []struct {
	path string
	head []byte
	size int
}{
	{"film.mkv.exe", tinyPE(), trapPiece},
	{"movie.mkv", []byte("\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska"), 16 * trapPiece},
	{"sample.mkv", []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"), 4 * trapPiece},
	{"subs.srt", []byte("1\n00:00:01,000 --> 00:00:04,000\nHello.\n\n2\n00:00:05,000 --> 00:00:07,000\nBye.\n"), 0},
}

// tinyPE is a DOS header pointing at a PE signature, as the smallest
// Windows programs begin.
func tinyPE() []byte {
	b := make([]byte, 256)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00\x4c\x01")
	return b
}

// makeTrapTorrent writes trapFiles (random bytes after each head) and
// makes their torrent, announcing to the lab's tracker.
func makeTrapTorrent(t *testing.T, lab *netlab.Lab) *swarmTorrent {
	t.Helper()
	dir := t.TempDir()
	nt := &netlab.Torrent{Root: filepath.Join(dir, "seed"), Name: "wgt-trap-" + lab.ID}
	for _, f := range trapFiles {
		b := make([]byte, max(f.size, len(f.head)))
		rand.Read(b)
		copy(b, f.head)
		p := filepath.Join(nt.Root, nt.Name, f.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, b, 0o644))
		nt.Files = append(nt.Files, netlab.ContentFile{Path: f.path, Size: int64(len(b))})
		nt.Size += int64(len(b))
	}
	mi, err := netlab.BuildTorrent(filepath.Join(nt.Root, nt.Name), fmt.Sprintf("http://%s:%d/announce", lab.Peer.Addr4, trackerPort), trapPiece)
	must(t, err)
	nt.File = filepath.Join(dir, nt.Name+".torrent")
	f, err := os.Create(nt.File)
	must(t, err)
	must(t, mi.Write(f))
	must(t, f.Close())
	nt.InfoHash = mi.HashInfoBytes().HexString()
	return &swarmTorrent{nt}
}

// newTrapSwarm is a lab whose Transmission seeder, found through
// opentracker, seeds the trap torrent.
func newTrapSwarm(t *testing.T) *swarm {
	t.Helper()
	labtest.SkipIfNotRoot(t)
	needPrograms(t, "wireguard-go", "wg", "opentracker", "transmission-daemon")
	lab, srv, conf := newLab(t, netlab.Options{})
	s := &swarm{lab: lab, srv: srv, conf: conf}
	s.tor = makeTrapTorrent(t, lab)
	s.tr = startTracker(t, lab, s.tor.InfoHash)
	s.seed = startSeeder(t, lab, s.tor)
	return s
}

// lineWarnings maps a JSON line's warnings by file name to "code: reason".
func lineWarnings(m map[string]any) map[string]string {
	out := map[string]string{}
	ws, _ := m["warnings"].([]any)
	for _, w := range ws {
		wm, _ := w.(map[string]any)
		p, _ := wm["path"].(string)
		out[path.Base(p)] = fmt.Sprintf("%v: %v", wm["code"], wm["reason"])
	}
	return out
}

// assertTrapFlagged: the program named as a film is flagged by its name,
// the ELF "sample" by its bytes, and nothing else.
func assertTrapFlagged(t *testing.T, warnings map[string]string) {
	t.Helper()
	if !strings.HasPrefix(warnings["film.mkv.exe"], "double-extension: a Windows program (.exe) made to look like a video (.mkv)") ||
		!strings.HasPrefix(warnings["sample.mkv"], "content: named as a video (.mkv) but its content is a Linux program (ELF)") ||
		len(warnings) != 2 {
		t.Errorf("warnings %v: want film.mkv.exe by its name and sample.mkv by its content, nothing else", warnings)
	}
}

func bothInLine(m map[string]any) bool {
	w := lineWarnings(m)
	return w["film.mkv.exe"] != "" && w["sample.mkv"] != ""
}

// TestSuspiciousFilesWarned: by default the download reports both
// suspicious files in its JSON lines, downloads everything and exits 0.
func TestSuspiciousFilesWarned(t *testing.T) {
	s := newTrapSwarm(t)
	out, data := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--torrent", s.tor.File)...)
	done := p.waitLine(60*time.Second, "download complete", complete)
	assertStatusLine(t, done, s.tor.InfoHash)
	assertTrapFlagged(t, lineWarnings(done))
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d once complete, want 0", code)
	}
	s.tor.assertIdentical(t, "download with --suspicious warn", out)
	if log := p.Stderr(); !strings.Contains(log, "suspicious files: not what their names say") || !strings.Contains(log, "film.mkv.exe") {
		t.Errorf("no log line names the suspicious files:\n%s", log)
	}
}

// TestSuspiciousFilesSkipped: with --suspicious skip the program named as
// a film is never fetched, the ELF "sample" only as far as the piece that
// shows its first bytes; the rest completes, identical to the source, and
// the download exits 0.
func TestSuspiciousFilesSkipped(t *testing.T) {
	s := newTrapSwarm(t)
	out, data := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--torrent", s.tor.File, "--suspicious", "skip")...)
	done := p.waitLine(60*time.Second, "the rest complete, both flagged", func(m map[string]any) bool {
		return m["state"] == "seeding" && bothInLine(m)
	})
	assertTrapFlagged(t, lineWarnings(done))
	// Verified: all but film.mkv.exe's one piece and sample.mkv's three
	// after its first.
	if got, want := num(done, "bytes_completed"), s.tor.Size-4*trapPiece; got != want {
		t.Errorf("bytes_completed %d, want %d: everything but the two files (the first piece of sample.mkv aside)", got, want)
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d once the rest is complete, want 0", code)
	}

	top, src := filepath.Join(out, s.tor.Name), filepath.Join(s.tor.Root, s.tor.Name)
	if _, err := os.Stat(filepath.Join(top, "film.mkv.exe")); !os.IsNotExist(err) {
		t.Errorf("film.mkv.exe is on disk (%v): it was fetched", err)
	}
	want, _ := os.ReadFile(filepath.Join(src, "sample.mkv"))
	got, err := os.ReadFile(filepath.Join(top, "sample.mkv"))
	if err != nil || len(got) < trapPiece || !bytes.Equal(got[:trapPiece], want[:trapPiece]) ||
		bytes.Contains(got[trapPiece:], want[trapPiece:trapPiece+256]) {
		t.Errorf("sample.mkv on disk: %d bytes (%v): want its first piece and nothing of the rest", len(got), err)
	}
	for _, f := range []string{"movie.mkv", "subs.srt"} {
		if err := netlab.SameFile(filepath.Join(src, f), filepath.Join(top, f)); err != nil {
			t.Error(err)
		}
	}
}

// TestDaemonSuspiciousFiles: the daemon, told WGTORRENT_SUSPICIOUS=skip,
// shows the torrent over RPC with the label "suspicious" and both files
// with their reasons in wgtorrentWarnings, leaves them unwanted, and
// finishes the rest.
func TestDaemonSuspiciousFiles(t *testing.T) {
	s := newTrapSwarm(t)
	cl := s.lab.Client
	out := t.TempDir()
	p := startInNS(t, cl, []string{"WGTORRENT_SUSPICIOUS=skip"}, wgtorrentBin, daemonArgs(s.conf, t.TempDir(), out)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 30*time.Second)
	id := c.addFile(t, s.tor.File, map[string]any{"labels": []string{"movies"}})

	type got struct {
		Status      int      `json:"status"`
		PercentDone float64  `json:"percentDone"`
		Labels      []string `json:"labels"`
		Warnings    string   `json:"wgtorrentWarnings"`
		Wanted      []int    `json:"wanted"`
		Files       []struct {
			Name string `json:"name"`
		} `json:"files"`
	}
	var last got
	pollDaemon(t, p, 60*time.Second, "seeding the rest, both flagged", func() (bool, string) {
		var out struct{ Torrents []got }
		c.call(t, "torrent-get", map[string]any{"ids": []int{id},
			"fields": []string{"status", "percentDone", "labels", "wgtorrentWarnings", "wanted", "files"}}, &out)
		if len(out.Torrents) != 1 {
			return false, fmt.Sprintf("%+v", out)
		}
		last = out.Torrents[0]
		return last.Status == 6 && strings.Contains(last.Warnings, "sample.mkv"), fmt.Sprintf("%+v", last)
	})
	if !slices.Equal(last.Labels, []string{"movies", "suspicious"}) || last.PercentDone != 1 {
		t.Errorf("labels %q, percentDone %v: want the client's label and \"suspicious\", the rest complete", last.Labels, last.PercentDone)
	}
	for _, want := range []string{
		s.tor.Name + "/film.mkv.exe: a Windows program (.exe) made to look like a video (.mkv)",
		s.tor.Name + "/sample.mkv: named as a video (.mkv) but its content is a Linux program (ELF)",
	} {
		if !strings.Contains(last.Warnings, want) {
			t.Errorf("wgtorrentWarnings %q lacks %q", last.Warnings, want)
		}
	}
	for i, f := range last.Files {
		name := path.Base(f.Name)
		if wanted := last.Wanted[i] == 1; wanted == (name == "film.mkv.exe" || name == "sample.mkv") {
			t.Errorf("%s: wanted %v", name, wanted)
		}
	}
	for _, f := range []string{"movie.mkv", "subs.srt"} {
		if err := netlab.SameFile(filepath.Join(s.tor.Root, s.tor.Name, f), filepath.Join(out, s.tor.Name, f)); err != nil {
			t.Error(err)
		}
	}
	stopDaemon(t, p)
}
