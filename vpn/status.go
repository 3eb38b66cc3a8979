package vpn

import (
	"bufio"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// State is the tunnel's health as a user reads it.
type State string

const (
	StateConnecting State = "connecting" // no handshake yet
	StateUp         State = "up"         // recent handshake, replies arriving
	StateStale      State = "stale"      // we send but nothing comes back
	StateDown       State = "down"       // no session (handshake expired) or no interface
)

// Status is a snapshot of the tunnel, read from the device.
type Status struct {
	State     State  `json:"state"`
	Interface string `json:"interface"`
	// Isolation is "namespace" when the interface lives in a private
	// network namespace (Options.NetNS), else "host".
	Isolation string   `json:"isolation"`
	Addresses []string `json:"addresses"`
	Endpoint  string   `json:"endpoint"`
	// Server names the config in force (Config.Name: its file), and Moves
	// counts the failovers to another one (Tunnel.Switch).
	Server            string    `json:"server"`
	Moves             uint64    `json:"moves"`
	LastHandshake     time.Time `json:"-"`
	LastHandshakeUnix int64     `json:"last_handshake_unix"`
	RxBytes           uint64    `json:"rx_bytes"`
	TxBytes           uint64    `json:"tx_bytes"`
	// Peers lists every peer when the config has more than one; the
	// fields above follow the VPN server (the peer with the default route).
	Peers []PeerStatus `json:"peers,omitempty"`
	// Warnings are what the config makes the tunnel unable to do (see
	// Config.ReachWarnings), repeated here so every front end shows them.
	Warnings []string `json:"warnings,omitempty"`
}

// PeerStatus is one peer as the device reports it.
type PeerStatus struct {
	PublicKey         string `json:"public_key"`
	Endpoint          string `json:"endpoint"`
	Server            bool   `json:"server"` // the peer the status follows
	LastHandshakeUnix int64  `json:"last_handshake_unix"`
	RxBytes           uint64 `json:"rx_bytes"`
	TxBytes           uint64 `json:"tx_bytes"`
}

// HandshakeAge is how long ago the last handshake completed, or 0 without one.
func (s Status) HandshakeAge(now time.Time) time.Duration {
	if s.LastHandshake.IsZero() {
		return 0
	}
	return now.Sub(s.LastHandshake)
}

// peerStats is what the UAPI "get" operation says about one peer.
type peerStats struct {
	PublicKey     string // hex, as the UAPI writes it
	Endpoint      string
	LastHandshake time.Time
	RxBytes       uint64
	TxBytes       uint64
}

// parseUAPIGet reads wireguard-go's IpcGet output. Only per-peer counters are
// kept; the private key line is skipped without being stored.
func parseUAPIGet(s string) ([]peerStats, error) {
	var peers []peerStats
	var secs, nsecs int64
	flush := func() {
		if len(peers) > 0 && secs != 0 {
			peers[len(peers)-1].LastHandshake = time.Unix(secs, nsecs)
		}
		secs, nsecs = 0, 0
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		var err error
		switch key {
		case "public_key":
			flush()
			peers = append(peers, peerStats{PublicKey: value})
		case "endpoint":
			if len(peers) > 0 {
				peers[len(peers)-1].Endpoint = value
			}
		case "last_handshake_time_sec":
			secs, err = strconv.ParseInt(value, 10, 64)
		case "last_handshake_time_nsec":
			nsecs, err = strconv.ParseInt(value, 10, 64)
		case "rx_bytes":
			if len(peers) > 0 {
				peers[len(peers)-1].RxBytes, err = strconv.ParseUint(value, 10, 64)
			}
		case "tx_bytes":
			if len(peers) > 0 {
				peers[len(peers)-1].TxBytes, err = strconv.ParseUint(value, 10, 64)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("vpn: read device state: %s: %w", key, err)
		}
	}
	flush()
	return peers, sc.Err()
}

// Session lifetimes from the WireGuard paper: a session is unusable after
// RejectAfterTime, and a peer that received data answers within
// KeepaliveTimeout even when it has nothing to send.
const (
	rejectAfterTime  = 180 * time.Second
	keepaliveTimeout = 10 * time.Second
	// staleAfter leaves the peer a margin over keepaliveTimeout before we
	// call silence suspicious.
	staleAfter = keepaliveTimeout + 5*time.Second
	// keepaliveBytes is the size of an encrypted empty (keepalive) packet.
	keepaliveBytes = 32
)

// ControlBytes is the size of a handshake initiation, the largest message
// WireGuard sends of its own accord. The device counts handshakes and
// keepalives (92 and 32 bytes received) as traffic: a received count that
// grew by no more than this may have carried nothing through the tunnel.
const ControlBytes = 148

// healthTracker turns successive counter samples into a State. It remembers
// when each counter last moved: sending without hearing back for longer than
// staleAfter means the path is broken even though the session still looks
// valid.
type healthTracker struct {
	rx, tx     uint64
	rxAt, txAt time.Time
	// trafficAt is when more than the tunnel's own messages (handshakes,
	// keepalives) last came in.
	trafficAt time.Time
}

func (h *healthTracker) observe(now time.Time, linkUp bool, st peerStats) State {
	if h.rxAt.IsZero() {
		h.rxAt, h.txAt, h.trafficAt = now, now, now
	}
	if st.RxBytes > h.rx+ControlBytes || st.RxBytes < h.rx {
		h.trafficAt = now
	}
	if st.RxBytes != h.rx {
		h.rx, h.rxAt = st.RxBytes, now
	}
	// A persistent keepalive alone is not traffic that asks for an answer:
	// peers do not reply to keepalives, so an idle tunnel would look stale.
	if st.TxBytes > h.tx+keepaliveBytes {
		h.txAt = now
	}
	h.tx = st.TxBytes
	switch {
	case !linkUp:
		return StateDown
	case st.LastHandshake.IsZero():
		return StateConnecting
	case now.Sub(st.LastHandshake) > rejectAfterTime:
		return StateDown
	case h.txAt.Sub(h.rxAt) > staleAfter:
		return StateStale
	}
	return StateUp
}

// peerStatuses lists the config's peers with what the device says of
// each, in the config's order.
func peerStatuses(cfg *Config, server int, endpoints []netip.AddrPort, stats []peerStats) []PeerStatus {
	out := make([]PeerStatus, len(cfg.Peers))
	for i, p := range cfg.Peers {
		ps := PeerStatus{PublicKey: p.PublicKey.String(), Server: i == server}
		if i < len(endpoints) && endpoints[i].IsValid() {
			ps.Endpoint = endpoints[i].String()
		}
		for _, s := range stats {
			if s.PublicKey != p.PublicKey.Hex() {
				continue
			}
			if s.Endpoint != "" {
				ps.Endpoint = s.Endpoint
			}
			if !s.LastHandshake.IsZero() {
				ps.LastHandshakeUnix = s.LastHandshake.Unix()
			}
			ps.RxBytes, ps.TxBytes = s.RxBytes, s.TxBytes
		}
		out[i] = ps
	}
	return out
}

// ReturnWatch sees the tunnel come back after an outage. Fed every status
// observed, it reports the first one that is up again after some that were
// not, with the last time it was seen up before.
type ReturnWatch struct {
	lastUp time.Time
	out    bool
}

// Observe takes the state seen at now.
func (w *ReturnWatch) Observe(st State, now time.Time) (lastUp time.Time, back bool) {
	if st != StateUp {
		// Only an outage after an up counts: connecting at start is none.
		w.out = w.out || !w.lastUp.IsZero()
		return time.Time{}, false
	}
	lastUp, back = w.lastUp, w.out
	w.lastUp, w.out = now, false
	return lastUp, back
}
