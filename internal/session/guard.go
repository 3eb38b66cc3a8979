package session

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wgtorrent/wgtorrent/killswitch"
)

// guardEvery is how often the guard reads the kill switch and the routing
// back from the kernel. Four times a second bounds a gap left by someone
// deleting them to about that, plus the time to write them again (a few ms),
// for the price of a handful of netlink dumps.
const guardEvery = 250 * time.Millisecond

// staleAfter: a measurement older than this no longer says "armed".
const staleAfter = 2 * time.Second

// guard measures the kill switch and the routing, and restores them. An
// nftables change wakes it at once (Firewall.Watch); it also polls, because
// a missed notification (socket buffer overrun) must not leave a gap open
// for good, and for the ip rules and routes, whose loss cannot leak (the
// kill switch still stands) but stops the tunnel.
type guard struct {
	mu        sync.Mutex
	st        killswitch.State
	why       string
	checked   time.Time
	routesBad bool
	tunnel    Tunnel
	// devRoutesMissing: routes through the interface were missing at the
	// last check. They are put back only when missing twice in a row: the
	// supervisor, rebuilding a deleted interface, adds them a moment after
	// the interface appears.
	devRoutesMissing bool

	ksRestores    atomic.Uint64
	routeRestores atomic.Uint64

	stop chan struct{}
	wg   sync.WaitGroup
}

func (g *guard) start(s *Session) {
	// The loop keeps its own copy: stopAndWait clears g.stop, and a loop
	// that read the field afterwards would wait on a nil channel for ever
	// (a failed start or a quit then hung until killed).
	stop := make(chan struct{})
	g.mu.Lock()
	g.stop = stop
	g.mu.Unlock()
	// nftables changes wake the guard at once; the poll stays as the bound
	// (a netlink event can be lost) and for the routing.
	var changes <-chan struct{}
	stopWatch := func() {}
	if s.Mode != killswitch.ModeOff {
		if ch, stop, err := s.fw.Watch(); err == nil {
			changes, stopWatch = ch, stop
		} else {
			s.log.Warn("cannot watch nftables for changes; polling only", "err", err)
		}
	}
	g.check(s)
	g.wg.Go(func() {
		defer stopWatch()
		t := time.NewTicker(guardEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case _, ok := <-changes:
				if !ok {
					changes = nil // watch ended: poll only
					continue
				}
				g.check(s)
			case <-t.C:
				g.check(s)
			}
		}
	})
}

func (g *guard) stopAndWait() {
	g.mu.Lock()
	stop := g.stop
	g.stop = nil
	g.mu.Unlock()
	if stop != nil {
		close(stop)
		g.wg.Wait()
	}
}

func (g *guard) setTunnel(t Tunnel) {
	g.mu.Lock()
	g.tunnel = t
	g.mu.Unlock()
}

func (g *guard) set(st killswitch.State, why string) {
	g.mu.Lock()
	g.st, g.why, g.checked = st, why, time.Now()
	g.mu.Unlock()
}

// state is the last measurement, or killswitch.StateUnknown when there is none recent.
func (g *guard) state() killswitch.State {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.st == "" || time.Since(g.checked) > staleAfter {
		return killswitch.StateUnknown
	}
	return g.st
}

func (g *guard) problem() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.why == "" && time.Since(g.checked) > staleAfter {
		return "not measured for " + time.Since(g.checked).Round(time.Second).String()
	}
	return g.why
}

func (g *guard) routingOK() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.routesBad
}

// check measures, and restores what is missing: the kill switch first, so
// that routing put back can never carry a packet the rules would not stop.
func (g *guard) check(s *Session) {
	g.checkKillSwitch(s)
	g.checkRouting(s)
}

func (g *guard) checkKillSwitch(s *Session) {
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	// Measured before the inbound ports may rewrite the table: a table
	// deleted meanwhile is then counted and logged as put back.
	defer s.admitInbound()
	if s.Mode != killswitch.ModeOff {
		err := s.fw.Verify(s.rs)
		switch {
		case err == nil:
			g.set(killswitch.StateArmed, "")
		case errors.Is(err, killswitch.ErrNotInstalled) || errors.Is(err, killswitch.ErrChanged):
			g.set(killswitch.StateBroken, err.Error())
			g.ksRestores.Add(1)
			s.log.Error("kill switch missing or changed under a running wgtorrent: putting it back", "err", err)
			began := time.Now()
			// One atomic transaction replaces whatever is there.
			if err := s.fw.Apply(s.rs); err != nil {
				s.log.Error("kill switch could not be put back", "err", err)
				break
			}
			if err := s.fw.Verify(s.rs); err != nil {
				s.log.Error("kill switch put back but reads differently", "err", err)
				break
			}
			g.set(killswitch.StateArmed, "")
			s.log.Warn("kill switch put back", "took", time.Since(began))
		default:
			g.set(killswitch.StateUnknown, err.Error())
			s.log.Warn("kill switch state unknown: cannot read the kernel's tables", "err", err)
		}
	}
}

func (g *guard) checkRouting(s *Session) {
	g.mu.Lock()
	t := g.tunnel
	g.mu.Unlock()
	if t == nil {
		return
	}
	missing, err := t.RoutingProblems()
	if err != nil {
		s.log.Warn("routing state unknown", "err", err)
		return
	}
	onlyDev := true
	for _, m := range missing {
		onlyDev = onlyDev && strings.Contains(m, " dev ")
	}
	g.mu.Lock()
	wasMissing := g.devRoutesMissing
	g.devRoutesMissing = len(missing) > 0 && onlyDev
	g.mu.Unlock()
	if len(missing) == 0 || (onlyDev && !wasMissing) {
		g.mu.Lock()
		g.routesBad = false
		g.mu.Unlock()
		return
	}
	g.mu.Lock()
	g.routesBad = true
	g.mu.Unlock()
	g.routeRestores.Add(1)
	s.log.Error("tunnel routing missing under a running wgtorrent: putting it back", "missing", missing)
	if err := t.RestoreRouting(); err != nil {
		s.log.Error("tunnel routing could not be put back", "err", err)
		return
	}
	if again, err := t.RoutingProblems(); err == nil && len(again) == 0 {
		g.mu.Lock()
		g.routesBad = false
		g.mu.Unlock()
		s.log.Warn("tunnel routing put back")
	}
}
