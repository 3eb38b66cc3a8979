// Package clienttest provides an in-memory client.Controller for tests of
// the packages that drive the engine (the TUI, the Transmission-RPC
// daemon). It keeps torrents as plain data, records every call that
// changes something, and is safe for concurrent use.
package clienttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/suspect"
)

// Torrent is one torrent of the fake: what List, Get, Files, Peers,
// Trackers and Pieces report for it.
type Torrent struct {
	Stats    client.Stats
	Files    []client.File
	Peers    []client.Peer
	Trackers []client.Tracker
	Pieces   client.Pieces
}

// Fake is a client.Controller in memory. Set it up with Put, Edit,
// SetOrder and FailAdd; inspect it with Calls and WaitCalls.
//
// A call that changes something is recorded once the fake has accepted
// its input (known torrent, parsable source), in the form
// "verb args...", e.g. "pause <id>", "remove <id> delete=true",
// "add <source> dir=<dir> paused=false", "prio <id> 1 high",
// "limits 1000 0". Failures set with FailAdd are recorded too: the engine
// was asked.
type Fake struct {
	mu       sync.Mutex
	torrents []*Torrent // in List order
	calls    []string
	called   chan struct{} // closed and replaced at every recorded call
	addErr   map[string]error
	down, up int64
	clock    time.Time // AddedAt of the last torrent added without one
	subs     []chan struct{}
	lists    int                                 // List calls
	steps    map[client.TorrentID][]client.Stats // Script
	seedDef  client.SeedDefaults
	changed  chan struct{} // closed and replaced at every change
}

var _ client.Controller = (*Fake)(nil)

// New returns an empty fake.
func New() *Fake {
	return &Fake{called: make(chan struct{}), changed: make(chan struct{}), addErr: map[string]error{},
		steps: map[client.TorrentID][]client.Stats{}, clock: time.Unix(1_700_000_000, 0)}
}

// Put adds t directly (test setup, not recorded), replacing a torrent with
// the same ID. A zero AddedAt is set to the fake's clock, one second after
// the previous torrent.
func (f *Fake) Put(t Torrent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.bump()
	if t.Stats.AddedAt.IsZero() {
		f.clock = f.clock.Add(time.Second)
		t.Stats.AddedAt = f.clock
	}
	if i := f.index(t.Stats.ID); i >= 0 {
		f.torrents[i] = &t
		return
	}
	f.torrents = append(f.torrents, &t)
}

// Edit changes the torrent id under the fake's lock (test setup, not
// recorded). It panics if there is no such torrent: the test is wrong.
func (f *Fake) Edit(id client.TorrentID, fn func(*Torrent)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.bump()
	i := f.index(id)
	if i < 0 {
		panic(fmt.Sprintf("clienttest: Edit of unknown torrent %s", id))
	}
	fn(f.torrents[i])
}

// SetOrder makes List report the torrents named in ids first, in that
// order, as an engine restarted may; the others follow as they were.
func (f *Fake) SetOrder(ids ...client.TorrentID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rank := func(t *Torrent) int {
		if i := slices.Index(ids, t.Stats.ID); i >= 0 {
			return i
		}
		return len(ids)
	}
	slices.SortStableFunc(f.torrents, func(a, b *Torrent) int { return rank(a) - rank(b) })
}

// FailAdd makes Add(source) fail with err (after recording the call).
func (f *Fake) FailAdd(source string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addErr[source] = err
}

// ListCalls says how often List was called (it is not in Calls: it
// changes nothing).
func (f *Fake) ListCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lists
}

// Calls returns the recorded calls, oldest first.
func (f *Fake) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// WaitCalls waits until at least n calls are recorded and returns them
// all; when ctx ends first it returns those recorded so far and ctx's
// error.
func (f *Fake) WaitCalls(ctx context.Context, n int) ([]string, error) {
	for {
		f.mu.Lock()
		calls, called := slices.Clone(f.calls), f.called
		f.mu.Unlock()
		if len(calls) >= n {
			return calls, nil
		}
		select {
		case <-called:
		case <-ctx.Done():
			return calls, ctx.Err()
		}
	}
}

// ResetCalls forgets the recorded calls.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Notify wakes every Subscribe channel, as the engine does when stats
// change. The fake never does so on its own.
func (f *Fake) Notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		select {
		case c <- struct{}{}:
		default: // one pending wake-up is enough
		}
	}
}

func (f *Fake) record(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
	close(f.called)
	f.called = make(chan struct{})
	f.bump()
}

// bump wakes WaitComplete: a torrent may have changed.
func (f *Fake) bump() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Script makes the torrent id (added already or later) report steps, one
// a Get, the last one from then on: a download that tests drive to its end
// (WaitComplete sees it). The ID of each step is set to id, and its
// settings (seeding goal, directory, sequential, limits) stay as set.
func (f *Fake) Script(id client.TorrentID, steps ...client.Stats) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.steps[id] = steps
}

func (f *Fake) index(id client.TorrentID) int {
	return slices.IndexFunc(f.torrents, func(t *Torrent) bool { return t.Stats.ID == id })
}

func (f *Fake) get(id client.TorrentID) (*Torrent, error) {
	i := f.index(id)
	if i < 0 {
		return nil, fmt.Errorf("clienttest: torrent %s: %w", id, client.ErrNotFound)
	}
	return f.torrents[i], nil
}

// change records "verb id args..." and runs fn on the torrent, if it
// exists.
func (f *Fake) change(verb string, id client.TorrentID, fn func(*Torrent), args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return err
	}
	f.record("%s", strings.TrimSpace(fmt.Sprintln(append([]any{verb, id}, args...)...)))
	fn(t)
	return nil
}

// Add takes a parsed source as the engine does: a SourceFile is read
// (client.Source.Load), so a missing or broken file fails here as there.
// The torrent is named by the magnet's dn or the .torrent's name; one from
// a .torrent gets two files of 2 and 1 MiB, NAME/a.mkv and NAME/b.nfo,
// judged by name as the engine judges its files (Stats.Warnings). The
// call is recorded as "add <source> dir=<dir> paused=<bool>", the source
// as Source.String says.
func (f *Fake) Add(_ context.Context, src client.Source, opts client.AddOptions) (client.TorrentID, error) {
	src, err := src.Load()
	if err != nil {
		return "", err
	}
	if src.ID() == "" {
		return "", errors.New("clienttest: empty source")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("add %s dir=%s paused=%v", src, opts.DownloadDir, opts.Paused)
	if err := f.addErr[src.String()]; err != nil {
		return "", err
	}
	return f.addLocked(src.ID(), src.Name(), opts, src.Kind() == client.SourceMetainfo)
}

// Metainfo is a valid .torrent of one 3 MiB file called name, for tests
// that add one from bytes or a file.
func Metainfo(name string) []byte {
	info := metainfo.Info{Name: name, PieceLength: 1 << 18, Length: 3 << 20, Pieces: make([]byte, 20*12)}
	mi := metainfo.MetaInfo{InfoBytes: bencode.MustMarshal(info)}
	var b bytes.Buffer
	if err := mi.Write(&b); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// HashOf is the ID of the torrent of a .torrent's bytes ("" if they are not
// one).
func HashOf(b []byte) client.TorrentID {
	src, err := client.ParseMetainfo(b)
	if err != nil {
		return ""
	}
	return src.ID()
}

func (f *Fake) addLocked(id client.TorrentID, name string, opts client.AddOptions, withFiles bool) (client.TorrentID, error) {
	if f.index(id) >= 0 {
		return "", &client.DuplicateError{ID: id}
	}
	f.clock = f.clock.Add(time.Second)
	st := client.StateMetadata
	if opts.Paused {
		st = client.StatePaused
	}
	t := &Torrent{Stats: client.Stats{ID: id, Name: name, State: st, AddedAt: f.clock, DownloadDir: opts.DownloadDir,
		ETA: -1, Sequential: opts.Sequential, SeedGoal: opts.SeedGoal}}
	if withFiles {
		t.Stats.Length = 3 << 20
		t.Files = []client.File{
			{Index: 0, Path: name + "/a.mkv", Length: 2 << 20},
			{Index: 1, Path: name + "/b.nfo", Length: 1 << 20},
		}
		t.Pieces = client.Pieces{Count: 12, Bitmap: make([]byte, 2)}
		t.Stats.Warnings = warnings(name, t.Files)
	}
	f.torrents = append(f.torrents, t)
	return id, nil
}

// warnings judges files by name as the engine does (package suspect).
func warnings(name string, files []client.File) []client.Warning {
	in := make([]suspect.File, len(files))
	for i, f := range files {
		in[i] = suspect.File{Path: f.Path, Length: f.Length}
	}
	var out []client.Warning
	for _, fd := range suspect.Names(name, in) {
		out = append(out, client.Warning{File: files[fd.File].Index, Path: files[fd.File].Path, Code: string(fd.Code), Reason: fd.Reason})
	}
	return out
}

func (f *Fake) Remove(id client.TorrentID, deleteData bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return err
	}
	f.record("remove %s delete=%v", id, deleteData)
	i := f.index(id)
	f.torrents = slices.Delete(f.torrents, i, i+1)
	return nil
}

func (f *Fake) Pause(id client.TorrentID) error {
	return f.change("pause", id, func(t *Torrent) { t.Stats.State = client.StatePaused })
}

// Resume makes the torrent seeding when complete, else downloading, and
// no longer held.
func (f *Fake) Resume(id client.TorrentID) error {
	return f.change("resume", id, func(t *Torrent) {
		t.Stats.Held = ""
		if t.Stats.Length > 0 && t.Stats.BytesCompleted == t.Stats.Length {
			t.Stats.State = client.StateSeeding
		} else {
			t.Stats.State = client.StateDownloading
		}
	})
}

func (f *Fake) Verify(id client.TorrentID) error {
	return f.change("verify", id, func(t *Torrent) { t.Stats.State = client.StateChecking })
}

func (f *Fake) Reannounce(id client.TorrentID) error {
	return f.change("reannounce", id, func(*Torrent) {})
}

func (f *Fake) List() []client.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	out := make([]client.Stats, 0, len(f.torrents))
	for _, t := range f.torrents {
		out = append(out, t.Stats)
	}
	return out
}

func (f *Fake) Get(id client.TorrentID) (client.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return client.Stats{}, err
	}
	if steps := f.steps[id]; len(steps) > 0 {
		// A step is what the download reports; the settings stay as set.
		prev := t.Stats
		t.Stats = steps[0]
		t.Stats.ID = id
		t.Stats.SeedGoal, t.Stats.DownloadDir, t.Stats.Sequential = prev.SeedGoal, prev.DownloadDir, prev.Sequential
		t.Stats.DownloadLimit, t.Stats.UploadLimit = prev.DownloadLimit, prev.UploadLimit
		if len(steps) > 1 {
			f.steps[id] = steps[1:]
		}
		f.bump()
	}
	return t.Stats, nil
}

// read returns what pick takes from the torrent id, under the lock.
func read[T any](f *Fake, id client.TorrentID, pick func(*Torrent) T) (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		var zero T
		return zero, err
	}
	return pick(t), nil
}

func (f *Fake) Files(id client.TorrentID) ([]client.File, error) {
	return read(f, id, func(t *Torrent) []client.File { return slices.Clone(t.Files) })
}

func (f *Fake) Peers(id client.TorrentID) ([]client.Peer, error) {
	return read(f, id, func(t *Torrent) []client.Peer { return slices.Clone(t.Peers) })
}

func (f *Fake) Trackers(id client.TorrentID) ([]client.Tracker, error) {
	return read(f, id, func(t *Torrent) []client.Tracker { return slices.Clone(t.Trackers) })
}

func (f *Fake) Pieces(id client.TorrentID) (client.Pieces, error) {
	return read(f, id, func(t *Torrent) client.Pieces {
		p := t.Pieces
		p.Bitmap = slices.Clone(p.Bitmap)
		return p
	})
}

func (f *Fake) SetFilePriority(id client.TorrentID, index int, prio client.Priority) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(t.Files, func(fl client.File) bool { return fl.Index == index })
	if i < 0 {
		return fmt.Errorf("client: file index %d out of range", index)
	}
	f.record("prio %s %d %s", id, index, prio)
	t.Files[i].Priority = prio
	return nil
}

func (f *Fake) SetSequential(id client.TorrentID, on bool) error {
	return f.change("sequential", id, func(t *Torrent) { t.Stats.Sequential = on }, on)
}

// SetTrackers is recorded as "trackers <id> <tiers>".
func (f *Fake) SetTrackers(id client.TorrentID, tiers [][]string) error {
	clean, err := client.CheckTrackers(tiers)
	if err != nil {
		return err
	}
	return f.change("trackers", id, func(t *Torrent) {
		t.Trackers = nil
		for tier, urls := range clean {
			for _, u := range urls {
				t.Trackers = append(t.Trackers, client.Tracker{URL: u, Tier: tier, Status: client.TrackerNotContacted,
					Seeders: -1, Leechers: -1, Downloaded: -1})
			}
		}
	}, fmt.Sprint(clean))
}

func (f *Fake) SetLocation(id client.TorrentID, dir string, move bool) error {
	return f.change("location", id, func(t *Torrent) { t.Stats.DownloadDir = dir }, dir, fmt.Sprintf("move=%v", move))
}

// RenamePath is recorded as "rename <id> <path> <name>"; it renames the
// files under path (and the torrent, for its root).
func (f *Fake) RenamePath(id client.TorrentID, path, name string) error {
	if err := client.CheckFileName(name); err != nil {
		return fmt.Errorf("clienttest: %w", err)
	}
	to := path[:strings.LastIndex(path, "/")+1] + name
	return f.change("rename", id, func(t *Torrent) {
		if t.Stats.Name == path {
			t.Stats.Name = name
		}
		for i, fl := range t.Files {
			if fl.Path == path || strings.HasPrefix(fl.Path, path+"/") {
				t.Files[i].Path = to + fl.Path[len(path):]
			}
		}
	}, path, name)
}

func (f *Fake) SetTorrentRateLimits(id client.TorrentID, down, up int64) error {
	return f.change("torrent-limits", id, func(t *Torrent) { t.Stats.DownloadLimit, t.Stats.UploadLimit = down, up }, down, up)
}

// SetSeedGoal is recorded as "seedgoal <id> <ratio mode> <ratio> <idle
// mode> <idle>"; the fake never stops a torrent by itself (Edit sets
// Finished).
func (f *Fake) SetSeedGoal(id client.TorrentID, g client.SeedGoal) error {
	if err := g.Check(); err != nil {
		return err
	}
	return f.change("seedgoal", id, func(t *Torrent) { t.Stats.SeedGoal = g }, int(g.RatioMode), g.Ratio, int(g.IdleMode), g.Idle)
}

// SetSeedDefaults is not recorded (a front end sets it at every start);
// SeedDefaults reads it.
func (f *Fake) SetSeedDefaults(d client.SeedDefaults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seedDef = d
}

// SeedDefaults is what SetSeedDefaults set.
func (f *Fake) SeedDefaults() client.SeedDefaults {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seedDef
}

func (f *Fake) SetRateLimits(down, up int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("limits %d %d", down, up)
	f.down, f.up = down, up
}

func (f *Fake) RateLimits() (down, up int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down, f.up
}

// Subscribe returns a channel woken by Notify and closed when ctx ends.
func (f *Fake) Subscribe(ctx context.Context) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.subs = append(f.subs, ch)
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.subs = slices.DeleteFunc(f.subs, func(c chan struct{}) bool { return c == ch })
		close(ch)
	}()
	return ch
}

// WaitComplete returns once the torrent's stats say complete (seeding, or
// every byte verified with DoneAt set), or fails as the engine does: for a
// torrent in error, removed, or unknown.
func (f *Fake) WaitComplete(ctx context.Context, id client.TorrentID) error {
	for {
		f.mu.Lock()
		t, err := f.get(id)
		changed := f.changed
		var st client.Stats
		if t != nil {
			st = t.Stats
		}
		f.mu.Unlock()
		switch {
		case err != nil:
			return err
		case st.State == client.StateError:
			return fmt.Errorf("client: torrent %s: %s", id, st.Error)
		case st.State == client.StateSeeding || !st.DoneAt.IsZero():
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (f *Fake) Close() error { return nil }
