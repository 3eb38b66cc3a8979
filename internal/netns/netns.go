//go:build linux

// Package netns gives wgtorrent a network namespace of its own: a private
// one whose only interfaces are loopback and what wgtorrent puts there (the
// tunnel), and a way to make sockets and devices inside it from a process
// that otherwise lives in the host's namespace.
//
// A namespace here has no name in /run/netns: nothing else on the host
// can enter it by name, and it disappears with the last descriptor.
package netns

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NS is an open network namespace.
type NS struct {
	h netns.NsHandle
}

// New makes a fresh network namespace with loopback up. It needs
// CAP_SYS_ADMIN (root, or a user namespace of one's own).
func New() (*NS, error) {
	var h netns.NsHandle
	err := onThread(func() error {
		var err error
		// netns.New unshares the calling thread into a fresh namespace.
		if h, err = netns.New(); err != nil {
			return fmt.Errorf("netns: create: %w", err)
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			h.Close()
			return fmt.Errorf("netns: loopback up: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &NS{h: h}, nil
}

// Do runs fn on an OS thread switched into the namespace: sockets, TUN
// devices and netlink sockets that fn creates belong to it for good.
// Goroutines that fn starts do not run in it.
func (n *NS) Do(fn func() error) error {
	if !n.h.IsOpen() {
		return ErrClosed
	}
	return DoFd(int(n.h), fn)
}

// DoFd is Do for a namespace given by an open descriptor. The thread is
// thrown away afterwards instead of switched back: going back into the
// host's namespace needs CAP_SYS_ADMIN there, which an ordinary user's
// copy (internal/userns) does not have, and libraries that switch back
// (netlink.NewHandleAt, nftables.WithNetNSFd) fail there.
func DoFd(fd int, fn func() error) error {
	return onThread(func() error {
		if err := netns.Set(netns.NsHandle(fd)); err != nil {
			return fmt.Errorf("netns: enter: %w", err)
		}
		return fn()
	})
}

// Fd is the namespace's descriptor; it stays owned by n.
func (n *NS) Fd() int { return int(n.h) }

// Handle is the namespace as vishvananda/netns knows it; owned by n.
func (n *NS) Handle() netns.NsHandle { return n.h }

// Close lets the namespace go once nothing else holds it. A second Close
// is harmless.
func (n *NS) Close() error {
	if n == nil || !n.h.IsOpen() {
		return nil
	}
	err := n.h.Close()
	n.h = netns.None()
	return err
}

// onThread runs fn on a locked OS thread that is then thrown away, so a
// thread switched into another namespace never serves other goroutines.
// One new thread per call: the calls are socket and device creations, not
// a hot path.
func onThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends the thread
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("netns: %v", r)
			}
		}()
		errc <- fn()
	}()
	return <-errc
}

// ErrClosed is returned by Do on a closed namespace.
var ErrClosed = errors.New("netns: closed")
