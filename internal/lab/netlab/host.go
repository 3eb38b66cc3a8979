//go:build linux

package netlab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Host is one namespace of a lab.
type Host struct {
	Name  string // role: "client", "isp", "vpn", "peer", "vpn2"
	NetNS string // named namespace: `ip netns exec <NetNS> ...` works
	Iface string // uplink towards the ISP (HostIface); empty on the ISP
	// Uplink addresses and gateways; Addr6/Gateway6 are invalid without
	// Options.IPv6Uplink. Zero on the ISP, which has one address per link.
	Addr4, Addr6       netip.Addr
	Gateway4, Gateway6 netip.Addr

	lab *Lab
	ns  netns.NsHandle
	nl  *netlink.Handle
}

// onThrowawayThread runs fn on a locked OS thread that is never unlocked, so
// the runtime destroys it when fn returns: whatever fn did to the thread
// (setns, unshare) cannot leak into other goroutines.
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- fn()
	}()
	return <-errc
}

// Do runs fn on an OS thread switched into h's namespace. Sockets, TUN
// devices and processes that fn creates belong to that namespace and stay
// there; goroutines that fn starts do not run in it.
func (h *Host) Do(fn func() error) error {
	return onThrowawayThread(func() error {
		if err := netns.Set(h.ns); err != nil {
			return fmt.Errorf("netlab: enter namespace %q: %w", h.NetNS, err)
		}
		return fn()
	})
}

// Netlink returns a netlink handle bound to h's namespace. The lab owns it.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// NsHandle returns the namespace file descriptor (owned by the lab), for APIs
// such as nftables.WithNetNSFd.
func (h *Host) NsHandle() netns.NsHandle { return h.ns }

// WriteSysctls writes values under /proc/sys (keys like
// "net/ipv4/ip_forward") inside h's namespace: /proc/sys/net is resolved
// against the namespace of the thread that opens it.
func (h *Host) WriteSysctls(kv map[string]string) error {
	return h.Do(func() error {
		for k, v := range kv {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				return fmt.Errorf("netlab: %s: sysctl %s=%s: %w", h.Name, k, v, err)
			}
		}
		return nil
	})
}

// ListenTCP listens on addr (e.g. ":8080") in h's namespace.
func (h *Host) ListenTCP(addr string) (net.Listener, error) {
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: listen tcp %s: %w", h.Name, addr, err)
	}
	return ln, nil
}

// ListenUDP opens a UDP socket on addr in h's namespace.
func (h *Host) ListenUDP(addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := h.Do(func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: listen udp %s: %w", h.Name, addr, err)
	}
	return pc, nil
}

// DialContext dials from h's namespace. Use IP literals: name resolution
// would not happen in the namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlab: %s: dial %s %s: %w", h.Name, network, addr, err)
	}
	return c, nil
}

// ServeWhoAmI answers on TCP and UDP port (all addresses of h) with the
// remote address it saw, as "198.18.2.2:40000\n": TCP on accept, UDP for
// every datagram. stop closes both and waits for the server goroutines.
func (h *Host) ServeWhoAmI(port int) (stop func(), err error) {
	addr := fmt.Sprintf(":%d", port)
	ln, err := h.ListenTCP(addr)
	if err != nil {
		return nil, err
	}
	pc, err := h.ListenUDP(addr)
	if err != nil {
		ln.Close()
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, _ = fmt.Fprintf(c, "%s\n", c.RemoteAddr())
			c.Close()
		}
	})
	wg.Go(func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(from.String()+"\n"), from)
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			ln.Close()
			pc.Close()
			wg.Wait()
		})
	}, nil
}

// WhoAmI asks a ServeWhoAmI server at addr ("tcp" or "udp") which address it
// saw h's connection come from, e.g. "198.18.2.2:40000".
func (h *Host) WhoAmI(ctx context.Context, network, addr string) (string, error) {
	c, err := h.DialContext(ctx, network, addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	}
	if strings.HasPrefix(network, "udp") {
		if _, err := c.Write([]byte("?")); err != nil {
			return "", fmt.Errorf("netlab: whoami %s: %w", addr, err)
		}
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("netlab: whoami %s %s from %s: %w", network, addr, h.Name, err)
	}
	return strings.TrimSpace(line), nil
}

// Cmd is an exec.Cmd whose process starts in a host's namespace. Use its
// Start, Run, Output and CombinedOutput (not those of the embedded
// exec.Cmd, which would start the process in the caller's namespace).
// The lab kills the process on Close if it is still running.
type Cmd struct {
	*exec.Cmd
	host *Host
}

// Command prepares name with args to run in h's namespace.
func (h *Host) Command(ctx context.Context, name string, args ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, args...), host: h}
}

// Start starts the process from a thread in the host's namespace; the forked
// child inherits that thread's namespace.
func (c *Cmd) Start() error {
	if c.host.lab.closed.Load() {
		return errors.New("netlab: lab is closed")
	}
	if err := c.host.Do(c.Cmd.Start); err != nil {
		return err
	}
	return c.host.lab.track(c.Process)
}

// Run starts the process and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the process and returns its stdout; stderr goes into an
// *exec.ExitError on failure, as with exec.Cmd.Output.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("netlab: Stdout already set")
	}
	var out, errb bytes.Buffer
	c.Stdout = &out
	captureErr := c.Stderr == nil
	if captureErr {
		c.Stderr = &errb
	}
	err := c.Run()
	var ee *exec.ExitError
	if captureErr && errors.As(err, &ee) {
		ee.Stderr = errb.Bytes()
	}
	return out.Bytes(), err
}

// CombinedOutput runs the process and returns stdout and stderr together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil || c.Stderr != nil {
		return nil, errors.New("netlab: Stdout or Stderr already set")
	}
	var b bytes.Buffer
	c.Stdout = &b
	c.Stderr = &b
	err := c.Run()
	return b.Bytes(), err
}

// logWriter turns a program's output into Logf lines.
type logWriter struct {
	lab    *Lab
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		// Skip Debian wireguard-go's boxed "use the kernel module" banner.
		if line := string(w.buf[:i]); strings.TrimSpace(line) != "" && !strings.ContainsAny(line[:min(len(line), 4)], "│┌└") {
			w.lab.logf("%s: %s", w.prefix, line)
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}
