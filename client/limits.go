package client

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anacrolix/torrent"
	"golang.org/x/time/rate"
)

// anacrolix's rate limits are client-wide. Per-torrent limits are ours:
// every peer connection comes from our dialer or listener, so each is
// wrapped, and once the handshake says which torrent it serves, its reads
// and writes wait on that torrent's limiters. A throttled read leaves data
// in the socket, so TCP slows the peer down instead of us dropping it.

// torrentLimiter is one torrent's pair of limits; unlimited by default.
type torrentLimiter struct {
	down, up *rate.Limiter
}

func newTorrentLimiter() *torrentLimiter {
	return &torrentLimiter{down: rate.NewLimiter(rate.Inf, 0), up: rate.NewLimiter(rate.Inf, 0)}
}

// limited says whether the torrent has a rate limit of its own.
func (l *torrentLimiter) limited() bool {
	return l.down.Limit() != rate.Inf || l.up.Limit() != rate.Inf
}

func (l *torrentLimiter) set(down, up int64) {
	setLimit(l.down, down)
	setLimit(l.up, up)
}

// setLimit applies bytes/s (0 = unlimited). The burst must hold a whole
// read or chunk (16 KiB) and should not allow much more than a second's worth.
func setLimit(l *rate.Limiter, v int64) {
	if v <= 0 {
		l.SetLimit(rate.Inf)
		return
	}
	l.SetBurst(int(max(v, 64<<10)))
	l.SetLimit(rate.Limit(v))
}

// peerConns pairs wrapped connections with torrents at handshake time.
type peerConns struct {
	mu      sync.Mutex
	pending map[netip.AddrPort]*limitedConn // not yet handshaken, by remote address
	live    map[*limitedConn]struct{}       // every open connection
	// ended hears of every outgoing connection that closed and every dial
	// that failed (the redialer).
	ended func(netip.AddrPort)
}

func (p *peerConns) track(c net.Conn, outgoing bool) net.Conn {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return c
	}
	lc := &limitedConn{Conn: c, owner: p, remote: ap.Addr().Unmap(), outgoing: outgoing}
	lc.remotePort = ap.Port()
	lc.lastRead.Store(time.Now().UnixNano())
	p.mu.Lock()
	if p.pending == nil {
		p.pending = map[netip.AddrPort]*limitedConn{}
		p.live = map[*limitedConn]struct{}{}
	}
	p.pending[lc.key()] = lc
	p.live[lc] = struct{}{}
	p.mu.Unlock()
	return lc
}

// silentSince returns every open connection that has received nothing
// since t.
func (p *peerConns) silentSince(t time.Time) []*limitedConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var silent []*limitedConn
	for c := range p.live {
		if c.lastRead.Load() < t.UnixNano() {
			silent = append(silent, c)
		}
	}
	return silent
}

// handshook gives the connection to remote the limiter of its torrent (if
// any), and says whether we dialed it.
func (p *peerConns) handshook(remote interface{ String() string }, l *torrentLimiter) (_ netip.AddrPort, outgoing bool) {
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	k := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	p.mu.Lock()
	lc := p.pending[k]
	delete(p.pending, k)
	p.mu.Unlock()
	if lc == nil {
		return k, false
	}
	if l != nil {
		lc.lim.Store(l)
	}
	return k, lc.outgoing
}

type limitedConn struct {
	net.Conn
	owner      *peerConns
	remote     netip.Addr
	remotePort uint16
	outgoing   bool
	lim        atomic.Pointer[torrentLimiter]
	lastRead   atomic.Int64 // Unix ns of the last byte received, or of the connection
	closed     sync.Once
}

func (c *limitedConn) key() netip.AddrPort { return netip.AddrPortFrom(c.remote, c.remotePort) }

func (c *limitedConn) Read(b []byte) (int, error) {
	l := c.lim.Load()
	if l != nil && l.down.Limit() != rate.Inf {
		b = b[:min(len(b), l.down.Burst())]
	}
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.lastRead.Store(time.Now().UnixNano())
		if l != nil && l.down.Limit() != rate.Inf {
			_ = l.down.WaitN(context.Background(), n)
		}
	}
	return n, err
}

func (c *limitedConn) Write(b []byte) (int, error) {
	l := c.lim.Load()
	if l == nil || l.up.Limit() == rate.Inf {
		return c.Conn.Write(b)
	}
	written := 0
	for written < len(b) {
		n := min(len(b)-written, l.up.Burst())
		_ = l.up.WaitN(context.Background(), n)
		m, err := c.Conn.Write(b[written : written+n])
		written += m
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// abort closes with a reset instead of a FIN. After an outage a FIN waits
// behind whatever our kernel is still retransmitting, and the peer keeps
// the dead connection (refusing a new one from our address) until it
// arrives; a reset goes out at once.
func (c *limitedConn) abort() {
	if l, ok := c.Conn.(interface{ SetLinger(sec int) error }); ok {
		_ = l.SetLinger(0)
	}
	c.Close()
}

func (c *limitedConn) Close() error {
	c.closed.Do(func() {
		c.owner.mu.Lock()
		if c.owner.pending[c.key()] == c {
			delete(c.owner.pending, c.key())
		}
		delete(c.owner.live, c)
		c.owner.mu.Unlock()
		if c.outgoing && c.owner.ended != nil {
			c.owner.ended(c.key())
		}
	})
	return c.Conn.Close()
}

// limitedDialer wraps the connections a dialer makes.
type limitedDialer struct {
	d     torrent.NetworkDialer
	conns *peerConns
	face  *netFace // where the socket is made
}

func (d limitedDialer) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := d.face.do(func() (err error) {
		c, err = d.d.Dial(ctx, addr)
		return err
	})
	if err != nil {
		// anacrolix dials every family's dialer and cancels the rest when
		// one connects: only a real failure of this family counts.
		ap, perr := netip.ParseAddrPort(addr)
		if perr == nil && ctx.Err() == nil && d.conns.ended != nil &&
			ap.Addr().Unmap().Is4() == (d.d.Network == "tcp4") {
			d.conns.ended(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
		return nil, err
	}
	return d.conns.track(c, true), nil
}

func (d limitedDialer) DialerNetwork() string { return d.d.DialerNetwork() }

// limitedListener wraps the connections a listener accepts.
type limitedListener struct {
	net.Listener
	conns *peerConns
}

func (l limitedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.conns.track(c, false), nil
}
