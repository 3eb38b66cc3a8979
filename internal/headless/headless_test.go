package headless

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// fakeEngine completes a torrent a step at each Get; only the methods Run
// uses are implemented.
type fakeEngine struct {
	client.Controller
	mu     sync.Mutex
	added  []string
	addErr error
	steps  []client.Stats
	gets   int
}

func (f *fakeEngine) Add(_ context.Context, src string, _ client.AddOptions) (client.TorrentID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return "", f.addErr
	}
	f.added = append(f.added, src)
	return "aaaa", nil
}

func (f *fakeEngine) Get(client.TorrentID) (client.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.steps[min(f.gets, len(f.steps)-1)]
	f.gets++
	return st, nil
}

type fakeTunnel struct{}

func (fakeTunnel) Status() vpn.Status {
	return vpn.Status{State: vpn.StateUp, Warnings: []string{"AllowedIPs do not cover every IPv4 address"}}
}

func stats(done, length int64, state client.State, ratio float64) client.Stats {
	return client.Stats{ID: "aaaa", Name: "x", BytesCompleted: done, Length: length, State: state, Ratio: ratio, ETA: -1}
}

func TestRunReportsJSONUntilComplete(t *testing.T) {
	eng := &fakeEngine{steps: []client.Stats{
		stats(0, 0, client.StateMetadata, 0),
		stats(50, 100, client.StateDownloading, 0),
		stats(100, 100, client.StateSeeding, 0),
	}}
	var out bytes.Buffer
	err := Run(context.Background(), eng, fakeTunnel{}, Options{
		Sources: []string{"magnet:?xt=urn:btih:aaaa"}, Out: &out, Interval: time.Millisecond, KillSwitch: "armed",
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
	if last.BytesCompleted != 100 || last.Length != 100 || last.TunnelState != "up" || last.KillSwitch != "armed" || last.InfoHash != "aaaa" ||
		len(last.TunnelWarnings) != 1 {
		t.Errorf("last line %+v", last)
	}
}

func TestRunSeedsUntilRatio(t *testing.T) {
	eng := &fakeEngine{steps: []client.Stats{
		stats(100, 100, client.StateSeeding, 0.5),
		stats(100, 100, client.StateSeeding, 1.0),
		stats(100, 100, client.StateSeeding, 2.0),
	}}
	var out bytes.Buffer
	err := Run(context.Background(), eng, fakeTunnel{}, Options{
		Sources: []string{"x"}, Out: &out, Interval: time.Millisecond, Seed: true, SeedRatio: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if eng.gets != 3 {
		t.Errorf("stopped after %d reports, want 3 (ratio 2 reached at the third)", eng.gets)
	}
}

func TestRunErrors(t *testing.T) {
	bad := &fakeEngine{addErr: errors.New("client: bad magnet link: no info hash")}
	err := Run(context.Background(), bad, fakeTunnel{}, Options{Sources: []string{"magnet:?"}, Out: &bytes.Buffer{}})
	if !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "bad magnet") {
		t.Errorf("bad source: %v, want ErrInput naming the problem", err)
	}
	if err := Run(context.Background(), bad, fakeTunnel{}, Options{Out: &bytes.Buffer{}}); !errors.Is(err, ErrInput) {
		t.Errorf("no sources: %v, want ErrInput", err)
	}
	full := &fakeEngine{steps: []client.Stats{{ID: "aaaa", Name: "x", Length: 100, State: client.StateError, Error: "disk full: no space left on device"}}}
	err = Run(context.Background(), full, fakeTunnel{}, Options{Sources: []string{"x"}, Out: &bytes.Buffer{}, Interval: time.Millisecond})
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
	eng := &fakeEngine{steps: []client.Stats{stats(50, 100, client.StateDownloading, 0)}}
	err = Run(context.Background(), eng, fakeTunnel{}, Options{Sources: []string{"x"}, Out: w, Interval: time.Millisecond})
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
