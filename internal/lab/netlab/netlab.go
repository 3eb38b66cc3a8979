//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Interface names. Leaf hosts (client, vpn, peer, vpn2) have one uplink,
// HostIface; the ISP names its side of each link after the host behind it.
const (
	HostIface      = "eth0"
	ISPClientIface = "isp-client" // where StartCapture listens
	ISPVPNIface    = "isp-vpn"
	ISPPeerIface   = "isp-peer"
	ISPVPN2Iface   = "isp-vpn2" // only with Options.SecondVPN
)

// Options selects what a lab gets beyond its IPv4 uplinks.
type Options struct {
	// IPv6Uplink gives client, vpn, peer (and vpn2) an IPv6 address and
	// default route through the ISP (2001:db8:N::2/64 via 2001:db8:N::1).
	IPv6Uplink bool
	// IPv6Tunnel adds fd00:64::/64 inside the tunnel: the server is
	// fd00:64::1, the client fd00:64::2, and the client config routes ::/0.
	IPv6Tunnel bool
	// VPNDelay holds every packet the builtin VPN server passes from the
	// tunnel to the VPN host for this long: the round trip to a distant
	// VPN server (this kernel has no netem). Zero: none.
	VPNDelay time.Duration
	// SecondVPN adds Lab.VPN2, a second VPN host with its own public
	// address (198.18.4.2), built like VPN: a provider's other server, for
	// failing over between two. The ISP is all they share.
	SecondVPN bool
	// VPN2OwnAddress gives the client another tunnel address on VPN2
	// (TunnelClient4Other, 100.64.0.3): a provider whose servers each give
	// the account its own address. False: the same address on both.
	VPN2OwnAddress bool
	// Logf receives diagnostics (third-party program output, device errors).
	// Nil discards them. Never called after Close returns.
	Logf func(format string, args ...any)
}

// Lab is one running topology. Its hosts are ready when New returns.
type Lab struct {
	Client, ISP, VPN, Peer *Host
	// VPN2 is the second VPN host with Options.SecondVPN, else nil.
	VPN2 *Host
	// ID is the random part of every namespace name ("wgt-<ID>-client").
	ID string

	opt    Options
	hosts  []*Host
	closed atomic.Bool
	// cliKey is the tunnel client's private key in every server's
	// ClientConfig: one account, as a provider's servers share it.
	cliKey wgKey

	mu          sync.Mutex
	closers     []func() error // servers, captures: stopped before processes are killed
	procs       []*os.Process
	blocked     []blockedPort // dropped by the ISP
	faultsTable bool
	closeOnce   sync.Once
	closeErr    error
}

// New builds a lab: namespaces, links, addresses, routes, forwarding and the
// VPN hosts' masquerade. On error it removes whatever it had made.
func New(ctx context.Context, opt Options) (l *Lab, err error) {
	var idb [3]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return nil, fmt.Errorf("netlab: random id: %w", err)
	}
	l = &Lab{ID: hex.EncodeToString(idb[:]), opt: opt}
	if l.cliKey, err = newPrivateKey(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = l.Close()
			l = nil
		}
	}()

	roles := []string{"isp", "client", "vpn", "peer"}
	if opt.SecondVPN {
		roles = append(roles, "vpn2")
	}
	for _, role := range roles {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("netlab: build: %w", err)
		}
		h, err := l.newHost(role)
		if err != nil {
			return nil, err
		}
		switch role {
		case "isp":
			l.ISP = h
		case "client":
			l.Client = h
		case "vpn":
			l.VPN = h
		case "peer":
			l.Peer = h
		case "vpn2":
			l.VPN2 = h
		}
	}

	// The ISP routes between its links; the VPN hosts forward tunnel traffic.
	isp := map[string]string{"net/ipv4/ip_forward": "1"}
	if opt.IPv6Uplink {
		isp["net/ipv6/conf/all/forwarding"] = "1"
	}
	if err := l.ISP.WriteSysctls(isp); err != nil {
		return nil, err
	}
	vpn := map[string]string{"net/ipv4/ip_forward": "1"}
	if opt.IPv6Tunnel {
		vpn["net/ipv6/conf/all/forwarding"] = "1"
	}
	for _, h := range l.vpnHosts() {
		if err := h.WriteSysctls(vpn); err != nil {
			return nil, err
		}
	}

	// The subnet numbers are the addresses' third byte: VPN2 comes last so
	// that client, vpn and peer keep theirs.
	type uplink struct {
		h     *Host
		iface string
	}
	links := []uplink{{l.Client, ISPClientIface}, {l.VPN, ISPVPNIface}, {l.Peer, ISPPeerIface}}
	if l.VPN2 != nil {
		links = append(links, uplink{l.VPN2, ISPVPN2Iface})
	}
	for i, link := range links {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("netlab: build: %w", err)
		}
		if err := l.connect(link.h, link.iface, i+1); err != nil {
			return nil, err
		}
	}
	for _, h := range l.vpnHosts() {
		if err := l.setupMasquerade(h); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// vpnHosts are the hosts that may run a WireGuard server: VPN, and VPN2
// with Options.SecondVPN.
func (l *Lab) vpnHosts() []*Host {
	if l.VPN2 == nil {
		return []*Host{l.VPN}
	}
	return []*Host{l.VPN, l.VPN2}
}

// TB is the part of testing.TB that NewT uses (netlab does not import
// testing: the binary's demo uses netlab).
type TB interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// NewT builds a lab for a test and closes it when the test ends;
// diagnostics go to t.Logf. The caller makes sure it runs as root first
// (labtest.New does both).
func NewT(t TB, opt Options) *Lab {
	t.Helper()
	if opt.Logf == nil {
		opt.Logf = t.Logf
	}
	l, err := New(context.Background(), opt)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("netlab: close: %v", err)
		}
	})
	return l
}

func (l *Lab) logf(format string, args ...any) {
	if l.opt.Logf == nil || l.closed.Load() {
		return
	}
	l.opt.Logf(format, args...)
}

func (l *Lab) newHost(role string) (*Host, error) {
	name := "wgt-" + l.ID + "-" + role
	var ns netns.NsHandle
	// NewNamed moves the calling thread into the new namespace; do it on a
	// throw-away thread so no other goroutine ever runs there.
	err := onThrowawayThread(func() error {
		var err error
		ns, err = netns.NewNamed(name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: create namespace %q: %w", name, err)
	}
	h := &Host{Name: role, NetNS: name, lab: l, ns: ns}
	l.hosts = append(l.hosts, h) // from here on Close removes it
	h.nl, err = netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlab: netlink handle in %q: %w", name, err)
	}
	lo, err := h.nl.LinkByName("lo")
	if err == nil {
		err = h.nl.LinkSetUp(lo)
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: bring up lo: %w", role, err)
	}
	// Without DAD, IPv6 addresses are usable at once instead of after ~1s.
	if err := h.WriteSysctls(map[string]string{
		"net/ipv6/conf/all/accept_dad":     "0",
		"net/ipv6/conf/default/accept_dad": "0",
	}); err != nil {
		return nil, err
	}
	return h, nil
}

// connect links h to the ISP as subnet n: ISP .1, h .2, h's default via .1.
func (l *Lab) connect(h *Host, ispIface string, n int) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ispIface},
		PeerName:      HostIface,
		PeerNamespace: netlink.NsFd(h.ns),
	}
	if err := l.ISP.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("netlab: add veth %s<->%s/%s: %w", ispIface, h.Name, HostIface, err)
	}
	ispAddr4 := netip.AddrFrom4([4]byte{198, 18, byte(n), 1})
	h.Addr4 = netip.AddrFrom4([4]byte{198, 18, byte(n), 2})
	h.Gateway4 = ispAddr4
	h.Iface = HostIface
	ispPfx := []netip.Prefix{netip.PrefixFrom(ispAddr4, 24)}
	hostPfx := []netip.Prefix{netip.PrefixFrom(h.Addr4, 24)}
	if l.opt.IPv6Uplink {
		ispAddr6 := netip.MustParseAddr(fmt.Sprintf("2001:db8:%d::1", n))
		h.Addr6 = netip.MustParseAddr(fmt.Sprintf("2001:db8:%d::2", n))
		h.Gateway6 = ispAddr6
		ispPfx = append(ispPfx, netip.PrefixFrom(ispAddr6, 64))
		hostPfx = append(hostPfx, netip.PrefixFrom(h.Addr6, 64))
	}
	if err := l.ISP.configureLink(ispIface, ispPfx); err != nil {
		return err
	}
	if err := h.configureLink(HostIface, hostPfx); err != nil {
		return err
	}
	gws := []netip.Addr{h.Gateway4}
	if h.Gateway6.IsValid() {
		gws = append(gws, h.Gateway6)
	}
	for _, gw := range gws {
		if err := h.nl.RouteAdd(&netlink.Route{Gw: net.IP(gw.AsSlice())}); err != nil {
			return fmt.Errorf("netlab: %s: default route via %s: %w", h.Name, gw, err)
		}
	}
	return nil
}

// configureLink adds addresses to the named link in h's namespace and brings it up.
func (h *Host) configureLink(iface string, prefixes []netip.Prefix) error {
	link, err := h.nl.LinkByName(iface)
	if err != nil {
		return fmt.Errorf("netlab: %s: find link %q: %w", h.Name, iface, err)
	}
	for _, p := range prefixes {
		a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			a.Flags = unix.IFA_F_NODAD
		}
		if err := h.nl.AddrAdd(link, a); err != nil {
			return fmt.Errorf("netlab: %s: add %s to %q: %w", h.Name, p, iface, err)
		}
	}
	if err := h.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("netlab: %s: set %q up: %w", h.Name, iface, err)
	}
	return nil
}

func (l *Lab) addCloser(f func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closers = append(l.closers, f)
}

func (l *Lab) track(p *os.Process) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		_ = p.Kill()
		return errors.New("netlab: lab is closed")
	}
	l.procs = append(l.procs, p)
	return nil
}

// Close stops the servers and captures, kills every process started through
// Host.Command and deletes the namespaces. It is safe to call more than once.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		var errs []error
		l.mu.Lock()
		closers := slices.Clone(l.closers)
		l.mu.Unlock()
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		l.closed.Store(true)
		l.mu.Lock()
		procs := l.procs
		l.mu.Unlock()
		for _, p := range procs {
			if err := p.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				errs = append(errs, fmt.Errorf("netlab: kill pid %d: %w", p.Pid, err))
			}
		}
		for _, h := range l.hosts {
			if h.nl != nil {
				h.nl.Close()
			}
			_ = h.ns.Close()
			if err := netns.DeleteNamed(h.NetNS); err != nil {
				errs = append(errs, fmt.Errorf("netlab: delete namespace %q: %w", h.NetNS, err))
			}
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}
