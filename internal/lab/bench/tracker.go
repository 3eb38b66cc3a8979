//go:build linux

package bench

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

// startStaticTracker serves, on the peer host, an HTTP tracker that answers
// every announce with the fixed list of seeders (minus the announcer's own
// port). opentracker would list each seeder under the address its announce
// came from, the peer host's main one, not the address its peer socket is
// bound to: several seeders would then share one IP, and clients that keep
// one connection per IP (Transmission) would use one seeder.
func (e *env) startStaticTracker(seeders []netip.AddrPort) (stop func(), err error) {
	ln, err := e.lab.Peer.ListenTCP(netip.AddrPortFrom(e.lab.Peer.Addr4, trackerPort).String())
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		port, _ := strconv.Atoi(r.URL.Query().Get("port"))
		var compact []byte
		for _, s := range seeders {
			if int(s.Port()) == port {
				continue
			}
			a := s.Addr().As4()
			compact = append(compact, a[:]...)
			compact = append(compact, byte(s.Port()>>8), byte(s.Port()))
		}
		b, err := bencode.Marshal(map[string]any{"interval": 60, "min interval": 30, "peers": string(compact)})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write(b)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, nil
}

// seederAddr is the peer host's address for transmission seeder i: .3, .4, …
func (e *env) seederAddr(i int) netip.Addr {
	a := e.lab.Peer.Addr4.As4()
	a[3] += byte(1 + i)
	return netip.AddrFrom4(a)
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}
