package vpn

import "time"

// prober decides when to send the server a handshake initiation, the one
// message a WireGuard peer must answer. A client that only receives (a
// download waiting for data) sends nothing that asks for a reply, so a
// dead path would look healthy for as long as the session lasts; and a
// server that came back is noticed only when something is sent to it.
type prober struct {
	last  time.Time
	every time.Duration // between probes of a quiet tunnel, doubling
}

const (
	// probeQuiet: no traffic in for this long, ask. It is also
	// wireguard-go's RekeyTimeout, the least time between two initiations.
	probeQuiet = 5 * time.Second
	// probeMax: a quiet but healthy tunnel is asked this seldom.
	probeMax = 2 * time.Minute
)

// due reports whether to probe now, given the tunnel's state and when
// traffic last came in, and counts the probe as sent.
func (p *prober) due(now time.Time, st State, trafficAt time.Time) bool {
	if p.every == 0 || st != StateUp || now.Sub(trafficAt) < probeQuiet {
		// Broken or not up yet: ask as often as wireguard-go allows, so
		// that the server's return is seen within seconds.
		p.every = probeQuiet
	}
	if st == StateUp && now.Sub(trafficAt) < p.every {
		return false
	}
	if now.Sub(p.last) < p.every {
		return false
	}
	p.last = now
	if st == StateUp {
		p.every = min(2*p.every, probeMax)
	}
	return true
}
