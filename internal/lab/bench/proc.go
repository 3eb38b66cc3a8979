//go:build linux

package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

var lookPath = exec.LookPath

// proc is a program in a lab namespace whose stdout lines are collected.
type proc = netlab.Proc[string]

func startProc(cmd *netlab.Cmd) (*proc, error) { return netlab.StartProc(cmd, netlab.Text) }

// isLine matches the stdout line want.
func isLine(want string) func(string) bool { return func(l string) bool { return l == want } }

// jsonField matches the JSON lines whose key is want.
func jsonField(key, want string) func(string) bool {
	return func(l string) bool {
		m, ok := netlab.JSONObject(l)
		return ok && fmt.Sprint(m[key]) == want
	}
}

// usageOf is what the kernel accounted to p, once it has exited.
func usageOf(p *proc) usage { return exitUsage(p.Cmd.ProcessState) }

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
	up, err := p.WaitLine(ctx, 0, 30*time.Second, "tunnel state up", jsonField("state", "up"))
	if err != nil {
		p.Stop(syscall.SIGINT, 10*time.Second)
		return nil, fmt.Errorf("bench: wgtorrent tunnel: %w", err)
	}
	return &tunnelHolder{proc: p, upAfter: up.After}, nil
}

// close stops the tunnel with SIGINT so that it removes its kill switch.
func (t *tunnelHolder) close() { t.Stop(syscall.SIGINT, 15*time.Second) }

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
