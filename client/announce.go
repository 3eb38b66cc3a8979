package client

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/tracker"
)

// The engine announces to HTTP(S) and UDP trackers itself; anacrolix's
// announcers are off (DisableTrackers). anacrolix v1.59.1 keeps what a
// tracker answers to itself (a refusal never reached a user), cannot be
// told to announce now (a resumed torrent waited out its interval), ignores
// "min interval", and skips the certificate check of HTTPS trackers, whose
// URL may carry a private tracker's passkey. The requests go out through
// the same bound sockets as every other (tracker.go).

var (
	announceTick     = time.Second
	announceTimeout  = 20 * time.Second
	stoppedTimeout   = 5 * time.Second
	defaultInterval  = 30 * time.Minute
	shortestInterval = time.Minute // a tracker asking for less gets this
	// After a failed announce.
	announceRetry = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute,
		2 * time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute}
	// While the torrent wants data and has no peer connected: a swarm just
	// forming (the seeder announcing a second after us) is found in seconds,
	// not at the next interval; past the ladder, the interval again.
	hungryRetry = []time.Duration{5 * time.Second, 10 * time.Second, 15 * time.Second, 20 * time.Second,
		25 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute}
)

// announceParallel bounds announces in flight: a seedbox starting with
// 10,000 torrents spreads them over rounds.
const announceParallel = 16

// annState is what the engine knows of one tracker for one torrent.
type annState struct {
	tier      int
	busy      bool      // an announce is in flight
	started   bool      // "started" answered, no "stopped" since
	completed bool      // "completed" sent, or not owed this session
	lastAt    time.Time // the last announce ended
	lastErr   string    // "" when the last announce succeeded
	res       annResult // of the last successful announce
	next      time.Time // the next scheduled announce; zero: at once
	minNext   time.Time // a tracker's min interval: no asked-for announce before
	fails     int       // failed announces in a row
	// hungry counts announces in a row made while the torrent wanted data
	// and had no peer: its index in hungryRetry, past the first.
	hungry int
}

// annResult is a tracker's answer.
type annResult struct {
	interval, minInterval time.Duration
	seeders, leechers     int // -1: not said
	peers                 []netip.AddrPort
	warning               string
	trackerID             string
}

// annTorrent is what one announce round reads of a torrent.
type annTorrent struct {
	ih       metainfo.Hash
	trackers [][]string
	running  bool // neither paused nor stopped by an error
	done     bool // every wanted piece verified
	// hungry reports whether the torrent wants data and has no peer; it
	// takes anacrolix's lock, so it is read only when it would matter.
	hungry func() bool
}

// due says whether an announce to s's tracker is due at now, and which.
func (s *annState) due(t annTorrent, now time.Time) (tracker.AnnounceEvent, bool) {
	switch {
	case s.busy:
		return tracker.None, false
	case !t.running:
		return tracker.Stopped, s.started
	case !s.started:
		return tracker.Started, !now.Before(s.next)
	case t.done && !s.completed:
		return tracker.Completed, true
	case !now.Before(s.next):
		return tracker.None, true
	case !t.done && s.fails == 0 && s.hungry <= len(hungryRetry) &&
		!now.Before(s.lastAt.Add(hungryRetry[max(s.hungry-1, 0)])) && t.hungry():
		return tracker.None, true
	}
	return tracker.None, false
}

// finish records the outcome of an announce of event ev that began while the
// torrent was (un)done and (not) hungry.
func (s *annState) finish(ev tracker.AnnounceEvent, done, hungry bool, res annResult, err error, now time.Time) {
	s.busy = false
	s.lastAt = now
	if err != nil {
		s.lastErr = err.Error()
		s.fails++
		s.next = now.Add(announceRetry[min(s.fails, len(announceRetry))-1])
		if ev == tracker.Stopped {
			// Not retried: the torrent is paused or gone.
			s.started, s.next = false, time.Time{}
		}
		return
	}
	s.lastErr, s.fails, s.res = "", 0, res
	switch ev {
	case tracker.Stopped:
		s.started, s.next, s.hungry = false, time.Time{}, 0
		return
	case tracker.Started:
		// "completed" is owed only for a download finished while started.
		s.started, s.completed = true, done
	case tracker.Completed:
		s.completed = true
	}
	iv := res.interval
	if iv <= 0 {
		iv = defaultInterval
	}
	iv = max(iv, shortestInterval)
	s.next = now.Add(iv)
	s.minNext = now.Add(res.minInterval)
	if hungry {
		s.hungry++
	} else {
		s.hungry = 0
	}
}

// describe fills what tr shows of s.
func (s *annState) describe(tr *Tracker, running bool) {
	tr.LastAnnounce, tr.Err = s.lastAt, s.lastErr
	switch {
	case s.busy:
		tr.Status = TrackerAnnouncing
	case s.lastAt.IsZero():
	case s.lastErr != "":
		tr.Status = TrackerFailed
	case !running:
		tr.Status = TrackerIdle
	default:
		tr.Status = TrackerWorking
	}
	if !s.lastAt.IsZero() && s.lastErr == "" {
		tr.Peers, tr.Warning = len(s.res.peers), s.res.warning
		tr.Seeders, tr.Leechers = s.res.seeders, s.res.leechers
	}
	if running {
		tr.NextAnnounce = s.next
	}
}

// announcer holds the state of every (tracker, torrent) pair. Its mu is
// taken before anacrolix's lock (annTorrent.hungry), never under it.
type announcer struct {
	mu    sync.Mutex
	m     map[trackerKey]*annState
	slots chan struct{}
	wake  chan struct{}
	key   int32 // BEP 7's key: the same for every announce of this engine
}

func newAnnouncer() *announcer {
	return &announcer{
		m:     map[trackerKey]*annState{},
		slots: make(chan struct{}, announceParallel),
		wake:  make(chan struct{}, 1),
		key:   rand.Int32(),
	}
}

func (a *announcer) soon() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// now schedules an announce of ih to every tracker that has answered at
// once, or when its min interval allows.
func (a *announcer) now(ih metainfo.Hash, now time.Time) {
	a.mu.Lock()
	for k, s := range a.m {
		if k.ih == ih {
			s.next = latest(now, s.minNext)
		}
	}
	a.mu.Unlock()
	a.soon()
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// get returns the state of k, made for tier if new.
func (a *announcer) get(k trackerKey, tier int) *annState {
	s, ok := a.m[k]
	if !ok {
		s = &annState{tier: tier}
		a.m[k] = s
	}
	return s
}

// started returns the trackers of ih that were told "started".
func (a *announcer) started(ih metainfo.Hash) []trackerKey {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []trackerKey
	for k, s := range a.m {
		if k.ih == ih && s.started {
			out = append(out, k)
		}
	}
	return out
}

// forget drops the state of a torrent's trackers: all, or those gone says.
func (a *announcer) forget(ih metainfo.Hash, gone func(url string) bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	forgetTorrent(a.m, ih, gone)
}

func (e *Engine) announceLoop() {
	defer e.wg.Done()
	t := time.NewTicker(announceTick)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		case <-e.ann.wake:
		}
		e.announceRound(time.Now())
	}
}

// announceRound starts every due announce there is a slot for; the rest
// wait for the next round.
func (e *Engine) announceRound(now time.Time) {
	e.mu.Lock()
	var ts []annTorrent
	var ens []*entry
	for _, en := range e.torrents {
		if len(en.trackers) == 0 {
			continue // nothing to announce to
		}
		ens = append(ens, en)
		ts = append(ts, annTorrent{
			ih: en.ih, trackers: en.trackers,
			running: !en.rec.Paused && en.err == "",
			done:    !en.rec.DoneAt.IsZero(),
			hungry:  func() bool { return e.hungry(en) },
		})
	}
	e.mu.Unlock()
	a := e.ann
	for i, t := range ts {
		en := ens[i]
		for tier, urls := range t.trackers {
			for _, u := range urls {
				if !announceable(u) {
					continue
				}
				a.mu.Lock()
				s := a.get(trackerKey{u, t.ih}, tier)
				ev, due := s.due(t, now)
				if due {
					select {
					case a.slots <- struct{}{}:
						s.busy = true
					default:
						due = false
					}
				}
				a.mu.Unlock()
				if !due {
					continue
				}
				// hungry takes anacrolix's lock: read outside a.mu.
				hungry := ev != tracker.Stopped && t.hungry()
				e.wg.Add(1)
				go func() {
					defer e.wg.Done()
					defer func() { <-a.slots }()
					e.announceOne(en, trackerKey{u, t.ih}, ev, t.done, hungry)
				}()
			}
		}
	}
}

// announceable: HTTP(S) and UDP trackers. WebTorrent's wss:// are never
// contacted (WebRTC would reveal local addresses); their Tracker says so.
func announceable(u string) bool {
	i := strings.Index(u, "://")
	if i < 0 {
		return false
	}
	switch strings.ToLower(u[:i]) {
	case "http", "https", "udp", "udp4", "udp6":
		return true
	}
	return false
}

// hungry: the torrent wants data and has no peer connected.
func (e *Engine) hungry(en *entry) bool {
	if en.t.Info() != nil && en.t.BytesMissing() == 0 {
		return false
	}
	return en.t.Stats().ActivePeers == 0
}

func (e *Engine) announceOne(en *entry, k trackerKey, ev tracker.AnnounceEvent, done, hungry bool) {
	timeout := announceTimeout
	if ev == tracker.Stopped {
		timeout = stoppedTimeout
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	var trackerID string
	e.ann.mu.Lock()
	if s, ok := e.ann.m[k]; ok {
		trackerID = s.res.trackerID
	}
	e.ann.mu.Unlock()
	res, err := e.announce(ctx, k.url, e.announceRequest(en, ev), trackerID)
	if err == nil && ev != tracker.Stopped {
		e.addTrackerPeers(en, res.peers)
	}
	e.ann.mu.Lock()
	if s, ok := e.ann.m[k]; ok {
		s.finish(ev, done, hungry, res, err, time.Now())
	}
	e.ann.mu.Unlock()
	if err != nil && e.ctx.Err() == nil {
		// The host only: the URL may hold a passkey.
		e.log.Info("tracker announce failed", "torrent", en.id, "tracker", hostOf(k.url), "event", ev.String(), "err", err)
	} else if err == nil {
		e.log.Debug("tracker announced", "torrent", en.id, "tracker", hostOf(k.url), "event", ev.String(), "peers", len(res.peers))
	}
	e.notify()
}

func (e *Engine) announceRequest(en *entry, ev tracker.AnnounceEvent) tracker.AnnounceRequest {
	st := en.t.Stats()
	left := int64(-1)
	if en.t.Info() != nil {
		left = en.t.BytesMissing()
	}
	// A seeder wants leechers too, fewer of them.
	want := int32(50)
	switch {
	case ev == tracker.Stopped:
		want = 0
	case left != 0:
		want = 200
	}
	return tracker.AnnounceRequest{
		InfoHash:   en.ih,
		PeerId:     e.cl.PeerID(),
		Downloaded: st.BytesReadUsefulData.Int64(),
		Uploaded:   st.BytesWrittenData.Int64(),
		Left:       left,
		Event:      ev,
		Key:        e.ann.key,
		NumWant:    want,
		Port:       uint16(e.ForwardPort()),
	}
}

func (e *Engine) addTrackerPeers(en *entry, peers []netip.AddrPort) {
	pis := make([]torrent.PeerInfo, 0, len(peers))
	for _, p := range peers {
		if p.Port() == 0 || !e.face.local(p.Addr()).IsValid() {
			continue // not dialable: no port, or a family the tunnel lacks
		}
		pis = append(pis, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(p), Source: torrent.PeerSourceTracker})
	}
	if len(pis) > 0 {
		en.t.AddPeers(pis)
	}
}

// stopAnnounces makes the "stopped" announces owed to the trackers of ens
// that were told "started" (all of them, the torrent removed or the engine
// closing; or those gone says, dropped from the list), and forgets those
// trackers' state.
func (e *Engine) stopAnnounces(ens []*entry, gone func(url string) bool) []stopAnnounce {
	var out []stopAnnounce
	for _, en := range ens {
		for _, k := range e.ann.started(en.ih) {
			if gone == nil || gone(k.url) {
				out = append(out, stopAnnounce{en, k.url, e.announceRequest(en, tracker.Stopped)})
			}
		}
		e.ann.forget(en.ih, gone)
	}
	return out
}

type stopAnnounce struct {
	en  *entry
	url string
	req tracker.AnnounceRequest
}

// sendStopped sends them, a few at a time, for stoppedTimeout at most: an
// unreachable tracker must not hold a shutdown.
func (e *Engine) sendStopped(as []stopAnnounce) {
	ctx, cancel := context.WithTimeout(context.Background(), stoppedTimeout)
	defer cancel()
	var wg sync.WaitGroup
	slots := make(chan struct{}, 4*announceParallel)
	for _, a := range as {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			if _, err := e.announce(ctx, a.url, a.req, ""); err != nil {
				e.log.Debug("tracker stop announce failed", "torrent", a.en.id, "tracker", hostOf(a.url), "err", err)
			}
		}()
	}
	wg.Wait()
}
