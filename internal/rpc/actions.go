package rpc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
)

func (s *Server) torrentAdd(ctx context.Context, a args) (any, error) {
	filename, hasFile, err := a.str("filename")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	meta64, hasMeta, err := a.str("metainfo")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	dir, hasDir, err := a.str("download-dir", "downloadDir", "download_dir")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	paused, hasPaused, err := a.boolean("paused")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	if !hasPaused {
		paused = s.st.sess.AddPaused // start-added-torrents
	}
	labels, hasLabels, err := a.strings("labels")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	if err := checkLabels(labels); err != nil {
		return nil, err
	}
	sets, err := parseFileSets(a)
	if err != nil {
		return nil, err
	}
	if hasDir {
		if dir, err = confine("download-dir", dir, s.writableRoots()); err != nil {
			return nil, errorf("torrent-add: %v", err)
		}
	} else {
		dir = s.downloadDir()
	}
	opts := client.AddOptions{DownloadDir: dir, Paused: paused}

	var id client.TorrentID
	switch {
	case hasMeta && meta64 != "":
		b, derr := decodeBase64(meta64)
		if derr != nil {
			return nil, errorf("metainfo is not valid base64: %v", derr)
		}
		src, perr := client.ParseMetainfo(b)
		if perr != nil {
			return nil, errorf("torrent-add: %v", perr)
		}
		id, err = s.engine.Add(ctx, src, opts)
	case hasFile && filename != "":
		lower := strings.ToLower(strings.TrimSpace(filename))
		if strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://") {
			return nil, errorf("torrent-add: wgtorrent does not download .torrent URLs (the request would leave outside the VPN tunnel); send the file's contents as \"metainfo\" or a magnet link")
		}
		src, perr := client.ParseSource(filename)
		if perr != nil {
			return nil, errorf("torrent-add: %v", perr)
		}
		if src.Kind() == client.SourceFile {
			// A path on this machine: read here, under the RPC's own
			// rules (confined, bounded), not the engine's.
			b, rerr := s.readTorrentFile(src.Path())
			if rerr != nil {
				return nil, rerr
			}
			if src, perr = client.ParseMetainfo(b); perr != nil {
				// The parser's error quotes what it read: not a byte of a
				// local file goes back to the caller.
				s.log.Info("rpc: torrent-add of a local file refused", "path", filename, "err", perr)
				return nil, errorf("torrent-add: %q is not a .torrent file wgtorrent can add", filename)
			}
		}
		id, err = s.engine.Add(ctx, src, opts)
	default:
		return nil, errorf("torrent-add needs \"filename\" (magnet link or path) or \"metainfo\" (base64)")
	}
	key := "torrent-added"
	var dup *client.DuplicateError
	switch {
	case errors.As(err, &dup):
		id, key = dup.ID, "torrent-duplicate"
	case err != nil:
		return nil, errorf("torrent-add: %v", err)
	}
	s.filesAdded++
	ts, created := s.st.ensure(id)
	if key == "torrent-added" || created {
		if hasLabels {
			ts.Labels = labels
		}
		s.saveLocked()
	}
	if key == "torrent-added" && sets.any() {
		// Only possible when the metainfo was given; for magnets the
		// files are unknown until the metadata arrives.
		if files, ferr := s.engine.Files(id); ferr == nil && len(files) > 0 {
			if err := s.applyFileSets(id, files, sets); err != nil {
				s.log.Warn("rpc: torrent-add file selection", "torrent", id, "err", err)
			}
		}
	}
	name := string(id)
	if st, gerr := s.engine.Get(id); gerr == nil && st.Name != "" {
		name = st.Name
	}
	return map[string]any{key: map[string]any{"id": ts.ID, "name": name, "hashString": string(id)}}, nil
}

// readTorrentFile reads a .torrent named by path on this machine, as
// Transmission does, but only a regular file of bounded size: a path such
// as /dev/zero or a FIFO must not hang or exhaust the daemon.
func (s *Server) readTorrentFile(path string) ([]byte, error) {
	if !filepath.IsAbs(path) {
		return nil, errorf("torrent-add: %q is not a magnet link, an info hash or an absolute path to a .torrent file", path)
	}
	path, err := confine("filename", path, s.readableRoots())
	if err != nil {
		return nil, errorf("torrent-add: %v", err)
	}
	b, err := client.ReadTorrentFile(path, s.o.MaxBody)
	if err != nil {
		return nil, errorf("torrent-add: %v", err)
	}
	return b, nil
}

// decodeBase64 accepts standard base64 with or without padding, and line
// breaks, which some clients insert.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' {
			return -1
		}
		return r
	}, s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

func checkLabels(labels []string) error {
	for _, l := range labels {
		if strings.TrimSpace(l) == "" || strings.Contains(l, ",") || len(l) > 256 {
			return errorf("label %q is not valid: labels are non-empty, at most 256 bytes and contain no comma", l)
		}
	}
	return nil
}

// forEach runs fn on every selected torrent.
func (s *Server) forEach(a args, fn func(client.Stats) error) error {
	list, err := s.selectLocked(a)
	if err != nil {
		return err
	}
	for _, t := range list {
		if err := fn(t); err != nil {
			return errorf("torrent %s: %v", t.ID, err)
		}
	}
	return nil
}

func (s *Server) torrentStart(_ context.Context, a args) (any, error) {
	// Finished stays set: Run does not stop a torrent twice for the same
	// goal, so a user who restarts it keeps seeding.
	return nil, s.forEach(a, func(t client.Stats) error { return s.engine.Resume(t.ID) })
}

func (s *Server) torrentStop(_ context.Context, a args) (any, error) {
	return nil, s.forEach(a, func(t client.Stats) error { return s.engine.Pause(t.ID) })
}

func (s *Server) torrentVerify(_ context.Context, a args) (any, error) {
	return nil, s.forEach(a, func(t client.Stats) error { return s.engine.Verify(t.ID) })
}

func (s *Server) torrentSetLocation(_ context.Context, a args) (any, error) {
	dir, ok, err := a.str("location")
	if err != nil || !ok || dir == "" {
		return nil, &rpcError{"torrent-set-location needs a location"}
	}
	dir, err = confine("location", dir, s.writableRoots())
	if err != nil {
		return nil, errorf("torrent-set-location: %v", err)
	}
	move, _, err := a.boolean("move")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	return nil, s.forEach(a, func(t client.Stats) error { return s.engine.SetLocation(t.ID, dir, move) })
}

// torrentRenamePath renames a file or folder of exactly one torrent and
// answers with the path, the new name and the torrent's id.
func (s *Server) torrentRenamePath(_ context.Context, a args) (any, error) {
	path, ok, err := a.str("path")
	if err != nil || !ok || path == "" {
		return nil, &rpcError{"torrent-rename-path needs a path"}
	}
	name, ok, err := a.str("name")
	if err != nil || !ok || name == "" {
		return nil, &rpcError{"torrent-rename-path needs a name"}
	}
	list, err := s.selectLocked(a)
	if err != nil {
		return nil, err
	}
	if len(list) != 1 {
		return nil, errorf("torrent-rename-path works on exactly one torrent (%d selected)", len(list))
	}
	t := list[0]
	if err := s.engine.RenamePath(t.ID, path, name); err != nil {
		return nil, errorf("torrent %s: %v", t.ID, err)
	}
	return map[string]any{"path": path, "name": name, "id": s.st.byHash[t.ID].ID}, nil
}

func (s *Server) torrentReannounce(_ context.Context, a args) (any, error) {
	return nil, s.forEach(a, func(t client.Stats) error { return s.engine.Reannounce(t.ID) })
}

func (s *Server) torrentRemove(_ context.Context, a args) (any, error) {
	del, _, err := a.boolean("delete-local-data", "deleteLocalData", "delete_local_data")
	if err != nil {
		return nil, &rpcError{err.Error()}
	}
	err = s.forEach(a, func(t client.Stats) error {
		if err := s.engine.Remove(t.ID, del); err != nil {
			return err
		}
		if ts := s.st.byHash[t.ID]; ts != nil {
			s.removed = append(s.removed, removal{id: ts.ID, at: s.o.Now()})
		}
		b := s.sessionStats.base[t.ID]
		s.sessionStats.downGone += t.Downloaded - b[0]
		s.sessionStats.upGone += t.Uploaded - b[1]
		delete(s.sessionStats.base, t.ID)
		s.st.forget(t.ID)
		return nil
	})
	s.pruneRemoved()
	s.saveLocked()
	return nil, err
}

func (s *Server) pruneRemoved() {
	cut := s.o.Now().Add(-recentWindow)
	kept := s.removed[:0]
	for _, r := range s.removed {
		if r.at.After(cut) {
			kept = append(kept, r)
		}
	}
	s.removed = kept
}

// queueMove refuses: the engine runs every torrent at once, so there is
// no queue to reorder, and "success" would claim an order that has no
// effect (Sonarr's "First" priority sends queue-move-top).
func (s *Server) queueMove(_ context.Context, a args) (any, error) {
	if _, err := s.selectLocked(a); err != nil {
		return nil, err
	}
	return nil, errorf("wgtorrent has no download queue: every torrent runs at once, so there is no position to move (set the client's priority option to Last)")
}

// fileSets are torrent-set/torrent-add file selections. An empty list means
// every file, as in Transmission.
type fileSets struct {
	wanted, unwanted, high, low, normal    []int
	hasW, hasU, hasHigh, hasLow, hasNormal bool
}

func (f fileSets) any() bool { return f.hasW || f.hasU || f.hasHigh || f.hasLow || f.hasNormal }

func parseFileSets(a args) (fileSets, error) {
	var f fileSets
	var err error
	read := func(dst *[]int, has *bool, names ...string) {
		if err == nil {
			*dst, *has, err = a.ints(names...)
		}
	}
	read(&f.wanted, &f.hasW, "files-wanted", "filesWanted", "files_wanted")
	read(&f.unwanted, &f.hasU, "files-unwanted", "filesUnwanted", "files_unwanted")
	read(&f.high, &f.hasHigh, "priority-high", "priorityHigh", "priority_high")
	read(&f.low, &f.hasLow, "priority-low", "priorityLow", "priority_low")
	read(&f.normal, &f.hasNormal, "priority-normal", "priorityNormal", "priority_normal")
	if err != nil {
		return f, &rpcError{err.Error()}
	}
	return f, nil
}

// plan computes the new priority of each file; it fails, changing nothing,
// when an index is out of range.
func (f fileSets) plan(files []client.File) ([]client.Priority, error) {
	n := len(files)
	wanted := make([]bool, n)
	high := make([]bool, n)
	for i, fl := range files {
		wanted[i] = fl.Priority != client.PriorityOff
		high[i] = fl.Priority == client.PriorityHigh
	}
	apply := func(has bool, idx []int, fn func(i int)) error {
		if !has {
			return nil
		}
		if len(idx) == 0 {
			for i := range n {
				fn(i)
			}
			return nil
		}
		for _, i := range idx {
			if i >= n {
				return errorf("file index %d out of range: the torrent has %d files", i, n)
			}
			fn(i)
		}
		return nil
	}
	// Transmission has three levels and a separate wanted flag; we have
	// off/normal/high (anacrolix has nothing below normal): low is refused
	// rather than read back as normal, and an unwanted file stays off
	// whatever its level.
	if f.hasLow {
		return nil, errorf("priority-low is not supported by wgtorrent: files are normal or high (or unwanted)")
	}
	for _, step := range []struct {
		has bool
		idx []int
		fn  func(int)
	}{
		{f.hasNormal, f.normal, func(i int) { high[i] = false }},
		{f.hasHigh, f.high, func(i int) { high[i] = true }},
		{f.hasW, f.wanted, func(i int) { wanted[i] = true }},
		{f.hasU, f.unwanted, func(i int) { wanted[i] = false }},
	} {
		if err := apply(step.has, step.idx, step.fn); err != nil {
			return nil, err
		}
	}
	out := make([]client.Priority, n)
	for i := range n {
		switch {
		case !wanted[i]:
			out[i] = client.PriorityOff
		case high[i]:
			out[i] = client.PriorityHigh
		default:
			out[i] = client.PriorityNormal
		}
	}
	return out, nil
}

func (s *Server) applyFileSets(id client.TorrentID, files []client.File, sets fileSets) error {
	prios, err := sets.plan(files)
	if err != nil {
		return err
	}
	for i, p := range prios {
		if files[i].Priority != p {
			if err := s.engine.SetFilePriority(id, files[i].Index, p); err != nil {
				return fmt.Errorf("file %d: %w", i, err)
			}
		}
	}
	return nil
}

// torrentSetArgs are the per-torrent settings of torrent-set, parsed and
// checked before anything changes.
type torrentSetArgs struct {
	labels                             []string
	hasLabels                          bool
	ratio                              float64
	hasRatio                           bool
	ratioMode, idleLimit, idleMode     int64
	hasRatioMode, hasIdle, hasIdleMode bool
	downLimit, upLimit                 int64
	hasDown, hasUp                     bool
	downLimited, upLimited             bool
	hasDownLimited, hasUpLimited       bool
	files                              fileSets
	trackers                           trackerEdits
}

// trackerEdits are torrent-set's tracker changes, applied in Transmission's
// order: replace, remove, add (each added URL a tier of its own), or a
// whole trackerList (rpc-version 17: tiers separated by blank lines).
type trackerEdits struct {
	add     []string
	remove  []int
	replace map[int]string
	list    string
	hasList bool
}

func (t trackerEdits) any() bool {
	return len(t.add) > 0 || len(t.remove) > 0 || len(t.replace) > 0 || t.hasList
}

func parseTrackerEdits(a args) (trackerEdits, error) {
	var t trackerEdits
	var err error
	if t.add, _, err = a.strings("trackerAdd"); err != nil {
		return t, err
	}
	if t.remove, _, err = a.ints("trackerRemove"); err != nil {
		return t, err
	}
	if t.list, t.hasList, err = a.str("trackerList"); err != nil {
		return t, err
	}
	if _, raw, ok := a.raw("trackerReplace"); ok {
		var pairs []any
		if json.Unmarshal(raw, &pairs) != nil || len(pairs)%2 != 0 {
			return t, errorf("trackerReplace is a list of tracker id, URL pairs")
		}
		t.replace = map[int]string{}
		for i := 0; i < len(pairs); i += 2 {
			id, ok1 := pairs[i].(float64)
			u, ok2 := pairs[i+1].(string)
			if !ok1 || !ok2 || id != float64(int(id)) || id < 0 {
				return t, errorf("trackerReplace is a list of tracker id, URL pairs")
			}
			t.replace[int(id)] = u
		}
	}
	if t.hasList && (len(t.add) > 0 || len(t.remove) > 0 || len(t.replace) > 0) {
		return t, errorf("trackerList replaces every tracker: give it alone, not with trackerAdd, trackerRemove or trackerReplace")
	}
	return t, nil
}

// apply returns the new announce list of a torrent whose trackers are cur
// (ids are their indices, as trackerStats numbers them).
func (t trackerEdits) apply(cur []client.Tracker) ([][]string, error) {
	if t.hasList {
		var tiers [][]string
		for _, block := range strings.Split(strings.ReplaceAll(t.list, "\r\n", "\n"), "\n\n") {
			tiers = append(tiers, strings.Fields(block))
		}
		return client.CheckTrackers(tiers)
	}
	urls := make([]string, len(cur))
	for i, tr := range cur {
		urls[i] = tr.URL
	}
	for id, u := range t.replace {
		if id >= len(urls) {
			return nil, fmt.Errorf("trackerReplace: no tracker %d (the torrent has %d)", id, len(urls))
		}
		urls[id] = u
	}
	drop := map[int]bool{}
	for _, id := range t.remove {
		if id < 0 || id >= len(urls) {
			return nil, fmt.Errorf("trackerRemove: no tracker %d (the torrent has %d)", id, len(urls))
		}
		drop[id] = true
	}
	var tiers [][]string
	last := -1
	for i, tr := range cur {
		if drop[i] {
			continue
		}
		if tr.Tier != last || len(tiers) == 0 {
			tiers = append(tiers, nil)
			last = tr.Tier
		}
		tiers[len(tiers)-1] = append(tiers[len(tiers)-1], urls[i])
	}
	for _, u := range t.add {
		tiers = append(tiers, []string{u})
	}
	return client.CheckTrackers(tiers)
}

func parseTorrentSet(a args) (torrentSetArgs, error) {
	var o torrentSetArgs
	var err error
	step := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	step(func() (e error) { o.labels, o.hasLabels, e = a.strings("labels"); return })
	step(func() error { return checkLabels(o.labels) })
	step(func() (e error) { o.ratio, o.hasRatio, e = a.number("seedRatioLimit", "seed_ratio_limit"); return })
	step(func() (e error) {
		o.ratioMode, o.hasRatioMode, e = a.integer("seedRatioMode", "seed_ratio_mode")
		return
	})
	step(func() (e error) { o.idleLimit, o.hasIdle, e = a.integer("seedIdleLimit", "seed_idle_limit"); return })
	step(func() (e error) { o.idleMode, o.hasIdleMode, e = a.integer("seedIdleMode", "seed_idle_mode"); return })
	step(func() (e error) { o.downLimit, o.hasDown, e = a.integer("downloadLimit", "download_limit"); return })
	step(func() (e error) { o.upLimit, o.hasUp, e = a.integer("uploadLimit", "upload_limit"); return })
	step(func() (e error) {
		o.downLimited, o.hasDownLimited, e = a.boolean("downloadLimited", "download_limited")
		return
	})
	step(func() (e error) {
		o.upLimited, o.hasUpLimited, e = a.boolean("uploadLimited", "upload_limited")
		return
	})
	step(func() (e error) { o.files, e = parseFileSets(a); return })
	step(func() (e error) { o.trackers, e = parseTrackerEdits(a); return })
	if err != nil {
		var re *rpcError
		if errors.As(err, &re) {
			return o, err
		}
		return o, &rpcError{err.Error()}
	}
	switch {
	case o.hasRatio && o.ratio < 0:
		return o, errorf("seedRatioLimit must not be negative")
	case o.hasRatioMode && (o.ratioMode < 0 || o.ratioMode > 2),
		o.hasIdleMode && (o.idleMode < 0 || o.idleMode > 2):
		return o, errorf("seedRatioMode and seedIdleMode are 0 (global), 1 (this torrent) or 2 (unlimited)")
	case o.hasIdle && (o.idleLimit < 0 || o.idleLimit > 1<<31-1),
		o.hasDown && o.downLimit < 0, o.hasUp && o.upLimit < 0:
		return o, errorf("limits must not be negative")
	}
	for _, k := range []string{"location", "queuePosition"} {
		if a.has(k) {
			return o, errorf("torrent-set: %q is not supported yet", k)
		}
	}
	// Settings torrent-get reports at a value wgtorrent does not let
	// change: that value passes (a client echoing what it read), another
	// is refused rather than answered "success" and dropped.
	for _, f := range []struct {
		name string
		keep any
	}{{"bandwidthPriority", 0.0}, {"peer-limit", 50.0}, {"honorsSessionLimits", true}} {
		if _, raw, ok := a.raw(f.name); ok {
			var v any
			if json.Unmarshal(raw, &v) != nil || v != f.keep {
				return o, errorf("torrent-set: %q is not supported by wgtorrent: it stays %v", f.name, f.keep)
			}
		}
	}
	return o, nil
}

func (s *Server) torrentSet(_ context.Context, a args) (any, error) {
	o, err := parseTorrentSet(a)
	if err != nil {
		return nil, err
	}
	list, err := s.selectLocked(a)
	if err != nil {
		return nil, err
	}
	// Check every file selection first so that a bad index changes nothing.
	type filePlan struct {
		files    []client.File
		trackers [][]string
	}
	plans := make([]filePlan, len(list))
	if o.trackers.any() {
		for i, t := range list {
			cur, err := s.engine.Trackers(t.ID)
			if err != nil {
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
			if plans[i].trackers, err = o.trackers.apply(cur); err != nil {
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
		}
	}
	if o.files.any() {
		for i, t := range list {
			files, err := s.engine.Files(t.ID)
			if err != nil {
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
			if len(files) == 0 {
				return nil, errorf("torrent %s: its file list is not known yet (waiting for metadata)", t.ID)
			}
			if _, err := o.files.plan(files); err != nil {
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
			plans[i].files = files
		}
	}
	for i, t := range list {
		ts, _ := s.st.ensure(t.ID)
		if o.hasLabels {
			ts.Labels = ownLabels(o.labels, t)
		}
		if o.hasRatio || o.hasRatioMode || o.hasIdle || o.hasIdleMode {
			g := t.SeedGoal
			if o.hasRatio {
				g.Ratio = o.ratio
			}
			if o.hasRatioMode {
				g.RatioMode = client.GoalMode(o.ratioMode)
			}
			if o.hasIdle {
				g.Idle = time.Duration(o.idleLimit) * time.Minute
			}
			if o.hasIdleMode {
				g.IdleMode = client.GoalMode(o.idleMode)
			}
			if err := s.engine.SetSeedGoal(t.ID, g); err != nil {
				s.saveLocked()
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
		}
		if o.hasDown || o.hasUp || o.hasDownLimited || o.hasUpLimited {
			// Transmission's units: KB/s (1000 bytes), in force only
			// while the matching *Limited flag is on. The engine holds
			// what is in force; a value set while off is kept here.
			down := torrentLimit(t.DownloadLimit, &ts.DownloadLimit, o.downLimit, o.hasDown, o.downLimited, o.hasDownLimited)
			up := torrentLimit(t.UploadLimit, &ts.UploadLimit, o.upLimit, o.hasUp, o.upLimited, o.hasUpLimited)
			if err := s.engine.SetTorrentRateLimits(t.ID, down, up); err != nil {
				s.saveLocked()
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
		}
		if o.files.any() {
			if err := s.applyFileSets(t.ID, plans[i].files, o.files); err != nil {
				s.saveLocked()
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
		}
		if o.trackers.any() {
			if err := s.engine.SetTrackers(t.ID, plans[i].trackers); err != nil {
				s.saveLocked()
				return nil, errorf("torrent %s: %v", t.ID, err)
			}
		}
	}
	s.saveLocked()
	return nil, nil
}

// torrentLimit is the bytes/s the engine enforces after a torrent-set of
// one direction's limit: inForce is the engine's now, kept the kB/s
// remembered while off. 0 kB/s in force means "stop" to Transmission and
// "unlimited" to the engine: 1 byte/s is the closest.
func torrentLimit(inForce int64, kept *int64, kB int64, hasKB, limited, hasLimited bool) int64 {
	on := inForce > 0
	if hasLimited {
		on = limited
	}
	v := kBLimit(inForce, *kept)
	if hasKB {
		v = kB
	}
	*kept = v
	if !on {
		return 0
	}
	return max(v*1000, 1)
}
