//go:build linux

package netlab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// PrivateNetNS is the private network namespace that process pid, running
// in h, holds open (wgtorrent's --isolation namespace: unnamed, reachable
// only through the process's descriptor), as a Host for probes and netlink.
// The Host keeps the namespace alive after the process ends, so a test can
// look into what remains; close releases it.
func (h *Host) PrivateNetNS(pid int) (_ *Host, close func(), err error) {
	var outside unix.Stat_t
	if err := unix.Fstat(int(h.ns), &outside); err != nil {
		return nil, nil, fmt.Errorf("netlab: stat %s's namespace: %w", h.Name, err)
	}
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return nil, nil, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(link, "net:[") {
			continue
		}
		ns, err := netns.GetFromPath(fd)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(ns), &st) != nil || st.Ino == outside.Ino {
			ns.Close()
			continue
		}
		nl, err := netlink.NewHandleAt(ns)
		if err != nil {
			ns.Close()
			return nil, nil, fmt.Errorf("netlab: netlink in process %d's namespace: %w", pid, err)
		}
		p := &Host{Name: h.Name + "-private", NetNS: fmt.Sprintf("%s (process %d)", link, pid), lab: h.lab, ns: ns, nl: nl}
		return p, func() { nl.Close(); ns.Close() }, nil
	}
	return nil, nil, fmt.Errorf("netlab: process %d holds no network namespace of its own", pid)
}
