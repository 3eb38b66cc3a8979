//go:build linux

package netlab

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// Tracker is the lab's own HTTP tracker, for what opentracker cannot do:
// tell who announced (the demo shows that the swarm sees the VPN server's
// address), or hand out seeders at the addresses their sockets are bound
// to (the benchmark's). It answers with compact IPv4 peer lists.
type Tracker struct {
	// Announce is the URL to announce to, once StartTracker serves it.
	Announce string

	opt    TrackerOptions
	srv    *http.Server
	mu     sync.Mutex
	swarms map[string]map[netip.AddrPort]bool // by info hash
}

// TrackerOptions says how a Tracker answers.
type TrackerOptions struct {
	// Peers, if set, is the whole swarm: every announce is answered with
	// it, less the entries on the announcer's own port. The seeders on a
	// lab's peer host announce from its main address whatever address
	// their sockets are bound to, so the port is what tells a seeder its
	// own entry. Unset, the tracker lists the peers that announced each
	// info hash (and have not stopped), at the address each announce came
	// from, never a claimed one.
	Peers []netip.AddrPort
	// PeersFor, if set, answers each announce instead of Peers: it is
	// given the announcer (as OnAnnounce is) and returns whom to tell it
	// about. The benchmark's seeding test keeps its leechers apart with it,
	// so that all they get comes from the one seeder measured.
	PeersFor func(announcer netip.AddrPort) []netip.AddrPort
	// OnAnnounce, if set, is called with every announcer: the address its
	// announce came from, with the port it claimed.
	OnAnnounce func(netip.AddrPort)
	// Interval is how often announcers are told to announce (0: a
	// minute); MinInterval, if set, the least they may wait.
	Interval, MinInterval time.Duration
}

// NewTracker returns a Tracker to serve as an http.Handler.
func NewTracker(opt TrackerOptions) *Tracker {
	if opt.Interval == 0 {
		opt.Interval = time.Minute
	}
	return &Tracker{opt: opt, swarms: map[string]map[netip.AddrPort]bool{}}
}

// StartTracker serves a Tracker on h's address at port, until Close.
func (h *Host) StartTracker(port int, opt TrackerOptions) (*Tracker, error) {
	addr := netip.AddrPortFrom(h.Addr4, uint16(port))
	ln, err := h.ListenTCP(addr.String())
	if err != nil {
		return nil, fmt.Errorf("netlab: tracker: %w", err)
	}
	t := NewTracker(opt)
	t.Announce = fmt.Sprintf("http://%s/announce", addr)
	t.srv = &http.Server{Handler: t, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = t.srv.Serve(ln) }()
	return t, nil
}

// Close stops serving.
func (t *Tracker) Close() error {
	if t.srv == nil {
		return nil
	}
	return t.srv.Close()
}

// ServeHTTP answers an announce.
func (t *Tracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ih := q.Get("info_hash")
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ip, perr := netip.ParseAddr(host)
	if len(ih) != 20 || err != nil || perr != nil {
		writeBencode(w, map[string]any{"failure reason": "bad announce"})
		return
	}
	me := netip.AddrPortFrom(ip.Unmap(), uint16(port))
	peers := t.peers(ih, me, q.Get("event") == "stopped")
	if t.opt.OnAnnounce != nil {
		t.opt.OnAnnounce(me)
	}
	var compact []byte
	for _, p := range peers {
		if p.Addr().Is4() {
			a := p.Addr().As4()
			compact = append(compact, a[:]...)
			compact = append(compact, byte(p.Port()>>8), byte(p.Port()))
		}
	}
	resp := map[string]any{"interval": int(t.opt.Interval.Seconds()), "peers": string(compact)}
	if t.opt.MinInterval > 0 {
		resp["min interval"] = int(t.opt.MinInterval.Seconds())
	}
	writeBencode(w, resp)
}

// peers records the announce of me for info hash ih and returns the peers
// to tell it about.
func (t *Tracker) peers(ih string, me netip.AddrPort, stopped bool) []netip.AddrPort {
	var out []netip.AddrPort
	if t.opt.PeersFor != nil {
		return t.opt.PeersFor(me)
	}
	if t.opt.Peers != nil {
		for _, p := range t.opt.Peers {
			if p.Port() != me.Port() {
				out = append(out, p)
			}
		}
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	swarm := t.swarms[ih]
	if swarm == nil {
		swarm = map[netip.AddrPort]bool{}
		t.swarms[ih] = swarm
	}
	if stopped {
		delete(swarm, me)
	} else {
		swarm[me] = true
	}
	for p := range swarm {
		if p != me {
			out = append(out, p)
		}
	}
	return out
}

func writeBencode(w http.ResponseWriter, v any) {
	b, err := bencode.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}
