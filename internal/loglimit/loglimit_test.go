package loglimit

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFloodIsBounded: a fault logging one message in a tight loop, and
// another logging ever-new messages, write a bounded number of bytes, and
// the summary says how many were held back and what the last one was.
func TestFloodIsBounded(t *testing.T) {
	var buf syncBuf
	window := 300 * time.Millisecond
	log := slog.New(New(slog.NewTextHandler(&buf, nil), Options{Window: window, PerMessage: 3, Budget: 50}))
	sub := log.With("component", "dht")
	for i := range 100_000 {
		sub.Warn("error announcing to DHT", "err", "no initial nodes", "n", i)
	}
	for i := range 10_000 {
		log.Info(fmt.Sprintf("unique message %d", i))
	}
	log.Info("a different part") // other messages still pass
	time.Sleep(window + 200*time.Millisecond)
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(out) > 20_000 {
		t.Errorf("%d bytes, %d lines written for 110,000 records", len(out), len(lines))
	}
	if got := strings.Count(out, "error announcing to DHT"); got != 4 {
		t.Errorf("the repeated message appears %d times, want 3 and one summary:\n%s", got, out)
	}
	if !strings.Contains(out, "repeated=99997") || !strings.Contains(out, "n=99999") || !strings.Contains(out, "component=dht") {
		t.Errorf("no summary with the count, the last value and the handler's attributes:\n%s", out)
	}
	if !strings.Contains(out, "log lines dropped") || !strings.Contains(out, "dropped=") {
		t.Errorf("no summary of the records over the budget:\n%s", out)
	}
	t.Logf("%d bytes, %d lines:\n%s", len(out), len(lines), strings.Join(lines[len(lines)-3:], "\n"))
}

// TestQuietLogPassesUntouched: below the limits nothing changes.
func TestQuietLogPassesUntouched(t *testing.T) {
	var a, b syncBuf
	plain := slog.New(slog.NewTextHandler(&a, &slog.HandlerOptions{ReplaceAttr: noTime}))
	limited := slog.New(New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: noTime}), Options{}))
	for _, l := range []*slog.Logger{plain, limited} {
		l.Info("engine started", "listen", "10.0.0.2:6881")
		l.With("torrent", "abc").WithGroup("g").Warn("tracker error", "err", "timeout")
		l.Error("one", "n", 1)
		l.Error("one", "n", 2)
	}
	if a.String() != b.String() {
		t.Errorf("limited log differs:\n%s\nwant:\n%s", b.String(), a.String())
	}
}

func noTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}
