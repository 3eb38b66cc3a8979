//go:build linux

package netlab

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// InLabNamespace reports whether this process runs inside a network
// namespace that a lab created. Lab-only helpers (a seeder that is not
// bound to a tunnel) refuse to run anywhere else.
func InLabNamespace() bool {
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return false
	}
	names, _ := filepath.Glob("/var/run/netns/wgt-*")
	for _, n := range names {
		if !strings.HasSuffix(n, "-peer") {
			continue
		}
		if st, err := os.Stat(n); err == nil && sameInode(self, st) {
			return true
		}
	}
	return false
}

func sameInode(a, b os.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Ino == sb.Ino && sa.Dev == sb.Dev
}
