//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

var lookPath = exec.LookPath

// proc is a program in a lab namespace whose stdout lines are collected.
type proc struct {
	cmd     *netlab.Cmd
	start   time.Time
	stderr  *netlab.SyncBuffer
	exited  chan struct{}
	waitErr error

	mu    sync.Mutex
	lines []string
	next  chan struct{} // closed and replaced on every new line
}

func startProc(cmd *netlab.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, stderr: &netlab.SyncBuffer{}, exited: make(chan struct{}), next: make(chan struct{})}
	if cmd.Stderr == nil {
		cmd.Stderr = p.stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", cmd.Path, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			close(p.next)
			p.next = make(chan struct{})
			p.mu.Unlock()
		}
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// waitLine waits for a stdout line that satisfies ok and returns it with the
// time since launch.
func (p *proc) waitLine(ctx context.Context, timeout time.Duration, what string, ok func(string) bool) (string, time.Duration, error) {
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines, next := p.lines, p.next
		p.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if ok(lines[seen]) {
				return lines[seen], time.Since(p.start), nil
			}
		}
		select {
		case <-next:
		case <-p.exited:
			// Lines may have arrived just before the exit.
			p.mu.Lock()
			more := len(p.lines) > seen
			p.mu.Unlock()
			if more {
				continue
			}
			p.mu.Lock()
			last := p.lines[max(0, len(p.lines)-5):]
			p.mu.Unlock()
			return "", 0, fmt.Errorf("%s exited (%v) before %s; stdout tail %q; stderr:\n%s", p.cmd.Path, p.waitErr, what, last, tail(p.stderr.String(), 2000))
		case <-deadline:
			return "", 0, fmt.Errorf("%s: no %s within %s; stderr:\n%s", p.cmd.Path, what, timeout, tail(p.stderr.String(), 2000))
		case <-ctx.Done():
			return "", 0, ctx.Err()
		}
	}
}

// jsonField returns a matcher for JSON lines whose key is want.
func jsonField(key, want string) func(string) bool {
	return func(l string) bool {
		var m map[string]any
		return json.Unmarshal([]byte(l), &m) == nil && fmt.Sprint(m[key]) == want
	}
}

// stop signals the process and waits for it, killing it after grace.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *proc) usage() usage { return exitUsage(p.cmd.ProcessState) }

func waitStdoutLine(ctx context.Context, cmd *netlab.Cmd, timeout time.Duration, ok func(string) bool) (*proc, error) {
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	if _, _, err := p.waitLine(ctx, timeout, "the expected output", ok); err != nil {
		p.stop(syscall.SIGKILL, time.Second)
		return nil, err
	}
	return p, nil
}

// tunnelHolder is `wgtorrent tunnel` in the client namespace: the kill
// switch and the tunnel, held up while another program runs there.
type tunnelHolder struct {
	*proc
	upAfter time.Duration
}

func (e *env) startTunnel(ctx context.Context) (*tunnelHolder, error) {
	cmd := e.lab.Client.Command(context.Background(), e.opt.Wgtorrent, "tunnel", "--config", e.conf, "--json", "--log-level", "warn")
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	_, up, err := p.waitLine(ctx, 30*time.Second, "tunnel state up", jsonField("state", "up"))
	if err != nil {
		p.stop(syscall.SIGINT, 10*time.Second)
		return nil, fmt.Errorf("bench: wgtorrent tunnel: %w", err)
	}
	return &tunnelHolder{proc: p, upAfter: up}, nil
}

// close stops the tunnel with SIGINT so that it removes its kill switch.
func (t *tunnelHolder) close() { t.stop(syscall.SIGINT, 15*time.Second) }

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// versions names the programs measured.
func versions(ctx context.Context, opt Options) []string {
	var out []string
	run := func(name string, args ...string) {
		if _, err := lookPath(name); err != nil && !strings.Contains(name, "/") {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		b, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if line != "" {
			out = append(out, line)
		}
	}
	run(opt.Wgtorrent, "version")
	run("aria2c", "--version")
	run("transmission-daemon", "--version")
	run("qbittorrent-nox", "--version")
	run("iperf3", "--version")
	run("wireguard-go", "--version")
	return out
}
