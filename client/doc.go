// Package client is the BitTorrent engine of wgtorrent: a wrapper around
// anacrolix/torrent v1.59.1 that owns the engine's whole network face, so
// every socket it opens and every name it resolves stays inside the
// WireGuard tunnel. Front ends use the Controller interface (iface.go).
//
// # Promise
//
// Every socket is created by this package (net.go), bound to a tunnel
// address of its family and, when Binding.Interface is set, pinned to the
// tunnel device with SO_BINDTODEVICE before it binds or connects, so the
// kernel cannot route it out of any other interface even if routes or the
// source address would allow it. Names are resolved only by Binding.DNS,
// over bound sockets. anacrolix is configured to open no socket of its own.
// TestSocketsStayOnInterface checks this in a fresh network namespace:
// every socket the engine opens is bound to the interface, and a peer and a
// tracker reachable outside it are never contacted. With Binding.NetNS,
// every socket is also made inside the tunnel's private namespace, where
// no other interface exists (TestEverySocketMadeInTheNamespace: each kind
// of socket goes through it).
//
// # Leak checklist (anacrolix v1.59.1, read from its source)
//
// The code of it is confine.go, in the same order.
//
//   - Peer listeners (TCP): anacrolix's own use an unbound ListenConfig, so
//     DisableTCP=true and we AddListener our own, bound, on the tunnel
//     address(es) and ListenPort.
//   - Peer dials (TCP): anacrolix's dialer is a plain net.Dialer, so
//     DialForPeerConns=false and we AddDialer a NetworkDialer per family
//     ("tcp4"/"tcp6") whose net.Dialer has LocalAddr = tunnel address and
//     the SO_BINDTODEVICE Control. ut_holepunch and PEX-learned peers use
//     the same dialers.
//   - uTP: disabled (DisableUTP=true). anacrolix creates its uTP socket
//     itself, unbound, in the process's network namespace. Only where the
//     whole process lives in the tunnel's private namespace (Options.UTP:
//     the daemon's worker in namespace mode), whose only way out is the
//     tunnel, is it turned on; there it also dials (DialForPeerConns, with
//     TCP still off in anacrolix), and the DHT gets a port of its own.
//   - DHT: NoDHT=true for anacrolix's own socket; with Options.DHT we open a
//     bound UDP socket per family on ListenPort and start the DHT server on
//     it (Client.NewAnacrolixDhtServer + AddDhtServer). Its starting nodes
//     are never anacrolix's default (router.bittorrent.com & co. through
//     the system resolver): only Options.DHTBootstrap, resolved through the
//     tunnel DNS by dhtLoop in the background (dht.go), which also does
//     the announcing. .torrent "nodes" are IP literals only.
//   - Trackers: anacrolix's announcers are off (DisableTrackers); the
//     engine announces and scrapes itself (announce.go, scrape.go,
//     tracker.go): HTTP(S) through the bound dialer (DialContext: the
//     tunnel address of the tracker's family, a Resolver on the tunnel
//     DNS), no proxy from the environment, certificates verified; UDP on a
//     bound packet socket (ListenPacket), the host resolved through the
//     tunnel DNS. anacrolix's tracker hooks are still set to the same
//     sockets, should one of its announcers ever run.
//   - Webseeds and xs= metainfo sources: HTTPDialContext = the same bound
//     dialer (anacrolix builds its http.Client from it).
//   - WebTorrent/WebRTC: DisableWebtorrent=true (ICE would put every local
//     address into offers; pion cannot be bound).
//   - UPnP/SSDP port mapping: NoDefaultPortForwarding=true. No NAT-PMP, no
//     LPD exist in anacrolix.
//   - DNS: a net.Resolver{PreferGo: true} whose Dial ignores the server from
//     /etc/resolv.conf and dials Binding.DNS:53 from a bound socket. No DNS
//     servers = no name resolution (error), never the system resolver.
//     /etc/hosts is still read (local file, no traffic).
//   - Families: an invalid Binding.IPv4/IPv6 disables that family
//     (DisableIPv4/DisableIPv6), listeners, dialers, trackers and DNS.
//   - Advertised addresses: PublicIp4/6 only from Options.PublicIPv4/6 (the
//     VPN exit), never a local address.
//   - Identity: peer ID prefix PeerIDPrefix, extended-handshake version
//     ClientVersion, HTTP User-Agent UserAgent.
//
// Not covered here: if the tunnel interface goes away and comes back, the
// sockets bound to it stay bound (SO_BINDTODEVICE keeps them from leaking,
// but they may stop working); the caller should Close and New the engine.
// The kill switch is the second line of defence.
//
// # Storage
//
// Files in Options.DownloadDir (or AddOptions.DownloadDir per torrent),
// written and read with plain pread/pwrite by package filestore (a full disk
// is an error, never SIGBUS as with mmap); which pieces are verified is
// recorded in DataDir/pieces and torrents with their settings in
// DataDir/torrents, so a restart resumes without downloading verified
// pieces again. Data is verified by piece hash. A storage write error
// (unwritable directory, disk full) pauses the torrent in StateError with a
// message.
//
// # Suspicious files
//
// A torrent's files are judged by name as soon as its info is known, before
// any piece is wanted, and by their first bytes as the pieces holding those
// are verified (package suspect; suspicious.go): Stats.Warnings. Nothing is
// run or opened as what it claims; the first bytes are read from the file
// on disk, read only. Options.Suspicious says what else happens:
// SuspectSkip sets flagged files off, SuspectPause pauses the torrent until
// the user resumes it. With either, a file whose extension its bytes could
// belie is held back, only the pieces holding its first bytes wanted, until
// those are judged.
package client
