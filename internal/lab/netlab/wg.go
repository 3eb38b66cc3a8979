//go:build linux

package netlab

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/curve25519"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"
)

// The WireGuard server's port and tunnel addressing.
const WGPort = 51820

var (
	TunnelNet4    = netip.MustParsePrefix("100.64.0.0/24")
	TunnelServer4 = netip.MustParseAddr("100.64.0.1") // also the DNS address in ClientConfig
	TunnelClient4 = netip.MustParseAddr("100.64.0.2")
	// TunnelClient4Other is the client's address on VPN2 with
	// Options.VPN2OwnAddress.
	TunnelClient4Other = netip.MustParseAddr("100.64.0.3")
	TunnelNet6         = netip.MustParsePrefix("fd00:64::/64")
	TunnelServer6      = netip.MustParseAddr("fd00:64::1")
	TunnelClient6      = netip.MustParseAddr("fd00:64::2")
)

// WGServer is a WireGuard server of the lab on a VPN host (VPN or VPN2),
// with one client.
type WGServer interface {
	// ClientConfig is a wg-quick configuration for the client (it holds the
	// client's private key). Every server of a lab gives the same private
	// key and tunnel addresses, as a provider's servers share an account;
	// the [Peer] (server key, Endpoint) is the server's own.
	ClientConfig() string
	// Endpoint is the server's public address: 198.18.2.2:51820 on VPN,
	// 198.18.4.2:51820 on VPN2.
	Endpoint() netip.AddrPort
	// Stop takes the server down (the tunnel interface disappears).
	Stop() error
	// Start brings a stopped server back with the same keys and port.
	Start() error
	// SetPresharedKey gives the client's peer a preshared key (base64, as
	// a config file has it); "" removes it.
	SetPresharedKey(psk string) error
	// Interface is the server's tunnel interface on its VPN host.
	Interface() string
}

type wgKey [32]byte

func newPrivateKey() (wgKey, error) {
	var k wgKey
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("netlab: generate key: %w", err)
	}
	// Clamp as `wg genkey` does.
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

func (k wgKey) public() wgKey {
	pub, err := curve25519.X25519(k[:], curve25519.Basepoint)
	if err != nil {
		panic(err) // only for a low-order point, which a clamped scalar times the base point is not
	}
	return wgKey(pub)
}

func (k wgKey) base64() string { return base64.StdEncoding.EncodeToString(k[:]) }
func (k wgKey) hex() string    { return hex.EncodeToString(k[:]) }

type wgServer struct {
	lab     *Lab
	host    *Host  // VPN or VPN2
	debian  bool   // Debian's wireguard-go program, else the library in-process
	ifname  string // unique across labs and hosts: Debian's UAPI socket path is global
	srvKey  wgKey  // the server's own; the client's is the lab's cliKey
	running bool
	mu      sync.Mutex

	dev  *device.Device // builtin
	cmd  *Cmd           // debian
	done chan struct{}  // debian: closed when the process has exited
}

func (s *wgServer) Interface() string { return s.ifname }

// StartDebianWGServer runs Debian's wireguard-go on the VPN host, configured
// with `wg`. It needs the wireguard-go and wg programs.
func (l *Lab) StartDebianWGServer(ctx context.Context) (WGServer, error) {
	return l.StartDebianWGServerOn(ctx, l.VPN)
}

// StartDebianWGServerOn runs Debian's wireguard-go on h, which is l.VPN or
// l.VPN2 (the hosts that forward and masquerade tunnel traffic), with a
// server key of its own and the lab's client.
func (l *Lab) StartDebianWGServerOn(ctx context.Context, h *Host) (WGServer, error) {
	for _, p := range []string{"wireguard-go", "wg"} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("netlab: debian wireguard server needs %s (apt install wireguard-go wireguard-tools): %w", p, err)
		}
	}
	return l.startWGServer(ctx, h, true)
}

// StartBuiltinWGServer runs the same server on the VPN host with the
// wireguard-go library inside this process: it needs nothing but the binary.
func (l *Lab) StartBuiltinWGServer(ctx context.Context) (WGServer, error) {
	return l.startWGServer(ctx, l.VPN, false)
}

func (l *Lab) startWGServer(ctx context.Context, h *Host, debian bool) (WGServer, error) {
	if h == nil || !slices.Contains(l.vpnHosts(), h) {
		return nil, fmt.Errorf("netlab: wireguard server on %s: not a VPN host of lab %s (VPN, or VPN2 with Options.SecondVPN)", hostName(h), l.ID)
	}
	s := &wgServer{lab: l, host: h, debian: debian, ifname: wgIfname(h)}
	var err error
	if s.srvKey, err = newPrivateKey(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	l.addCloser(s.Stop)
	return s, nil
}

// wgIfname names the server interface on h: "wgs-<lab ID>" on VPN (as it
// always was), "wgs2-<lab ID>" on VPN2. Debian wireguard-go's UAPI socket
// /var/run/wireguard/<name>.sock is shared by every namespace, so the name
// must differ between the hosts of a lab as between labs.
func wgIfname(h *Host) string {
	return "wgs" + strings.TrimPrefix(h.Name, "vpn") + "-" + h.lab.ID
}

// hostName names h in an error, nil included.
func hostName(h *Host) string {
	if h == nil {
		return "nil"
	}
	return fmt.Sprintf("%s (%s)", h.Name, h.NetNS)
}

func (s *wgServer) Endpoint() netip.AddrPort {
	return netip.AddrPortFrom(s.host.Addr4, WGPort)
}

func (s *wgServer) ClientConfig() string {
	addrs, allowed := s.client4().String()+"/32", "0.0.0.0/0"
	if s.lab.opt.IPv6Tunnel {
		addrs += ", " + TunnelClient6.String() + "/128"
		allowed += ", ::/0"
	}
	return fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = %s
DNS = %s

[Peer]
PublicKey = %s
Endpoint = %s
AllowedIPs = %s
PersistentKeepalive = 25
`, s.lab.cliKey.base64(), addrs, TunnelServer4, s.srvKey.public().base64(), s.Endpoint(), allowed)
}

// client4 is the client's IPv4 tunnel address on this server.
func (s *wgServer) client4() netip.Addr {
	if s.host == s.lab.VPN2 && s.lab.opt.VPN2OwnAddress {
		return TunnelClient4Other
	}
	return TunnelClient4
}

func (s *wgServer) tunnelPrefixes() []netip.Prefix {
	p := []netip.Prefix{netip.PrefixFrom(TunnelServer4, TunnelNet4.Bits())}
	if s.lab.opt.IPv6Tunnel {
		p = append(p, netip.PrefixFrom(TunnelServer6, TunnelNet6.Bits()))
	}
	return p
}

func (s *wgServer) clientAllowedIPs() []string {
	a := []string{s.client4().String() + "/32"}
	if s.lab.opt.IPv6Tunnel {
		a = append(a, TunnelClient6.String()+"/128")
	}
	return a
}

func (s *wgServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return nil
	}
	var err error
	if s.debian {
		err = s.startDebian()
	} else {
		err = s.startBuiltin()
	}
	if err != nil {
		s.stopLocked()
		return err
	}
	if err := s.host.configureLink(s.ifname, s.tunnelPrefixes()); err != nil {
		s.stopLocked()
		return err
	}
	s.running = true
	return nil
}

func (s *wgServer) startBuiltin() error {
	var uapi strings.Builder
	fmt.Fprintf(&uapi, "private_key=%s\nlisten_port=%d\nreplace_peers=true\npublic_key=%s\nreplace_allowed_ips=true\n",
		s.srvKey.hex(), WGPort, s.lab.cliKey.public().hex())
	for _, a := range s.clientAllowedIPs() {
		fmt.Fprintf(&uapi, "allowed_ip=%s\n", a)
	}
	dev, err := startDevice(s.host, s.ifname, uapi.String(), s.lab.opt.VPNDelay)
	if err != nil {
		return err
	}
	s.dev = dev
	return nil
}

func (s *wgServer) startDebian() error {
	sock := filepath.Join("/var/run/wireguard", s.ifname+".sock")
	cmd := s.host.Command(context.Background(), "wireguard-go", "-f", s.ifname)
	cmd.Env = append(os.Environ(), "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1", "LOG_LEVEL=error")
	out := &logWriter{lab: s.lab, prefix: "wireguard-go " + s.ifname}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("netlab: start wireguard-go: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	done := s.done
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	// The UAPI socket appears once the device is ready.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-done:
			return fmt.Errorf("netlab: wireguard-go %s exited before its socket appeared: %v", s.ifname, cmd.ProcessState)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netlab: wireguard-go %s: no socket %s after 10s", s.ifname, sock)
		}
	}

	f, err := os.CreateTemp("", "netlab-wgkey-*") // created 0600
	if err != nil {
		return fmt.Errorf("netlab: key file: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(s.srvKey.base64() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("netlab: key file: %w", err)
	}
	wg := s.host.Command(context.Background(), "wg", "set", s.ifname,
		"private-key", f.Name(), "listen-port", fmt.Sprint(WGPort),
		"peer", s.lab.cliKey.public().base64(), "allowed-ips", strings.Join(s.clientAllowedIPs(), ","))
	if b, err := wg.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: wg set %s: %w: %s", s.ifname, err, strings.TrimSpace(string(b)))
	}
	return nil
}

func (s *wgServer) SetPresharedKey(psk string) error {
	key := make([]byte, 32) // all zeros: no preshared key
	if psk != "" {
		k, err := base64.StdEncoding.DecodeString(psk)
		if err != nil || len(k) != 32 {
			return fmt.Errorf("netlab: preshared key: not 32 bytes of base64")
		}
		key = k
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.debian {
		return s.dev.IpcSet(fmt.Sprintf("public_key=%s\npreshared_key=%s\n", s.lab.cliKey.public().hex(), hex.EncodeToString(key)))
	}
	f, err := os.CreateTemp("", "netlab-wgpsk-*") // created 0600
	if err != nil {
		return fmt.Errorf("netlab: preshared key file: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("netlab: preshared key file: %w", err)
	}
	wg := s.host.Command(context.Background(), "wg", "set", s.ifname, "peer", s.lab.cliKey.public().base64(), "preshared-key", f.Name())
	if b, err := wg.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: wg set %s preshared-key: %w: %s", s.ifname, err, strings.TrimSpace(string(b)))
	}
	return nil
}

func (s *wgServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *wgServer) stopLocked() error {
	s.running = false
	if s.dev != nil {
		s.dev.Close() // closing the TUN removes the interface
		s.dev = nil
	}
	if s.cmd != nil {
		// SIGTERM lets wireguard-go remove its socket and interface.
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
		s.cmd = nil
		_ = os.Remove(filepath.Join("/var/run/wireguard", s.ifname+".sock"))
	}
	return nil
}

// startDevice runs a wireguard-go library device named name in h's
// namespace and configures it with uapi. The TUN and the UDP sockets are
// created in h's namespace; the device's goroutines run anywhere, so the
// wrappers below re-enter h's namespace where the library would otherwise
// act in the caller's.
func startDevice(h *Host, name, uapi string, delay time.Duration) (*device.Device, error) {
	var tdev tun.Device
	err := h.Do(func() (err error) {
		tdev, err = tun.CreateTUN(name, device.DefaultMTU)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: create tun %q: %w", h.Name, name, err)
	}
	logger := &device.Logger{
		Verbosef: device.DiscardLogf,
		Errorf: func(format string, args ...any) {
			h.lab.logf("wireguard %s/%s: "+format, append([]any{h.Name, name}, args...)...)
		},
	}
	if delay > 0 {
		tdev = newDelayTUN(tdev, delay)
	}
	dev := device.NewDevice(&nsTUN{Device: tdev, host: h}, &nsBind{Bind: conn.NewDefaultBind(), host: h}, logger)
	if err := dev.IpcSet(uapi); err != nil {
		dev.Close()
		return nil, fmt.Errorf("netlab: %s: configure %q: %w", h.Name, name, err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("netlab: %s: up %q: %w", h.Name, name, err)
	}
	return dev, nil
}

// nsBind opens the device's UDP sockets in the host's namespace. The device
// reopens its bind from its own goroutines (on interface up events, port
// changes), which would otherwise create them in the host of the process.
type nsBind struct {
	conn.Bind
	host *Host
}

func (b *nsBind) Open(port uint16) (fns []conn.ReceiveFunc, actual uint16, err error) {
	err = b.host.Do(func() error {
		var err error
		fns, actual, err = b.Bind.Open(port)
		return err
	})
	return fns, actual, err
}

// nsTUN reads the TUN's MTU in the host's namespace: the library looks the
// interface up by name in the calling thread's namespace.
type nsTUN struct {
	tun.Device
	host *Host
}

func (t *nsTUN) MTU() (mtu int, err error) {
	err = t.host.Do(func() error {
		var err error
		mtu, err = t.Device.MTU()
		return err
	})
	return mtu, err
}

// delayTUN holds every packet written to the TUN (tunnel to host) for a
// fixed time, in order, without blocking the device meanwhile.
type delayTUN struct {
	tun.Device
	delay time.Duration
	q     chan delayedBatch
	pool  sync.Pool
	done  chan struct{}
}

type delayedBatch struct {
	due    time.Time
	bufs   [][]byte
	offset int
}

func newDelayTUN(dev tun.Device, delay time.Duration) *delayTUN {
	t := &delayTUN{Device: dev, delay: delay, q: make(chan delayedBatch, 1<<16), done: make(chan struct{})}
	go t.run()
	return t
}

// Write copies the packets into buffers of the same capacity (the TUN's
// GRO coalesces into a packet's spare room) and queues them.
func (t *delayTUN) Write(bufs [][]byte, offset int) (int, error) {
	b := delayedBatch{due: time.Now().Add(t.delay), offset: offset, bufs: make([][]byte, len(bufs))}
	for i, p := range bufs {
		c, _ := t.pool.Get().([]byte)
		if cap(c) < cap(p) {
			c = make([]byte, cap(p))
		}
		c = c[:len(p)]
		copy(c, p)
		b.bufs[i] = c
	}
	select {
	case t.q <- b:
	case <-t.done:
		return 0, os.ErrClosed
	}
	return len(bufs), nil
}

func (t *delayTUN) run() {
	for {
		select {
		case <-t.done:
			return
		case b := <-t.q:
			time.Sleep(time.Until(b.due))
			t.Device.Write(b.bufs, b.offset)
			for _, c := range b.bufs {
				//lint:ignore SA6002 a slice header per packet is cheap next to its 64 KiB
				t.pool.Put(c[:cap(c)])
			}
		}
	}
}

func (t *delayTUN) Close() error {
	select {
	case <-t.done:
	default:
		close(t.done)
	}
	return t.Device.Close()
}

// Bind is a WireGuard bind whose UDP sockets are made in h's namespace:
// for a device run by a test whose other end (a TUN) lives elsewhere.
func (h *Host) Bind() conn.Bind { return &nsBind{Bind: conn.NewDefaultBind(), host: h} }
