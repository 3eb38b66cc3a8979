// Package loglimit bounds what a fault can write to the log. It wraps a
// slog.Handler: in each window, the first few records of a message pass;
// the rest of that message are counted and, at the window's end, written
// as one record with the last one's attributes, "repeated" (how many were
// held back) and "window". Past a budget of records a window, whatever the
// message, records are dropped and counted the same way. Issue 18: an
// unreachable DHT bootstrap wrote 768,748 lines (202 MB) in 25 s.
package loglimit

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Options of a limiter; zero values take the defaults.
type Options struct {
	// Window over which records are counted (1 minute).
	Window time.Duration
	// PerMessage records of one message (and level, and handler
	// attributes) pass each window (5).
	PerMessage int
	// Budget of records a window, all messages together (2000: at the
	// ~300 bytes of a long line, ~600 KB a minute).
	Budget int
	// Now, for tests.
	Now func() time.Time
}

func (o *Options) defaults() {
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.PerMessage <= 0 {
		o.PerMessage = 5
	}
	if o.Budget <= 0 {
		o.Budget = 2000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// New wraps h.
func New(h slog.Handler, o Options) slog.Handler {
	o.defaults()
	s := &state{o: o, root: h, counts: map[key]*count{}}
	return &handler{inner: h, s: s, id: new(byte)}
}

// handler is one view (WithAttrs/WithGroup) of a shared state.
type handler struct {
	inner slog.Handler
	s     *state
	id    *byte // tells derived handlers apart in keys
}

type key struct {
	id    *byte
	level slog.Level
	msg   string
}

type count struct {
	inner  slog.Handler
	passed int
	held   int
	last   slog.Record
}

type state struct {
	o    Options
	root slog.Handler // for the budget's summary

	mu      sync.Mutex
	start   time.Time // of the current window
	counts  map[key]*count
	total   int // records passed this window
	dropped int // held back by the budget, not by message
	timer   *time.Timer
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	return &handler{inner: h.inner.WithAttrs(as), s: h.s, id: new(byte)}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(name), s: h.s, id: new(byte)}
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	s := h.s
	s.mu.Lock()
	flush := s.rollLocked()
	k := key{h.id, r.Level, r.Message}
	c := s.counts[k]
	if c == nil && len(s.counts) < 4*s.o.Budget { // bounded memory for ever-new messages
		c = &count{inner: h.inner}
		s.counts[k] = c
	}
	pass := false
	switch {
	case c == nil:
		s.dropped++
	case c.passed >= s.o.PerMessage:
		c.held++
		c.last = r.Clone()
	case s.total >= s.o.Budget:
		s.dropped++
	default:
		c.passed++
		s.total++
		pass = true
	}
	if !pass {
		s.armLocked()
	}
	s.mu.Unlock()
	for _, f := range flush {
		f()
	}
	if pass {
		return h.inner.Handle(ctx, r)
	}
	return nil
}

// rollLocked starts a new window if the current one is over, and returns
// the summaries of the old one to write (outside the lock).
func (s *state) rollLocked() []func() {
	now := s.o.Now()
	if !s.start.IsZero() && now.Sub(s.start) < s.o.Window {
		return nil
	}
	var out []func()
	for k, c := range s.counts {
		if c.held > 0 {
			r := c.last
			r.AddAttrs(slog.Int("repeated", c.held), slog.Duration("window", s.o.Window))
			inner := c.inner
			out = append(out, func() { _ = inner.Handle(context.Background(), r) })
		}
		delete(s.counts, k)
	}
	if s.dropped > 0 {
		r := slog.NewRecord(now, slog.LevelWarn, "log lines dropped: more than the budget of the window", 0)
		r.AddAttrs(slog.Int("dropped", s.dropped), slog.Int("budget", s.o.Budget), slog.Duration("window", s.o.Window))
		inner := s.root
		out = append(out, func() { _ = inner.Handle(context.Background(), r) })
	}
	s.start, s.total, s.dropped = now, 0, 0
	return out
}

// armLocked makes sure the summaries of this window are written at its end
// even if nothing is logged after it. The timer's goroutine is the
// runtime's; it only ever takes s.mu and writes to the inner handler.
func (s *state) armLocked() {
	if s.timer != nil {
		return
	}
	d := s.o.Window - s.o.Now().Sub(s.start)
	s.timer = time.AfterFunc(max(d, 0)+time.Millisecond, func() {
		s.mu.Lock()
		s.timer = nil
		flush := s.rollLocked()
		s.mu.Unlock()
		for _, f := range flush {
			f()
		}
	})
}
