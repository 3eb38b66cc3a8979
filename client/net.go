package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync/atomic"
	"syscall"
)

// netFace is the engine's only way onto the network: every socket it makes
// is bound to the tunnel device (when Binding.Interface is set) and to a
// tunnel address, and every name is resolved by the tunnel's DNS servers.
type netFace struct {
	b        Binding
	control  func(network, address string, c syscall.RawConn) error
	resolver *net.Resolver
	next     atomic.Uint32 // round-robin over DNS servers
}

func newNetFace(b Binding) (*netFace, error) {
	if !b.IPv4.IsValid() && !b.IPv6.IsValid() {
		return nil, errors.New("client: binding has neither an IPv4 nor an IPv6 tunnel address")
	}
	if b.IPv4.IsValid() && !b.IPv4.Is4() {
		return nil, fmt.Errorf("client: binding IPv4 address %s is not IPv4", b.IPv4)
	}
	if b.IPv6.IsValid() && (!b.IPv6.Is6() || b.IPv6.Is4In6()) {
		return nil, fmt.Errorf("client: binding IPv6 address %s is not IPv6", b.IPv6)
	}
	f := &netFace{b: b, control: bindToDevice(b.Interface)}
	f.resolver = &net.Resolver{PreferGo: true, Dial: f.dialDNS}
	return f, nil
}

// dialDNS ignores the server the Go resolver picked from /etc/resolv.conf and
// talks to the tunnel's DNS servers instead, from a bound socket.
func (f *netFace) dialDNS(ctx context.Context, network, _ string) (net.Conn, error) {
	var usable []netip.Addr
	for _, a := range f.b.DNS {
		if f.local(a) != (netip.Addr{}) {
			usable = append(usable, a)
		}
	}
	if len(usable) == 0 {
		return nil, errors.New("client: no DNS server reachable through the tunnel (Binding.DNS is empty or of a disabled family)")
	}
	server := usable[int(f.next.Add(1))%len(usable)]
	d := f.dialer(f.local(server), nil)
	if network == "udp" || network == "udp4" || network == "udp6" {
		d.LocalAddr = &net.UDPAddr{IP: f.local(server).AsSlice()}
	}
	return f.dial(ctx, d, network, netip.AddrPortFrom(server, 53).String())
}

// do runs fn where the engine's sockets must be made: inside the tunnel's
// namespace when there is one. Every socket of the engine is made in fn.
func (f *netFace) do(fn func() error) error {
	if f.b.NetNS == nil {
		return fn()
	}
	return f.b.NetNS.Do(fn)
}

func (f *netFace) dial(ctx context.Context, d *net.Dialer, network, addr string) (c net.Conn, err error) {
	err = f.do(func() error {
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// local returns the tunnel address of the same family as remote, or the zero
// Addr when that family is off.
func (f *netFace) local(remote netip.Addr) netip.Addr {
	if remote.Unmap().Is4() {
		return f.b.IPv4
	}
	return f.b.IPv6
}

// preferred is the tunnel address used when the remote family is not known
// yet (host names): IPv4 if enabled.
func (f *netFace) preferred() netip.Addr {
	if f.b.IPv4.IsValid() {
		return f.b.IPv4
	}
	return f.b.IPv6
}

func (f *netFace) dialer(local netip.Addr, resolver *net.Resolver) *net.Dialer {
	d := &net.Dialer{
		Control:  f.control,
		Resolver: resolver,
		// The families are chosen by us; a Happy Eyeballs fallback to the
		// other family would only fail against the bound local address.
		FallbackDelay: -1,
	}
	if local.IsValid() {
		// The Go dialer only tries remote addresses of the local address's
		// family, so names can never pull a socket onto a disabled family.
		d.LocalAddr = &net.TCPAddr{IP: local.AsSlice()}
	}
	return d
}

// peerDialer dials BitTorrent peers over TCP from the tunnel address of
// family network ("tcp4" or "tcp6").
func (f *netFace) peerDialer(network string) *net.Dialer {
	local := f.b.IPv4
	if network == "tcp6" {
		local = f.b.IPv6
	}
	d := f.dialer(local, f.resolver)
	d.KeepAlive = -1 // BitTorrent has its own keep-alives.
	return d
}

// DialContext is used for HTTP trackers, webseeds and metainfo sources.
func (f *netFace) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	local := f.preferred()
	switch network {
	case "tcp4", "udp4":
		local = f.b.IPv4
	case "tcp6", "udp6":
		local = f.b.IPv6
	default:
		// An IP literal decides the family itself.
		if host, _, err := net.SplitHostPort(addr); err == nil {
			if ip, err := netip.ParseAddr(host); err == nil {
				local = f.local(ip)
			}
		}
	}
	if !local.IsValid() {
		return nil, fmt.Errorf("client: dial %s %s: address family disabled in the tunnel binding", network, addr)
	}
	d := f.dialer(local, f.resolver)
	if network == "udp" || network == "udp4" || network == "udp6" {
		d.LocalAddr = &net.UDPAddr{IP: local.AsSlice()}
	}
	return f.dial(ctx, d, network, addr)
}

// ListenPacket is used for UDP trackers; anacrolix asks for ":0" (the
// wildcard), we bind the tunnel address of the requested family instead.
func (f *netFace) ListenPacket(network, _ string) (net.PacketConn, error) {
	local := f.preferred()
	switch network {
	case "udp4":
		local = f.b.IPv4
	case "udp6":
		local = f.b.IPv6
	}
	if !local.IsValid() {
		return nil, fmt.Errorf("client: listen %s: address family disabled in the tunnel binding", network)
	}
	return f.listenPacket(network, netip.AddrPortFrom(local, 0))
}

// ListenUDP4 opens a UDP socket on the tunnel's IPv4 address (any port),
// pinned to the tunnel as the engine's sockets are: for talking to the
// VPN's gateway (NAT-PMP) from inside the tunnel.
func (b Binding) ListenUDP4() (net.PacketConn, error) {
	f, err := newNetFace(b)
	if err != nil {
		return nil, err
	}
	if !b.IPv4.IsValid() {
		return nil, errors.New("client: the tunnel has no IPv4 address")
	}
	return f.listenPacket("udp4", netip.AddrPortFrom(b.IPv4, 0))
}

func (f *netFace) listenPacket(network string, ap netip.AddrPort) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: f.control}
	var pc net.PacketConn
	err := f.do(func() (err error) {
		pc, err = lc.ListenPacket(context.Background(), network, ap.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("client: listen %s on %s: %w", network, ap, err)
	}
	return pc, nil
}

func (f *netFace) listenTCP(network string, ap netip.AddrPort) (net.Listener, error) {
	lc := net.ListenConfig{Control: f.control, KeepAlive: -1}
	var l net.Listener
	err := f.do(func() (err error) {
		l, err = lc.Listen(context.Background(), network, ap.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("client: listen %s on %s: %w", network, ap, err)
	}
	return l, nil
}

// lookupTrackerIP replaces anacrolix's net.LookupIP (the system resolver) for
// tracker host names. Only addresses of enabled families are returned, IPv4
// first, so the UDP socket bound by ListenPacket can reach them.
func (f *netFace) lookupTrackerIP(ctx context.Context, u *url.URL) ([]net.IP, error) {
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !f.local(ip).IsValid() {
			return nil, fmt.Errorf("client: tracker %s: address family disabled in the tunnel binding", host)
		}
		return []net.IP{ip.AsSlice()}, nil
	}
	addrs, err := f.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("client: resolve tracker %q through the tunnel: %w", host, err)
	}
	var v4, v6 []net.IP
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case a.Is4() && f.b.IPv4.IsValid():
			v4 = append(v4, a.AsSlice())
		case a.Is6() && f.b.IPv6.IsValid():
			v6 = append(v6, a.AsSlice())
		}
	}
	return append(v4, v6...), nil
}

// resolveHostPorts resolves "host:port" strings (DHT bootstrap nodes)
// through the tunnel's DNS. Unresolvable entries are skipped and returned as
// errors so the caller can log them.
func (f *netFace) resolveHostPorts(ctx context.Context, hostPorts []string) ([]netip.AddrPort, []error) {
	var out []netip.AddrPort
	var errs []error
	for _, hp := range hostPorts {
		host, portStr, err := net.SplitHostPort(hp)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: DHT bootstrap node %q: %w", hp, err))
			continue
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: DHT bootstrap node %q: bad port: %w", hp, err))
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
			continue
		}
		addrs, err := f.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			errs = append(errs, fmt.Errorf("client: resolve DHT bootstrap node %q through the tunnel: %w", hp, err))
			continue
		}
		for _, a := range addrs {
			out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(port)))
		}
	}
	return out, errs
}
