package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Tunnel is the live tunnel status source the bar reads (the vpn tunnel).
type Tunnel interface {
	Status() vpn.Status
}

// tunnelBar shows the tunnel's state and turns successive byte counters
// into rates.
type tunnelBar struct {
	status         vpn.Status
	have           bool
	prevRx, prevTx uint64
	prevAt         time.Time
	rxRate, txRate int64 // bytes/s over the last sample interval
	// lastRx is when the received-bytes counter last grew; afterOutage,
	// that the tunnel was down or stale and nothing came in since: "UP"
	// alone would claim what nobody measured.
	lastRx      time.Time
	afterOutage bool

	killArmed bool
	// killBroken: the kill switch should be armed but was not measured so
	// (its table missing or changed and being put back, or unreadable).
	killBroken bool
	fwd        *portfwd.State // the forwarded port; nil: forwarding off
}

// observe takes a new sample taken at the given time.
func (b *tunnelBar) observe(st vpn.Status, at time.Time) {
	if b.have {
		dt := at.Sub(b.prevAt).Seconds()
		if dt <= 0 {
			b.status = st
			return
		}
		if st.RxBytes >= b.prevRx && st.TxBytes >= b.prevTx {
			b.rxRate = int64(float64(st.RxBytes-b.prevRx) / dt)
			b.txRate = int64(float64(st.TxBytes-b.prevTx) / dt)
		} else {
			// Counters went back: the device was recreated.
			b.rxRate, b.txRate = 0, 0
		}
	}
	// The handshake that brings the tunnel back moves the counter too, and
	// so do the redials' TCP control segments and the peers' protocol
	// handshakes: under a kilobyte in a burst. Only more than that is
	// data through the tunnel again after an outage.
	var rx uint64
	if st.RxBytes > b.prevRx {
		rx = st.RxBytes - b.prevRx
	}
	grew := rx > controlAfterOutage || (!b.have && st.RxBytes > 0)
	data := grew && rx >= uint64(dataAfterOutage*at.Sub(b.prevAt).Seconds())
	b.status, b.have = st, true
	b.prevRx, b.prevTx, b.prevAt = st.RxBytes, st.TxBytes, at
	switch {
	case b.broken():
		b.afterOutage = true
	case grew:
		b.lastRx = at
		if data {
			b.afterOutage = false
		}
	}
}

// controlAfterOutage is what a refresh may receive without payload: a
// handshake and four TCP control segments.
const controlAfterOutage = vpn.ControlBytes + 4*92

// dataAfterOutage is the receive rate, in bytes a second, that says data
// flows again after an outage: a redial's handshakes stay below it.
const dataAfterOutage = 1024

// quietAfter: a tunnel that received nothing for longer says so.
const quietAfter = 5 * time.Second

// broken reports whether the tunnel cannot carry traffic right now.
func (b *tunnelBar) broken() bool {
	return b.have && (b.status.State == vpn.StateDown || b.status.State == vpn.StateStale)
}

func (b *tunnelBar) view(width int, now time.Time) []string {
	if !b.have {
		return []string{truncate(styleDim.Render("tunnel: waiting for status…"), width)}
	}
	st := b.status
	state := st.State
	if state == "" {
		state = vpn.StateDown
	}
	style := styleTunnel[state]

	var segs []string
	if b.broken() {
		// Say at once what happens to traffic now.
		msg := fmt.Sprintf(" tunnel %s — ", strings.ToUpper(string(state)))
		if b.killArmed && b.killBroken {
			msg += "kill switch NOT IN PLACE (restoring) "
		} else if b.killArmed {
			msg += "kill switch blocking all traffic "
		} else {
			msg += "kill switch OFF: traffic is NOT protected "
		}
		segs = append(segs, style.Render(msg))
	} else if b.afterOutage {
		segs = append(segs, styleKillBlocking.Render("● tunnel "+strings.ToUpper(string(state))+" — nothing received since the outage"))
	} else {
		segs = append(segs, style.Render("● tunnel "+strings.ToUpper(string(state))))
	}
	if st.Interface != "" {
		iface := st.Interface
		if st.Isolation == "namespace" {
			// The interface is in a namespace of its own with the engine.
			iface += " (isolated)"
		}
		segs = append(segs, iface)
	}
	if len(st.Addresses) > 0 {
		segs = append(segs, strings.Join(st.Addresses, ","))
	}
	if st.Endpoint != "" {
		server := "⇄ " + st.Endpoint
		if st.Moves > 0 {
			// Failover happened: which file is in use, and how often.
			server += fmt.Sprintf(" (%s, %d moves)", st.Server, st.Moves)
		}
		segs = append(segs, server)
	}
	if st.LastHandshake.IsZero() {
		segs = append(segs, "no handshake")
	} else {
		segs = append(segs, "handshake "+ago(now, st.LastHandshake))
	}
	segs = append(segs,
		styleDown.Render("rx "+rateOrZero(b.rxRate))+" "+styleUp.Render("tx "+rateOrZero(b.txRate)))
	if !b.broken() && !b.afterOutage && !b.lastRx.IsZero() && now.Sub(b.lastRx) > quietAfter {
		segs = append(segs, "nothing in for "+humanDuration(now.Sub(b.lastRx)))
	}
	switch {
	case !b.killArmed:
		segs = append(segs, styleKillOff.Render("kill switch OFF"))
	case b.killBroken:
		segs = append(segs, styleKillOff.Render("kill switch NOT IN PLACE (restoring)"))
	case b.broken():
		segs = append(segs, styleKillBlocking.Render("kill switch BLOCKING"))
	default:
		segs = append(segs, styleKillArmed.Render("kill switch armed"))
	}
	if f := b.fwd; f != nil {
		switch f.Phase {
		case portfwd.Mapped:
			segs = append(segs, fmt.Sprintf("port %d forwarded", f.Port))
		case portfwd.Failed:
			segs = append(segs, styleWarn.Render("port forwarding failed: "+f.Err))
		default:
			segs = append(segs, "port forwarding: asking the gateway…")
		}
	}
	lines := wrapSegments(segs, "  ", width)
	for _, w := range st.Warnings {
		lines = append(lines, truncate(styleKillOff.Render("⚠ "+w), width))
	}
	return lines
}

func rateOrZero(n int64) string {
	if n <= 0 {
		return "0 B/s"
	}
	return humanRate(n)
}
