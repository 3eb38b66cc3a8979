// Package e2e runs the built wgtorrent binary the way a user does, inside
// the namespace lab, against third-party programs (Debian's wireguard-go,
// opentracker, transmission). Every test builds its own lab and removes it.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab/labtest"
	"github.com/wgtorrent/wgtorrent/internal/lab/testenv"
)

// wgtorrentBin is the wgtorrent built once for the whole package.
var wgtorrentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wgtorrent-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	wgtorrentBin = filepath.Join(dir, "wgtorrent")
	build := exec.Command("go", "build", "-o", wgtorrentBin, "github.com/wgtorrent/wgtorrent/cmd/wgtorrent")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	// As `make build` makes it: without cgo (anacrolix then takes the
	// pure-Go uTP, not libutp).
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build wgtorrent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newLab builds a lab for t with a Debian wireguard-go server on the VPN
// host, and writes the client's config file.
func newLab(t *testing.T, opt netlab.Options) (*netlab.Lab, netlab.WGServer, string) {
	t.Helper()
	labtest.SkipIfNotRoot(t)
	needPrograms(t, "wireguard-go", "wg")
	lab := labtest.New(t, opt)
	srv, err := lab.StartDebianWGServer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "wg0.conf")
	if err := os.WriteFile(conf, []byte(srv.ClientConfig()), 0o600); err != nil {
		t.Fatal(err)
	}
	return lab, srv, conf
}

func needPrograms(t *testing.T, names ...string) {
	t.Helper()
	testenv.NeedPrograms(t, names...)
}

// proc is a program in a lab namespace (wgtorrent, mostly) whose JSON
// status lines are collected as they arrive; its lower-case methods fail
// the test instead of returning errors.
type proc struct {
	*netlab.Proc[map[string]any]
	t *testing.T
}

// startWgtorrent runs the wgtorrentBin with args in h's namespace. It is killed at
// the end of the test if still running.
func startWgtorrent(t *testing.T, h *netlab.Host, args ...string) *proc {
	t.Helper()
	return startInNS(t, h, nil, wgtorrentBin, args...)
}

// startInNS runs name with args in h's namespace, with env added to the
// environment, as a proc killed at the end of the test.
func startInNS(t *testing.T, h *netlab.Host, env []string, name string, args ...string) *proc {
	t.Helper()
	cmd := h.Command(context.Background(), name, args...)
	cmd.Env = append(os.Environ(), env...)
	np, err := netlab.StartProc(cmd, netlab.JSONObject)
	must(t, err)
	p := &proc{Proc: np, t: t}
	t.Cleanup(func() {
		p.Stop(syscall.SIGKILL, 10*time.Second)
		if t.Failed() {
			t.Logf("%s %s stderr:\n%s", filepath.Base(name), strings.Join(args, " "), p.Stderr())
		}
	})
	return p
}

// waitLine waits for a status line that satisfies ok, and returns it.
func (p *proc) waitLine(timeout time.Duration, what string, ok func(map[string]any) bool) map[string]any {
	p.t.Helper()
	m, _ := waitLineSince(p, 0, timeout, what, ok)
	return m
}

// waitLineSince is waitLine over the lines from index from on; it also
// returns the index of the line found.
func waitLineSince(p *proc, from int, timeout time.Duration, what string, ok func(map[string]any) bool) (map[string]any, int) {
	p.t.Helper()
	m, err := p.WaitLine(context.Background(), from, timeout, what, ok)
	if err != nil {
		p.t.Fatal(err)
	}
	return m.Line, m.Index
}

// waitState waits for a status line whose tunnel state is want.
func (p *proc) waitState(timeout time.Duration, key, want string) map[string]any {
	p.t.Helper()
	return p.waitLine(timeout, key+"="+want, func(m map[string]any) bool { return m[key] == want })
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	code, err := p.Wait(context.Background(), timeout)
	if err != nil {
		p.t.Fatalf("%v; stderr:\n%s", err, p.Stderr())
	}
	return code
}
