package rpc

import (
	"errors"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
)

// migrateSeedGoalsLocked hands the per-torrent seeding goals an older
// state file kept to the engine, which owns and enforces them now, and
// drops them from the file.
func (s *Server) migrateSeedGoalsLocked() {
	changed := false
	for hash, ts := range s.st.byHash {
		if ts.LegacySeedRatioMode == 0 && ts.LegacySeedIdleMode == 0 &&
			ts.LegacySeedRatioLimit == 0 && ts.LegacySeedIdleLimit == 0 {
			continue
		}
		if ts.LegacySeedRatioMode == 0 && ts.LegacySeedIdleMode == 0 {
			// Following the session's goal: the values never counted.
			ts.LegacySeedRatioLimit, ts.LegacySeedIdleLimit = 0, 0
			changed = true
			continue
		}
		g := client.SeedGoal{
			RatioMode: client.GoalMode(ts.LegacySeedRatioMode), Ratio: ts.LegacySeedRatioLimit,
			IdleMode: client.GoalMode(ts.LegacySeedIdleMode), Idle: time.Duration(ts.LegacySeedIdleLimit) * time.Minute,
		}
		if err := s.engine.SetSeedGoal(hash, g); err != nil && !errors.Is(err, client.ErrNotFound) {
			s.log.Warn("rpc: seeding goal of an older state file not kept", "torrent", hash, "err", err)
			continue
		}
		ts.LegacySeedRatioMode, ts.LegacySeedRatioLimit, ts.LegacySeedIdleMode, ts.LegacySeedIdleLimit = 0, 0, 0, 0
		changed = true
	}
	if changed {
		s.saveLocked()
	}
}
