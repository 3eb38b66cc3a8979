package client

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSeedGoalReached(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	defaults := SeedDefaults{Ratio: 2, RatioOn: true, Idle: 30 * time.Minute, IdleOn: true}
	for _, tc := range []struct {
		name    string
		goal    SeedGoal
		d       SeedDefaults
		ratio   float64
		idle    time.Duration
		reached bool
	}{
		{"default ratio met", SeedGoal{}, defaults, 2, 0, true},
		{"default ratio not met", SeedGoal{}, defaults, 1.9, time.Minute, false},
		{"defaults off", SeedGoal{}, SeedDefaults{Ratio: 2}, 5, time.Hour, false},
		{"own ratio below the default", SeedGoal{RatioMode: GoalOwn, Ratio: 0.5}, defaults, 0.5, 0, true},
		{"no ratio limit", SeedGoal{RatioMode: GoalNone, IdleMode: GoalNone}, defaults, 100, time.Hour, false},
		{"default idle met", SeedGoal{RatioMode: GoalNone}, defaults, 0, 30 * time.Minute, true},
		{"own idle", SeedGoal{RatioMode: GoalNone, IdleMode: GoalOwn, Idle: time.Minute}, defaults, 0, time.Minute, true},
		{"own idle not met", SeedGoal{RatioMode: GoalNone, IdleMode: GoalOwn, Idle: time.Hour}, defaults, 0, 59 * time.Minute, false},
	} {
		if got := tc.goal.reached(tc.d, tc.ratio, now.Add(-tc.idle), now); got != tc.reached {
			t.Errorf("%s: reached = %v", tc.name, got)
		}
	}
	if err := (SeedGoal{RatioMode: 3}).Check(); err == nil {
		t.Error("mode 3 accepted")
	}
	if err := (SeedGoal{Ratio: -1}).Check(); err == nil {
		t.Error("a negative ratio accepted")
	}
}

// TestSeederStopsAtGoal: a seeder with a ratio goal of its own stops once
// a leecher took the whole torrent (ratio 1), says Finished, and keeps the
// goal in its record; the leecher, whose goal follows defaults that are
// off, seeds on.
func TestSeederStopsAtGoal(t *testing.T) {
	seed, _, mi, id := seeder(t, Options{})
	goal := SeedGoal{RatioMode: GoalOwn, Ratio: 0.5, IdleMode: GoalNone}
	if err := seed.SetSeedGoal(id, goal); err != nil {
		t.Fatal(err)
	}
	if st, _ := seed.Get(id); st.Finished || st.State != StateSeeding {
		t.Fatalf("before any upload: %s, finished %v", st.State, st.Finished)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	changed := seed.Subscribe(ctx)
	leech := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
	if _, err := addMetainfo(leech, mi, AddOptions{Peers: []netip.AddrPort{selfAddr(seed)}}); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leech, id, 30*time.Second)
	for {
		st, _ := seed.Get(id)
		if st.Finished {
			if st.State != StatePaused || st.Ratio < 0.5 || st.SeedGoal != goal {
				t.Errorf("stopped at its goal: %s, ratio %g, goal %+v", st.State, st.Ratio, st.SeedGoal)
			}
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("seeder never stopped at ratio 0.5: %+v", st)
		}
	}
	var rec record
	b, err := os.ReadFile(recordStore{dir: filepath.Join(seed.o.DataDir, "torrents")}.recordPath(string(id)))
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil || !rec.Finished || rec.SeedGoal != goal {
		t.Errorf("saved record: %+v, %v", rec, err)
	}
	if st, _ := leech.Get(id); st.Finished || st.State != StateSeeding {
		t.Errorf("leecher without a goal: %s, finished %v", st.State, st.Finished)
	}
	// Resumed by the user, it seeds on: one goal stops it once.
	if err := seed.Resume(id); err != nil {
		t.Fatal(err)
	}
	seed.sample(time.Now())
	if st, _ := seed.Get(id); st.State != StateSeeding || !st.Finished {
		t.Errorf("resumed after its goal: %s, finished %v", st.State, st.Finished)
	}
}

// TestIdleGoalCountsFromStart: a torrent that completed long before this
// engine started is not stopped at once by an idle goal: what moved before
// the start is unknown, so idle time counts from it.
func TestIdleGoalCountsFromStart(t *testing.T) {
	seed, _, _, id := seeder(t, Options{})
	if err := seed.SetSeedGoal(id, SeedGoal{RatioMode: GoalNone, IdleMode: GoalOwn, Idle: time.Hour}); err != nil {
		t.Fatal(err)
	}
	en, _ := seed.get(id)
	seed.mu.Lock()
	en.rec.DoneAt = seed.started.Add(-10 * time.Hour) // as restored from an old record
	seed.mu.Unlock()
	seed.sample(seed.started.Add(time.Minute))
	if st, _ := seed.Get(id); st.Finished {
		t.Fatal("stopped a minute after the start by a one-hour idle goal")
	}
	seed.sample(seed.started.Add(2 * time.Hour))
	if st, _ := seed.Get(id); !st.Finished || st.State != StatePaused {
		t.Errorf("two idle hours after the start: %s, finished %v", st.State, st.Finished)
	}
}
