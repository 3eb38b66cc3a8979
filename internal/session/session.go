// Package session brings up what every wgtorrent command stands on, in the
// order that keeps it leak-free: read the config, resolve the endpoint, arm
// the kill switch, then bring up the tunnel. Close undoes it in reverse, and
// leaves the kill switch in place when its mode says so.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/netns"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// ErrConfig marks errors caused by the user's input (exit status 2).
var ErrConfig = errors.New("bad configuration")

// Options are what the commands share.
type Options struct {
	ConfigPath       string
	Interface        string
	KillSwitch       killswitch.Mode
	AllowLAN         []netip.Prefix
	LANInboundPorts  []uint16
	HandshakeTimeout time.Duration
	// Isolation is IsolationHost (""; the tunnel carries the whole network
	// namespace, behind a kill switch over all of it) or IsolationNamespace
	// (the tunnel and the engine in a private namespace; the host is not
	// touched).
	Isolation Isolation
	Logger    *slog.Logger
}

// Session is a tunnel with its kill switch.
type Session struct {
	Config *vpn.Config
	Tunnel *vpn.Tunnel
	Mode   killswitch.Mode
	fw     killswitch.Firewall
	log    *slog.Logger
	engine *client.Restartable
	wg     sync.WaitGroup
	stop   chan struct{}
	ns     *netns.NS // the private namespace (IsolationNamespace)
}

// Start arms the kill switch and brings the tunnel up.
func Start(ctx context.Context, o Options) (*Session, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, warnings, err := vpn.Load(o.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, w := range warnings {
		log.Warn(w, "config", o.ConfigPath)
	}
	mode := o.KillSwitch
	if mode == "" {
		mode = killswitch.ModeOn
	}
	iface := o.Interface
	if iface == "" {
		iface = vpn.DefaultInterface
	}
	mark := cfg.Interface.FwMark
	if mark == 0 {
		mark = vpn.DefaultFwMark
	}
	// Resolve before the rules close: afterwards only these addresses pass.
	endpoints, err := vpn.ResolveEndpoints(ctx, cfg, net.DefaultResolver)
	if err != nil {
		return nil, err
	}
	if o.Isolation == IsolationNamespace {
		return startIsolated(ctx, o, cfg, endpoints, iface, mark, log)
	}
	s := &Session{Config: cfg, Mode: mode, log: log}
	if mode == killswitch.ModeOff {
		log.Warn("KILL SWITCH OFF: if the tunnel drops, traffic may leave outside it")
	} else {
		spec := killswitch.Spec{
			TunnelInterface: iface,
			Endpoints:       validEndpoints(endpoints),
			FwMark:          mark,
			AllowLAN:        o.AllowLAN,
			LANInboundPorts: o.LANInboundPorts,
			TunnelIPv6:      hasIPv6(cfg),
			Mode:            mode,
		}
		rs, err := killswitch.Build(spec)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		if err := s.fw.Apply(rs); err != nil {
			return nil, err
		}
		log.Info("kill switch armed", "mode", mode, "endpoints", spec.Endpoints, "lan", o.AllowLAN)
	}
	t, err := vpn.Up(ctx, cfg, vpn.Options{
		Interface:        iface,
		FwMark:           mark,
		Endpoints:        endpoints,
		HandshakeTimeout: o.HandshakeTimeout,
		LAN:              o.AllowLAN,
		Logger:           log,
	})
	if err != nil {
		// The tunnel never came up; the kill switch stays only if asked to.
		s.releaseKillSwitch()
		return nil, err
	}
	s.Tunnel = t
	return s, nil
}

// Binding is how the engine reaches the network: the tunnel's interface,
// its addresses and the config's DNS servers, nothing else.
func (s *Session) Binding() client.Binding {
	b := client.Binding{Interface: s.Tunnel.Interface(), DNS: s.Config.Interface.DNS}
	if s.ns != nil {
		b.NetNS = s.ns
	}
	for _, a := range s.Tunnel.Addresses() {
		switch {
		case a.Addr().Is4() && !b.IPv4.IsValid():
			b.IPv4 = a.Addr()
		case a.Addr().Is6() && !b.IPv6.IsValid():
			b.IPv6 = a.Addr()
		}
	}
	return b
}

// StartEngine starts the torrent engine bound to the tunnel, and restarts
// it whenever the tunnel's interface is rebuilt.
func (s *Session) StartEngine(ctx context.Context, o client.Options) (*client.Restartable, error) {
	o.Binding = s.Binding()
	if o.Logger == nil {
		o.Logger = s.log
	}
	eng, err := client.NewRestartable(ctx, o)
	if err != nil {
		return nil, err
	}
	s.engine = eng
	s.stop = make(chan struct{})
	s.wg.Go(func() {
		for {
			select {
			case <-s.stop:
				return
			case <-s.Tunnel.Rebuilt():
				if err := eng.Restart(context.Background()); err != nil {
					s.log.Error("restarting the engine on the rebuilt tunnel", "err", err)
				}
			}
		}
	})
	return eng, nil
}

// KillSwitchState is what the front ends show.
func (s *Session) KillSwitchState() string {
	if s.Mode == killswitch.ModeOff {
		return "off"
	}
	return "armed"
}

// Close stops the engine, brings the tunnel down, then removes the kill
// switch unless its mode is persist.
func (s *Session) Close() error {
	var errs []error
	if s.engine != nil {
		close(s.stop)
		s.wg.Wait()
		errs = append(errs, s.engine.Close())
		// Let the tunnel carry the engine's FINs before it goes: torn down a
		// few ms later they were lost, and Transmission, which keeps one
		// connection per address (everyone behind the VPN's NAT shares
		// one), refused a restarted client until its keepalive found the
		// old connection dead, minutes later (TestDaemonRestartRecovery).
		s.flushTunnel(time.Second)
	}
	if s.Tunnel != nil {
		errs = append(errs, s.Tunnel.Close())
	}
	errs = append(errs, s.releaseKillSwitch())
	// The namespace goes with its last descriptor, and everything in it.
	errs = append(errs, s.ns.Close())
	return errors.Join(errs...)
}

// FlushTunnel waits (at most max) until what was sent has left the
// tunnel: for an engine that ran in another process.
func (s *Session) FlushTunnel(max time.Duration) { s.flushTunnel(max) }

// flushTunnel waits (at most max) until the tunnel's sent-bytes counter
// stops moving, so that what the engine's close queued has left.
func (s *Session) flushTunnel(max time.Duration) {
	if s.Tunnel == nil {
		return
	}
	deadline := time.Now().Add(max)
	last := s.Tunnel.Status().TxBytes
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond) // polling a counter: the device has no "queue empty" event
		now := s.Tunnel.Status().TxBytes
		if now == last {
			return
		}
		last = now
	}
}

func (s *Session) releaseKillSwitch() error {
	switch s.Mode {
	case killswitch.ModeOn:
		if err := s.fw.Remove(); err != nil {
			return err
		}
		s.log.Info("kill switch removed")
	case killswitch.ModePersist:
		s.log.Warn("kill switch left in place (persist): all traffic stays blocked until `wgtorrent killswitch off`")
	}
	return nil
}

func validEndpoints(eps []netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for _, ep := range eps {
		if ep.IsValid() {
			out = append(out, ep)
		}
	}
	return out
}

func hasIPv6(cfg *vpn.Config) bool {
	for _, a := range cfg.Interface.Addresses {
		if a.Addr().Is6() {
			return true
		}
	}
	return false
}
