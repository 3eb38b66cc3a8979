package session

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/wgtorrent/wgtorrent/internal/netns"
	"github.com/wgtorrent/wgtorrent/internal/userns"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Isolation says where the tunnel and the engine live.
type Isolation string

const (
	// IsolationHost routes the whole network namespace the process runs
	// in through the tunnel, as wg-quick does, behind a kill switch over
	// all of it: what containers want, where the container is the
	// namespace.
	IsolationHost Isolation = "host"
	// IsolationNamespace puts the tunnel's interface and the engine's
	// sockets in a private network namespace whose only way out is the
	// tunnel; the WireGuard socket stays outside. The host's routes, rules
	// and firewall are never touched, so other programs and sessions (SSH)
	// carry on as before.
	IsolationNamespace Isolation = "namespace"
)

// startIsolated is Start for IsolationNamespace: a private namespace, the
// kill switch inside it (a second wall: nothing there may leave but by
// the tunnel, and the guard measures and restores it as in host mode),
// then the tunnel.
func startIsolated(ctx context.Context, o Options, cfgs []*vpn.Config, iface string, log *slog.Logger) (_ *Session, err error) {
	if len(o.AllowLAN) > 0 {
		log.Warn("--lan has no effect with --isolation namespace: the private namespace has no LAN, only the tunnel")
	}
	// The host's resolver, as in host mode: before the tunnel there is no
	// other (Endpoint = an address avoids the lookup).
	servers, err := resolveServers(ctx, cfgs, endpointCache{dir: o.StateDir}, false, log)
	if err != nil {
		return nil, err
	}
	cfg, endpoints := servers[0].cfg, servers[0].endpoints
	mark := cfg.Interface.FwMark
	if mark == 0 {
		mark = vpn.DefaultFwMark
	}
	ns, err := netns.New()
	if err != nil {
		return nil, fmt.Errorf("session: private network namespace: %w", userns.Denied(err))
	}
	mode := killswitch.ModeOn // persist means nothing where all goes with the namespace
	if o.KillSwitch == killswitch.ModeOff {
		mode = killswitch.ModeOff
	}
	s := &Session{Config: cfg, Mode: mode, log: log, ns: ns, fw: killswitch.Firewall{NetNS: ns.Fd()}, servers: servers}
	defer func() {
		if err != nil {
			s.guard.stopAndWait()
			s.closeSockets()
			ns.Close()
		}
	}()
	if mode != killswitch.ModeOff {
		// In the namespace: the engine's listeners are there.
		ns.Do(func() error { s.sockets = openSockets(log); return nil })
		spec := killswitch.Spec{TunnelInterface: iface, FwMark: mark, Mode: mode}
		if err := s.arm(spec, endpoints); err != nil {
			return nil, err
		}
	}
	s.guard.start(s)
	t, cur, err := s.upAny(ctx, servers, vpnUp, vpn.Options{
		Interface:        iface,
		FwMark:           mark,
		HandshakeTimeout: o.HandshakeTimeout,
		NetNS:            ns,
		Logger:           log,
	})
	if err != nil {
		return nil, err
	}
	s.guard.setTunnel(t)
	s.Tunnel, s.cur = t, cur
	s.startBackground(o, endpointCache{})
	log.Info("isolated: the tunnel and the engine are in a private network namespace; the host's network is untouched")
	return s, nil
}
