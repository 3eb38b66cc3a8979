//go:build linux

// Package labtest holds what lab tests need of the testing package, apart
// from netlab so that the binary (whose demo uses netlab) does not link it.
package labtest

import (
	"testing"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

// New builds a lab for a test (netlab.NewT), skipping the test when not
// run as root.
func New(t testing.TB, opt netlab.Options) *netlab.Lab {
	t.Helper()
	SkipIfNotRoot(t)
	return netlab.NewT(t, opt)
}

// SkipIfNotRoot stops t unless the process can create network namespaces:
// it skips, or fails where lab tests are required (see testenv).
func SkipIfNotRoot(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t, "netlab creates network namespaces, veth links and nftables rules")
}
