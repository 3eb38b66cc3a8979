package session

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgtorrent/wgtorrent/vpn"
)

// noNetwork is a resolver that fails every query without sending it.
var noNetwork = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no network in this test")
}}

// A host-name endpoint resolved once is used from the state directory the
// next time, with no lookup; without a kept address under a lockdown, the
// error says why and what to do.
func TestEndpointCache(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := &vpn.Config{Peers: []vpn.Peer{
		{EndpointHost: "vpn.example.invalid", EndpointPort: 51820},
		{EndpointHost: "192.0.2.9", EndpointPort: 51821},
	}}
	cache := endpointCache{dir: t.TempDir()}
	kept := netip.MustParseAddrPort("192.0.2.1:51820")

	_, err := resolveEndpoints(context.Background(), cfg, noNetwork, cache, true, log)
	if err == nil || !strings.Contains(err.Error(), "blocks name lookups outside the tunnel") || !strings.Contains(err.Error(), "Endpoint=") {
		t.Fatalf("nothing kept, under lockdown: %v; want an error explaining the lockdown and Endpoint=", err)
	}

	cache.store(cfg, []netip.AddrPort{kept, netip.MustParseAddrPort("192.0.2.9:51821")}, log)
	eps, err := resolveEndpoints(context.Background(), cfg, noNetwork, cache, true, log)
	if err != nil || len(eps) != 2 || eps[0] != kept || eps[1] != netip.MustParseAddrPort("192.0.2.9:51821") {
		t.Fatalf("with a kept address: %v, %v; want [%s 192.0.2.9:51821] without a lookup", eps, err, kept)
	}
	if got := cache.load(); len(got) != 1 {
		t.Errorf("cache holds %v; want only the host-name entry", got)
	}
	// A kept address for another port does not count.
	cfg.Peers[0].EndpointPort = 443
	if _, err := resolveEndpoints(context.Background(), cfg, noNetwork, cache, false, log); err == nil {
		t.Error("a kept address for port 51820 was used for port 443")
	}
}
