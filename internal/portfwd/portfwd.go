// Package portfwd keeps a port forwarded on the VPN's public address
// (NAT-PMP through the tunnel) and the engine listening on it, so that
// peers can connect in.
package portfwd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/natpmp"
)

// Mapper asks the gateway for mappings (natpmp.Client).
type Mapper interface {
	Map(ctx context.Context, p natpmp.Protocol, internal, external uint16, lifetime time.Duration) (natpmp.Mapping, error)
}

// Phase is where forwarding stands.
type Phase string

const (
	Requesting Phase = "requesting"
	Mapped     Phase = "mapped"
	Failed     Phase = "failed"
)

// State is what the front ends show: measured from the gateway's answers.
type State struct {
	Phase Phase     `json:"phase"`
	Port  uint16    `json:"port,omitempty"`  // the public port, listened on
	Until time.Time `json:"until,omitzero"`  // when the mapping lapses unless renewed
	Err   string    `json:"error,omitempty"` // why the last request failed
}

// Options configure a Forwarder.
type Options struct {
	Mapper Mapper
	// Listen makes the engine listen on port (the public one: what it
	// advertises must be what the gateway forwards).
	Listen func(port uint16) error
	// Port is where the engine listens now, or will (NotListening): the
	// first request asks for it.
	Port uint16
	// NotListening: the engine listens nowhere until the first mapping
	// (client.Options.NoListen), which it is then told to listen on.
	NotListening bool
	// Lifetime asked for (60 s if 0, as ProtonVPN's gateways grant).
	Lifetime time.Duration
	Logger   *slog.Logger
	// After waits between requests (time.After if nil; tests).
	After func(time.Duration) <-chan time.Time
}

// Forwarder requests the mappings, renews them before they lapse and
// retries failures with a back-off; downloads never wait for it.
type Forwarder struct {
	o    Options
	wake chan struct{} // Nudge
	// offline: the tunnel is gone for good, so releasing at the end would
	// only wait for a gateway that cannot hear.
	offline atomic.Bool
	mu      sync.Mutex
	st      State
}

func New(o Options) *Forwarder {
	if o.Lifetime == 0 {
		o.Lifetime = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.After == nil {
		o.After = time.After
	}
	return &Forwarder{o: o, wake: make(chan struct{}, 1), st: State{Phase: Requesting}}
}

// Nudge asks the gateway again now, not at the next renewal: the tunnel
// came back or was rebuilt, and a gateway that restarted meanwhile may
// forward another port, or none.
func (f *Forwarder) Nudge() {
	select {
	case f.wake <- struct{}{}:
	default: // one is pending already
	}
}

// Offline says the tunnel is gone for good (the process that held it
// died): the mappings are left to lapse instead of released.
func (f *Forwarder) Offline() { f.offline.Store(true) }

// State is the last state reached.
func (f *Forwarder) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *Forwarder) set(st State) {
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
}

// Back-off after failures: the gateway may be restarting, or the server
// may not forward ports at all (one message says so, then quiet retries).
const (
	firstRetry = 5 * time.Second
	lastRetry  = 5 * time.Minute
)

// Run keeps the mapping until ctx ends, then releases it.
func (f *Forwarder) Run(ctx context.Context) {
	port := f.o.Port // asked for
	listening := port
	if f.o.NotListening {
		listening = 0
	}
	retry := firstRetry
	lastErr := ""
	for ctx.Err() == nil {
		m, err := f.mapBoth(ctx, port)
		if err == nil && m.External != listening {
			// Listen where the gateway forwards; if that is not the port
			// asked for, drop the mapping to it (a gateway keys mappings by
			// our side's port, and would hold the public one for it), then
			// ask for the public port with it as our side too, so both
			// sides agree.
			if err = f.o.Listen(m.External); err == nil {
				f.o.Logger.Info("port forwarded: the engine listens on the public port", "port", m.External, "was", listening)
				listening = m.External
				if m.External != port {
					f.release(port)
					port = m.External
					m, err = f.mapBoth(ctx, port)
				}
			}
		}
		if ctx.Err() != nil {
			f.release(port)
			return
		}
		var wait time.Duration
		if err != nil {
			f.set(State{Phase: Failed, Port: port, Err: err.Error()})
			if err.Error() != lastErr {
				f.o.Logger.Warn("port forwarding failed; retrying with back-off (downloads go on)", "err", err, "retry_in", retry)
				lastErr = err.Error()
			}
			wait, retry = retry, min(retry*2, lastRetry)
		} else {
			if m.External != port {
				f.o.Logger.Warn("the gateway moved the forwarded port again at once; following at the next renewal", "listening", port, "mapped", m.External)
			}
			f.set(State{Phase: Mapped, Port: port, Until: time.Now().Add(m.Lifetime)})
			retry, lastErr = firstRetry, ""
			// Renew well before it lapses (ProtonVPN: every 45 s of 60).
			wait = m.Lifetime * 3 / 4
		}
		select {
		case <-ctx.Done():
		case <-f.o.After(wait):
		case <-f.wake:
		}
	}
	f.release(port)
}

// mapBoth maps TCP, then UDP to the port TCP got; the TCP mapping's
// public port is the one returned.
func (f *Forwarder) mapBoth(ctx context.Context, port uint16) (natpmp.Mapping, error) {
	tcp, err := f.o.Mapper.Map(ctx, natpmp.TCP, port, port, f.o.Lifetime)
	if err != nil {
		return tcp, err
	}
	if tcp.Lifetime <= 0 {
		return tcp, errors.New("portfwd: the gateway granted the TCP mapping no lifetime")
	}
	udp, err := f.o.Mapper.Map(ctx, natpmp.UDP, port, tcp.External, f.o.Lifetime)
	if err != nil {
		return tcp, err
	}
	if udp.External != tcp.External {
		return tcp, fmt.Errorf("portfwd: the gateway forwards TCP %d but UDP %d; uTP and the DHT need the same port", tcp.External, udp.External)
	}
	return tcp, nil
}

// release deletes the mappings (a lifetime of 0), briefly: a gateway that
// does not answer lets them lapse anyway.
func (f *Forwarder) release(port uint16) {
	if f.offline.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, p := range []natpmp.Protocol{natpmp.TCP, natpmp.UDP} {
		if _, err := f.o.Mapper.Map(ctx, p, port, 0, 0); err != nil {
			f.o.Logger.Info("releasing the forwarded port failed; it lapses by itself", "protocol", p, "port", port, "err", err)
		}
	}
}
