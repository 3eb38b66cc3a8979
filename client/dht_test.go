package client

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/loglimit"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUnreachableDHTBootstrapLogIsBounded: with the DHT on and no
// bootstrap node reachable (one that does not answer, one that cannot be
// resolved), 30 s of an engine with a torrent wanting peers write a few
// lines, the failure once with its retry schedule, and start-up does not
// wait for the bootstrap. Before: 768,748 lines (202 MB) in 25 s.
func TestUnreachableDHTBootstrapLogIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s")
	}
	var buf lockedBuf
	log := slog.New(loglimit.New(slog.NewTextHandler(&buf, nil), loglimit.Options{}))
	start := time.Now()
	e := newEngine(t, Options{
		DataDir: t.TempDir(), DownloadDir: t.TempDir(), Logger: log,
		DHT: true, DHTBootstrap: []string{"127.0.0.1:9", "router.invalid:6881"},
	})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("start-up took %s with an unreachable DHT bootstrap", d)
	}
	if _, err := addSource(e, "magnet:?xt=urn:btih:"+strings.Repeat("ab", 20), AddOptions{}); err != nil {
		t.Fatal(err)
	}
	const span = 30 * time.Second
	time.Sleep(span)
	out := buf.String()
	lines := strings.Count(out, "\n")
	perMinute := float64(len(out)) * float64(time.Minute) / float64(span)
	t.Logf("%d bytes, %d lines in %s (%.0f bytes a minute):\n%s", len(out), lines, span, perMinute, out)
	if perMinute > 1<<20 {
		t.Errorf("%.0f bytes of log a minute, above 1 MiB", perMinute)
	}
	if n := strings.Count(out, "DHT bootstrap failed"); n != 1 || !strings.Contains(out, "retry=\""+dhtRetrySchedule) {
		t.Errorf("the bootstrap failure appears %d times, want once with its retry schedule", n)
	}
	if lines > 20 {
		t.Errorf("%d lines in %s, want a handful", lines, span)
	}
}
