package client

import (
	"net/netip"
	"sync"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// redialer dials again, with backoff, the peers a torrent had an outgoing
// connection to, while it still wants data.
//
// anacrolix forgets a peer when its connection ends and learns it again only
// from the next announce, a minute later at best. That is too slow where it
// matters most: after a crash or an outage the seeder may still hold our
// previous connection, dead but not yet timed out, and Transmission keeps one
// connection per address, so it completes the handshake of the new one and
// closes it. The old connection dies when its next retransmission draws a
// reset from our side, seconds later; a dial every few seconds catches that
// moment instead of the next announce (TestRedialAfterRefusal).
type redialer struct {
	wants func(metainfo.Hash) bool // the torrent exists, runs and lacks data
	dial  func(metainfo.Hash, netip.AddrPort)
	after func(time.Duration, func()) interface{ Stop() bool }
	now   func() time.Time

	mu     sync.Mutex
	closed bool
	peers  map[netip.AddrPort]*redialPeer
}

type redialPeer struct {
	torrents map[metainfo.Hash]struct{}
	fails    int       // redials since the last connection that lasted
	since    time.Time // the last connection's handshake
	lastGood time.Time // forgotten redialPeerTTL after this
	up       bool
	timer    interface{ Stop() bool }
}

const (
	redialFirst = 2 * time.Second
	redialMax   = time.Minute
	// A connection that lasted this long worked: the next dial starts the
	// backoff again.
	redialLasted = time.Minute
	// After this long without a connection the peer is left to the
	// trackers and the DHT.
	redialPeerTTL = 30 * time.Minute
)

func newRedialer(wants func(metainfo.Hash) bool, dial func(metainfo.Hash, netip.AddrPort)) *redialer {
	return &redialer{
		wants: wants,
		dial:  dial,
		after: func(d time.Duration, f func()) interface{ Stop() bool } { return time.AfterFunc(d, f) },
		now:   time.Now,
		peers: map[netip.AddrPort]*redialPeer{},
	}
}

// connected records an outgoing connection to ap that completed the
// handshake for torrent ih.
func (r *redialer) connected(ap netip.AddrPort, ih metainfo.Hash) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	p := r.peers[ap]
	if p == nil {
		p = &redialPeer{torrents: map[metainfo.Hash]struct{}{}}
		r.peers[ap] = p
	}
	p.torrents[ih] = struct{}{}
	now := r.now()
	p.since, p.lastGood, p.up = now, now, true
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
}

// ended records that a connection to ap closed or a dial to it failed;
// peers never connected are not ours to redial.
func (r *redialer) ended(ap netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.peers[ap]
	if r.closed || p == nil || p.timer != nil {
		return
	}
	now := r.now()
	if p.up && now.Sub(p.since) >= redialLasted {
		p.fails = 0
	}
	p.up = false
	if now.Sub(p.lastGood) > redialPeerTTL {
		delete(r.peers, ap)
		return
	}
	d := min(redialFirst<<min(p.fails, 10), redialMax)
	p.timer = r.after(d, func() { r.fire(ap) })
}

// fire dials ap again for each torrent that still wants data.
func (r *redialer) fire(ap netip.AddrPort) {
	r.mu.Lock()
	p := r.peers[ap]
	if r.closed || p == nil {
		r.mu.Unlock()
		return
	}
	p.timer = nil
	// One step of backoff per dial: a dial reports its end more than
	// once (a failed attempt, then the handshake that is closed).
	p.fails++
	var ihs []metainfo.Hash
	for ih := range p.torrents {
		ihs = append(ihs, ih)
	}
	r.mu.Unlock()

	// wants and dial take anacrolix's lock: never under r.mu, which the
	// handshake callback takes under that lock.
	dialed := false
	for _, ih := range ihs {
		if r.wants(ih) {
			r.dial(ih, ap)
			dialed = true
		}
	}
	if !dialed {
		r.mu.Lock()
		if r.peers[ap] == p && p.timer == nil && !p.up {
			delete(r.peers, ap)
		}
		r.mu.Unlock()
	}
}

// close stops every pending dial.
func (r *redialer) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, p := range r.peers {
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	r.peers = nil
}
