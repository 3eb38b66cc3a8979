package client

import (
	"fmt"
	"time"
)

// GoalMode says which seeding goal a torrent follows (Transmission's
// numbering of seedRatioMode and seedIdleMode).
type GoalMode int

const (
	GoalDefault GoalMode = 0 // the engine's default (SetSeedDefaults)
	GoalOwn     GoalMode = 1 // the torrent's own value
	GoalNone    GoalMode = 2 // seed without this limit
)

// SeedGoal says when a complete torrent stops seeding: at an upload ratio,
// or once it moved no data for a while. The engine keeps it with the
// torrent and enforces it; every front end reads and sets it here.
type SeedGoal struct {
	RatioMode GoalMode      `json:"ratio_mode,omitempty"`
	Ratio     float64       `json:"ratio,omitempty"` // with GoalOwn
	IdleMode  GoalMode      `json:"idle_mode,omitempty"`
	Idle      time.Duration `json:"idle,omitempty"` // with GoalOwn
}

// SeedDefaults is the goal of the torrents that follow the default; none
// unless set.
type SeedDefaults struct {
	Ratio   float64
	RatioOn bool
	Idle    time.Duration
	IdleOn  bool
}

// Check says whether the engine takes g.
func (g SeedGoal) Check() error {
	for _, m := range []GoalMode{g.RatioMode, g.IdleMode} {
		if m < GoalDefault || m > GoalNone {
			return fmt.Errorf("client: seeding goal mode %d: want 0 (default), 1 (own) or 2 (none)", m)
		}
	}
	if g.Ratio < 0 || g.Idle < 0 {
		return fmt.Errorf("client: seeding goal: negative ratio %g or idle time %s", g.Ratio, g.Idle)
	}
	return nil
}

// RatioLimit is the ratio at which the torrent stops, if any.
func (g SeedGoal) RatioLimit(d SeedDefaults) (float64, bool) {
	switch g.RatioMode {
	case GoalOwn:
		return g.Ratio, true
	case GoalNone:
		return 0, false
	}
	return d.Ratio, d.RatioOn
}

// IdleLimit is how long the torrent may move nothing before it stops, if
// at all.
func (g SeedGoal) IdleLimit(d SeedDefaults) (time.Duration, bool) {
	switch g.IdleMode {
	case GoalOwn:
		return g.Idle, true
	case GoalNone:
		return 0, false
	}
	return d.Idle, d.IdleOn
}

// reached says whether a seeding torrent met its goal: its ratio, or no
// data moved since lastActive for the idle time.
func (g SeedGoal) reached(d SeedDefaults, ratio float64, lastActive, now time.Time) bool {
	if limit, on := g.RatioLimit(d); on && ratio >= limit {
		return true
	}
	if idle, on := g.IdleLimit(d); on && !lastActive.IsZero() && now.Sub(lastActive) >= idle {
		return true
	}
	return false
}

// SetSeedGoal sets when the torrent stops seeding (kept across restarts).
func (e *Engine) SetSeedGoal(id TorrentID, g SeedGoal) error {
	if err := g.Check(); err != nil {
		return err
	}
	en, err := e.get(id)
	if err != nil {
		return err
	}
	_, err = e.updateRecord(en, func(r *record) { r.SeedGoal = g })
	e.notify()
	return err
}

// SetSeedDefaults sets the goal of the torrents that follow the default.
func (e *Engine) SetSeedDefaults(d SeedDefaults) {
	e.mu.Lock()
	e.seedDef = d
	e.mu.Unlock()
}

// stopAtGoal stops a torrent that reached its seeding goal and marks it
// finished.
func (e *Engine) stopAtGoal(en *entry, ratio float64) {
	e.stop(en, func(r *record) { r.Paused, r.Finished = true, true })
	e.log.Info("seeding goal reached, torrent stopped", "torrent", en.id, "ratio", ratio)
}
