package rpc

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
)

// Transmission counts speeds in kB/s with kilo = 1000 ("speed-bytes").
const speedUnit = 1000

func (s *Server) downloadDir() string {
	if s.st.sess.DownloadDir != "" {
		return s.st.sess.DownloadDir
	}
	return s.o.DownloadDir
}

func (s *Server) version() string { return transmissionVersion + " (wgtorrent " + s.o.Version + ")" }

func (s *Server) sessionGet(_ context.Context, a args) (any, error) {
	fields, _, err := a.strings("fields")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	down, up := s.engine.RateLimits()
	sess := s.st.sess
	downKB, upKB := sess.SpeedLimitDown, sess.SpeedLimitUp
	downOn, upOn := down > 0, up > 0
	switch {
	case sess.AltSpeedEnabled:
		// The engine enforces the alt limits: the others are as stored.
		downOn, upOn = sess.SpeedLimitDownEnabled, sess.SpeedLimitUpEnabled
	default:
		if down > 0 {
			downKB = down / speedUnit
		}
		if up > 0 {
			upKB = up / speedUnit
		}
	}
	dir := s.downloadDir()
	free := int64(-1)
	if dir != "" {
		if n, _, err := client.FreeSpace(dir); err == nil {
			free = n
		}
	}
	units := map[string]any{
		"speed-units":  []string{"kB/s", "MB/s", "GB/s", "TB/s"},
		"speed-bytes":  speedUnit,
		"size-units":   []string{"kB", "MB", "GB", "TB"},
		"size-bytes":   1000,
		"memory-units": []string{"KiB", "MiB", "GiB", "TiB"},
		"memory-bytes": 1024,
	}
	all := map[string]any{
		"version":                      s.version(),
		"rpc-version":                  rpcVersion,
		"rpc-version-minimum":          1,
		"session-id":                   s.sessionID,
		"download-dir":                 dir,
		"download-dir-free-space":      free,
		"config-dir":                   s.o.ConfigDir,
		"incomplete-dir":               dir,
		"incomplete-dir-enabled":       false,
		"speed-limit-down":             downKB,
		"speed-limit-down-enabled":     downOn,
		"speed-limit-up":               upKB,
		"speed-limit-up-enabled":       upOn,
		"alt-speed-enabled":            sess.AltSpeedEnabled,
		"alt-speed-down":               sess.AltSpeedDown,
		"alt-speed-up":                 sess.AltSpeedUp,
		"alt-speed-time-enabled":       sess.AltTimeEnabled,
		"alt-speed-time-begin":         sess.AltTimeBegin,
		"alt-speed-time-end":           sess.AltTimeEnd,
		"alt-speed-time-day":           sess.AltTimeDay,
		"seedRatioLimit":               sess.SeedRatioLimit,
		"seedRatioLimited":             sess.SeedRatioLimited,
		"idle-seeding-limit":           sess.IdleSeedingLimit,
		"idle-seeding-limit-enabled":   sess.IdleSeedingLimitEnabled,
		"peer-port":                    s.peerPort(),
		"peer-port-random-on-start":    false,
		"port-forwarding-enabled":      false, // no UPnP/NAT-PMP: it would talk to the LAN router
		"peer-limit-global":            200,
		"peer-limit-per-torrent":       50,
		"dht-enabled":                  s.o.DHT,
		"pex-enabled":                  true,
		"lpd-enabled":                  false,   // local discovery would announce on the LAN
		"utp-enabled":                  s.o.UTP, // only the daemon in namespace mode
		"encryption":                   s.encryption(),
		"blocklist-enabled":            false,
		"blocklist-size":               0,
		"blocklist-url":                "",
		"cache-size-mb":                4,
		"start-added-torrents":         !sess.AddPaused,
		"rename-partial-files":         false,
		"trash-original-torrent-files": false,
		"download-queue-enabled":       false,
		"download-queue-size":          5,
		"seed-queue-enabled":           false,
		"seed-queue-size":              10,
		"queue-stalled-enabled":        false,
		"queue-stalled-minutes":        30,
		"script-torrent-done-enabled":  false,
		"script-torrent-done-filename": "",
		"units":                        units,
	}
	if s.o.Tunnel != nil {
		// Our own field: which server the tunnel follows and what its
		// config keeps it from reaching (Transmission clients ignore it).
		st := s.o.Tunnel()
		warnings := st.Warnings
		if warnings == nil {
			warnings = []string{}
		}
		all["wgtorrent-tunnel"] = map[string]any{"state": st.State, "endpoint": st.Endpoint, "isolation": st.Isolation, "warnings": warnings,
			"server": st.Server, "moves": st.Moves}
	}
	return filterFields(all, fields), nil
}

// filterFields honours the optional "fields" list (unknown names are
// ignored, as Transmission does).
func filterFields(all map[string]any, fields []string) map[string]any {
	if len(fields) == 0 {
		return all
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}

// sessionSetHandled are the session-set arguments wgtorrent acts on.
var sessionSetHandled = map[string]bool{
	"download-dir": true, "downloadDir": true, "download_dir": true,
	"speed-limit-down": true, "speedLimitDown": true, "speed_limit_down": true,
	"speed-limit-down-enabled": true, "speedLimitDownEnabled": true, "speed_limit_down_enabled": true,
	"speed-limit-up": true, "speedLimitUp": true, "speed_limit_up": true,
	"speed-limit-up-enabled": true, "speedLimitUpEnabled": true, "speed_limit_up_enabled": true,
	"seedRatioLimited": true, "seed_ratio_limited": true, "seedRatioLimit": true, "seed_ratio_limit": true,
	"idle-seeding-limit-enabled": true, "idleSeedingLimitEnabled": true, "idle_seeding_limit_enabled": true,
	"idle-seeding-limit": true, "idleSeedingLimit": true, "idle_seeding_limit": true,
	"encryption": true, "start-added-torrents": true,
	"alt-speed-enabled": true, "alt_speed_enabled": true, "alt-speed-down": true, "alt_speed_down": true,
	"alt-speed-up": true, "alt_speed_up": true, "alt-speed-time-enabled": true, "alt_speed_time_enabled": true,
	"alt-speed-time-begin": true, "alt_speed_time_begin": true, "alt-speed-time-end": true, "alt_speed_time_end": true,
	"alt-speed-time-day": true, "alt_speed_time_day": true,
}

// sessionReadOnly are session-get fields a client cannot set (Transmission
// ignores them): a client saving every setting sends them back as read.
var sessionReadOnly = map[string]bool{
	"version": true, "rpc-version": true, "rpc-version-minimum": true, "rpc-version-semver": true,
	"session-id": true, "config-dir": true, "download-dir-free-space": true, "blocklist-size": true,
	"units": true, "wgtorrent-tunnel": true,
}

// unsupportedChange names a session setting wgtorrent does not implement
// that a asks to change: "success" would say it was done. The same value
// as session-get reports passes (clients such as Flood send every setting
// back on save).
func (s *Server) unsupportedChange(ctx context.Context, a args) error {
	cur, err := s.sessionGet(ctx, args{})
	if err != nil {
		return err
	}
	all := cur.(map[string]any)
	for name, raw := range a {
		now, known := all[name]
		if !known || sessionSetHandled[name] || sessionReadOnly[name] {
			continue
		}
		var want, have any
		b, _ := json.Marshal(now)
		if json.Unmarshal(raw, &want) != nil || json.Unmarshal(b, &have) != nil || !reflect.DeepEqual(want, have) {
			return errorf("session-set: %q is not supported by wgtorrent: it stays %s", name, b)
		}
	}
	return nil
}

func (s *Server) sessionSet(ctx context.Context, a args) (any, error) {
	if err := s.unsupportedChange(ctx, a); err != nil {
		return nil, err
	}
	next := s.st.sess
	var fail error
	setStr := func(dst *string, names ...string) {
		if v, ok, err := a.str(names...); err != nil {
			fail = err
		} else if ok {
			*dst = v
		}
	}
	setBool := func(dst *bool, names ...string) {
		if v, ok, err := a.boolean(names...); err != nil {
			fail = err
		} else if ok {
			*dst = v
		}
	}
	setInt := func(dst *int64, names ...string) {
		if v, ok, err := a.integer(names...); err != nil {
			fail = err
		} else if ok {
			if v < 0 {
				fail = errorf("argument %q must not be negative", names[0])
			}
			*dst = v
		}
	}
	dir := s.downloadDir()
	setStr(&dir, "download-dir", "downloadDir", "download_dir")
	setInt(&next.SpeedLimitDown, "speed-limit-down", "speedLimitDown", "speed_limit_down")
	setBool(&next.SpeedLimitDownEnabled, "speed-limit-down-enabled", "speedLimitDownEnabled", "speed_limit_down_enabled")
	setInt(&next.SpeedLimitUp, "speed-limit-up", "speedLimitUp", "speed_limit_up")
	setBool(&next.SpeedLimitUpEnabled, "speed-limit-up-enabled", "speedLimitUpEnabled", "speed_limit_up_enabled")
	setBool(&next.SeedRatioLimited, "seedRatioLimited", "seed_ratio_limited")
	setBool(&next.IdleSeedingLimitEnabled, "idle-seeding-limit-enabled", "idleSeedingLimitEnabled", "idle_seeding_limit_enabled")
	setBool(&next.AltSpeedEnabled, "alt-speed-enabled", "alt_speed_enabled")
	setInt(&next.AltSpeedDown, "alt-speed-down", "alt_speed_down")
	setInt(&next.AltSpeedUp, "alt-speed-up", "alt_speed_up")
	setBool(&next.AltTimeEnabled, "alt-speed-time-enabled", "alt_speed_time_enabled")
	setInt(&next.AltTimeBegin, "alt-speed-time-begin", "alt_speed_time_begin")
	setInt(&next.AltTimeEnd, "alt-speed-time-end", "alt_speed_time_end")
	setInt(&next.AltTimeDay, "alt-speed-time-day", "alt_speed_time_day")
	start := !next.AddPaused
	setBool(&start, "start-added-torrents")
	next.AddPaused = !start
	idle := int64(next.IdleSeedingLimit)
	setInt(&idle, "idle-seeding-limit", "idleSeedingLimit", "idle_seeding_limit")
	if v, ok, err := a.number("seedRatioLimit", "seed_ratio_limit"); err != nil {
		fail = err
	} else if ok {
		if v < 0 {
			fail = errorf("argument \"seedRatioLimit\" must not be negative")
		}
		next.SeedRatioLimit = v
	}
	// The policy is fixed at start; a client saving every setting sends
	// it unchanged, but a change must not pass for done.
	cur := s.encryption()
	enc := cur
	setStr(&enc, "encryption")
	if enc != cur {
		fail = errorf("encryption is %q, set by wgtorrent's --encryption (WGTORRENT_ENCRYPTION) at start", cur)
	}
	if fail != nil {
		return nil, &rpcError{fail.Error()}
	}
	if idle > 1<<31-1 {
		return nil, errorf("argument \"idle-seeding-limit\" is too large")
	}
	if next.AltTimeBegin >= 24*60 || next.AltTimeEnd >= 24*60 || next.AltTimeDay > 127 {
		return nil, errorf("alt-speed-time-begin and -end are minutes after midnight (0 to 1439), alt-speed-time-day a mask of days (0 to 127)")
	}
	if next.AltTimeEnabled && (!s.st.sess.AltTimeEnabled || next.AltTimeBegin != s.st.sess.AltTimeBegin ||
		next.AltTimeEnd != s.st.sess.AltTimeEnd || next.AltTimeDay != s.st.sess.AltTimeDay) {
		// A schedule set or changed takes effect now, as in Transmission.
		next.AltSpeedEnabled = next.altScheduled(s.o.Now())
		s.altWasScheduled = next.AltSpeedEnabled
	}
	next.IdleSeedingLimit = int(idle)
	if dir != s.downloadDir() {
		real, err := confine("download-dir", dir, s.writableRoots())
		if err != nil {
			return nil, errorf("session-set: %v", err)
		}
		next.DownloadDir = real
	}
	s.st.sess = next
	s.engine.SetSeedDefaults(next.seedDefaults())
	s.applyRateLimitsLocked()
	s.saveLocked()
	return nil, nil
}

// applyRateLimitsLocked pushes the stored limits to the engine: the alt
// ones while they are on. A limit of 0 kB/s that is enabled means "stop"
// in Transmission, while 0 means unlimited to the engine: 1 byte/s is the
// closest we have.
func (s *Server) applyRateLimitsLocked() {
	sess := s.st.sess
	if sess.AltSpeedEnabled {
		s.engine.SetRateLimits(max(1, sess.AltSpeedDown*speedUnit), max(1, sess.AltSpeedUp*speedUnit))
		return
	}
	var down, up int64
	if sess.SpeedLimitDownEnabled {
		down = max(1, sess.SpeedLimitDown*speedUnit)
	}
	if sess.SpeedLimitUpEnabled {
		up = max(1, sess.SpeedLimitUp*speedUnit)
	}
	s.engine.SetRateLimits(down, up)
}

func (s *Server) sessionStatsMethod(_ context.Context, _ args) (any, error) {
	list := s.syncLocked()
	var active, paused int
	var downRate, upRate int64
	for _, t := range list {
		switch t.State {
		case client.StatePaused, client.StateError:
			paused++
		default:
			active++
		}
		downRate += t.DownloadRate
		upRate += t.UploadRate
	}
	cur := s.currentStatsLocked()
	return map[string]any{
		"activeTorrentCount": active,
		"pausedTorrentCount": paused,
		"torrentCount":       len(list),
		"downloadSpeed":      downRate,
		"uploadSpeed":        upRate,
		"current-stats":      cur.json(),
		"cumulative-stats":   s.st.before.plus(cur).json(),
	}, nil
}

// currentStatsLocked is this run's block, its bytes as the last syncLocked
// counted them.
func (s *Server) currentStatsLocked() transferStats {
	return transferStats{
		Downloaded: s.sessionStats.moved[0], Uploaded: s.sessionStats.moved[1],
		FilesAdded: s.filesAdded, SessionCount: 1,
		SecondsActive: int64(s.o.Now().Sub(s.started) / time.Second),
	}
}

// countMovedLocked notes what every torrent of list transferred since this
// run first saw it, and what removed ones had.
func (s *Server) countMovedLocked(list []client.Stats) {
	moved := [2]int64{s.sessionStats.downGone, s.sessionStats.upGone}
	for _, t := range list {
		b, ok := s.sessionStats.base[t.ID]
		if !ok && t.AddedAt.Before(s.started.Truncate(time.Second)) {
			// There before this run, unseen so far: its totals are
			// earlier runs'.
			b = [2]int64{t.Downloaded, t.Uploaded}
			s.sessionStats.base[t.ID] = b
		}
		moved[0] += t.Downloaded - b[0]
		moved[1] += t.Uploaded - b[1]
	}
	s.sessionStats.moved = moved
}

func (s *Server) freeSpace(_ context.Context, a args) (any, error) {
	p, ok, err := a.str("path")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	if !ok || !filepath.IsAbs(p) {
		return nil, errorf("free-space needs an absolute \"path\"")
	}
	free, total, err := client.FreeSpace(p)
	if err != nil {
		// As Transmission: the error as the result, and -1 for the sizes.
		return map[string]any{"path": p, "size-bytes": -1, "total_size": -1}, errorf("free-space: %v", err)
	}
	return map[string]any{"path": p, "size-bytes": free, "total_size": total}, nil
}

// portTest refuses: a real test needs an outside service to connect back
// through the VPN, and wgtorrent contacts none. "Closed" would be a claim
// nobody measured.
func (s *Server) portTest(_ context.Context, _ args) (any, error) {
	why := "port-test is not supported: it needs an outside service to connect back through the VPN, and wgtorrent contacts none"
	if s.o.PortForward != nil {
		if st, ok := s.o.PortForward(); ok {
			switch st.Phase {
			case portfwd.Mapped:
				why += fmt.Sprintf("; the VPN's gateway says it forwards port %d until %s", st.Port, st.Until.Format(time.TimeOnly))
			default:
				why += fmt.Sprintf("; port forwarding: %s %s", st.Phase, st.Err)
			}
		}
	}
	return nil, errorf("%s", why)
}

// encryption is the engine's BitTorrent encryption policy.
func (s *Server) encryption() string {
	return string(cmp.Or(s.o.Encryption, client.EncryptionTolerated))
}

// Run follows the alt-speed schedule until ctx ends: where a scheduled
// period begins the alt limits go on, where it ends they go off; a user's
// toggle in between stands until the next boundary, as in Transmission.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(altScheduleEvery)
	defer t.Stop()
	for {
		s.mu.Lock()
		s.followAltScheduleLocked(s.o.Now())
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// altScheduleEvery: the schedule has minutes for its unit.
const altScheduleEvery = 20 * time.Second

func (s *Server) followAltScheduleLocked(now time.Time) {
	sess := &s.st.sess
	if !sess.AltTimeEnabled {
		return
	}
	in := sess.altScheduled(now)
	if in == s.altWasScheduled {
		return
	}
	s.altWasScheduled = in
	if sess.AltSpeedEnabled == in {
		return
	}
	sess.AltSpeedEnabled = in
	s.log.Info("rpc: alt speed limits by schedule", "on", in)
	s.applyRateLimitsLocked()
	s.saveLocked()
}

func (s *Server) peerPort() int {
	if s.o.PeerPort == nil {
		return 0
	}
	return s.o.PeerPort()
}
