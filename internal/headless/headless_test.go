package headless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/clienttest"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// scripted is an engine whose one torrent (ID aaaa…) reports steps, one
// a Get, and the source that adds it.
func scripted(t *testing.T, steps ...client.Stats) (*clienttest.Fake, []client.Source) {
	t.Helper()
	src, err := client.ParseSource(testHash)
	if err != nil {
		t.Fatal(err)
	}
	f := clienttest.New()
	f.Script(src.ID(), steps...)
	return f, []client.Source{src}
}

const testHash = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

type fakeTunnel struct{}

func (fakeTunnel) Status() vpn.Status {
	return vpn.Status{State: vpn.StateUp, Warnings: []string{"AllowedIPs do not cover every IPv4 address"}}
}

func stats(done, length int64, state client.State, ratio float64) client.Stats {
	return client.Stats{Name: "x", BytesCompleted: done, Length: length, State: state, Ratio: ratio, ETA: -1}
}

func TestRunReportsJSONUntilComplete(t *testing.T) {
	eng, sources := scripted(t,
		stats(0, 0, client.StateMetadata, 0),
		stats(50, 100, client.StateDownloading, 0),
		stats(100, 100, client.StateSeeding, 0),
	)
	var out bytes.Buffer
	err := Run(context.Background(), eng, fakeTunnel{}, Options{
		Sources: sources, Out: &out, Interval: time.Millisecond, KillSwitch: "armed",
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want one a report until complete:\n%s", len(lines), out.String())
	}
	var last Line
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil {
		t.Fatal(err)
	}
	if last.BytesCompleted != 100 || last.Length != 100 || last.TunnelState != "up" || last.KillSwitch != "armed" || last.InfoHash != testHash ||
		len(last.TunnelWarnings) != 1 {
		t.Errorf("last line %+v", last)
	}
}

func TestRunSeedsUntilRatio(t *testing.T) {
	finished := stats(100, 100, client.StatePaused, 2.0)
	finished.Finished = true // the engine stopped it at its goal
	eng, sources := scripted(t,
		stats(100, 100, client.StateSeeding, 0.5),
		stats(100, 100, client.StateSeeding, 1.0),
		finished,
	)
	var out bytes.Buffer
	err := Run(context.Background(), eng, fakeTunnel{}, Options{
		Sources: sources, Out: &out, Interval: time.Millisecond, Seed: true, SeedRatio: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("stopped after %d reports, want 3 (the engine stopped it at the third)", n)
	}
	if st, _ := eng.Get(sources[0].ID()); st.SeedGoal != (client.SeedGoal{RatioMode: client.GoalOwn, Ratio: 2, IdleMode: client.GoalNone}) {
		t.Errorf("the torrent's goal: %+v, want ratio 2 of its own", st.SeedGoal)
	}
}

func TestRunErrors(t *testing.T) {
	missing, err := client.ParseSource(filepath.Join(t.TempDir(), "gone.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), clienttest.New(), fakeTunnel{}, Options{Sources: []client.Source{missing}, Out: &bytes.Buffer{}})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "gone.torrent") {
		t.Errorf("missing file: %v, want ErrInput naming it", err)
	}
	if err := Run(context.Background(), clienttest.New(), fakeTunnel{}, Options{Out: &bytes.Buffer{}}); !errors.Is(err, ErrInput) {
		t.Errorf("no sources: %v, want ErrInput", err)
	}
	engErr, sources := scripted(t, client.Stats{Name: "x"})
	engErr.FailAdd(sources[0].String(), errors.New("client: engine closed"))
	if err := Run(context.Background(), engErr, fakeTunnel{}, Options{Sources: sources, Out: &bytes.Buffer{}}); err == nil || errors.Is(err, ErrInput) {
		t.Errorf("engine failure: %v, want an error that is not the user's input", err)
	}
	full, sources := scripted(t, client.Stats{Name: "x", Length: 100, State: client.StateError, Error: "disk full: no space left on device"})
	err = Run(context.Background(), full, fakeTunnel{}, Options{Sources: sources, Out: &bytes.Buffer{}, Interval: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "paused") {
		t.Errorf("torrent error: %v, want the message and that the torrent is paused", err)
	}
}

// TestRunStopsWhenNobodyReads: `wgtorrent --json ... | head` must end (and
// tear down) once head has gone, not download on into a closed pipe.
func TestRunStopsWhenNobodyReads(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	defer w.Close()
	eng, sources := scripted(t, stats(50, 100, client.StateDownloading, 0))
	err = Run(context.Background(), eng, fakeTunnel{}, Options{Sources: sources, Out: w, Interval: time.Millisecond})
	if !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("Run with its reader gone: %v, want EPIPE", err)
	}
}

func TestBarView(t *testing.T) {
	m := barModel{width: 100, lines: []Line{{Name: "ubuntu.iso", BytesCompleted: 50, Length: 100, DownloadRate: 2 << 20, Peers: 3, ETASeconds: 90, State: "downloading", TunnelState: "up", KillSwitch: "armed"}}}
	m.bar.Width = 10
	v := m.View()
	for _, want := range []string{"ubuntu.iso", "50.0%", "2.0 MiB/s", "3 peers", "ETA 1m30s", "tunnel up · kill switch armed"} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks %q:\n%s", want, v)
		}
	}
}

var trapWarnings = []client.Warning{
	{File: 0, Path: "trap/film.mkv.exe", Code: "double-extension", Reason: "a Windows program (.exe) made to look like a video (.mkv)"},
	{File: 2, Path: "trap/sample.mkv", Code: "content", Reason: "named as a video (.mkv) but its content is a Linux program (ELF)"},
}

// TestRunWarnsAndSkips: suspicious files are in every JSON line, and a
// torrent whose flagged files were left out (--suspicious skip) is done
// once the engine says seeding, with fewer bytes than its length.
func TestRunWarnsAndSkips(t *testing.T) {
	started, skipped := stats(0, 100, client.StateDownloading, 0), stats(80, 100, client.StateSeeding, 0)
	started.Warnings, skipped.Warnings = trapWarnings, trapWarnings
	eng, sources := scripted(t, started, skipped)
	var out bytes.Buffer
	if err := Run(context.Background(), eng, fakeTunnel{}, Options{Sources: sources, Out: &out, Interval: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var last Line
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || len(last.Warnings) != 2 || last.Warnings[1] != (client.Warning{File: 2, Path: "trap/sample.mkv", Code: "content", Reason: trapWarnings[1].Reason}) {
		t.Errorf("lines:\n%s\nwant two, the last with both warnings", out.String())
	}
	if !strings.Contains(lines[0], `"warnings":[{"file":0,"path":"trap/film.mkv.exe","code":"double-extension","reason":`) {
		t.Errorf("first line lacks the warnings as JSON: %s", lines[0])
	}
}

// TestRunHeld: a torrent the engine held for its suspicious files ends the
// run, saying which and what to do; a run with another policy resumes
// it.
func TestRunHeld(t *testing.T) {
	held := stats(0, 100, client.StatePaused, 0)
	held.Warnings, held.Held = trapWarnings[:1], "paused for 1 suspicious file(s): resume to download them anyway, or unselect them first"
	eng, sources := scripted(t, held)
	err := Run(context.Background(), eng, fakeTunnel{}, Options{Sources: sources, Out: &bytes.Buffer{}, Interval: time.Millisecond, Suspicious: client.SuspectPause})
	if err == nil || !strings.Contains(err.Error(), "1 suspicious file") || !strings.Contains(err.Error(), "--suspicious skip") {
		t.Errorf("held: %v, want the reason and what to run", err)
	}

	eng = clienttest.New()
	eng.Put(clienttest.Torrent{Stats: client.Stats{ID: sources[0].ID(), Name: "x", State: client.StatePaused, Held: held.Held, Length: 100, BytesCompleted: 100}})
	if err := Run(context.Background(), eng, fakeTunnel{}, Options{Sources: sources, Out: &bytes.Buffer{}, Interval: time.Millisecond, Suspicious: client.SuspectWarn}); err != nil {
		t.Fatal(err)
	}
	if calls := eng.Calls(); !slices.Contains(calls, "resume "+testHash) {
		t.Errorf("engine calls %q: want the held torrent resumed", calls)
	}
}

func TestBarViewWarnings(t *testing.T) {
	m := barModel{width: 100, lines: []Line{{Name: "trap", Length: 100, State: "paused", Warnings: trapWarnings, Held: "paused for 2 suspicious file(s)"}}}
	m.bar.Width = 10
	v := m.View()
	for _, want := range []string{"suspicious: trap/film.mkv.exe: a Windows program (.exe)", "suspicious: trap/sample.mkv: named as a video", "paused for 2 suspicious file(s)"} {
		if strings.Count(v, want) != 1 {
			t.Errorf("view shows %q %d times, want once:\n%s", want, strings.Count(v, want), v)
		}
	}
}
