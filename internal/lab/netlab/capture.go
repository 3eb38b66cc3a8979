//go:build linux

package netlab

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Capture records what the client sends to the ISP, except the WireGuard
// traffic to the server and link housekeeping: whatever it records is a leak.
type Capture struct {
	lab    *Lab
	cmd    *Cmd
	marker string // tcpdump's line for the end-of-capture marker

	mu         sync.Mutex
	lines      []string
	markerSeen chan struct{}
	outDone    chan struct{}
	exited     chan struct{}
	stopOnce   sync.Once
	leaks      []string
	stopErr    error
}

const markerPayload = "netlab-capture-marker"

// StartCapture runs tcpdump on the ISP's side of the client's link, keeping
// every packet from the client except UDP to the endpoints (the WireGuard
// servers: one, or those failover may use), the kernel's "port
// unreachable" answers to them (a WireGuard packet arriving after the
// client closed its socket: nothing the server does not already know),
// ARP, ICMPv6 router/neighbour solicitations and advertisements, and MLD
// reports. It returns once tcpdump is listening.
func (l *Lab) StartCapture(ctx context.Context, endpoints ...netip.AddrPort) (*Capture, error) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		return nil, fmt.Errorf("netlab: capture needs tcpdump (apt install tcpdump): %w", err)
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("netlab: capture needs the WireGuard endpoint")
	}
	filter := "not arp" +
		// ICMPv6 types 133-136 and MLDv2 report 143, without extension headers
		" and not (ip6 and ip6[6] = 58 and ((ip6[40] >= 133 and ip6[40] <= 136) or ip6[40] = 143))" +
		// MLD reports carry a hop-by-hop header (router alert): 8 more bytes
		" and not (ip6 and ip6[6] = 0 and ip6[40] = 58 and ip6[48] = 143)"
	for _, endpoint := range endpoints {
		unreachable := fmt.Sprintf("icmp and dst host %s and icmp[0] = 3 and icmp[1] = 3", endpoint.Addr())
		if endpoint.Addr().Is6() {
			unreachable = fmt.Sprintf("ip6 and dst host %s and ip6[6] = 58 and ip6[40] = 1 and ip6[41] = 4", endpoint.Addr())
		}
		filter += fmt.Sprintf(" and not ("+unreachable+") and not (dst host %s and udp dst port %d)", endpoint.Addr(), endpoint.Port())
	}
	// -B: a larger kernel buffer, so a full-speed download drops nothing
	// that the check would then not see.
	cmd := l.ISP.Command(context.Background(), "tcpdump", "-n", "-l", "--immediate-mode", "-B", "16384",
		"-i", ISPClientIface, "-Q", "in", filter)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("netlab: tcpdump stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("netlab: tcpdump stderr: %w", err)
	}
	c := &Capture{
		lab:        l,
		cmd:        cmd,
		marker:     fmt.Sprintf("%s.9 > %s.9: UDP, length %d", l.Client.Addr4, l.Client.Gateway4, len(markerPayload)),
		markerSeen: make(chan struct{}),
		outDone:    make(chan struct{}),
		exited:     make(chan struct{}),
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start tcpdump: %w", err)
	}
	listening := make(chan struct{})
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		once := sync.OnceFunc(func() { close(listening) })
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				once()
			}
			l.logf("tcpdump: %s", sc.Text())
		}
	}()
	go func() {
		defer close(c.outDone)
		var markerOnce sync.Once
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if strings.TrimSpace(line) == "" {
				continue // tcpdump ends with an empty line on SIGTERM
			}
			if strings.Contains(line, c.marker) {
				markerOnce.Do(func() { close(c.markerSeen) })
				continue
			}
			c.mu.Lock()
			c.lines = append(c.lines, line)
			c.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		// Pipes must be drained before Wait.
		<-c.outDone
		<-errDone
		_ = cmd.Wait()
		close(c.exited)
	}()
	l.addCloser(func() error { _, _ = c.Stop(); return nil })

	select {
	case <-listening:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("netlab: tcpdump exited before listening: %v", cmd.ProcessState)
	case <-ctx.Done():
		c.kill()
		return nil, fmt.Errorf("netlab: waiting for tcpdump: %w", ctx.Err())
	case <-time.After(10 * time.Second):
		c.kill()
		return nil, errors.New("netlab: tcpdump not listening after 10s")
	}
}

func (c *Capture) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// Stop ends the capture and returns the packet lines it recorded: the leaks.
// To be sure every packet sent before Stop was read, it first sends a marker
// frame from the client (a raw frame, which no firewall in the client can
// stop) and waits until tcpdump prints it.
func (c *Capture) Stop() (leaks []string, err error) {
	c.stopOnce.Do(func() {
		if err := c.sendMarker(); err != nil {
			c.stopErr = err
		} else {
			select {
			case <-c.markerSeen:
			case <-c.exited:
				c.stopErr = fmt.Errorf("netlab: tcpdump exited during capture: %v", c.cmd.ProcessState)
			case <-time.After(5 * time.Second):
				c.stopErr = errors.New("netlab: capture marker not seen within 5s: packets may be missing")
			}
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(5 * time.Second):
			c.kill()
		}
		c.mu.Lock()
		c.leaks = c.lines
		c.mu.Unlock()
	})
	return c.leaks, c.stopErr
}

// sendMarker sends an IPv4/UDP datagram 9 -> 9 from the client to the ISP
// through an AF_PACKET socket, which bypasses the client's netfilter.
func (c *Capture) sendMarker() error {
	l := c.lab
	dst, err := l.ISP.nl.LinkByName(ISPClientIface)
	if err != nil {
		return fmt.Errorf("netlab: capture marker: %w", err)
	}
	src, err := l.Client.nl.LinkByName(HostIface)
	if err != nil {
		return fmt.Errorf("netlab: capture marker: %w", err)
	}
	pkt := make([]byte, 28+len(markerPayload))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[8] = 64
	pkt[9] = unix.IPPROTO_UDP
	s4, d4 := l.Client.Addr4.As4(), l.Client.Gateway4.As4()
	copy(pkt[12:], s4[:])
	copy(pkt[16:], d4[:])
	binary.BigEndian.PutUint16(pkt[10:], ipChecksum(pkt[:20]))
	binary.BigEndian.PutUint16(pkt[20:], 9)
	binary.BigEndian.PutUint16(pkt[22:], 9)
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(markerPayload)))
	copy(pkt[28:], markerPayload) // UDP checksum 0: none, allowed over IPv4

	const ethPIP = 0x0800
	proto := int(htons(ethPIP))
	return l.Client.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return fmt.Errorf("netlab: capture marker socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Protocol: htons(ethPIP), Ifindex: src.Attrs().Index, Halen: 6}
		copy(sa.Addr[:], dst.Attrs().HardwareAddr)
		if err := unix.Sendto(fd, pkt, 0, sa); err != nil {
			return fmt.Errorf("netlab: capture marker send: %w", err)
		}
		return nil
	})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func ipChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
