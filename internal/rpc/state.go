package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/atomicfile"
)

// stateFile is the name of the file in Options.DataDir.
const stateFile = "rpc-state.json"

// torrentState is what the RPC layer remembers about one torrent beyond what
// the engine knows.
type torrentState struct {
	ID     int              `json:"id"`
	Hash   client.TorrentID `json:"hash"`
	Labels []string         `json:"labels,omitempty"`
	// Seeding goals were kept here until the engine owned them: read once
	// from an older state file, handed to the engine, and dropped.
	LegacySeedRatioLimit float64 `json:"seedRatioLimit,omitempty"`
	LegacySeedRatioMode  int     `json:"seedRatioMode,omitempty"`
	LegacySeedIdleLimit  int     `json:"seedIdleLimit,omitempty"`
	LegacySeedIdleMode   int     `json:"seedIdleMode,omitempty"`
	// The per-torrent speed limits (kB/s) a client set while they are
	// not in force: Transmission shows them so. What is in force is the
	// engine's (client.Stats.DownloadLimit), read from it.
	DownloadLimit int64 `json:"downloadLimit,omitempty"`
	UploadLimit   int64 `json:"uploadLimit,omitempty"`
	// Finished: stopped at its seeding goal before the engine kept that
	// (client.Stats.Finished); never set any more.
	Finished bool `json:"finished,omitempty"`
}

// sessionState is the session-wide settings the engine does not hold.
type sessionState struct {
	DownloadDir             string  `json:"downloadDir,omitempty"`
	SeedRatioLimit          float64 `json:"seedRatioLimit"`
	SeedRatioLimited        bool    `json:"seedRatioLimited"`
	IdleSeedingLimit        int     `json:"idleSeedingLimit"`
	IdleSeedingLimitEnabled bool    `json:"idleSeedingLimitEnabled"`
	// Speed limits in kB/s as the client set them; the engine holds the
	// effective value (0 = unlimited) in bytes/s.
	SpeedLimitDown        int64 `json:"speedLimitDown"`
	SpeedLimitDownEnabled bool  `json:"speedLimitDownEnabled"`
	SpeedLimitUp          int64 `json:"speedLimitUp"`
	SpeedLimitUpEnabled   bool  `json:"speedLimitUpEnabled"`
	// AddPaused is start-added-torrents turned off: torrent-add without a
	// "paused" argument adds the torrent stopped.
	AddPaused bool `json:"addPaused,omitempty"`
	// Alternative ("turtle") speed limits in kB/s, in force instead of
	// the others while AltSpeedEnabled; the schedule turns it on at
	// AltTimeBegin and off at AltTimeEnd (minutes after local midnight)
	// on the days of AltTimeDay (Sunday = 1, Monday = 2, ... Saturday = 64).
	AltSpeedEnabled bool  `json:"altSpeedEnabled,omitempty"`
	AltSpeedDown    int64 `json:"altSpeedDown"`
	AltSpeedUp      int64 `json:"altSpeedUp"`
	AltTimeEnabled  bool  `json:"altTimeEnabled,omitempty"`
	AltTimeBegin    int64 `json:"altTimeBegin"`
	AltTimeEnd      int64 `json:"altTimeEnd"`
	AltTimeDay      int64 `json:"altTimeDay"`
}

// altScheduled says whether the alt-speed schedule covers t.
func (s sessionState) altScheduled(t time.Time) bool {
	if !s.AltTimeEnabled {
		return false
	}
	m := int64(t.Hour()*60 + t.Minute())
	day := t.Weekday()
	in := m >= s.AltTimeBegin && m < s.AltTimeEnd
	if s.AltTimeEnd < s.AltTimeBegin {
		// Over midnight: the evening counts for today, the morning for
		// the day the period began.
		in = m >= s.AltTimeBegin
		if m < s.AltTimeEnd {
			in, day = true, (day+6)%7
		}
	}
	return in && s.AltTimeDay&(1<<day) != 0
}

// transferStats is session-stats' block of totals.
type transferStats struct {
	Uploaded      int64 `json:"uploadedBytes"`
	Downloaded    int64 `json:"downloadedBytes"`
	FilesAdded    int64 `json:"filesAdded"`
	SecondsActive int64 `json:"secondsActive"`
	SessionCount  int64 `json:"sessionCount"`
}

func (a transferStats) plus(b transferStats) transferStats {
	return transferStats{a.Uploaded + b.Uploaded, a.Downloaded + b.Downloaded, a.FilesAdded + b.FilesAdded,
		a.SecondsActive + b.SecondsActive, a.SessionCount + b.SessionCount}
}

func (a transferStats) json() map[string]any {
	return map[string]any{"uploadedBytes": a.Uploaded, "downloadedBytes": a.Downloaded,
		"filesAdded": a.FilesAdded, "secondsActive": a.SecondsActive, "sessionCount": a.SessionCount}
}

type persisted struct {
	NextID   int             `json:"nextId"`
	Session  sessionState    `json:"session"`
	Torrents []*torrentState `json:"torrents"`
	// Cumulative is session-stats' cumulative block as of the last save:
	// every earlier run, and this one so far.
	Cumulative transferStats `json:"cumulative"`
}

// stateStore is the id table and settings. Not safe for concurrent use: the
// Server's mutex guards it.
type stateStore struct {
	path string // "" = memory only
	next int
	sess sessionState
	// before is the cumulative stats of the runs before this one;
	// current, when set, gives this run's, for save.
	before  transferStats
	current func() transferStats
	byHash  map[client.TorrentID]*torrentState
	byID    map[int]*torrentState
}

// seedDefaults is the goal of the torrents that follow the session's.
func (s sessionState) seedDefaults() client.SeedDefaults {
	return client.SeedDefaults{Ratio: s.SeedRatioLimit, RatioOn: s.SeedRatioLimited,
		Idle: time.Duration(s.IdleSeedingLimit) * time.Minute, IdleOn: s.IdleSeedingLimitEnabled}
}

func defaultSession() sessionState {
	// Transmission's defaults.
	return sessionState{SeedRatioLimit: 2, IdleSeedingLimit: 30, SpeedLimitDown: 100, SpeedLimitUp: 100,
		AltSpeedDown: 50, AltSpeedUp: 50, AltTimeBegin: 540, AltTimeEnd: 1020, AltTimeDay: 127}
}

func openStore(dir string) (*stateStore, error) {
	st := &stateStore{
		next:   1,
		sess:   defaultSession(),
		byHash: map[client.TorrentID]*torrentState{},
		byID:   map[int]*torrentState{},
	}
	if dir == "" {
		return st, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("rpc: create data dir %q: %w", dir, err)
	}
	st.path = filepath.Join(dir, stateFile)
	b, err := os.ReadFile(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: read state: %w", err)
	}
	var p persisted
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("rpc: parse state %q (move it away to start afresh): %w", st.path, err)
	}
	st.sess = p.Session
	st.before = p.Cumulative
	for _, t := range p.Torrents {
		if t == nil || t.ID <= 0 || t.Hash == "" || st.byID[t.ID] != nil || st.byHash[t.Hash] != nil {
			continue
		}
		st.byHash[t.Hash] = t
		st.byID[t.ID] = t
		st.next = max(st.next, t.ID+1)
	}
	st.next = max(st.next, p.NextID)
	return st, nil
}

// save replaces the state file atomically (temp file + rename).
func (st *stateStore) save() error {
	if st.path == "" {
		return nil
	}
	p := persisted{NextID: st.next, Session: st.sess, Cumulative: st.before}
	if st.current != nil {
		p.Cumulative = st.before.plus(st.current())
	}
	for _, t := range st.byID {
		p.Torrents = append(p.Torrents, t)
	}
	sort.Slice(p.Torrents, func(i, j int) bool { return p.Torrents[i].ID < p.Torrents[j].ID })
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return fmt.Errorf("rpc: encode state: %w", err)
	}
	if err := atomicfile.Write(st.path, b); err != nil {
		return fmt.Errorf("rpc: save state %q: %w", st.path, err)
	}
	return nil
}

// ensure returns the entry for hash, creating it with the next id. The
// boolean says whether it was created (and the store needs saving).
func (st *stateStore) ensure(hash client.TorrentID) (*torrentState, bool) {
	if t := st.byHash[hash]; t != nil {
		return t, false
	}
	t := &torrentState{ID: st.next, Hash: hash}
	st.next++
	st.byHash[hash] = t
	st.byID[t.ID] = t
	return t, true
}

func (st *stateStore) forget(hash client.TorrentID) {
	if t := st.byHash[hash]; t != nil {
		delete(st.byID, t.ID)
		delete(st.byHash, hash)
	}
}
