//go:build linux

package vpn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

const defaultMTU = 1420

// Tunnel is a running WireGuard interface with its routing.
type Tunnel struct {
	cfg       *Config
	opt       Options
	plan      RoutePlan
	log       *slog.Logger
	endpoints []netip.AddrPort
	nl        *netlink.Handle // in the namespace of the interface
	server    int             // index of the peer the status follows (Config.ServerPeer)
	warnings  []string        // Config.ReachWarnings, shown with every status

	// cfg, endpoints, server and warnings change with Switch: written
	// under mu.
	mu     sync.Mutex
	dev    *device.Device
	health healthTracker
	last   Status
	moves  uint64 // Switch calls that took effect

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	rebuilt   chan struct{}
}

// Up creates the TUN device, configures WireGuard and routing, and waits
// for the first handshake. On error everything it made is removed.
func Up(ctx context.Context, cfg *Config, opt Options) (*Tunnel, error) {
	if opt.Interface == "" {
		opt.Interface = DefaultInterface
	}
	if opt.FwMark == 0 {
		opt.FwMark = cfg.Interface.FwMark
	}
	if opt.FwMark == 0 {
		opt.FwMark = DefaultFwMark
	}
	if opt.Table == 0 {
		n, err := routingTable(cfg.Interface, rtTables)
		if err != nil {
			return nil, err
		}
		opt.Table = n
	}
	if opt.HandshakeTimeout == 0 {
		opt.HandshakeTimeout = 15 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Endpoints == nil {
		eps, err := ResolveEndpoints(ctx, cfg, net.DefaultResolver)
		if err != nil {
			return nil, err
		}
		opt.Endpoints = eps
	}
	server, carriesDefault := cfg.ServerPeer()
	nl, err := netlinkIn(opt.NetNS)
	if err != nil {
		return nil, err
	}
	up := false
	defer func() {
		if !up {
			nl.Close()
		}
	}()
	plan := planRoutes(cfg, opt.Table, opt.FwMark, opt.LAN)
	if opt.NetNS != nil {
		// The namespace is ours alone: its main table sends everything
		// into the tunnel, and it has no LAN to keep.
		plan = planRoutes(cfg, unix.RT_TABLE_MAIN, opt.FwMark, nil)
	}
	t := &Tunnel{
		cfg:       cfg,
		opt:       opt,
		nl:        nl,
		plan:      plan,
		log:       opt.Logger.With("interface", opt.Interface),
		endpoints: opt.Endpoints,
		server:    server,
		warnings:  cfg.ReachWarnings(),
		done:      make(chan struct{}),
		rebuilt:   make(chan struct{}, 1),
	}
	if !carriesDefault {
		t.warnings = append(t.warnings, fmt.Sprintf("no peer's AllowedIPs carry the default route: the status follows the peer on line %d", cfg.Peers[server].Line))
	}
	for _, w := range t.warnings {
		t.log.Warn(w, "config", cfg.Name)
	}
	if server >= len(opt.Endpoints) || !opt.Endpoints[server].IsValid() {
		return nil, fmt.Errorf("vpn: the VPN server's [Peer] on line %d has no Endpoint: add Endpoint = host:port from your provider's file", cfg.Peers[server].Line)
	}
	if opt.NetNS == nil {
		if err := t.removeLeftovers(); err != nil {
			return nil, err
		}
		if err := t.checkTableUnused(); err != nil {
			return nil, err
		}
	}
	if err := t.bringUp(); err != nil {
		t.teardown()
		return nil, err
	}
	if opt.NetNS == nil {
		if err := t.addRules(); err != nil {
			t.teardown()
			return nil, err
		}
	}
	if err := t.waitHandshake(ctx); err != nil {
		t.teardown()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	go t.supervise(sctx)
	t.log.Info("tunnel up", "endpoint", t.endpointString(), "addresses", t.addressStrings(), "isolated", opt.NetNS != nil)
	up = true
	return t, nil
}

// ResolveEndpoints looks up each peer's endpoint. It must run before the kill
// switch closes, which then allows exactly these addresses.
func ResolveEndpoints(ctx context.Context, cfg *Config, r *net.Resolver) ([]netip.AddrPort, error) {
	eps := make([]netip.AddrPort, len(cfg.Peers))
	for i, p := range cfg.Peers {
		if p.EndpointHost == "" {
			continue
		}
		if ip, err := netip.ParseAddr(p.EndpointHost); err == nil {
			eps[i] = netip.AddrPortFrom(ip.Unmap(), p.EndpointPort)
			continue
		}
		ips, err := r.LookupNetIP(ctx, "ip", p.EndpointHost)
		if err == nil && len(ips) == 0 {
			err = errors.New("no addresses") // else the message would print %!w(<nil>)
		}
		if err != nil {
			return nil, fmt.Errorf("vpn: resolve endpoint %s: %w (check the Endpoint line and your DNS)", p.Endpoint(), err)
		}
		// Prefer IPv4: it works on every uplink.
		slices.SortStableFunc(ips, func(a, b netip.Addr) int {
			if a.Unmap().Is4() == b.Unmap().Is4() {
				return 0
			}
			if a.Unmap().Is4() {
				return -1
			}
			return 1
		})
		eps[i] = netip.AddrPortFrom(ips[0].Unmap(), p.EndpointPort)
	}
	return eps, nil
}

// Interface is the tunnel's interface name.
func (t *Tunnel) Interface() string { return t.opt.Interface }

// FwMark is the mark on the tunnel's own UDP packets.
func (t *Tunnel) FwMark() uint32 { return t.opt.FwMark }

// Endpoints are the resolved peer endpoints, one per peer.
func (t *Tunnel) Endpoints() []netip.AddrPort {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.endpoints)
}

// Addresses are the tunnel's own addresses.
func (t *Tunnel) Addresses() []netip.Prefix {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.cfg.Interface.Addresses)
}

// current is the config in force and its endpoints.
func (t *Tunnel) current() (*Config, []netip.AddrPort) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cfg, t.endpoints
}

// Switch moves the tunnel to another server (failover): cfg is another
// file of the same account, with the same DNS, MTU and routes
// (CheckSwitchable), and another peer, key, endpoint or address. The
// interface and the routing stay; flows through the old server die with
// its NAT. With the same addresses the engine's sockets stay valid; with
// others the interface takes the new ones and Rebuilt fires, so that the
// sockets are made anew. The caller admits the new endpoint and addresses
// in the kill switch first.
func (t *Tunnel) Switch(cfg *Config, endpoints []netip.AddrPort) error {
	server, _ := cfg.ServerPeer()
	if server >= len(endpoints) || !endpoints[server].IsValid() {
		return fmt.Errorf("vpn: %s: the VPN server's [Peer] on line %d has no endpoint", cfg.Name, cfg.Peers[server].Line)
	}
	if err := CheckSwitchable(t.cfg, cfg); err != nil {
		return err
	}
	mark := t.opt.FwMark
	if t.opt.NetNS != nil {
		mark = 0
	}
	cfg.Interface.ListenPort = t.cfg.Interface.ListenPort // the kill switch admits this one
	uapi, err := uapiConfig(cfg, mark, endpoints)
	if err != nil {
		return err
	}
	t.mu.Lock()
	dev := t.dev
	if dev != nil {
		if err := dev.IpcSet(uapi); err != nil {
			t.mu.Unlock()
			// The UAPI text holds the private key: never wrap it.
			return fmt.Errorf("vpn: configure device %s for %s: %w", t.opt.Interface, cfg.Name, err)
		}
	}
	readdressed := !samePrefixes(t.cfg.Interface.Addresses, cfg.Interface.Addresses)
	if dev != nil && readdressed {
		if err := t.setAddresses(t.cfg.Interface.Addresses, cfg.Interface.Addresses); err != nil {
			t.mu.Unlock()
			return err
		}
	}
	// Without a device the supervisor is rebuilding it, from these.
	t.cfg, t.endpoints, t.server = cfg, endpoints, server
	t.warnings = cfg.ReachWarnings()
	t.health = healthTracker{}
	t.moves++
	t.mu.Unlock()
	if dev != nil {
		initiateHandshakes(dev, cfg, endpoints)
	}
	if readdressed {
		select {
		case t.rebuilt <- struct{}{}:
		default: // a restart is already pending
		}
	}
	return nil
}

// setAddresses gives the interface the addresses to instead of from: the
// new ones first, so that the interface is never without one.
func (t *Tunnel) setAddresses(from, to []netip.Prefix) error {
	link, err := t.nl.LinkByName(t.opt.Interface)
	if err != nil {
		return fmt.Errorf("vpn: find link %s: %w", t.opt.Interface, err)
	}
	for _, a := range to {
		addr := &netlink.Addr{IPNet: prefixNet(a)}
		if a.Addr().Is6() {
			// No duplicate address detection: the address is ours alone.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := t.nl.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("vpn: add address %s to %s: %w", a, t.opt.Interface, err)
		}
	}
	for _, a := range from {
		if slices.Contains(to, a) {
			continue
		}
		if err := t.nl.AddrDel(link, &netlink.Addr{IPNet: prefixNet(a)}); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("vpn: remove address %s from %s: %w", a, t.opt.Interface, err)
		}
	}
	return nil
}

// Readdress points the tunnel at new addresses of the same servers (their
// host names resolve elsewhere now). Unlike Switch it keeps the peers and
// their sessions: only where packets go changes, and it is not a move.
func (t *Tunnel) Readdress(endpoints []netip.AddrPort) error {
	t.mu.Lock()
	if len(endpoints) != len(t.cfg.Peers) || !endpoints[t.server].IsValid() {
		t.mu.Unlock()
		return fmt.Errorf("vpn: readdress %s: %d endpoints for %d peers, the server's invalid", t.cfg.Name, len(endpoints), len(t.cfg.Peers))
	}
	var b strings.Builder
	for i, p := range t.cfg.Peers {
		if endpoints[i].IsValid() && endpoints[i] != t.endpoints[i] {
			// update_only: never create a peer the device does not have.
			fmt.Fprintf(&b, "public_key=%s\nupdate_only=true\nendpoint=%s\n", p.PublicKey.Hex(), endpoints[i])
		}
	}
	dev, cfg := t.dev, t.cfg
	if b.Len() > 0 && dev != nil {
		if err := dev.IpcSet(b.String()); err != nil {
			t.mu.Unlock()
			return fmt.Errorf("vpn: readdress %s: %w", t.opt.Interface, err)
		}
	}
	t.endpoints = slices.Clone(endpoints)
	t.mu.Unlock()
	if b.Len() > 0 && dev != nil {
		initiateHandshakes(dev, cfg, endpoints)
	}
	return nil
}

// Rebuilt receives a value after the interface was rebuilt: sockets bound
// to the old one are dead and their owners must make new ones.
func (t *Tunnel) Rebuilt() <-chan struct{} { return t.rebuilt }

// Done is closed once the tunnel is closed.
func (t *Tunnel) Done() <-chan struct{} { return t.done }

// endpointString is the VPN server's endpoint (Up checked it is valid).
func (t *Tunnel) endpointString() string {
	return t.endpoints[t.server].String()
}

func (t *Tunnel) addressStrings() []string {
	var s []string
	for _, a := range t.cfg.Interface.Addresses {
		s = append(s, a.String())
	}
	return s
}

// bringUp makes the device and its addresses and routes. It is also how the
// supervisor rebuilds a tunnel whose interface vanished.
func (t *Tunnel) bringUp() error {
	cfg, endpoints := t.current()
	mtu := cfg.Interface.MTU
	if mtu == 0 {
		mtu = defaultMTU
	}
	tdev, err := t.createTUN(mtu)
	if err != nil {
		return fmt.Errorf("vpn: create TUN %s: %w (is /dev/net/tun there, and do you have CAP_NET_ADMIN?)", t.opt.Interface, err)
	}
	bind := t.opt.Bind
	if bind == nil {
		bind = conn.NewDefaultBind()
	}
	dev := device.NewDevice(tdev, bind, t.wgLogger())
	// In a private namespace the mark serves no routing, and setting it
	// on a socket in the host's namespace needs CAP_NET_ADMIN there,
	// which an ordinary user's copy (internal/userns) does not have.
	mark := t.opt.FwMark
	if t.opt.NetNS != nil {
		mark = 0
	}
	uapi, err := uapiConfig(cfg, mark, endpoints)
	if err == nil {
		err = dev.IpcSet(uapi)
	}
	if err != nil {
		dev.Close()
		// The UAPI text holds the private key: never wrap it, only the error.
		return fmt.Errorf("vpn: configure device %s: %w", t.opt.Interface, err)
	}
	t.mu.Lock()
	t.dev = dev
	t.mu.Unlock()

	link, err := t.nl.LinkByName(t.opt.Interface)
	if err != nil {
		return fmt.Errorf("vpn: find link %s: %w", t.opt.Interface, err)
	}
	if err := t.setAddresses(nil, cfg.Interface.Addresses); err != nil {
		return err
	}
	if err := t.nl.LinkSetUp(link); err != nil {
		return fmt.Errorf("vpn: set %s up: %w", t.opt.Interface, err)
	}
	if err := dev.Up(); err != nil {
		return fmt.Errorf("vpn: start device %s: %w", t.opt.Interface, err)
	}
	initiateHandshakes(dev, cfg, endpoints)
	for _, dst := range t.plan.Routes {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: prefixNet(dst), Table: t.plan.Table, Scope: netlink.SCOPE_LINK}
		if err := t.nl.RouteReplace(r); err != nil {
			return fmt.Errorf("vpn: add route %s dev %s table %d: %w", dst, t.opt.Interface, t.plan.Table, err)
		}
	}
	for _, dst := range t.plan.Unreachable {
		r := unreachableRoute(dst, t.plan.Table)
		if err := t.nl.RouteReplace(r); err != nil && !isNoIPv6(dst, err) {
			return fmt.Errorf("vpn: add unreachable route %s table %d: %w", dst, t.plan.Table, err)
		}
	}
	return nil
}

// initiateHandshakes starts every peer's handshake now. wireguard-go
// waits for a packet to send (or a keepalive to fall due), and nothing
// sends before the handshake it waits for: files without
// PersistentKeepalive would never come up. An initiation carries no
// payload, and wireguard-go retries it on its own schedule.
func initiateHandshakes(dev *device.Device, cfg *Config, endpoints []netip.AddrPort) {
	for i, p := range cfg.Peers {
		if !endpoints[i].IsValid() {
			continue
		}
		if peer := dev.LookupPeer(device.NoisePublicKey(p.PublicKey)); peer != nil {
			// Errors are logged by wireguard-go and retried by its timers.
			_ = peer.SendHandshakeInitiation(false)
		}
	}
}

// unreachableRoute sits behind the tunnel's routes (highest metric): when
// the interface is gone, lookups end here instead of in the main table.
func unreachableRoute(dst netip.Prefix, table int) *netlink.Route {
	return &netlink.Route{Dst: prefixNet(dst), Table: table, Type: unix.RTN_UNREACHABLE, Priority: 1 << 30}
}

// isNoIPv6 tells that IPv6 is disabled on this host, which is fine to skip.
func isNoIPv6(p netip.Prefix, err error) bool {
	return p.Addr().Is6() && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EACCES))
}

func prefixNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

func (t *Tunnel) rules() []*netlink.Rule {
	var rs []*netlink.Rule
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		suppress := netlink.NewRule()
		suppress.Family = fam
		suppress.Priority = rulePrioSuppress
		suppress.Table = unix.RT_TABLE_MAIN
		suppress.SuppressPrefixlen = 0
		tunnel := netlink.NewRule()
		tunnel.Family = fam
		tunnel.Priority = rulePrioTunnel
		tunnel.Table = t.plan.Table
		tunnel.Mark = t.plan.FwMark
		mask := uint32(0xffffffff)
		tunnel.Mask = &mask
		tunnel.Invert = true
		rs = append(rs, tunnel, suppress)
	}
	for _, l := range t.plan.LAN {
		r := netlink.NewRule()
		r.Family = unix.AF_INET
		if l.Addr().Is6() {
			r.Family = unix.AF_INET6
		}
		r.Priority = rulePrioLAN
		r.Table = unix.RT_TABLE_MAIN
		r.Dst = prefixNet(l)
		rs = append(rs, r)
	}
	return rs
}

func (t *Tunnel) addRules() error {
	// Reverse-path filtering must see the mark of the tunnel's replies
	// (wg-quick sets the same).
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/all/src_valid_mark", []byte("1"), 0o644); err != nil {
		t.log.Warn("cannot set src_valid_mark; replies may be filtered if rp_filter is on", "err", err)
	}
	for _, r := range t.rules() {
		if err := netlink.RuleAdd(r); err != nil {
			if r.Family == unix.AF_INET6 && (errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EACCES)) {
				continue
			}
			return fmt.Errorf("vpn: add rule priority %d: %w", r.Priority, err)
		}
	}
	return nil
}

// removeLeftovers deletes what a crashed run left: the interface by name,
// the rules by priority and the routes in our table.
func (t *Tunnel) removeLeftovers() error {
	if link, err := t.nl.LinkByName(t.opt.Interface); err == nil {
		if link.Type() != "tuntap" {
			return fmt.Errorf("vpn: interface %s exists and is not a tunnel of ours (type %s): choose another name with --interface", t.opt.Interface, link.Type())
		}
		t.log.Info("removing leftover interface from an earlier run")
		if err := t.nl.LinkDel(link); err != nil {
			return fmt.Errorf("vpn: remove leftover interface %s: %w", t.opt.Interface, err)
		}
	}
	return t.removeRouting()
}

func (t *Tunnel) removeRouting() error {
	var errs []error
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if t.opt.NetNS != nil {
			break // no rules there
		}
		rules, err := netlink.RuleList(fam)
		if err != nil {
			continue // family disabled
		}
		for _, r := range rules {
			if r.Priority == rulePrioLAN || r.Priority == rulePrioSuppress || r.Priority == rulePrioTunnel {
				if err := netlink.RuleDel(&r); err != nil && !errors.Is(err, unix.ENOENT) {
					errs = append(errs, fmt.Errorf("vpn: remove rule %d: %w", r.Priority, err))
				}
			}
		}
	}
	// Only the routes we add: the tunnel's own went with its interface, the
	// unreachable ones stay until deleted. Whatever else is in the table
	// belongs to someone else (checkTableUnused refused to start then).
	for _, dst := range t.plan.Unreachable {
		err := t.nl.RouteDel(unreachableRoute(dst, t.plan.Table))
		if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) && !isNoIPv6(dst, err) {
			errs = append(errs, fmt.Errorf("vpn: remove unreachable route %s table %d: %w", dst, t.plan.Table, err))
		}
	}
	return errors.Join(errs...)
}

// checkTableUnused refuses a table that holds routes wgtorrent did not
// put there (our leftovers are gone by now): they belong to another
// program or to the system, and mixing ours in would change its routing.
func (t *Tunnel) checkTableUnused() error {
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		routes, err := t.nl.RouteListFiltered(fam, &netlink.Route{Table: t.plan.Table}, netlink.RT_FILTER_TABLE)
		if err != nil || len(routes) == 0 {
			continue
		}
		where := fmt.Sprintf("routing table %d", t.plan.Table)
		if t.cfg.Interface.TableLine > 0 {
			where += fmt.Sprintf(" (Table on line %d)", t.cfg.Interface.TableLine)
		}
		dst := "default"
		if routes[0].Dst != nil {
			dst = routes[0].Dst.String()
		}
		return fmt.Errorf("vpn: %s already holds %d routes that wgtorrent did not add (the first: to %s): give a Table number nothing else uses, or remove the Table line", where, len(routes), dst)
	}
	return nil
}

func (t *Tunnel) waitHandshake(ctx context.Context) error {
	deadline := time.NewTimer(t.opt.HandshakeTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if st := t.Status(); !st.LastHandshake.IsZero() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return t.noHandshakeError()
		case <-tick.C:
		}
	}
}

// noHandshakeError names the server, the lines to check and the usual
// causes, most likely first: what was sent and received tells them apart.
func (t *Tunnel) noHandshakeError() error {
	p := t.cfg.Peers[t.server]
	st := t.Status()
	var sb strings.Builder
	fmt.Fprintf(&sb, "vpn: %v with %s (Endpoint on line %d of %s) within %s; sent %d bytes, received %d. Usual causes:\n", ErrNoHandshake, t.endpointString(), p.EndpointLine, t.cfg.Name, t.opt.HandshakeTimeout, st.TxBytes, st.RxBytes)
	fmt.Fprintf(&sb, "  - the server is down, or this network blocks UDP port %d: try another server or port from your provider\n", p.EndpointPort)
	fmt.Fprintf(&sb, "  - the server does not know your public key %s (the file was revoked, or made for another device): make a new one in your provider's account\n", t.cfg.Interface.PrivateKey.Public())
	fmt.Fprintf(&sb, "  - PublicKey on the [Peer] on line %d is not this server's", p.Line)
	if p.PresharedKey != nil {
		fmt.Fprintf(&sb, "\n  - the server does not have this PresharedKey (the [Peer] on line %d has one): take both from the same file", p.Line)
	}
	return errors.New(sb.String())
}

// Status reads the device's counters and the interface state. The state,
// handshake and counters are the VPN server's (Config.ServerPeer); with
// several peers, each is listed too.
func (t *Tunnel) Status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := Status{
		Interface: t.opt.Interface,
		Isolation: "host",
		Addresses: t.addressStrings(),
		Endpoint:  t.endpointString(),
		Server:    filepath.Base(t.cfg.Name),
		Moves:     t.moves,
		Warnings:  t.warnings,
	}
	if t.opt.NetNS != nil {
		st.Isolation = "namespace"
	}
	var peers []peerStats
	linkUp := false
	if t.dev != nil {
		if get, err := t.dev.IpcGet(); err == nil {
			peers, _ = parseUAPIGet(get)
		}
		if link, err := t.nl.LinkByName(t.opt.Interface); err == nil {
			linkUp = link.Attrs().Flags&net.FlagUp != 0
		}
	}
	serverKey := t.cfg.Peers[t.server].PublicKey
	var ps peerStats
	for _, p := range peers {
		if p.PublicKey == serverKey.Hex() {
			ps = p
		}
	}
	if len(t.cfg.Peers) > 1 {
		st.Peers = peerStatuses(t.cfg, t.server, t.endpoints, peers)
	}
	st.State = t.health.observe(time.Now(), linkUp, ps)
	st.LastHandshake = ps.LastHandshake
	if !ps.LastHandshake.IsZero() {
		st.LastHandshakeUnix = ps.LastHandshake.Unix()
	}
	st.RxBytes, st.TxBytes = ps.RxBytes, ps.TxBytes
	if ps.Endpoint != "" {
		st.Endpoint = ps.Endpoint
	}
	if st.State != t.last.State && t.last.State != "" {
		t.log.Info("tunnel state", "from", t.last.State, "to", st.State)
	}
	t.last = st
	return st
}

// supervise rebuilds the device when it dies (its interface was deleted,
// or the TUN failed), so traffic flows again without a restart.
func (t *Tunnel) supervise(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { t.watchHealth(ctx) })
	defer func() {
		wg.Wait()
		close(t.done)
	}()
	backoff := 250 * time.Millisecond
	for {
		t.mu.Lock()
		dev := t.dev
		t.mu.Unlock()
		if dev != nil {
			select {
			case <-ctx.Done():
				return
			case <-dev.Wait():
				t.log.Warn("tunnel device stopped; rebuilding")
				t.closeDevice()
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if err := t.bringUp(); err != nil {
			t.log.Warn("rebuilding tunnel failed; retrying", "err", err, "in", backoff)
			t.closeDevice()
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		backoff = 250 * time.Millisecond
		t.log.Info("tunnel device rebuilt")
		select {
		case t.rebuilt <- struct{}{}:
		default: // a restart is already pending
		}
	}
}

// watchHealth reads the tunnel's state every second (so that its changes
// are logged whoever asks) and probes the server when it has been quiet
// (prober).
func (t *Tunnel) watchHealth(ctx context.Context) {
	var p prober
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			st := t.Status()
			t.mu.Lock()
			dev, traffic := t.dev, t.health.trafficAt
			server := device.NoisePublicKey(t.cfg.Peers[t.server].PublicKey) // Switch changes it
			t.mu.Unlock()
			if dev == nil || !p.due(now, st.State, traffic) {
				continue
			}
			if peer := dev.LookupPeer(server); peer != nil {
				// Errors are logged by wireguard-go; the next probe retries.
				_ = peer.SendHandshakeInitiation(false)
			}
		}
	}
}

func (t *Tunnel) closeDevice() {
	t.mu.Lock()
	dev := t.dev
	t.dev = nil
	t.mu.Unlock()
	if dev != nil {
		dev.Close()
	}
	if link, err := t.nl.LinkByName(t.opt.Interface); err == nil && link.Type() == "tuntap" {
		_ = t.nl.LinkDel(link)
	}
}

func (t *Tunnel) teardown() error {
	t.closeDevice()
	return t.removeRouting()
}

// Close removes the device, routes and rules. A second Close is harmless.
func (t *Tunnel) Close() error {
	if t.cancel != nil {
		t.cancel()
		<-t.done
	}
	var err error
	t.closeOnce.Do(func() {
		err = t.teardown()
		t.nl.Close()
		t.log.Info("tunnel down")
	})
	return err
}

// netlinkIn is a netlink handle in ns, or in the process's namespace.
func netlinkIn(ns Namespace) (*netlink.Handle, error) {
	if ns == nil {
		return netlink.NewHandle()
	}
	// Made on a thread inside the namespace (a socket keeps the
	// namespace it was made in); NewHandleAt would switch a thread back
	// to the host's namespace, which an ordinary user's copy may not.
	var h *netlink.Handle
	err := ns.Do(func() (err error) {
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("vpn: netlink in the tunnel's namespace: %w", err)
	}
	return h, nil
}

// createTUN makes the TUN device, inside the namespace if there is one.
func (t *Tunnel) createTUN(mtu int) (tun.Device, error) {
	if t.opt.NetNS == nil {
		return tun.CreateTUN(t.opt.Interface, mtu)
	}
	var dev tun.Device
	err := t.opt.NetNS.Do(func() (err error) {
		dev, err = tun.CreateTUN(t.opt.Interface, mtu)
		if err == nil {
			// lo and this device are all the namespace has.
			err = t.nl.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo"}})
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &nsTUN{Device: dev, ns: t.opt.NetNS}, nil
}

// nsTUN reads the device's MTU inside its namespace: wireguard-go looks
// the interface up by name from whatever thread asks.
type nsTUN struct {
	tun.Device
	ns Namespace
}

func (d *nsTUN) MTU() (mtu int, err error) {
	err = d.ns.Do(func() (err error) {
		mtu, err = d.Device.MTU()
		return err
	})
	return mtu, err
}

func (t *Tunnel) wgLogger() *device.Logger {
	l := t.log.With("component", "wireguard-go")
	return &device.Logger{
		Verbosef: func(format string, args ...any) {
			if l.Enabled(context.Background(), slog.LevelDebug) {
				l.Debug(fmt.Sprintf(format, args...))
			}
		},
		Errorf: func(format string, args ...any) { l.Warn(fmt.Sprintf(format, args...)) },
	}
}
