//go:build linux

package killswitch

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

// Small namespace lab for the root tests: fresh anonymous namespaces (gone
// when their last fd closes, so nothing is left behind even if the test
// process dies) joined by veth pairs. Nothing here touches the host namespace.

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t, "killswitch: CAP_NET_ADMIN and CAP_SYS_ADMIN to create network namespaces and nftables tables")
}

type testNS struct {
	h  netns.NsHandle
	nl *netlink.Handle
}

// newNS creates a network namespace with lo up, closed in t.Cleanup.
func newNS(t *testing.T) *testNS {
	t.Helper()
	var h netns.NsHandle
	err := onLockedThread(func() error {
		var err error
		h, err = netns.New() // moves this thread into the new namespace
		return err
	})
	if err != nil {
		t.Fatalf("create network namespace: %v", err)
	}
	nl, err := netlink.NewHandleAt(h)
	if err != nil {
		h.Close()
		t.Fatalf("netlink handle in namespace: %v", err)
	}
	ns := &testNS{h: h, nl: nl}
	t.Cleanup(func() {
		nl.Close()
		h.Close()
	})
	// No duplicate address detection: addresses (link-local ones too) work at
	// once instead of seconds later.
	err = ns.run(func() error {
		for _, k := range []string{"all", "default"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+k+"/accept_dad", []byte("0"), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("disable DAD: %v", err)
	}
	lo, err := nl.LinkByName("lo")
	if err == nil {
		err = nl.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bring lo up: %v", err)
	}
	return ns
}

// fd is what Firewall.NetNS wants.
func (ns *testNS) fd() int { return int(ns.h) }

// onLockedThread runs fn on a locked OS thread and puts the thread back into
// the namespace it started in. If that fails the thread stays locked, so Go
// discards it instead of reusing a thread in the wrong namespace.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		err = fn()
		if serr := netns.Set(orig); serr != nil {
			errc <- fmt.Errorf("return to original namespace: %w", serr)
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// run runs fn inside ns (sockets created there stay there).
func (ns *testNS) run(fn func() error) error {
	return onLockedThread(func() error {
		if err := netns.Set(ns.h); err != nil {
			return fmt.Errorf("enter namespace: %w", err)
		}
		return fn()
	})
}

// link joins a and b with a veth pair named nameA (in a) / nameB (in b), with
// the given addresses ("10.99.0.1/24"; IPv6 without DAD so it works at once).
func link(t *testing.T, a *testNS, nameA string, addrsA []string, b *testNS, nameB string, addrsB []string) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: nameA}, PeerName: nameB, PeerNamespace: netlink.NsFd(b.fd())}
	if err := a.nl.LinkAdd(veth); err != nil {
		t.Fatalf("add veth %s/%s: %v", nameA, nameB, err)
	}
	setup := func(ns *testNS, name string, addrs []string) {
		l, err := ns.nl.LinkByName(name)
		if err != nil {
			t.Fatalf("find %s: %v", name, err)
		}
		for _, s := range addrs {
			addr, err := netlink.ParseAddr(s)
			if err != nil {
				t.Fatalf("parse %s: %v", s, err)
			}
			if addr.IP.To4() == nil {
				addr.Flags = unix.IFA_F_NODAD
			}
			if err := ns.nl.AddrAdd(l, addr); err != nil {
				t.Fatalf("address %s on %s: %v", s, name, err)
			}
		}
		if err := ns.nl.LinkSetUp(l); err != nil {
			t.Fatalf("up %s: %v", name, err)
		}
	}
	setup(b, nameB, addrsB)
	setup(a, nameA, addrsA)
	// The kernel's link watcher activates a new link's queue (and sets its
	// operstate) up to a second later; packets sent before are dropped.
	waitOperUp(t, a, nameA)
	waitOperUp(t, b, nameB)
}

func waitOperUp(t *testing.T, ns *testNS, name string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		l, err := ns.nl.LinkByName(name)
		if err != nil {
			t.Fatalf("find %s: %v", name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not up after 3s: operstate %v", name, l.Attrs().OperState)
		}
		time.Sleep(10 * time.Millisecond) // polling an external condition
	}
}

// listenTCP listens inside ns and accepts (and closes) connections until the
// test ends.
func (ns *testNS) listenTCP(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := ns.run(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln
}

// listenUDP opens a UDP socket inside ns, closed at the end of the test.
func (ns *testNS) listenUDP(t *testing.T, addr string) *net.UDPConn {
	t.Helper()
	var c net.PacketConn
	if err := ns.run(func() (err error) { c, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatalf("listen udp %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.UDPConn)
}
