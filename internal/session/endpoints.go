package session

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/wgtorrent/wgtorrent/internal/atomicfile"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// An Endpoint given as a host name costs a name lookup before the kill
// switch is armed: a plaintext DNS query, from the uplink, to the system's
// resolver, naming the VPN server. Only the first start pays it: the
// addresses are kept in the state directory (endpoints.json), used first
// by every later start (so a restart under a kill switch left in place
// needs no lookup outside the tunnel, which that kill switch would block),
// and looked up again through the tunnel's own DNS once it is up. To avoid
// the first lookup too, write the address in Endpoint= (most providers list
// it next to the host name).

// endpointCache maps "host:port" as written in the config to the address
// last used for it.
type endpointCache struct{ dir string }

const endpointCacheFile = "endpoints.json"

func (c endpointCache) path() string { return filepath.Join(c.dir, endpointCacheFile) }

func (c endpointCache) load() map[string]netip.AddrPort {
	m := map[string]netip.AddrPort{}
	if c.dir == "" {
		return m
	}
	b, err := os.ReadFile(c.path())
	if err != nil {
		return m
	}
	var raw map[string]string
	if json.Unmarshal(b, &raw) != nil {
		return m
	}
	for k, v := range raw {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			m[k] = ap
		}
	}
	return m
}

// update records addresses for host names and keeps the other entries.
func (c endpointCache) update(set map[string]netip.AddrPort, log *slog.Logger) {
	if c.dir == "" || len(set) == 0 {
		return
	}
	m := c.load()
	changed := false
	for k, v := range set {
		if m[k] != v {
			m[k], changed = v, true
		}
	}
	if !changed {
		return
	}
	raw := map[string]string{}
	for k, v := range m {
		raw[k] = v.String()
	}
	b, _ := json.MarshalIndent(raw, "", "  ")
	if err := os.MkdirAll(c.dir, 0o700); err == nil {
		err = atomicfile.Write(c.path(), append(b, '\n'))
		if err == nil {
			return
		}
		log.Warn("cannot keep the endpoint addresses; the next start will look the names up again", "path", c.path(), "err", err)
	}
}

// store keeps the addresses just used for host-name endpoints.
func (c endpointCache) store(cfg *vpn.Config, eps []netip.AddrPort, log *slog.Logger) {
	set := map[string]netip.AddrPort{}
	for i, p := range cfg.Peers {
		if isHostName(p.EndpointHost) && i < len(eps) && eps[i].IsValid() {
			set[hostKey(p)] = eps[i]
		}
	}
	c.update(set, log)
}

func isHostName(h string) bool {
	if h == "" {
		return false
	}
	_, err := netip.ParseAddr(h)
	return err != nil
}

func hostKey(p vpn.Peer) string {
	return net.JoinHostPort(p.EndpointHost, strconv.Itoa(int(p.EndpointPort)))
}

// resolveEndpoints resolves the peers' endpoints, kept addresses first.
func resolveEndpoints(ctx context.Context, cfg *vpn.Config, r *net.Resolver, cache endpointCache, underLockdown bool, log *slog.Logger) ([]netip.AddrPort, error) {
	kept := cache.load()
	use := *cfg
	use.Peers = slices.Clone(cfg.Peers)
	lookups := false
	for i, p := range use.Peers {
		if !isHostName(p.EndpointHost) {
			continue
		}
		if ap, ok := kept[hostKey(p)]; ok && ap.Port() == p.EndpointPort {
			log.Info("endpoint: using the address kept from the last start; no name lookup outside the tunnel", "endpoint", hostKey(p), "address", ap)
			use.Peers[i].EndpointHost = ap.Addr().String()
			continue
		}
		lookups = true
		log.Warn("endpoint is a host name: looking it up in plaintext before the kill switch is armed (write the address in Endpoint= to avoid this)", "endpoint", hostKey(p))
	}
	eps, err := vpn.ResolveEndpoints(ctx, &use, r)
	if err != nil && lookups && underLockdown {
		return nil, fmt.Errorf("%w (the kill switch left in place by an earlier run blocks name lookups outside the tunnel, and no address for it is kept in %s: write the address in Endpoint=)", err, cache.path())
	}
	return eps, err
}
