// A torrent's life in the engine: added, paused, resumed, verified,
// moved, limited and removed.
package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"path/filepath"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// Add adds the torrent of src; a SourceFile is read here, as the engine's
// user.
func (e *Engine) Add(_ context.Context, src Source, opts AddOptions) (TorrentID, error) {
	src, err := src.Load()
	if err != nil {
		return "", err
	}
	if src.spec == nil {
		return "", errors.New("client: empty source: make one with ParseSource or ParseMetainfo")
	}
	rec := e.newRecord(src.spec.InfoHash, opts)
	rec.Magnet = src.magnet
	return e.add(src.torrentSpec(), rec, src.mi, opts.Peers, false)
}

func (e *Engine) newRecord(ih metainfo.Hash, opts AddOptions) record {
	dir := opts.DownloadDir
	if dir == "" {
		dir = e.o.DownloadDir
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	r := record{
		InfoHash:    ih.HexString(),
		DownloadDir: dir,
		Paused:      opts.Paused,
		Sequential:  opts.Sequential,
		SeedGoal:    opts.SeedGoal,
		AddedAt:     time.Now().Truncate(time.Second),
	}
	for _, p := range opts.Peers {
		r.Peers = append(r.Peers, p.String())
	}
	return r
}

// add puts a torrent into the engine and saves its record and mi, the
// .torrent (nil for a magnet until its info arrives), unless restored: then
// both are on disk as they are (rewriting them cost a seedbox 2 synced
// writes a torrent on every start, with the engine locked).
func (e *Engine) add(spec *torrent.TorrentSpec, rec record, mi []byte, peers []netip.AddrPort, restored bool) (TorrentID, error) {
	ih := spec.InfoHash
	id := TorrentID(ih.HexString())
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	if _, ok := e.torrents[ih]; ok {
		return id, &DuplicateError{ID: id}
	}
	dirErr := CheckWritableDir(rec.DownloadDir)
	if dirErr != nil {
		rec.Paused = true
	}
	e.dirs.Store(ih, placement{dir: rec.DownloadDir, renames: maps.Clone(rec.Renames)})
	lim := newTorrentLimiter()
	lim.set(rec.MaxDownloadRate, rec.MaxUploadRate)
	e.limiters.Store(ih, lim)
	spec.DisallowDataDownload = rec.Paused
	spec.DisallowDataUpload = rec.Paused
	if rec.Paused {
		// A paused torrent keeps no connections at all.
		spec.PeerAddrs = nil
	}
	t, _, err := e.cl.AddTorrentSpec(spec)
	if err != nil {
		e.dirs.Delete(ih)
		e.limiters.Delete(ih)
		return "", fmt.Errorf("client: add torrent %s: %w", id, err)
	}
	en := &entry{id: id, ih: ih, t: t, rec: rec, trackers: spec.Trackers}
	if rec.TrackersEdited {
		en.trackers = rec.Trackers
	}
	if dirErr != nil {
		en.err = dirErr.Error()
	}
	if rec.Refused != "" {
		en.err = rec.Refused
	}
	if rec.Paused {
		t.SetMaxEstablishedConns(0)
	}
	t.SetOnWriteChunkError(func(err error) { e.onWriteError(en, err) })
	if len(peers) > 0 && !rec.Paused {
		t.AddPeers(peerInfos(peers))
	}
	e.torrents[ih] = en
	if mi != nil && !restored {
		if err := e.st.saveMetainfo(rec.InfoHash, mi); err != nil {
			e.log.Error("saving metainfo", "torrent", id, "err", err)
		}
	}
	if !restored {
		if err := e.st.saveRecord(rec); err != nil {
			e.log.Error("saving torrent state", "torrent", id, "err", err)
		}
	}
	e.wg.Add(1)
	go e.whenInfo(en, mi == nil)
	e.notifyLocked()
	e.scrapeSoon()
	e.ann.soon()
	e.log.Info("torrent added", "torrent", id, "name", t.Name(), "dir", rec.DownloadDir, "paused", rec.Paused)
	return id, nil
}

func peerInfos(peers []netip.AddrPort) []torrent.PeerInfo {
	out := make([]torrent.PeerInfo, 0, len(peers))
	for _, p := range peers {
		out = append(out, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(p), Source: torrent.PeerSourceDirect, Trusted: true})
	}
	return out
}

// wantsPeers says whether torrent ih is running and still lacks data: the
// redialer's test before it dials a peer again.
func (e *Engine) wantsPeers(ih metainfo.Hash) bool {
	e.mu.Lock()
	en, ok := e.torrents[ih]
	run := ok && !e.closed && !en.rec.Paused && en.err == ""
	e.mu.Unlock()
	// anacrolix's lock: never under e.mu.
	return run && (en.t.Info() == nil || en.t.BytesMissing() > 0)
}

// dialAgain hands a peer we were connected to back to the engine.
func (e *Engine) dialAgain(ih metainfo.Hash, ap netip.AddrPort) {
	e.mu.Lock()
	en, ok := e.torrents[ih]
	e.mu.Unlock()
	if ok {
		en.t.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(ap), Source: torrent.PeerSourceDirect}})
	}
}

// whenInfo waits for the info dictionary, then saves the metainfo (for a
// magnet) and starts downloading with the recorded file priorities.
func (e *Engine) whenInfo(en *entry, saveMeta bool) {
	defer e.wg.Done()
	select {
	case <-en.t.GotInfo():
	case <-en.t.Closed():
		return
	case <-e.ctx.Done():
		return
	}
	if saveMeta {
		mi := en.t.Metainfo()
		var buf bytes.Buffer
		if err := mi.Write(&buf); err != nil {
			e.log.Error("encoding metainfo", "torrent", en.id, "err", err)
		} else if err := e.st.saveMetainfo(string(en.id), buf.Bytes()); err != nil {
			e.log.Error("saving metainfo", "torrent", en.id, "err", err)
		}
	}
	// Suspicious files are judged, and the policy applied, before any
	// piece is wanted: until now every file's priority is none.
	files, paths, media := e.judgeNames(en)
	gated := e.watchHeads(en, files, paths, media)
	e.mu.Lock()
	prios := maps.Clone(en.rec.FilePriorities)
	e.mu.Unlock()
	for i, f := range en.t.Files() {
		if !gated[i] {
			f.SetPriority(piecePriority(prios[i]))
		}
	}
	e.notify()
}

// capPeerRequests keeps our outstanding requests below what the peer
// advertised (reqq). Transmission rejects the request that would fill its
// queue (it allows reqq-1), and anacrolix v1.59.1 answers a reject by
// requesting nothing more from that peer until it is unchoked again, which
// Transmission never does: the download stalled after ~16 MiB.
// TestDownloadTorrentFile exercises it against a real Transmission seeder.
func capPeerRequests(_ *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	if m.Reqq > 1 {
		m.Reqq = max(1, m.Reqq*9/10)
	}
}

func piecePriority(p Priority) torrent.PiecePriority {
	switch p {
	case PriorityOff:
		return torrent.PiecePriorityNone
	case PriorityHigh:
		return torrent.PiecePriorityHigh
	default:
		return torrent.PiecePriorityNormal
	}
}

// onWriteError runs when storage fails (unwritable directory, ENOSPC): the
// torrent is paused with the error shown, instead of anacrolix's default of
// silently disabling download.
func (e *Engine) onWriteError(en *entry, err error) {
	msg := fmt.Sprintf("writing data to %s failed: %v", en.rec.DownloadDir, err)
	if errors.Is(err, errNoSpace) {
		msg = fmt.Sprintf("disk full writing to %s: %v", en.rec.DownloadDir, err)
	}
	e.log.Error("torrent stopped by storage error", "torrent", en.id, "err", err)
	e.mu.Lock()
	first := en.err == ""
	en.err = msg
	e.mu.Unlock()
	if first {
		e.pause(en)
	}
}

// Remove drops a torrent; with deleteData its files are deleted too.
func (e *Engine) Remove(id TorrentID, deleteData bool) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	var info *metainfo.Info
	if en.t.Info() != nil {
		info = en.t.Info()
	}
	stops := e.stopAnnounces([]*entry{en}, nil)
	en.t.Drop()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.sendStopped(stops)
	}()
	e.mu.Lock()
	delete(e.torrents, en.ih)
	dir, rn := en.rec.DownloadDir, renames(en.rec.Renames)
	e.notifyLocked()
	e.mu.Unlock()
	e.dirs.Delete(en.ih)
	e.limiters.Delete(en.ih)
	e.heads.Delete(en.ih)
	e.scrapes.forget(en.ih)
	errs := []error{e.st.remove(string(id)), e.files.Forget(en.ih)}
	if deleteData && info != nil {
		errs = append(errs, deleteTorrentData(dir, info, rn))
	}
	e.log.Info("torrent removed", "torrent", id, "data_deleted", deleteData)
	return errors.Join(errs...)
}

// Pause stops all transfer for a torrent: no data requested or sent, and
// every peer connection closed (anacrolix has no pause of its own).
// Trackers are told "stopped" and not announced to again until Resume.
func (e *Engine) Pause(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	e.pause(en)
	return nil
}

func (e *Engine) pause(en *entry) { e.stop(en, func(r *record) { r.Paused = true }) }

// stop halts the torrent's transfers and saves the record as mark leaves
// it (paused, and maybe more).
func (e *Engine) stop(en *entry, mark func(r *record)) {
	en.t.DisallowDataDownload()
	en.t.DisallowDataUpload()
	en.t.SetMaxEstablishedConns(0)
	if _, err := e.updateRecord(en, mark); err != nil {
		e.log.Error("saving torrent state", "torrent", en.id, "err", err)
	}
	e.ann.soon()
	e.notify()
}

// Resume undoes Pause and clears a storage error (it comes back if the
// cause is still there).
func (e *Engine) Resume(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	// The directory must take writes again, and verified pieces a write
	// error kept in memory must now reach it.
	err = CheckWritableDir(en.rec.DownloadDir)
	if err == nil {
		err = e.files.Retry(en.ih)
	}
	if err != nil {
		e.mu.Lock()
		en.err = err.Error()
		e.mu.Unlock()
		return fmt.Errorf("client: resume %s: %w", id, err)
	}
	rec, err := e.updateRecord(en, func(r *record) {
		en.err = ""
		r.Paused = false
		r.Refused = "" // a magnet's metadata is fetched and checked again
		en.clearSuspectsLocked(r)
	})
	if err != nil {
		e.log.Error("saving torrent state", "torrent", en.id, "err", err)
	}
	en.t.SetMaxEstablishedConns(torrent.NewDefaultClientConfig().EstablishedConnsPerTorrent)
	en.t.AllowDataUpload()
	en.t.AllowDataDownload()
	var peers []netip.AddrPort
	for _, p := range rec.Peers {
		if ap, err := netip.ParseAddrPort(p); err == nil {
			peers = append(peers, ap)
		}
	}
	if len(peers) > 0 {
		en.t.AddPeers(peerInfos(peers))
	}
	e.ann.soon() // "started" goes out at once
	e.notify()
	return nil
}

// Verify re-hashes all data in the background (state "checking").
func (e *Engine) Verify(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	if en.t.Info() == nil {
		return fmt.Errorf("client: verify %s: metadata not known yet", id)
	}
	e.mu.Lock()
	if en.checking {
		e.mu.Unlock()
		return nil
	}
	en.checking = true
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		err := en.t.VerifyDataContext(e.ctx)
		e.mu.Lock()
		en.checking = false
		e.mu.Unlock()
		if err != nil && e.ctx.Err() == nil {
			e.log.Warn("verify failed", "torrent", id, "err", err)
		}
		e.notify()
	}()
	return nil
}

// Reannounce announces to the trackers now (a tracker that asked for a
// min interval, once it has passed), asks them for fresh counts, and asks
// the DHT for peers and announces us there.
func (e *Engine) Reannounce(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	e.ann.now(en.ih, time.Now())
	e.scrapes.expire(en.ih)
	e.scrapeSoon()
	for _, s := range e.cl.DhtServers() {
		_, stop, err := en.t.AnnounceToDht(s)
		if err != nil {
			return fmt.Errorf("client: reannounce %s to DHT: %w", id, err)
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			select {
			case <-time.After(time.Minute):
			case <-e.ctx.Done():
			}
			stop()
		}()
	}
	return nil
}

// TunnelBack is told that the tunnel carries traffic again after an
// outage that began after lastUp. Connections that received nothing since
// are closed and their peers dialed again: a peer's TCP retransmissions
// back off for tens of seconds during an outage, and Transmission, which
// keeps one connection per address, refuses a new one while the dead one
// lives; our reset tells it at once. Every running torrent announces too
// (a tracker's min interval permitting).
func (e *Engine) TunnelBack(lastUp time.Time) {
	silent := map[netip.AddrPort]*limitedConn{}
	for _, c := range e.conns.silentSince(lastUp) {
		silent[c.key()] = c
	}
	now := time.Now()
	e.mu.Lock()
	var ens []*entry
	for _, en := range e.torrents {
		if !en.rec.Paused && en.err == "" {
			ens = append(ens, en)
		}
	}
	e.mu.Unlock()
	// Where each silent connection's peer listens: the address we dialed,
	// or for one that dialed us, its address with the port it announced.
	again := map[*entry][]netip.AddrPort{}
	for _, en := range ens {
		for _, pc := range en.t.PeerConns() {
			ap, err := netip.ParseAddrPort(pc.RemoteAddr.String())
			if err != nil {
				continue
			}
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			c, ok := silent[ap]
			switch {
			case !ok:
			case c.outgoing:
				again[en] = append(again[en], ap)
			case pc.PeerListenPort > 0 && pc.PeerListenPort < 1<<16:
				again[en] = append(again[en], netip.AddrPortFrom(ap.Addr(), uint16(pc.PeerListenPort)))
			}
		}
		e.ann.now(en.ih, now)
	}
	for _, c := range silent {
		c.abort()
	}
	// Dialed once our resets have arrived (a peer that answers one with a
	// challenge ACK needs a second round trip), so that the peer has
	// dropped the dead connection when the new one arrives.
	time.AfterFunc(500*time.Millisecond, func() {
		if e.ctx.Err() != nil {
			return
		}
		for en, aps := range again {
			en.t.AddPeers(peerInfos(aps))
		}
	})
	n := 0
	for _, aps := range again {
		n += len(aps)
	}
	e.log.Info("tunnel back: silent connections closed, dialing their peers again, announcing",
		"closed", len(silent), "dialing", n, "since_up", now.Sub(lastUp).Round(time.Second))
}

// SetTrackers replaces the torrent's announce list: tiers of HTTP(S), UDP
// or WebTorrent URLs, duplicates and empty tiers dropped. Trackers left
// out that were told "started" are told "stopped".
func (e *Engine) SetTrackers(id TorrentID, tiers [][]string) error {
	clean, err := CheckTrackers(tiers)
	if err != nil {
		return fmt.Errorf("client: set trackers of %s: %w", id, err)
	}
	en, err := e.get(id)
	if err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, tier := range clean {
		for _, u := range tier {
			kept[u] = true
		}
	}
	if _, err := e.updateRecord(en, func(r *record) {
		r.Trackers, r.TrackersEdited = clean, true
		en.trackers = clean
	}); err != nil {
		return err
	}
	gone := e.stopAnnounces([]*entry{en}, func(u string) bool { return !kept[u] })
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.sendStopped(gone)
	}()
	e.ann.soon()
	e.notify()
	return nil
}

// CheckTrackers validates an announce list for SetTrackers and returns it
// without duplicates or empty tiers.
func CheckTrackers(tiers [][]string) ([][]string, error) {
	seen := map[string]bool{}
	var out [][]string
	for _, tier := range tiers {
		var t []string
		for _, raw := range tier {
			u, err := url.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("tracker URL %q: %w", raw, err)
			}
			switch u.Scheme {
			case "http", "https", "udp", "ws", "wss":
			default:
				return nil, fmt.Errorf("tracker URL %q: the scheme must be http, https or udp", raw)
			}
			if u.Host == "" {
				return nil, fmt.Errorf("tracker URL %q: no host", raw)
			}
			if !seen[raw] {
				seen[raw] = true
				t = append(t, raw)
			}
		}
		if len(t) > 0 {
			out = append(out, t)
		}
	}
	return out, nil
}

// SetLocation moves a torrent's data (move) or re-points it (!move) to dir.
// The torrent leaves the engine while its files move, so nothing writes to
// them meanwhile; its state (counters, settings) is kept.
func (e *Engine) SetLocation(id TorrentID, dir string, move bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("client: set location of %s: %w", id, err)
	}
	en, err := e.get(id)
	if err != nil {
		return err
	}
	info := en.t.Info()
	if move && info == nil {
		return fmt.Errorf("client: move %s: metadata not known yet", id)
	}
	if err := CheckWritableDir(dir); err != nil {
		return fmt.Errorf("client: set location of %s: %s", id, err)
	}
	err = e.reopen(en, func(rec *record) error {
		if move && rec.DownloadDir != dir {
			root := renames(rec.Renames).apply([]string{info.BestName()})[0]
			if err := moveTree(filepath.Join(rec.DownloadDir, root), filepath.Join(dir, root)); err != nil {
				return fmt.Errorf("client: move %s to %s: %w (the torrent stays in %s)", id, dir, err, rec.DownloadDir)
			}
		}
		rec.DownloadDir = dir
		return nil
	})
	if err != nil {
		return err
	}
	if !move && info != nil {
		return e.Verify(id)
	}
	return nil
}

// reopen drops the torrent, lets change edit its record (and the disk)
// while no storage holds its files open, and adds it again: with the
// changed record, or the old one if change failed (whose error is then
// returned).
func (e *Engine) reopen(en *entry, change func(*record) error) error {
	e.mu.Lock()
	e.foldCounters(en)
	rec := en.rec
	delete(e.torrents, en.ih)
	e.mu.Unlock()
	en.t.Drop()
	e.dirs.Delete(en.ih)

	changed := rec
	changed.Renames = maps.Clone(rec.Renames)
	changeErr := change(&changed)
	if changeErr == nil {
		rec = changed
	}
	mi, err := e.st.metainfo(rec.InfoHash)
	if err == nil {
		var src *torrent.TorrentSpec
		if src, err = e.savedSpec(rec, mi); err == nil {
			_, err = e.add(src, rec, mi, nil, false)
		}
	}
	if err != nil {
		return errors.Join(changeErr, fmt.Errorf("client: re-add %s: %w", en.id, err))
	}
	return changeErr
}

// SetTorrentRateLimits limits one torrent, in bytes/s (0 = no limit of its
// own; the global limits still apply). Kept across restarts.
func (e *Engine) SetTorrentRateLimits(id TorrentID, down, up int64) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	if l, ok := e.limiters.Load(en.ih); ok {
		l.(*torrentLimiter).set(down, up)
		if l.(*torrentLimiter).limited() {
			for _, pc := range en.t.PeerConns() {
				if isUTP(pc) {
					pc.Close() // see PeerConnAdded in config
				}
			}
		}
	}
	_, err = e.updateRecord(en, func(r *record) {
		r.MaxDownloadRate, r.MaxUploadRate = max(down, 0), max(up, 0)
	})
	e.notify()
	return err
}

// SetSequential turns in-order downloading on or off (kept across restarts).
func (e *Engine) SetSequential(id TorrentID, on bool) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	_, err = e.updateRecord(en, func(r *record) { r.Sequential = on })
	e.notify()
	return err
}

// SetFilePriority sets the priority of file index (as in Files).
func (e *Engine) SetFilePriority(id TorrentID, index int, prio Priority) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	if en.t.Info() == nil {
		return fmt.Errorf("client: set file priority on %s: metadata not known yet", id)
	}
	files := en.t.Files()
	if index < 0 || index >= len(files) {
		return fmt.Errorf("client: set file priority on %s: no file %d (it has %d)", id, index, len(files))
	}
	files[index].SetPriority(piecePriority(prio))
	_, err = e.updateRecord(en, func(r *record) {
		if r.FilePriorities == nil {
			r.FilePriorities = map[int]Priority{}
		}
		r.FilePriorities[index] = prio
		if prio == PriorityNormal {
			delete(r.FilePriorities, index)
		}
	})
	return err
}
