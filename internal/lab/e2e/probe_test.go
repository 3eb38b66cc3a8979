//go:build linux

package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// probeTimeout bounds each probe: the kill switch rejects at once, and a
// dead tunnel swallows packets, so waiting longer shows nothing new.
const probeTimeout = 400 * time.Millisecond

// target is a host the client tries to reach outside (or through) the tunnel.
type target struct {
	name             string
	addr             netip.Addr
	tcpPort, udpPort int
}

// targets are the peer host, the VPN host on ports other than WireGuard's,
// and the ISP router (on the client's own subnet, so the main table's
// connected route would carry it straight out of the uplink).
func targets4(lab *netlab.Lab) []target {
	return []target{
		{"peer", lab.Peer.Addr4, whoamiPort, whoamiPort},
		{"vpn-host", lab.VPN.Addr4, 22, netlab.WGPort + 1},
		{"isp", lab.Client.Gateway4, 80, 53},
	}
}

func targets6(lab *netlab.Lab) []target {
	return []target{
		{"peer6", lab.Peer.Addr6, whoamiPort, whoamiPort},
		{"vpn-host6", lab.VPN.Addr6, 22, netlab.WGPort + 1},
		{"isp6", lab.Client.Gateway6, 80, 53},
	}
}

// probeResult is one probe's outcome: reached means an answer came back
// from the target (a TCP handshake, a UDP reply, an echo reply).
type probeResult struct {
	what    string
	reached bool
	outcome string
}

func (r probeResult) String() string { return r.what + ": " + r.outcome }

// probeRound sends a TCP connect, a UDP datagram and an ICMP(v6) echo to
// every target from sockets made in h's namespace, all at once: once from
// plain sockets, and once from sockets carrying the tunnel's fwmark, which
// routing sends past the tunnel straight to the uplink (as a program that
// marks or binds its sockets would), so that only the kill switch stops them.
func probeRound(h *netlab.Host, targets []target) []probeResult {
	var (
		mu  sync.Mutex
		out []probeResult
		wg  sync.WaitGroup
	)
	add := func(r probeResult) {
		mu.Lock()
		out = append(out, r)
		mu.Unlock()
	}
	for _, tg := range targets {
		for _, mark := range []int{0, vpn.DefaultFwMark} {
			wg.Go(func() { add(probeTCP(h, tg, mark)) })
			wg.Go(func() { add(probeUDP(h, tg, mark)) })
			wg.Go(func() { add(probeICMP(h, tg, mark)) })
		}
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b probeResult) int { return strings.Compare(a.what, b.what) })
	return out
}

func markSuffix(mark int) string {
	if mark == 0 {
		return ""
	}
	return fmt.Sprintf(" (fwmark %d)", mark)
}

// dialIn dials from a socket made in h's namespace, with SO_MARK mark if
// non-zero.
func dialIn(ctx context.Context, h *netlab.Host, network, addr string, mark int) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		if mark != 0 {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, mark)
				}); err != nil {
					return err
				}
				return serr
			}
		}
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

func probeTCP(h *netlab.Host, tg target, mark int) probeResult {
	addr := netip.AddrPortFrom(tg.addr, uint16(tg.tcpPort)).String()
	r := probeResult{what: tg.name + " tcp " + addr + markSuffix(mark)}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	c, err := dialIn(ctx, h, "tcp", addr, mark)
	if err != nil {
		r.outcome = classify(err)
		return r
	}
	c.Close()
	r.reached, r.outcome = true, "connected"
	return r
}

func probeUDP(h *netlab.Host, tg target, mark int) probeResult {
	addr := netip.AddrPortFrom(tg.addr, uint16(tg.udpPort)).String()
	r := probeResult{what: tg.name + " udp " + addr + markSuffix(mark)}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	c, err := dialIn(ctx, h, "udp", addr, mark)
	if err != nil {
		r.outcome = classify(err)
		return r
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := c.Write([]byte("leak-probe")); err != nil {
		r.outcome = "send: " + classify(err)
		return r
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		r.outcome = "sent, " + classify(err)
		return r
	}
	r.reached, r.outcome = true, fmt.Sprintf("answer %q", strings.TrimSpace(string(buf[:n])))
	return r
}

// probeICMP sends one echo request on a raw socket and waits for its reply.
func probeICMP(h *netlab.Host, tg target, mark int) probeResult {
	r := probeResult{what: tg.name + " icmp " + tg.addr.String() + markSuffix(mark)}
	fam, proto, req, rep := unix.AF_INET, unix.IPPROTO_ICMP, byte(8), byte(0)
	if tg.addr.Is6() {
		r.what = tg.name + " icmpv6 " + tg.addr.String() + markSuffix(mark)
		fam, proto, req, rep = unix.AF_INET6, unix.IPPROTO_ICMPV6, 128, 129
	}
	id := uint16(rand.Uint32())
	err := h.Do(func() error {
		fd, err := unix.Socket(fam, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval(probeTimeout.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("rcvtimeo: %w", err)
		}
		if mark != 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, mark); err != nil {
				return fmt.Errorf("so_mark: %w", err)
			}
		}
		pkt := []byte{req, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 'w', 'g', 't', '-', 'l', 'e', 'a', 'k'}
		var sa unix.Sockaddr
		if tg.addr.Is4() {
			binary.BigEndian.PutUint16(pkt[2:], inetChecksum(pkt))
			sa = &unix.SockaddrInet4{Addr: tg.addr.As4()}
		} else {
			sa = &unix.SockaddrInet6{Addr: tg.addr.As16()} // the kernel sums ICMPv6
		}
		if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		deadline := time.Now().Add(probeTimeout)
		buf := make([]byte, 1500)
		for time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return fmt.Errorf("sent, %w", err)
			}
			msg := buf[:n]
			if tg.addr.Is4() && n >= 20 { // IPv4 raw sockets see the IP header
				src := netip.AddrFrom4([4]byte(msg[12:16]))
				msg = msg[int(msg[0]&0x0f)*4:]
				if src != tg.addr {
					continue
				}
			}
			if len(msg) >= 8 && msg[0] == rep && binary.BigEndian.Uint16(msg[4:]) == id {
				r.reached = true
				return nil
			}
		}
		return errors.New("sent, no reply")
	})
	if r.reached {
		r.outcome = "echo reply"
	} else {
		r.outcome = classify(err)
	}
	return r
}

func inetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// classify shortens a probe error to what tells the cause apart.
func classify(err error) string {
	var prefix string
	if s := err.Error(); strings.HasPrefix(s, "sent, ") {
		prefix = "sent, "
	}
	for _, e := range []struct {
		err  error
		name string
	}{
		{unix.EPERM, "EPERM (firewall)"},
		{unix.ECONNREFUSED, "refused"},
		{unix.ECONNRESET, "reset"},
		{unix.EHOSTUNREACH, "host unreachable"},
		{unix.ENETUNREACH, "network unreachable"},
		{unix.EAGAIN, "timeout"},
		{os.ErrDeadlineExceeded, "timeout"},
		{context.DeadlineExceeded, "timeout"},
	} {
		if errors.Is(err, e.err) {
			return prefix + e.name
		}
	}
	return err.Error()
}

// assertNoneReached fails t for every probe that got an answer: during
// these faults nothing can answer through the tunnel, so an answer means
// the packet went another way.
func assertNoneReached(t *testing.T, phase string, rs []probeResult) {
	t.Helper()
	var lines []string
	for _, r := range rs {
		lines = append(lines, "  "+r.String())
		if r.reached {
			t.Errorf("%s: probe %s got an answer, but no path may carry it", phase, r)
		}
	}
	t.Logf("%s probes:\n%s", phase, strings.Join(lines, "\n"))
}

// backgroundProber probes all targets in a loop until stop is called, so a
// fault's onset and its healing are probed too, not only a quiet moment.
func backgroundProber(h *netlab.Host, targets []target) (stop func() (rounds int)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var rounds int
	wg.Go(func() {
		for {
			probeRound(h, targets)
			rounds++
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return func() int {
		close(done)
		wg.Wait()
		return rounds
	}
}

// leakCapture is a netlab capture bound to a test.
type leakCapture struct {
	c *netlab.Capture
}

func startLeakCapture(t *testing.T, lab *netlab.Lab, endpoints ...netip.AddrPort) *leakCapture {
	t.Helper()
	c, err := lab.StartCapture(context.Background(), endpoints...)
	if err != nil {
		t.Fatal(err)
	}
	return &leakCapture{c: c}
}

// stop ends the capture and returns what left the client outside the tunnel.
func (lc *leakCapture) stop(t *testing.T) []string {
	t.Helper()
	leaks, err := lc.c.Stop()
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	return leaks
}

// assertNoLeaks stops the capture and fails t if anything left the client
// outside the tunnel.
func (lc *leakCapture) assertNoLeaks(t *testing.T, phase string) {
	t.Helper()
	if leaks := lc.stop(t); len(leaks) > 0 {
		t.Errorf("%s: %d packets left the client outside the tunnel:\n  %s", phase, len(leaks), strings.Join(leaks, "\n  "))
	}
}

// recorder listens on a host and records the remote address of every TCP
// connection and UDP datagram. On the whoami port it answers like
// Host.ServeWhoAmI (so Host.WhoAmI works against it); on UDP 53 it answers
// DNS A queries with dnsAnswer, so a leaked lookup would succeed.
type recorder struct {
	host *netlab.Host
	mu   sync.Mutex
	seen map[string]int // "proto host:port" -> count
	cl   []io.Closer
	wg   sync.WaitGroup
}

var dnsAnswer = netip.MustParseAddr("198.18.3.53")

func startRecorder(t *testing.T, h *netlab.Host, tcpPorts, udpPorts []int) *recorder {
	t.Helper()
	r := &recorder{host: h, seen: map[string]int{}}
	for _, port := range tcpPorts {
		ln, err := h.ListenTCP(fmt.Sprintf(":%d", port))
		if err != nil {
			r.close()
			t.Fatal(err)
		}
		r.cl = append(r.cl, ln)
		r.wg.Go(func() { r.serveTCP(ln) })
	}
	for _, port := range udpPorts {
		pc, err := h.ListenUDP(fmt.Sprintf(":%d", port))
		if err != nil {
			r.close()
			t.Fatal(err)
		}
		r.cl = append(r.cl, pc)
		r.wg.Go(func() { r.serveUDP(pc, port) })
	}
	t.Cleanup(r.close)
	return r
}

func (r *recorder) close() {
	for _, c := range r.cl {
		c.Close()
	}
	r.wg.Wait()
}

func (r *recorder) record(proto string, local, remote net.Addr) {
	_, port, _ := net.SplitHostPort(local.String())
	r.mu.Lock()
	r.seen[fmt.Sprintf("%s :%s from %s", proto, port, remote)]++
	r.mu.Unlock()
}

func (r *recorder) serveTCP(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.record("tcp", c.LocalAddr(), c.RemoteAddr())
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = fmt.Fprintf(c, "%s\n", c.RemoteAddr())
		c.Close()
	}
}

func (r *recorder) serveUDP(pc net.PacketConn, port int) {
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		r.record("udp", pc.LocalAddr(), from)
		reply := []byte(from.String() + "\n")
		if port == 53 {
			if reply = dnsReply(buf[:n]); reply == nil {
				continue
			}
		}
		_, _ = pc.WriteTo(reply, from)
	}
}

// reset forgets what was recorded so far.
func (r *recorder) reset() {
	r.mu.Lock()
	clear(r.seen)
	r.mu.Unlock()
}

// sawFrom lists the recorded flows whose source is one of addrs.
func (r *recorder) sawFrom(addrs ...netip.Addr) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, n := range r.seen {
		_, src, _ := strings.Cut(k, " from ")
		ap, err := netip.ParseAddrPort(src)
		if err == nil && slices.Contains(addrs, ap.Addr().Unmap()) {
			out = append(out, fmt.Sprintf("%s (x%d)", k, n))
		}
	}
	slices.Sort(out)
	return out
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, n := range r.seen {
		out = append(out, fmt.Sprintf("%s (x%d)", k, n))
	}
	slices.Sort(out)
	return out
}

// assertNeverSaw fails t if the recorder ever heard from one of addrs (the
// client's own uplink addresses).
func (r *recorder) assertNeverSaw(t *testing.T, addrs ...netip.Addr) {
	t.Helper()
	if got := r.sawFrom(addrs...); len(got) > 0 {
		t.Errorf("%s host saw the client's own address %v, i.e. traffic outside the tunnel:\n  %s\nall flows it saw:\n  %s",
			r.host.Name, addrs, strings.Join(got, "\n  "), strings.Join(r.all(), "\n  "))
	}
}

// dnsReply answers a DNS query: an A query gets dnsAnswer, anything else
// an empty NOERROR answer. It returns nil for what is not a query.
func dnsReply(q []byte) []byte { return dnsReplyWith(q, dnsAnswer) }

// dnsReplyWith answers an A query with answer.
func dnsReplyWith(q []byte, answer netip.Addr) []byte {
	if len(q) < 12 || q[2]&0x80 != 0 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil
	}
	i := 12
	for i < len(q) && q[i] != 0 {
		i += int(q[i]) + 1
	}
	if i+5 > len(q) {
		return nil
	}
	qend := i + 5 // root label, type, class
	qtype := binary.BigEndian.Uint16(q[i+1:])
	resp := append([]byte(nil), q[:qend]...)
	resp[2], resp[3] = 0x81, 0x80 // response, recursion desired and available
	binary.BigEndian.PutUint16(resp[8:], 0)
	binary.BigEndian.PutUint16(resp[10:], 0) // drop the query's EDNS record
	if qtype == 1 {
		binary.BigEndian.PutUint16(resp[6:], 1)
		a := answer.As4()
		resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4)
		resp = append(resp, a[:]...)
	} else {
		binary.BigEndian.PutUint16(resp[6:], 0)
	}
	return resp
}

// lookupVia resolves name with Go's resolver in h's namespace, sending
// every query to server ("198.18.3.2:53") whatever resolv.conf says.
func lookupVia(h *netlab.Host, server, name string, timeout time.Duration) ([]string, error) {
	res := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return h.DialContext(ctx, network, server)
		},
	}
	var addrs []string
	err := h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var err error
		addrs, err = res.LookupHost(ctx, name)
		return err
	})
	return addrs, err
}

// waitThroughTunnel polls the whoami recorder on the peer until it answers
// with the VPN server's address, and returns how long that took. An answer
// showing the client's own address is a leak and fails at once.
func waitThroughTunnel(t *testing.T, lab *netlab.Lab, within time.Duration) time.Duration {
	t.Helper()
	return waitThroughTunnelFrom(t, lab, lab.Client, within)
}

// waitThroughTunnelFrom is waitThroughTunnel for probes from h (the
// private namespace of --isolation namespace).
func waitThroughTunnelFrom(t *testing.T, lab *netlab.Lab, h *netlab.Host, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	peer := net.JoinHostPort(lab.Peer.Addr4.String(), fmt.Sprint(whoamiPort))
	var last error
	for time.Since(start) < within {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		seen, err := h.WhoAmI(ctx, "tcp", peer)
		cancel()
		switch {
		case err != nil:
			last = err
			time.Sleep(200 * time.Millisecond) // polling an external condition; a failed try may have returned at once
			continue
		case hostOf(seen) == lab.VPN.Addr4.String():
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			useen, err := h.WhoAmI(ctx, "udp", peer)
			cancel()
			if err == nil && hostOf(useen) != lab.VPN.Addr4.String() {
				t.Fatalf("udp: the peer saw %s, want the VPN server's %s", useen, lab.VPN.Addr4)
			}
			if err != nil {
				last = err
				continue
			}
			return time.Since(start)
		default:
			t.Fatalf("the peer saw %s, want the VPN server's %s (the client is %s): traffic left outside the tunnel",
				seen, lab.VPN.Addr4, lab.Client.Addr4)
		}
	}
	t.Fatalf("no traffic through the tunnel within %s; last error: %v", within, last)
	return 0
}

// awaitState waits for a status line of p, after the first `after` lines,
// whose state is one of states, and returns it ("" on timeout). Unlike
// proc.waitLine it does not fail the test, so subtests can use it.
func awaitState(p *proc, after int, within time.Duration, states ...string) string {
	m, err := p.WaitLine(context.Background(), after, within, "state "+strings.Join(states, " or "), func(m map[string]any) bool {
		st, _ := m["state"].(string)
		return slices.Contains(states, st)
	})
	if err != nil {
		return ""
	}
	return m.Line["state"].(string)
}
