package session

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/wgtorrent/wgtorrent/killswitch"
)

// DefaultResolveEvery is how often host-name endpoints are looked up again
// through the tunnel: providers move a server's address with DNS TTLs of
// minutes, and a lookup is one small query through the tunnel.
const DefaultResolveEvery = 5 * time.Minute

// lookupFunc resolves a host name to IPv4 addresses.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

// followNames looks the servers' host names up again through the tunnel
// now and then every `every`, so that a provider moving a server's
// address needs no restart.
func (s *Session) followNames(ctx context.Context, every time.Duration, cache endpointCache, lookup lookupFunc) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.resolveNames(ctx, cache, lookup)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// hasHostNames reports whether any server's endpoint is a host name.
func hasHostNames(servers []server) bool {
	for _, srv := range servers {
		for _, p := range srv.cfg.Peers {
			if isHostName(p.EndpointHost) {
				return true
			}
		}
	}
	return false
}

// resolveNames is one round of followNames. An address still among the
// answers is kept (round-robin names); another is followed: the kill
// switch admits it in place of the old one, then the tunnel, if that
// server is in use, sends there. A name that no longer exists takes its
// server out of the failover round until it resolves again; a lookup that
// fails otherwise (the tunnel down) changes nothing.
func (s *Session) resolveNames(ctx context.Context, cache endpointCache, lookup lookupFunc) {
	s.srvMu.Lock()
	servers := slices.Clone(s.servers)
	s.srvMu.Unlock()
	for i, srv := range servers {
		eps := slices.Clone(srv.endpoints)
		found, gone := 0, 0
		for j, p := range srv.cfg.Peers {
			if !isHostName(p.EndpointHost) {
				continue
			}
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			ips, err := lookup(lctx, p.EndpointHost)
			cancel()
			var dnsErr *net.DNSError
			switch {
			case ctx.Err() != nil:
				return
			case err == nil && len(ips) > 0:
				found++
				if j < len(eps) && !slices.Contains(ips, eps[j].Addr()) {
					eps[j] = netip.AddrPortFrom(ips[0].Unmap(), p.EndpointPort)
				}
			case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
				gone++
			default:
				s.log.Debug("endpoint: lookup through the tunnel failed; the address stays", "config", srv.cfg.Name, "endpoint", hostKey(p), "err", err)
			}
		}
		s.updateServer(i, eps, found == 0 && gone > 0)
		if found > 0 {
			cache.store(srv.cfg, eps, s.log)
		}
	}
}

// updateServer records server i's endpoints and whether its name is gone,
// following a new address at once if the server is in use.
func (s *Session) updateServer(i int, eps []netip.AddrPort, gone bool) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	srv := &s.servers[i]
	if gone != srv.gone {
		if gone {
			s.log.Warn("VPN server skipped: its host name no longer resolves", "config", srv.cfg.Name)
		} else {
			s.log.Info("VPN server back in the round: its host name resolves again", "config", srv.cfg.Name)
		}
		srv.gone = gone
	}
	if slices.Equal(eps, srv.endpoints) {
		return
	}
	if i == s.cur {
		if s.Mode != killswitch.ModeOff {
			if err := s.armServer(srv.cfg, eps); err != nil {
				s.log.Error("the VPN server's address changed but the kill switch could not admit the new one; staying on the old", "config", srv.cfg.Name, "err", err)
				return
			}
		}
		if err := s.Tunnel.Readdress(eps); err != nil {
			s.log.Error("the VPN server's address changed but the tunnel could not follow; retrying at the next lookup", "config", srv.cfg.Name, "err", err)
			// The kill switch must match where the device sends.
			if s.Mode != killswitch.ModeOff {
				_ = s.armServer(srv.cfg, srv.endpoints)
			}
			return
		}
	}
	s.log.Warn("VPN server's address changed: following it", "config", srv.cfg.Name, "from", srv.endpoints, "to", eps, "in_use", i == s.cur)
	srv.endpoints = eps
}

// tunnelLookup resolves names with the config's DNS servers through the
// tunnel: from the tunnel's address in host mode, from inside the private
// namespace in namespace mode. nil: no DNS server to ask.
func (s *Session) tunnelLookup() lookupFunc {
	var dns netip.Addr
	for _, d := range s.Config.Interface.DNS {
		if d.Is4() {
			dns = d
			break
		}
	}
	var local netip.Addr
	for _, a := range s.Tunnel.Addresses() {
		if a.Addr().Is4() {
			local = a.Addr()
			break
		}
	}
	if !dns.IsValid() || !local.IsValid() {
		return nil
	}
	server := netip.AddrPortFrom(dns, 53).String()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (c net.Conn, err error) {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: local.AsSlice()}}
		if network == "tcp" || network == "tcp4" {
			d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
		}
		if s.ns == nil {
			return d.DialContext(ctx, network, server)
		}
		// A socket made in the namespace stays there.
		err = s.ns.Do(func() error {
			c, err = d.DialContext(ctx, network, server)
			return err
		})
		return c, err
	}}
	return func(ctx context.Context, host string) ([]netip.Addr, error) {
		return r.LookupNetIP(ctx, "ip4", host)
	}
}
