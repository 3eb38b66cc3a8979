// Package e2e runs the built wgtorrent binary the way a user does, inside
// the namespace lab, against third-party programs (Debian's wireguard-go,
// opentracker, transmission). Every test builds its own lab and removes it.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// proc is a wgtorrent process in a lab namespace whose JSON status lines
// are collected as they arrive.
type proc struct {
	t      *testing.T
	cmd    *netlab.Cmd
	stderr *netlab.SyncBuffer

	mu     sync.Mutex
	lines  []map[string]any
	next   chan struct{} // closed and replaced on every new line
	exited chan struct{}
	err    error
}

// startWgtorrent runs the wgtorrentBin with args in h's namespace. It is killed at
// the end of the test if still running.
func startWgtorrent(t *testing.T, h *netlab.Host, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, stderr: &netlab.SyncBuffer{}, next: make(chan struct{}), exited: make(chan struct{})}
	p.cmd = h.Command(context.Background(), wgtorrentBin, args...)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(out)
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		<-p.exited
		if t.Failed() {
			t.Logf("wgtorrent %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

func (p *proc) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		p.mu.Lock()
		p.lines = append(p.lines, m)
		close(p.next)
		p.next = make(chan struct{})
		p.mu.Unlock()
	}
	p.err = p.cmd.Wait()
	close(p.exited)
}

func (p *proc) signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(sig)
	}
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
	deadline := time.After(timeout)
	for seen := from; ; {
		p.mu.Lock()
		lines, next := p.lines, p.next
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if ok(lines[seen]) {
				return lines[seen], seen
			}
		}
		select {
		case <-next:
		case <-p.exited:
			p.t.Fatalf("wgtorrent exited (%v) before %s; stderr:\n%s", p.err, what, p.stderr.String())
		case <-deadline:
			last := "none"
			if len(lines) > 0 {
				last = fmt.Sprint(lines[len(lines)-1])
			}
			p.t.Fatalf("no %s within %s; last status line: %s", what, timeout, last)
		}
	}
}

// waitState waits for a status line whose tunnel state is want.
func (p *proc) waitState(timeout time.Duration, key, want string) map[string]any {
	p.t.Helper()
	return p.waitLine(timeout, key+"="+want, func(m map[string]any) bool { return m[key] == want })
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("wgtorrent still running after %s; stderr:\n%s", timeout, p.stderr.String())
	}
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}
