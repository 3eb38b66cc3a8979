// Package session brings up what every wgtorrent command stands on, in the
// order that keeps it leak-free: read the config, claim the network
// namespace (one owner of its kill switch and routing at a time, see
// AcquireOwner), resolve the endpoint, arm the kill switch, then bring up
// the tunnel. While it runs, a guard reads the kill switch and the routing
// back from the kernel several times a second and puts back at once what
// anyone removed or changed; KillSwitchState reports what it measured, not
// what was configured. Close undoes it in reverse, and leaves the kill
// switch in place when its mode says so. A start that fails leaves the
// machine as closed as it found it: a table of ours that was there before
// (persist, crash) stays.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/netns"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// ErrConfig marks errors caused by the user's input (exit status 2).
var ErrConfig = errors.New("bad configuration")

// Options are what the commands share.
type Options struct {
	// ConfigPaths are the VPN servers' wg-quick files, in failover order
	// (vpn.ConfigFiles expands directories); the first that answers is
	// used, and the next when it has been unhealthy for FailoverAfter.
	ConfigPaths   []string
	FailoverAfter time.Duration // 0: DefaultFailoverAfter
	// ResolveEvery is how often host-name endpoints are looked up again
	// through the tunnel; 0: DefaultResolveEvery.
	ResolveEvery     time.Duration
	Interface        string
	KillSwitch       killswitch.Mode
	AllowLAN         []netip.Prefix
	LANInboundPorts  []uint16
	HandshakeTimeout time.Duration
	// StateDir keeps the endpoint addresses last resolved (endpoints.json),
	// so that a restart under a kill switch left in place needs no name
	// lookup outside the tunnel. "" keeps nothing.
	StateDir string
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
	Tunnel Tunnel
	Mode   killswitch.Mode
	fw     Firewall
	log    *slog.Logger
	engine *client.Restartable
	// fwd keeps a forwarded port (StartPortForward); fwdStop releases it.
	fwd     atomic.Pointer[portfwd.Forwarder]
	fwdStop func()
	wg      sync.WaitGroup
	stop    chan struct{}
	ns      *netns.NS // the private namespace (IsolationNamespace)

	owner    *Owner
	ksMu     sync.Mutex         // rs and spec: the guard, the inbound ports and failover change them
	rs       killswitch.RuleSet // as applied; the guard compares the kernel with it
	spec     killswitch.Spec    // what rs was built from
	srvMu    sync.Mutex         // servers and cur
	servers  []server           // in failover order
	cur      int                // the server in use
	sockets  Sockets            // the tunnel namespace's listeners (admitInbound); nil in unit tests
	hadTable bool               // a table of ours was there before Start
	guard    guard
	bg       sync.WaitGroup // the endpoint refresh
	bgCancel context.CancelFunc
}

// Start claims the network namespace, arms the kill switch and brings the
// tunnel up. A second instance in the same namespace gets ErrOwned and
// touches nothing.
func Start(ctx context.Context, o Options) (*Session, error) {
	return start(ctx, o, killswitch.Firewall{}, vpnUp, openSockets)
}

// start is Start with the kill switch and the tunnel given: the unit tests
// pass fakes to pin the order and the failure paths without root.
func start(ctx context.Context, o Options, fw Firewall, up upFunc, sockets func(*slog.Logger) Sockets) (_ *Session, err error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	cfgs, err := loadConfigs(o.ConfigPaths, log)
	if err != nil {
		return nil, err
	}
	mode := o.KillSwitch
	if mode == "" {
		mode = killswitch.ModeOn
	}
	iface := o.Interface
	if iface == "" {
		iface = vpn.DefaultInterface
	}
	if o.Isolation == IsolationNamespace {
		// A namespace of its own: nobody to share it with, nothing to claim.
		return startIsolated(ctx, o, cfgs, iface, log)
	}
	// Nothing of the kernel's is touched before the claim: a second
	// instance must leave the first one's table, rules and interface alone.
	owner, err := AcquireOwner(OwnerInfo{PID: os.Getpid(), Interface: iface, Mode: string(mode), Since: time.Now()})
	if err != nil {
		return nil, err
	}
	s := &Session{Mode: mode, log: log, owner: owner, fw: fw}
	if sockets != nil && mode != killswitch.ModeOff {
		s.sockets = sockets(log)
	}
	defer func() {
		if err != nil {
			s.guard.stopAndWait()
			s.closeSockets()
			owner.Release()
		}
	}()
	if st, err := s.fw.Status(); err == nil && st.Present {
		s.hadTable = true
		log.Info("replacing the kill switch left by an earlier run (no live owner)", "mode", st.Mode)
	}
	// Resolve before the rules close: afterwards only these addresses pass.
	cache := endpointCache{dir: o.StateDir}
	servers, err := resolveServers(ctx, cfgs, cache, s.hadTable, log)
	if err != nil {
		return nil, err
	}
	s.Config, s.servers = servers[0].cfg, servers
	cfg, endpoints := servers[0].cfg, servers[0].endpoints
	mark := cfg.Interface.FwMark
	if mark == 0 {
		mark = vpn.DefaultFwMark
	}
	if mode == killswitch.ModeOff {
		log.Warn("KILL SWITCH OFF: if the tunnel drops, traffic may leave outside it")
	} else {
		spec := killswitch.Spec{
			TunnelInterface: iface,
			FwMark:          mark,
			AllowLAN:        o.AllowLAN,
			LANInboundPorts: o.LANInboundPorts,
			Mode:            mode,
		}
		if err := s.arm(spec, endpoints); err != nil {
			return nil, err
		}
		log.Info("kill switch armed", "mode", mode, "endpoints", validEndpoints(endpoints), "listen_port", cfg.Interface.ListenPort, "lan", o.AllowLAN)
	}
	// The guard watches the kill switch from now on (the handshake may take
	// seconds); the routing once the tunnel is there.
	s.guard.start(s)
	t, cur, err := s.upAny(ctx, servers, up, vpn.Options{
		Interface:        iface,
		FwMark:           mark,
		HandshakeTimeout: o.HandshakeTimeout,
		LAN:              o.AllowLAN,
		Logger:           log,
	})
	if err != nil {
		// The tunnel never came up. A table of ours that was there before
		// (persist, or a crash) stays: a restart loop must not open the
		// machine between attempts.
		s.guard.stopAndWait()
		if s.hadTable && mode != killswitch.ModeOff {
			log.Warn("start failed: the kill switch that was there before stays in place", "mode", mode)
		} else {
			s.releaseKillSwitch()
		}
		return nil, err
	}
	s.guard.setTunnel(t)
	s.Tunnel, s.cur = t, cur
	for _, srv := range servers {
		cache.store(srv.cfg, srv.endpoints, log)
	}
	s.startBackground(o, cache)
	return s, nil
}

// startBackground starts what runs while the tunnel is up: the endpoint
// refresh and, with several servers, failover.
func (s *Session) startBackground(o Options, cache endpointCache) {
	bctx, cancel := context.WithCancel(context.Background())
	s.bgCancel = cancel
	if hasHostNames(s.servers) {
		every := o.ResolveEvery
		if every <= 0 {
			every = DefaultResolveEvery
		}
		if lookup := s.tunnelLookup(); lookup != nil {
			s.bg.Go(func() { s.followNames(bctx, every, cache, lookup) })
		} else {
			s.log.Warn("endpoint host names are not looked up again while running: the config has no IPv4 DNS= to ask through the tunnel")
		}
	}
	if len(s.servers) > 1 {
		after := o.FailoverAfter
		if after <= 0 {
			after = DefaultFailoverAfter
		}
		s.log.Info("failover on", "servers", len(s.servers), "after", after)
		s.bg.Go(func() { s.failover(bctx, after) })
	}
}

// fixListenPort picks the tunnel's UDP port now when the config leaves it
// to chance: the kill switch lets the endpoint's packets in to that port
// only, so it must be known before the rules are built, and a rebuilt
// device must keep it.
func fixListenPort(cfg *vpn.Config) error {
	if cfg.Interface.ListenPort != 0 {
		return nil
	}
	port, err := freeUDPPort()
	if err != nil {
		return err
	}
	cfg.Interface.ListenPort = port
	return nil
}

// arm completes spec with what the session's config and endpoints say,
// builds the kill switch and applies it; the guard compares the kernel
// with what arm applied.
func (s *Session) arm(spec killswitch.Spec, endpoints []netip.AddrPort) error {
	spec.Endpoints = validEndpoints(endpoints)
	spec.TunnelIPv6 = hasIPv6(s.Config)
	spec.ListenPort = s.Config.Interface.ListenPort
	spec.TunnelAddresses = s.Config.Interface.Addresses
	spec.Generation = fmt.Sprintf("%d-%x", os.Getpid(), time.Now().UnixNano())
	s.ksMu.Lock()
	defer s.ksMu.Unlock()
	return s.applyLocked(spec)
}

// Binding is how the engine reaches the network: the tunnel's interface,
// its addresses and the config's DNS servers, nothing else.
func (s *Session) Binding() client.Binding {
	b := client.Binding{Interface: s.Tunnel.Interface(), DNS: s.Config.Interface.DNS}
	if s.ns != nil {
		b.NetNS = s.ns
	}
	b.SetAddresses(s.Tunnel.Addresses())
	return b
}

// NetNSFd is the private network namespace's descriptor, for a process
// that must start inside it (the daemon's worker); 0 in host mode.
func (s *Session) NetNSFd() int {
	if s.ns == nil {
		return 0
	}
	return s.ns.Fd()
}

// KillSwitchDrops counts what the kill switch rejected or dropped, read
// from its counters in the kernel (in the namespace it guards).
func (s *Session) KillSwitchDrops() (uint64, error) {
	st, err := s.fw.Status()
	if err != nil {
		return 0, err
	}
	return st.RejectedOut + st.DroppedIn, nil
}

// StartEngine starts the torrent engine bound to the tunnel, restarts it
// whenever the tunnel's interface is rebuilt, and tells it when the tunnel
// is back after an outage (client.Engine.TunnelBack).
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
		var back vpn.ReturnWatch
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				return
			case now := <-tick.C:
				if lastUp, ok := back.Observe(s.Tunnel.Status().State, now); ok {
					eng.TunnelBack(lastUp)
					s.nudgePortForward()
				}
			case <-s.Tunnel.Rebuilt():
				if err := eng.Rebind(context.Background(), s.Binding()); err != nil {
					s.log.Error("restarting the engine on the rebuilt tunnel", "err", err)
				}
				s.nudgePortForward()
			}
		}
	})
	return eng, nil
}

// StartPortForward asks the VPN's gateway (NAT-PMP, through the tunnel)
// to forward a port, and keeps the engine listening on it
// (internal/portfwd); gw unset: the config's first IPv4 DNS server. Call
// after StartEngine; failures of the gateway are retried and shown, never
// stopping the downloads.
func (s *Session) StartPortForward(gw netip.Addr) error {
	if s.engine == nil {
		return errors.New("session: port forwarding needs the engine started")
	}
	f, stop, err := portfwd.Start(s.engine, s.Binding, gw, s.Config.Interface.DNS, s.log.With("part", "portfwd"))
	if err != nil {
		return err
	}
	s.fwd.Store(f)
	s.fwdStop = stop
	return nil
}

// nudgePortForward asks the gateway again at once (the tunnel is back).
func (s *Session) nudgePortForward() {
	if f := s.fwd.Load(); f != nil {
		f.Nudge()
	}
}

// PortForward is the forwarded port's state; ok is false when forwarding
// is off.
func (s *Session) PortForward() (st portfwd.State, ok bool) {
	f := s.fwd.Load()
	if f == nil {
		return portfwd.State{}, false
	}
	return f.State(), true
}

// KillSwitchState is the kill switch as last measured in the kernel.
func (s *Session) KillSwitchState() killswitch.State {
	if s.Mode == killswitch.ModeOff {
		return killswitch.StateOff
	}
	return s.guard.state()
}

// KillSwitchArmed reports whether the kill switch was measured armed, and
// why not otherwise.
func (s *Session) KillSwitchArmed() (bool, error) {
	switch st := s.KillSwitchState(); st {
	case killswitch.StateArmed:
		return true, nil
	case killswitch.StateOff:
		return false, nil
	default:
		return false, fmt.Errorf("kill switch %s: %s", st, s.guard.problem())
	}
}

// RoutingIntact reports whether the tunnel's ip rules and routes were all
// in the kernel at the last check.
func (s *Session) RoutingIntact() bool { return s.guard.routingOK() }

// Restores counts the times the guard found the kill switch or the routing
// missing or changed and put it back.
func (s *Session) Restores() (killSwitch, routing uint64) {
	return s.guard.ksRestores.Load(), s.guard.routeRestores.Load()
}

// Close stops the engine, brings the tunnel down, then removes the kill
// switch unless its mode is persist.
func (s *Session) Close() error {
	var errs []error
	if s.bgCancel != nil {
		s.bgCancel()
		s.bg.Wait()
	}
	if s.fwdStop != nil {
		// Released while the tunnel still carries the request.
		s.fwdStop()
	}
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
	// The guard must not put back what the teardown removes.
	s.guard.stopAndWait()
	if s.Tunnel != nil {
		errs = append(errs, s.Tunnel.Close())
	}
	errs = append(errs, s.releaseKillSwitch())
	s.closeSockets()
	s.owner.Release()
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

// freeUDPPort picks a UDP port nobody uses now for the tunnel's socket.
func freeUDPPort() (uint16, error) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		return 0, fmt.Errorf("session: pick the tunnel's UDP port: %w", err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}
