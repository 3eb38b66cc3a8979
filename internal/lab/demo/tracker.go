package demo

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// tracker is the smallest HTTP tracker that serves the demo: it keeps the
// peers of each info hash in memory and remembers every address that
// announced, so the demo can show which address the swarm saw.
type tracker struct {
	mu         sync.Mutex
	peers      map[string]map[netip.AddrPort]bool
	onAnnounce func(netip.AddrPort)
}

func newTracker(onAnnounce func(netip.AddrPort)) *tracker {
	return &tracker{peers: map[string]map[netip.AddrPort]bool{}, onAnnounce: onAnnounce}
}

func (t *tracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ih := q.Get("info_hash")
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ip, perr := netip.ParseAddr(host)
	if len(ih) != 20 || err != nil || perr != nil {
		writeBencode(w, map[string]any{"failure reason": "bad announce"})
		return
	}
	// The address is the one the packet came from, never a claimed one.
	me := netip.AddrPortFrom(ip.Unmap(), uint16(port))
	t.mu.Lock()
	set := t.peers[ih]
	if set == nil {
		set = map[netip.AddrPort]bool{}
		t.peers[ih] = set
	}
	if q.Get("event") == "stopped" {
		delete(set, me)
	} else {
		set[me] = true
	}
	var compact []byte
	for p := range set {
		if p != me && p.Addr().Is4() {
			a := p.Addr().As4()
			compact = append(compact, a[:]...)
			compact = append(compact, byte(p.Port()>>8), byte(p.Port()))
		}
	}
	t.mu.Unlock()
	if t.onAnnounce != nil {
		t.onAnnounce(me)
	}
	writeBencode(w, map[string]any{"interval": 5, "peers": string(compact)})
}

func writeBencode(w http.ResponseWriter, v any) {
	b, err := bencode.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Write(b)
}

func encodeInfo(info metainfo.Info) ([]byte, error) {
	b, err := bencode.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("demo: encode torrent info: %w", err)
	}
	return b, nil
}
