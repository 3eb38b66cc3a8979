package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUnavailable runs a test that lacks a program, once as a developer
// would (it skips) and once as CI does (it fails, with the reason).
func TestUnavailable(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") == "1" {
		NeedPrograms(t, "wgtorrent-no-such-program")
		t.Fatal("NeedPrograms returned for a missing program")
	}
	for _, tc := range []struct {
		require string
		want    string
	}{
		{"", "--- SKIP: TestUnavailable"},
		{"1", "--- FAIL: TestUnavailable"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUnavailable$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", RequireEnv+"="+tc.require)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "needs wgtorrent-no-such-program") {
			t.Errorf("%s=%q: want %q with the reason; got:\n%s", RequireEnv, tc.require, tc.want, out)
		}
	}
}
