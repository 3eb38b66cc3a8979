package rpc

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
)

// fakeEngine is a client.Controller in memory that records every call
// that changes something.
type fakeEngine struct {
	mu       sync.Mutex
	torrents map[client.TorrentID]*fakeTorrent
	order    []client.TorrentID
	calls    []string
	down, up int64
	clock    time.Time
	subs     []chan struct{}
}

type fakeTorrent struct {
	stats    client.Stats
	files    []client.File
	peers    []client.Peer
	trackers []client.Tracker
	pieces   client.Pieces
	opts     client.AddOptions
}

var _ client.Controller = (*fakeEngine)(nil)

func newFake() *fakeEngine {
	return &fakeEngine{torrents: map[client.TorrentID]*fakeTorrent{}, clock: time.Unix(1_700_000_000, 0)}
}

func (f *fakeEngine) record(format string, a ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeEngine) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// put adds a torrent directly (test setup, not recorded).
func (f *fakeEngine) put(t *fakeTorrent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.stats.AddedAt.IsZero() {
		f.clock = f.clock.Add(time.Second)
		t.stats.AddedAt = f.clock
	}
	f.torrents[t.stats.ID] = t
	f.order = append(f.order, t.stats.ID)
}

func hashOf(s string) client.TorrentID {
	h := sha1.Sum([]byte(s))
	return client.TorrentID(hex.EncodeToString(h[:]))
}

func (f *fakeEngine) addLocked(id client.TorrentID, name string, opts client.AddOptions, withFiles bool) (client.TorrentID, error) {
	if _, ok := f.torrents[id]; ok {
		return "", &client.DuplicateError{ID: id}
	}
	f.clock = f.clock.Add(time.Second)
	st := client.State(client.StateMetadata)
	if opts.Paused {
		st = client.StatePaused
	}
	t := &fakeTorrent{opts: opts, stats: client.Stats{ID: id, Name: name, State: st, AddedAt: f.clock, DownloadDir: opts.DownloadDir, ETA: -1}}
	if withFiles {
		t.stats.Length = 3 << 20
		t.files = []client.File{
			{Index: 0, Path: name + "/a.mkv", Length: 2 << 20},
			{Index: 1, Path: name + "/b.nfo", Length: 1 << 20},
		}
		t.pieces = client.Pieces{Count: 12, Bitmap: make([]byte, 2)}
	}
	f.torrents[id] = t
	f.order = append(f.order, id)
	return id, nil
}

func (f *fakeEngine) Add(_ context.Context, source string, opts client.AddOptions) (client.TorrentID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if strings.HasPrefix(source, "magnet:") {
		u, err := url.Parse(source)
		if err != nil {
			return "", err
		}
		xt := u.Query().Get("xt")
		h, ok := strings.CutPrefix(xt, "urn:btih:")
		if !ok || !isHash(strings.ToLower(h)) {
			return "", errors.New("client: bad magnet link")
		}
		f.record("add %s dir=%s paused=%v", strings.ToLower(h), opts.DownloadDir, opts.Paused)
		return f.addLocked(client.TorrentID(strings.ToLower(h)), u.Query().Get("dn"), opts, false)
	}
	if isHash(strings.ToLower(source)) {
		f.record("add %s dir=%s paused=%v", strings.ToLower(source), opts.DownloadDir, opts.Paused)
		return f.addLocked(client.TorrentID(strings.ToLower(source)), "", opts, false)
	}
	b, err := os.ReadFile(source)
	if err != nil {
		return "", fmt.Errorf("client: %q is not a magnet link or a torrent file: %w", source, err)
	}
	f.mu.Unlock()
	id, err := f.AddMetainfo(context.Background(), b, opts)
	f.mu.Lock()
	return id, err
}

func (f *fakeEngine) AddMetainfo(_ context.Context, b []byte, opts client.AddOptions) (client.TorrentID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(b) == 0 || b[0] != 'd' {
		return "", errors.New("client: not a bencoded torrent")
	}
	id := hashOf(string(b))
	f.record("addmeta %s dir=%s paused=%v", id, opts.DownloadDir, opts.Paused)
	return f.addLocked(id, "meta-"+string(id[:6]), opts, true)
}

func (f *fakeEngine) get(id client.TorrentID) (*fakeTorrent, error) {
	t, ok := f.torrents[id]
	if !ok {
		return nil, client.ErrNotFound
	}
	return t, nil
}

func (f *fakeEngine) do(verb string, id client.TorrentID, fn func(*fakeTorrent)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return err
	}
	f.record("%s %s", verb, id)
	if fn != nil {
		fn(t)
	}
	return nil
}

func (f *fakeEngine) Remove(id client.TorrentID, deleteData bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return err
	}
	f.record("remove %s delete=%v", id, deleteData)
	delete(f.torrents, id)
	for i, o := range f.order {
		if o == id {
			f.order = append(f.order[:i], f.order[i+1:]...)
			break
		}
	}
	return nil
}

func (f *fakeEngine) Pause(id client.TorrentID) error {
	return f.do("pause", id, func(t *fakeTorrent) { t.stats.State = client.StatePaused })
}

func (f *fakeEngine) Resume(id client.TorrentID) error {
	return f.do("resume", id, func(t *fakeTorrent) {
		if t.stats.Length > 0 && t.stats.BytesCompleted == t.stats.Length {
			t.stats.State = client.StateSeeding
		} else {
			t.stats.State = client.StateDownloading
		}
	})
}

func (f *fakeEngine) Verify(id client.TorrentID) error {
	return f.do("verify", id, func(t *fakeTorrent) { t.stats.State = client.StateChecking })
}

func (f *fakeEngine) Reannounce(id client.TorrentID) error { return f.do("reannounce", id, nil) }

func (f *fakeEngine) List() []client.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]client.Stats, 0, len(f.order))
	for _, id := range f.order {
		out = append(out, f.torrents[id].stats)
	}
	return out
}

func (f *fakeEngine) Get(id client.TorrentID) (client.Stats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return client.Stats{}, err
	}
	return t.stats, nil
}

func (f *fakeEngine) Files(id client.TorrentID) ([]client.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return nil, err
	}
	return append([]client.File(nil), t.files...), nil
}

func (f *fakeEngine) Peers(id client.TorrentID) ([]client.Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return nil, err
	}
	return t.peers, nil
}

func (f *fakeEngine) Trackers(id client.TorrentID) ([]client.Tracker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return nil, err
	}
	return t.trackers, nil
}

func (f *fakeEngine) Pieces(id client.TorrentID) (client.Pieces, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return client.Pieces{}, err
	}
	return t.pieces, nil
}

func (f *fakeEngine) SetLocation(id client.TorrentID, dir string, move bool) error {
	return f.do("location", id, func(t *fakeTorrent) { t.stats.DownloadDir = dir })
}

func (f *fakeEngine) SetTorrentRateLimits(id client.TorrentID, down, up int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return err
	}
	f.record("torrent-limits %s %d %d", id, down, up)
	t.stats.DownloadLimit, t.stats.UploadLimit = down, up
	return nil
}

func (f *fakeEngine) SetSequential(id client.TorrentID, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return err
	}
	f.record("sequential %s %v", id, on)
	return nil
}

func (f *fakeEngine) SetFilePriority(id client.TorrentID, index int, prio client.Priority) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return err
	}
	if index < 0 || index >= len(t.files) {
		return fmt.Errorf("client: file index %d out of range", index)
	}
	f.record("prio %s %d %s", id, index, prio)
	t.files[index].Priority = prio
	return nil
}

func (f *fakeEngine) SetRateLimits(down, up int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("limits %d %d", down, up)
	f.down, f.up = down, up
}

func (f *fakeEngine) RateLimits() (int64, int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.down, f.up
}

func (f *fakeEngine) Subscribe(ctx context.Context) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	f.subs = append(f.subs, ch)
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, c := range f.subs {
			if c == ch {
				f.subs = append(f.subs[:i], f.subs[i+1:]...)
				close(ch)
				return
			}
		}
	}()
	return ch
}

func (f *fakeEngine) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (f *fakeEngine) WaitComplete(ctx context.Context, id client.TorrentID) error {
	<-ctx.Done()
	return ctx.Err()
}

func (f *fakeEngine) Close() error { return nil }

func (f *fakeEngine) resetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// edit changes a torrent under the lock (test setup).
func (f *fakeEngine) edit(id client.TorrentID, fn func(*fakeTorrent)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.torrents[id])
}
