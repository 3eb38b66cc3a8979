package client

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/anacrolix/torrent"
)

const sampleEvery = time.Second

// sampler smooths transfer rates, records completion times, nudges
// sequential torrents, and wakes subscribers about once a second.
func (e *Engine) sampler() {
	defer e.wg.Done()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case now := <-tick.C:
			e.sample(now)
		}
	}
}

func (e *Engine) sample(now time.Time) {
	e.mu.Lock()
	ens := make([]*entry, 0, len(e.torrents))
	var mayRest []bool
	for _, en := range e.torrents {
		ens = append(ens, en)
		mayRest = append(mayRest, en.mayRest(now))
	}
	e.mu.Unlock()
	// A torrent that had no connection at the last look had none since
	// unless one was added, to some torrent (it may have come and gone).
	added := e.connsAdded.Load()
	connsUnchanged := added == e.sampledConns
	e.sampledConns = added
	for i, en := range ens {
		if connsUnchanged && mayRest[i] && en.t.Complete().Bool() {
			continue
		}
		st := en.t.Stats()
		read := st.BytesReadUsefulData.Int64()
		out := st.BytesWrittenData.Int64()
		complete := e.isComplete(en)
		e.mu.Lock()
		if en.sampled {
			dt := now.Sub(en.lastAt).Seconds()
			if dt > 0 {
				// Exponential smoothing with a ~3 s time constant.
				a := 1 - math.Exp(-dt/3)
				en.down += a * (float64(read-en.lastRead)/dt - en.down)
				en.up += a * (float64(out-en.lastOut)/dt - en.up)
			}
		}
		// The first sample counts what moved since the engine started.
		if read != en.lastRead || out != en.lastOut {
			en.lastActive = now
		}
		if read != en.lastRead {
			en.lastIn = now
		}
		en.sampled, en.lastRead, en.lastOut, en.lastAt = true, read, out, now
		en.hadConns = st.ActivePeers > 0
		var atGoal bool
		var r float64
		if complete && !en.rec.Paused && !en.rec.Finished && en.err == "" && en.t.Info() != nil {
			// Idle since the last data, or since it completed, but not
			// before this engine started: a restart must not stop at once
			// every torrent that seeded before it.
			last := en.lastActive
			if last.IsZero() {
				last = en.rec.DoneAt
				if last.Before(e.started) {
					last = e.started
				}
			}
			r = ratio(en.rec.Uploaded+out, en.t.Length(), en.rec.Downloaded+read)
			atGoal = en.rec.SeedGoal.reached(e.seedDef, r, last, now)
		}
		var save *record
		if noteDone(&en.rec, complete, now) || en.doneUnsaved {
			en.doneUnsaved = false
			r := en.rec
			save = &r
		}
		seq := en.rec.Sequential && !en.rec.Paused && !complete && en.t.Info() != nil
		e.mu.Unlock()
		if save != nil {
			if err := e.st.saveRecord(*save); err != nil {
				e.log.Error("saving torrent state", "torrent", en.id, "err", err)
			}
			e.log.Info("torrent complete", "torrent", en.id, "name", en.t.Name())
		}
		if seq {
			raiseNextPieces(en.t, 8)
		}
		if atGoal {
			e.stopAtGoal(en, r)
		}
	}
	e.notify()
}

// quietEvery is how often the sampler looks at a resting torrent: one
// complete, without connections and with nothing moving at the last look,
// while no connection was made anywhere since (entry.mayRest). Its
// counters only move through a connection, and a seedbox holds thousands
// of such torrents: reading every one each second was most of its idle
// CPU. A seeding goal is reached at most this much late.
const quietEvery = 10 * time.Second

// mayRest: no connection and nothing moving at the last look, which was
// less than quietEvery ago; the sampler skips the torrent if it is still
// complete and no connection was made since. With e.mu.
func (en *entry) mayRest(now time.Time) bool {
	return en.sampled && !en.hadConns && now.Sub(en.lastAt) < quietEvery && en.down < 1 && en.up < 1 && !en.doneUnsaved
}

// raiseNextPieces gives the first n missing wanted pieces high priority, so
// the request strategy fetches roughly in order (best-effort sequential).
func raiseNextPieces(t *torrent.Torrent, n int) {
	for i := 0; i < t.NumPieces() && n > 0; i++ {
		ps := t.PieceState(i)
		if ps.Complete || ps.Priority == torrent.PiecePriorityNone {
			continue
		}
		if ps.Priority < torrent.PiecePriorityHigh {
			t.Piece(i).SetPriority(torrent.PiecePriorityHigh)
		}
		n--
	}
}

// isComplete: every wanted piece is verified. Pieces only of files set to
// PriorityOff are not wanted: a torrent with some files unselected is done,
// and seeds what it has, once the selected ones are, as in Transmission
// (Sonarr and Radarr import a download only then).
func (e *Engine) isComplete(en *entry) bool {
	done, _ := e.wantedLeft(en)
	return done
}

// wantedLeft is wantedLeft for en, its file priorities read under e.mu.
func (e *Engine) wantedLeft(en *entry) (done bool, left int64) {
	e.mu.Lock()
	off := unwanted(&en.rec)
	e.mu.Unlock()
	return wantedLeft(en.t, off)
}

// unwanted is the set of files set to PriorityOff (nil: none). With e.mu.
func unwanted(rec *record) map[int]bool {
	var off map[int]bool
	for i, p := range rec.FilePriorities {
		if p == PriorityOff {
			if off == nil {
				off = map[int]bool{}
			}
			off[i] = true
		}
	}
	return off
}

// wantedLeft says whether every wanted piece is verified, and how many
// bytes of wanted pieces are not. The files come from the record, not from
// anacrolix's piece priorities: those are all "none" until whenInfo sets
// them, which would make every new torrent look done.
func wantedLeft(t *torrent.Torrent, off map[int]bool) (done bool, left int64) {
	info := t.Info()
	if info == nil {
		return false, 0
	}
	if t.Complete().Bool() {
		return true, 0
	}
	var want []bool // nil: every piece
	if len(off) > 0 {
		want = make([]bool, t.NumPieces())
		for i, f := range t.Files() {
			if !off[i] {
				for p := f.BeginPieceIndex(); p < f.EndPieceIndex(); p++ {
					want[p] = true
				}
			}
		}
	}
	pl, length, start := info.PieceLength, t.Length(), 0
	for _, r := range t.PieceStateRuns() {
		end := start + r.Length
		if !r.Complete {
			for p := start; p < end; p++ {
				if want == nil || want[p] {
					left += min(int64(p+1)*pl, length) - int64(p)*pl
				}
			}
		}
		start = end
	}
	return left == 0, left
}

// stallAfter: a torrent that received nothing for this long is stalled,
// whatever peers it counts.
var stallAfter = 10 * time.Second

// noteDone records when a torrent first completed and says whether rec
// changed (and should be saved).
func noteDone(rec *record, complete bool, now time.Time) bool {
	if !complete || !rec.DoneAt.IsZero() {
		return false
	}
	rec.DoneAt = now.Truncate(time.Second)
	return true
}

func (e *Engine) notify() {
	e.mu.Lock()
	e.notifyLocked()
	e.mu.Unlock()
}

func (e *Engine) notifyLocked() {
	for ch := range e.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribe implements Controller.
func (e *Engine) Subscribe(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	e.mu.Lock()
	if e.closed {
		close(ch)
		e.mu.Unlock()
		return ch
	}
	e.subs[ch] = struct{}{}
	e.mu.Unlock()
	go func() {
		select {
		case <-ctx.Done():
		case <-e.ctx.Done():
		}
		e.mu.Lock()
		if _, ok := e.subs[ch]; ok {
			delete(e.subs, ch)
			close(ch)
		}
		e.mu.Unlock()
	}()
	return ch
}

// WaitComplete blocks until every wanted piece is verified, the torrent
// fails with a storage error or is removed, or ctx ends.
func (e *Engine) WaitComplete(ctx context.Context, id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	select {
	case <-en.t.GotInfo():
	case <-ctx.Done():
		return ctx.Err()
	case <-en.t.Closed():
		return fmt.Errorf("client: torrent %s removed", id)
	}
	for {
		done := en.t.Complete().On()
		// The error first: verified pieces that could not be written (disk
		// full) stay in memory and count as complete, but are not on disk.
		e.mu.Lock()
		msg := en.err
		e.mu.Unlock()
		if msg != "" {
			return fmt.Errorf("client: torrent %s: %s", id, msg)
		}
		if e.isComplete(en) {
			return nil
		}
		// Storage errors, and the last wanted piece of a partial selection,
		// arrive without a Complete change: recheck each second.
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-en.t.Closed():
			return fmt.Errorf("client: torrent %s removed", id)
		case <-time.After(sampleEvery):
		}
	}
}

// List returns all torrents, oldest first.
func (e *Engine) List() []Stats {
	e.mu.Lock()
	ens := make([]*entry, 0, len(e.torrents))
	for _, en := range e.torrents {
		ens = append(ens, en)
	}
	// Sorted before their stats are made: pointers move faster than Stats.
	slices.SortFunc(ens, func(a, b *entry) int {
		if c := a.rec.AddedAt.Compare(b.rec.AddedAt); c != 0 {
			return c
		}
		return strings.Compare(string(a.id), string(b.id))
	})
	e.mu.Unlock()
	out := make([]Stats, 0, len(ens))
	for _, en := range ens {
		out = append(out, e.stats(en))
	}
	return out
}

// Get returns one torrent's stats.
func (e *Engine) Get(id TorrentID) (Stats, error) {
	en, err := e.get(id)
	if err != nil {
		return Stats{}, err
	}
	return e.stats(en), nil
}

func (e *Engine) stats(en *entry) Stats {
	t := en.t
	ts := t.Stats()
	s := Stats{
		ID:             en.id,
		Name:           t.Name(),
		PeersConnected: ts.ActivePeers,
		PeersKnown:     ts.TotalPeers,
		Seeders:        ts.ConnectedSeeders,
		Leechers:       ts.ActivePeers - ts.ConnectedSeeders,
		ETA:            -1,
	}
	haveInfo := t.Info() != nil
	complete := false
	checking := false
	var left int64
	switch {
	case haveInfo && t.Complete().Bool():
		// Every piece verified (a seedbox's usual torrent): nothing to
		// walk.
		s.Length = t.Length()
		complete, s.BytesCompleted = true, s.Length
	case haveInfo:
		s.Length = t.Length()
		complete, left = e.wantedLeft(en)
		// anacrolix's BytesCompleted counts blocks not yet verified too.
		pl, start := t.Info().PieceLength, int64(0)
		for _, r := range t.PieceStateRuns() {
			if r.Checking || r.Hashing || r.QueuedForHash {
				checking = true
			}
			end := start + int64(r.Length)
			if r.Complete {
				s.BytesCompleted += min(end*pl, s.Length) - start*pl
			}
			start = end
		}
		s.BytesUnchecked = max(0, t.BytesCompleted()-s.BytesCompleted)
	}
	if s.Name == "" {
		s.Name = string(en.id)
	}
	e.mu.Lock()
	if noteDone(&en.rec, complete, time.Now()) {
		// Seen done here first: DoneAt must not lag what State says.
		en.doneUnsaved = true
	}
	s.Error = en.err
	s.DownloadRate = int64(en.down)
	s.UploadRate = int64(en.up)
	s.Downloaded = en.rec.Downloaded + ts.BytesReadUsefulData.Int64()
	s.Uploaded = en.rec.Uploaded + ts.BytesWrittenData.Int64()
	s.AddedAt = en.rec.AddedAt
	s.DoneAt = en.rec.DoneAt
	s.DownloadDir = en.rec.DownloadDir
	if haveInfo {
		// A renamed root renames the torrent, as in Transmission.
		s.Name = renames(en.rec.Renames).apply([]string{t.Info().BestName()})[0]
	}
	s.Sequential = en.rec.Sequential
	s.DownloadLimit, s.UploadLimit = en.rec.MaxDownloadRate, en.rec.MaxUploadRate
	s.SeedGoal, s.Finished, s.LastActive = en.rec.SeedGoal, en.rec.Finished, en.lastActive
	if haveInfo {
		s.TorrentFile = en.metainfoPath(e.st)
	}
	s.Warnings, s.Held = en.warningsLocked(), en.heldLocked()
	paused := en.rec.Paused
	silent := !en.lastIn.IsZero() && time.Since(en.lastIn) > stallAfter
	checking = checking || en.checking
	e.mu.Unlock()
	s.Ratio = ratio(s.Uploaded, s.Length, s.Downloaded)
	switch {
	case s.Error != "":
		s.State = StateError
	case paused:
		s.State = StatePaused
	case !haveInfo:
		s.State = StateMetadata
	case checking:
		s.State = StateChecking
	case complete:
		s.State = StateSeeding
	case s.DownloadRate < 1 && s.Seeders == 0, silent:
		// No one to download from, or those connected have sent
		// nothing for a while (an outage: their connections still
		// count as up).
		s.State = StateStalled
	default:
		s.State = StateDownloading
	}
	if s.State == StateDownloading && s.DownloadRate > 0 {
		s.ETA = time.Duration(float64(left)/float64(s.DownloadRate)) * time.Second
	}
	if complete {
		s.ETA = 0
	}
	return s
}

// Files lists the torrent's files (empty until the info is known).
func (e *Engine) Files(id TorrentID) ([]File, error) {
	en, err := e.get(id)
	if err != nil {
		return nil, err
	}
	if en.t.Info() == nil {
		return nil, nil
	}
	// Priorities as recorded: anacrolix's are none until whenInfo sets
	// them, and stay so while a file waits for its first bytes to be
	// checked (headWatch).
	e.mu.Lock()
	rn := renames(en.rec.Renames)
	prios := maps.Clone(en.rec.FilePriorities)
	e.mu.Unlock()
	paths := torrentPaths(en.t.Info())
	complete := en.t.Complete().Bool()
	var out []File
	for i, f := range en.t.Files() {
		done := f.Length()
		if !complete {
			done = f.BytesCompleted()
		}
		out = append(out, File{
			Index:          i,
			Path:           strings.Join(rn.apply(paths[i]), "/"),
			Length:         f.Length(),
			BytesCompleted: done,
			Priority:       prios[i],
		})
	}
	return out, nil
}

// Peers lists connected peers.
func (e *Engine) Peers(id TorrentID) ([]Peer, error) {
	en, err := e.get(id)
	if err != nil {
		return nil, err
	}
	n := 0
	if en.t.Info() != nil {
		n = en.t.NumPieces()
	}
	var out []Peer
	for _, pc := range en.t.PeerConns() {
		ps := pc.Stats()
		p := Peer{
			Flags:    string(pc.Discovery),
			Network:  pc.Network,
			DownRate: int64(ps.DownloadRate),
			UpRate:   int64(ps.LastWriteUploadRate),
		}
		if ap, err := netip.ParseAddrPort(pc.RemoteAddr.String()); err == nil {
			p.Addr = ap
		}
		if name, ok := pc.PeerClientName.Load().(string); ok && name != "" {
			p.Client = name
		} else {
			p.Client = strings.TrimRight(string(pc.PeerID[:8]), "\x00")
		}
		if n > 0 {
			p.Progress = float64(ps.RemotePieceCount) / float64(n)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.String() < out[j].Addr.String() })
	return out, nil
}

// Trackers lists the torrent's announce URLs with what each answered.
func (e *Engine) Trackers(id TorrentID) ([]Tracker, error) {
	en, err := e.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	running := !en.rec.Paused && en.err == ""
	tiers := en.trackers
	e.mu.Unlock()
	var out []Tracker
	for tier, urls := range tiers {
		for _, u := range urls {
			tr := Tracker{URL: u, Tier: tier, Status: TrackerNotContacted, Seeders: -1, Leechers: -1, Downloaded: -1}
			if !announceable(u) {
				tr.Status = TrackerNotUsed
			}
			e.ann.mu.Lock()
			if s, ok := e.ann.m[trackerKey{u, en.ih}]; ok {
				s.describe(&tr, running)
			}
			e.ann.mu.Unlock()
			if sc, ok := e.scrapes.get(u, en.ih); ok {
				tr.LastScrape, tr.ScrapeErr = sc.at, sc.err
				if sc.err == "" {
					tr.Seeders, tr.Leechers, tr.Downloaded = sc.seeders, sc.leechers, sc.downloaded
				}
			}
			out = append(out, tr)
		}
	}
	return out, nil
}

func hostOf(rawURL string) string {
	rest := rawURL
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// Pieces returns the bitmap of verified pieces.
func (e *Engine) Pieces(id TorrentID) (Pieces, error) {
	en, err := e.get(id)
	if err != nil {
		return Pieces{}, err
	}
	if en.t.Info() == nil {
		return Pieces{}, nil
	}
	var p Pieces
	p.Count = en.t.NumPieces()
	p.Bitmap = make([]byte, (p.Count+7)/8)
	i := 0
	for _, r := range en.t.PieceStateRuns() {
		for k := 0; k < r.Length; k++ {
			if r.Complete {
				p.Bitmap[i/8] |= 0x80 >> (i % 8)
				p.Complete++
			}
			i++
		}
	}
	return p, nil
}
