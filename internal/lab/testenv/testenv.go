// Package testenv decides what a test does when the machine lacks what it
// needs (root, a network namespace, a Debian package's program): locally
// it skips, saying what is missing and how to get it; where
// WGTORRENT_REQUIRE_LAB=1 (CI, see .ci/run) it fails with the same
// reason, so that a lab test can never pass there by not running.
//
// Every test that skips for want of something on the machine goes through
// Unavailable, directly or through NeedRoot and NeedPrograms.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RequireEnv names the variable that turns skips into failures.
const RequireEnv = "WGTORRENT_REQUIRE_LAB"

// Required reports whether every lab test must run here.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// Unavailable skips t with the reason, or fails it when Required.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=1: this test must run here, not skip)", reason, RequireEnv)
	}
	t.Skip(reason)
}

// NeedRoot stops t unless the process runs as root; why says what the
// test does with it.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, "needs root: %s; run as root (e.g. sudo go test)", why)
	}
}

// NeedPrograms stops t unless every program is on PATH.
func NeedPrograms(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Unavailable(t, "needs %s, not found on PATH (run `make deps`)", n)
		}
	}
}
