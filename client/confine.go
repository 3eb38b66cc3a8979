package client

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"
)

// The engine's confinement: everything anacrolix would open by itself is
// switched off and replaced by our sockets, which are bound to the tunnel
// (net.go). In the order of the leak checklist in doc.go.

// confine sets every network-facing field of cfg.
func (e *Engine) confine(cfg *torrent.ClientConfig) {
	o := e.o
	// Peer listeners and dials (TCP): anacrolix's are unbound;
	// attachNetwork adds ours.
	cfg.DisableTCP = true
	cfg.DialForPeerConns = false
	cfg.ListenPort = 0
	cfg.ListenHost = func(string) string { return e.face.preferred().String() }

	// uTP: made by anacrolix in the process's namespace, so only where
	// that namespace's one way out is the tunnel (Options.UTP). There it
	// dials as well as listens; TCP stays ours.
	cfg.DisableUTP = !o.UTP || o.NoListen // uTP's socket is a listener too
	if !cfg.DisableUTP {
		cfg.DialForPeerConns = true
		cfg.ListenPort = o.ListenPort
	}

	// DHT: our bound socket (attachNetwork), never anacrolix's default
	// nodes (router.bittorrent.com & co. through the system resolver):
	// only nodes dhtLoop resolved through the tunnel, of the socket's
	// family. (DhtStartingNodes is told the socket's network, always
	// "udp": choosing by it gave no node at all.)
	cfg.NoDHT = true
	cfg.DhtStartingNodes = func(string) dht.StartingNodesGetter {
		return func() ([]dht.Addr, error) { return nil, nil }
	}
	cfg.ConfigureAnacrolixDhtServer = func(sc *dht.ServerConfig) {
		ua, _ := sc.Conn.LocalAddr().(*net.UDPAddr)
		is4 := ua != nil && ua.IP.To4() != nil
		sc.StartingNodes = func() ([]dht.Addr, error) { return e.bootstrapNodes(is4), nil }
	}

	// Trackers, UDP and HTTP(S): the engine announces itself (announce.go,
	// over tracker.go's bound sockets). anacrolix's announcers stay off;
	// should one ever run, it gets the same sockets and resolver.
	cfg.DisableTrackers = true
	cfg.TrackerListenPacket = e.face.ListenPacket
	cfg.TrackerDialContext = e.face.DialContext
	cfg.LookupTrackerIp = func(u *url.URL) ([]net.IP, error) { return e.face.lookupTrackerIP(context.Background(), u) }
	cfg.HTTPProxy = nil

	// Webseeds and xs= metainfo sources.
	cfg.HTTPDialContext = e.face.DialContext

	cfg.DisableWebtorrent = true       // WebRTC ICE would gather every local address
	cfg.NoDefaultPortForwarding = true // no UPnP/SSDP on the LAN
	cfg.UpnpID = ""

	// Families and what peers are told about our address.
	cfg.DisableIPv4 = !o.Binding.IPv4.IsValid()
	cfg.DisableIPv6 = !o.Binding.IPv6.IsValid()
	if o.PublicIPv4.IsValid() {
		cfg.PublicIp4 = o.PublicIPv4.AsSlice()
	}
	if o.PublicIPv6.IsValid() {
		cfg.PublicIp6 = o.PublicIPv6.AsSlice()
	}

	// Identity.
	cfg.Bep20 = PeerIDPrefix
	cfg.ExtendedHandshakeClientVersion = ClientVersion
	cfg.HTTPUserAgent = UserAgent
}

// isUTP: anacrolix names a uTP connection's network after its UDP socket.
func isUTP(pc *torrent.PeerConn) bool {
	return strings.HasPrefix(pc.Network, "udp") || strings.HasPrefix(pc.Network, "utp")
}

// attachNetwork opens the bound listeners, dialers and DHT sockets.
func (e *Engine) attachNetwork() error {
	port := e.o.ListenPort
	if e.o.NoListen {
		port = 0
	} else if e.o.UTP && port == 0 {
		// TCP on uTP's port: peers learn one port.
		port = e.cl.LocalPort()
	}
	fams := []struct {
		addr     netip.Addr
		tcp, udp string
	}{
		{e.o.Binding.IPv4, "tcp4", "udp4"},
		{e.o.Binding.IPv6, "tcp6", "udp6"},
	}
	for _, f := range fams {
		if !f.addr.IsValid() {
			continue
		}
		if !e.o.NoListen {
			l, err := e.face.listenTCP(f.tcp, netip.AddrPortFrom(f.addr, uint16(port)))
			if err != nil {
				return err
			}
			e.sockets = append(e.sockets, l)
			if port == 0 {
				// Same port on every socket: peers learn one port.
				port = l.Addr().(*net.TCPAddr).Port
			}
			e.cl.AddListener(limitedListener{l, &e.conns})
		}
		e.cl.AddDialer(limitedDialer{torrent.NetworkDialer{Network: f.tcp, Dialer: e.face.peerDialer(f.tcp)}, &e.conns, e.face})

		if !e.o.DHT {
			continue
		}
		dhtPort := port // 0 when not listening: a port of its own
		if e.o.UTP {
			dhtPort = 0 // uTP holds the UDP port
		}

		pc, err := e.face.listenPacket(f.udp, netip.AddrPortFrom(f.addr, uint16(dhtPort)))
		if err != nil {
			return err
		}
		e.sockets = append(e.sockets, pc)
		ds, err := e.cl.NewAnacrolixDhtServer(pc)
		if err != nil {
			return fmt.Errorf("client: start DHT on %s: %w", pc.LocalAddr(), err)
		}
		e.dhts = append(e.dhts, ds)
		e.cl.AddDhtServer(torrent.AnacrolixDhtServerWrapper{Server: ds})
	}
	return nil
}
