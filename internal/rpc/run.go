package rpc

import (
	"context"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
)

// Run enforces the seeding goals (seedRatioLimit, idle-seeding-limit) the
// way Transmission does, by stopping a complete torrent that reached its
// goal and reporting it as isFinished, which *arr tools wait for before
// removing it. It returns when ctx ends or the engine closes.
func (s *Server) Run(ctx context.Context) {
	for range s.engine.Subscribe(ctx) {
		s.mu.Lock()
		s.enforceSeedGoalsLocked()
		s.mu.Unlock()
		// Notifications meanwhile wait in the channel (one is enough).
		select {
		case <-ctx.Done():
			return
		case <-time.After(enforceEvery):
		}
	}
}

// enforceEvery bounds how often Run walks every torrent. The engine notifies
// on every add and every verification besides once a second; with a walk
// per notification, adding a seedbox's 1000 torrents took time quadratic in
// their number.
const enforceEvery = time.Second

func (s *Server) enforceSeedGoalsLocked() {
	now := s.o.Now()
	changed := false
	for _, t := range s.syncLocked() {
		ts := s.st.byHash[t.ID]
		if t.State != client.StateSeeding || ts == nil || ts.Finished {
			continue
		}
		v := &view{s: s, t: t, ts: ts, got: map[string]bool{}}
		reached := false
		if limit, on := v.seedRatio(); on && t.Ratio >= limit {
			reached = true
		}
		if idle, on := s.idleLimit(ts); on {
			last := s.lastActive[t.ID]
			if last.IsZero() {
				last = t.DoneAt
			}
			if !last.IsZero() && now.Sub(last) >= time.Duration(idle)*time.Minute {
				reached = true
			}
		}
		if !reached {
			continue
		}
		if err := s.engine.Pause(t.ID); err != nil {
			s.log.Warn("rpc: stop torrent at its seeding goal", "torrent", t.ID, "err", err)
			continue
		}
		s.log.Info("rpc: seeding goal reached, torrent stopped", "torrent", t.ID, "ratio", t.Ratio)
		ts.Finished = true
		changed = true
	}
	if changed {
		s.saveLocked()
	}
}

func (s *Server) idleLimit(ts *torrentState) (minutes int, on bool) {
	switch ts.SeedIdleMode {
	case modeSingle:
		return ts.SeedIdleLimit, true
	case modeUnlimited:
		return 0, false
	}
	return s.st.sess.IdleSeedingLimit, s.st.sess.IdleSeedingLimitEnabled
}
