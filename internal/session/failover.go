package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// DefaultFailoverAfter is how long the tunnel may be unhealthy (stale,
// down, or no handshake with a new server) before the session moves to
// the next server. The tunnel itself calls a silent server stale after
// ~15 s (it probes when quiet), so a dead server is left ~30 s after it
// died, gluetun's health period; a server that merely restarted
// (seconds) is kept.
const DefaultFailoverAfter = 15 * time.Second

// server is one VPN server: a config file and its resolved endpoints.
type server struct {
	cfg       *vpn.Config
	endpoints []netip.AddrPort
	gone      bool // its host name no longer resolves: out of the round
}

// loadConfigs reads every config (the failover order); nothing is
// touched before they all parse and agree (vpn.CheckSwitchable).
func loadConfigs(paths []string, log *slog.Logger) ([]*vpn.Config, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("%w: no WireGuard config given", ErrConfig)
	}
	var cfgs []*vpn.Config
	for _, p := range paths {
		cfg, warnings, err := vpn.Load(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		for _, w := range warnings {
			log.Warn(w, "config", p)
		}
		if len(cfgs) > 0 {
			if err := vpn.CheckSwitchable(cfgs[0], cfg); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrConfig, err)
			}
		}
		cfgs = append(cfgs, cfg)
	}
	return cfgs, nil
}

// resolveServers resolves the configs' endpoints before the kill switch
// closes. A config whose endpoint does not resolve is skipped with a
// message while another one does.
func resolveServers(ctx context.Context, cfgs []*vpn.Config, cache endpointCache, underLockdown bool, log *slog.Logger) ([]server, error) {
	var servers []server
	var firstErr error
	for _, cfg := range cfgs {
		// Each server's endpoints are its own; the cache is keyed by name.
		eps, err := resolveEndpoints(ctx, cfg, net.DefaultResolver, cache, underLockdown, log)
		if err != nil {
			if len(cfgs) == 1 {
				return nil, err
			}
			if firstErr == nil {
				firstErr = err
			}
			log.Warn("server skipped: its endpoint does not resolve", "config", cfg.Name, "err", err)
			continue
		}
		servers = append(servers, server{cfg: cfg, endpoints: eps})
	}
	if len(servers) == 0 {
		return nil, firstErr
	}
	// One UDP port for every server: the kill switch admits that one.
	if err := fixListenPort(servers[0].cfg); err != nil {
		return nil, err
	}
	for _, s := range servers[1:] {
		if p := s.cfg.Interface.ListenPort; p != 0 && p != servers[0].cfg.Interface.ListenPort {
			log.Warn("ListenPort ignored: every server is reached from one port", "config", s.cfg.Name, "port", p, "used", servers[0].cfg.Interface.ListenPort)
		}
		s.cfg.Interface.ListenPort = servers[0].cfg.Interface.ListenPort
	}
	return servers, nil
}

// upAny brings the tunnel up with the first server that answers, in
// order: the kill switch admits only the server being tried. A server
// that does not answer within the handshake timeout is passed over while
// another remains; any other failure ends the start.
func (s *Session) upAny(ctx context.Context, servers []server, up upFunc, o vpn.Options) (Tunnel, int, error) {
	for i, srv := range servers {
		if i > 0 && s.Mode != killswitch.ModeOff {
			if err := s.armServer(srv.cfg, srv.endpoints); err != nil {
				return nil, i, err
			}
		}
		o.Endpoints = srv.endpoints
		t, err := up(ctx, srv.cfg, o)
		if err == nil {
			return t, i, nil
		}
		if !errors.Is(err, vpn.ErrNoHandshake) || i == len(servers)-1 || ctx.Err() != nil {
			return nil, i, err
		}
		s.log.Warn("the VPN server did not answer; trying the next one", "config", srv.cfg.Name, "next", servers[i+1].cfg.Name)
	}
	panic("unreachable")
}

// armServer rebuilds the kill switch for server cfg at endpoints instead
// of the current one (its endpoints, and its tunnel addresses, which the
// anti-spoofing rules name), in one transaction: no moment where anything
// but WireGuard to an admitted endpoint may leave.
func (s *Session) armServer(cfg *vpn.Config, endpoints []netip.AddrPort) error {
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	spec := s.spec
	spec.Endpoints = validEndpoints(endpoints)
	spec.TunnelAddresses = cfg.Interface.Addresses
	return s.applyLocked(spec)
}

// applyLocked builds spec and applies it in one transaction, and records
// both for the guard; ksMu is held.
func (s *Session) applyLocked(spec killswitch.Spec) error {
	rs, err := killswitch.Build(spec)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := s.fw.Apply(rs); err != nil {
		return err
	}
	s.spec, s.rs = spec, rs
	return nil
}

// failover moves the tunnel to the next server whenever it has been
// unhealthy for after, round the list; with every server down it keeps
// going round (each tried for after), leaking nothing.
func (s *Session) failover(ctx context.Context, after time.Duration) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var badSince time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			st := s.Tunnel.Status()
			switch {
			case st.State == vpn.StateUp:
				badSince = time.Time{}
				continue
			case badSince.IsZero():
				badSince = now
				continue
			case now.Sub(badSince) < after:
				continue
			}
			why := fmt.Sprintf("tunnel %s for %s", st.State, now.Sub(badSince).Round(time.Second))
			if err := s.move(why); err != nil {
				s.log.Error("moving to the next VPN server failed; retrying", "err", err)
			}
			badSince = now // the next server gets its own time
		}
	}
}

// move switches to the next server whose name still resolves: the kill
// switch first, then the device.
func (s *Session) move(why string) error {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	from := s.servers[s.cur]
	next := s.cur
	for k := 1; k < len(s.servers); k++ {
		if n := (s.cur + k) % len(s.servers); !s.servers[n].gone {
			next = n
			break
		}
	}
	if next == s.cur {
		return fmt.Errorf("session: no other VPN server to move to: the other servers' host names no longer resolve")
	}
	to := s.servers[next]
	if s.Mode != killswitch.ModeOff {
		if err := s.armServer(to.cfg, to.endpoints); err != nil {
			return err
		}
	}
	if err := s.Tunnel.Switch(to.cfg, to.endpoints); err != nil {
		return err
	}
	s.cur = next
	s.log.Warn("VPN server moved", "from", from.cfg.Name, "to", to.cfg.Name, "endpoint", to.endpoints, "reason", why, "moves", s.Tunnel.Status().Moves)
	return nil
}
