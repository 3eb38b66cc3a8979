package rpc

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// CheckListenAddr refuses an RPC listen address that anyone beyond this
// machine (or the allowed LAN ranges) could reach without a password. Note
// that a wildcard address also listens on the tunnel, where the VPN
// provider's network can reach it: it needs auth.
func CheckListenAddr(addr string, hasAuth bool, allowLAN []netip.Prefix) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("rpc: listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if host == "" {
		if hasAuth {
			return nil
		}
		return fmt.Errorf("rpc: listen address %q listens on every interface, including the VPN tunnel: set an RPC username and password, or listen on 127.0.0.1", addr)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("rpc: listen address %q: use an IP address or localhost, not a host name", addr)
	}
	ip = ip.Unmap().WithZone("")
	switch {
	case ip.IsLoopback():
		return nil
	case hasAuth:
		return nil
	case ip.IsUnspecified():
		return fmt.Errorf("rpc: listen address %q listens on every interface, including the VPN tunnel: set an RPC username and password, or listen on 127.0.0.1", addr)
	}
	for _, p := range allowLAN {
		if p.Contains(ip) {
			return nil
		}
	}
	return fmt.Errorf("rpc: listen address %q is reachable beyond this machine and outside the allowed LAN ranges: set an RPC username and password, allow that LAN, or listen on 127.0.0.1", addr)
}
