//go:build linux

package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// ScaleRun is `wgtorrent daemon` holding N small seeding torrents.
type ScaleRun struct {
	Torrents   int     `json:"torrents"`
	AddS       float64 `json:"add_s"`         // adding them all over the RPC until all seed
	RestartS   float64 `json:"restart_s"`     // daemon launch → all seeding again, after a stop
	RSSMiB     float64 `json:"rss_mib"`       // resident set once idle
	IdleCPUPct float64 `json:"idle_cpu_pct"`  // of one core, over IdleWindow
	IdleWindow float64 `json:"idle_window_s"` // seconds
	Error      string  `json:"error,omitempty"`
}

const daemonRPC = 9291

// scaleAll starts a fresh daemon for each count.
func (e *env) scaleAll(ctx context.Context) []ScaleRun {
	var runs []ScaleRun
	for _, n := range e.opt.Scale {
		r, err := e.scaleOnce(ctx, n)
		if err != nil {
			r.Error = err.Error()
		}
		e.opt.Logf("daemon with %4d torrents: added in %.1fs, rss %.0f MiB, idle cpu %.1f%% %s", n, r.AddS, r.RSSMiB, r.IdleCPUPct, r.Error)
		runs = append(runs, r)
		if ctx.Err() != nil {
			break
		}
	}
	return runs
}

func (e *env) scaleOnce(ctx context.Context, n int) (ScaleRun, error) {
	r := ScaleRun{Torrents: n, IdleWindow: 10}
	dir := filepath.Join(e.dir, fmt.Sprintf("scale-%d", n))
	defer os.RemoveAll(dir)
	out, data := filepath.Join(dir, "out"), filepath.Join(dir, "data")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return r, err
	}
	// Small single-file torrents, no tracker: their data is already in out,
	// so the daemon verifies and seeds them.
	files := make([]netlab.ContentFile, n)
	for i := range files {
		files[i] = netlab.ContentFile{Path: fmt.Sprintf("scale-%04d.bin", i), Size: 64 << 10}
	}
	if _, err := netlab.WriteContent(out, files); err != nil {
		return r, err
	}
	metas := make([]string, n)
	for i, f := range files {
		mi, err := netlab.BuildTorrent(filepath.Join(out, f.Path), "", 16<<10)
		if err != nil {
			return r, err
		}
		mb, err := bencode.Marshal(mi)
		if err != nil {
			return r, err
		}
		metas[i] = base64.StdEncoding.EncodeToString(mb)
	}

	p, rpc, err := e.startDaemon(ctx, data, out)
	if err != nil {
		return r, err
	}
	defer p.Stop(syscall.SIGTERM, 30*time.Second)
	start := time.Now()
	for i, m := range metas {
		if err := rpc.Call("torrent-add", map[string]any{"metainfo": m, "download-dir": out}, nil); err != nil {
			return r, fmt.Errorf("torrent-add %d: %w", i, err)
		}
	}
	if err := waitSeeding(ctx, rpc, n); err != nil {
		return r, err
	}
	r.AddS = time.Since(start).Seconds()

	// Settle, then measure an idle window (no RPC calls during it).
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	pid := p.Cmd.Process.Pid
	c0, err := cpuSeconds(pid)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(time.Duration(r.IdleWindow * float64(time.Second))):
	}
	c1, err := cpuSeconds(pid)
	if err != nil {
		return r, err
	}
	r.IdleCPUPct = 100 * (c1 - c0) / time.Since(t0).Seconds()
	if r.RSSMiB, err = vmRSS(pid); err != nil {
		return r, err
	}

	// A seedbox restarts (upgrades, reboots): how long until all seed again.
	p.Stop(syscall.SIGTERM, 30*time.Second)
	if err := p.Err(); err != nil {
		return r, fmt.Errorf("daemon stop: %v: %s", err, netlab.Tail(p.Stderr(), 2000))
	}
	start = time.Now()
	p2, rpc, err := e.startDaemon(ctx, data, out)
	if err != nil {
		return r, fmt.Errorf("restart: %w", err)
	}
	defer p2.Stop(syscall.SIGTERM, 30*time.Second)
	if err := waitSeeding(ctx, rpc, n); err != nil {
		return r, fmt.Errorf("restart: %w", err)
	}
	r.RestartS = time.Since(start).Seconds()
	return r, nil
}

// startDaemon runs `wgtorrent daemon` in the client namespace and waits
// until its RPC answers.
func (e *env) startDaemon(ctx context.Context, data, out string) (*proc, *netlab.Transmission, error) {
	cmd := e.lab.Client.Command(context.Background(), e.opt.Wgtorrent, "daemon", "--config", e.conf,
		"--data", data, "--out", out, "--no-dht", "--rpc-listen", fmt.Sprintf("127.0.0.1:%d", daemonRPC), "--log-level", "warn")
	p, err := startProc(cmd)
	if err != nil {
		return nil, nil, err
	}
	rpc := netlab.NewTransmissionClient(e.lab.Client, daemonRPC)
	if err := pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-p.Exited():
			return false, fmt.Errorf("wgtorrent daemon exited: %v: %s", p.Err(), netlab.Tail(p.Stderr(), 2000))
		default:
		}
		return rpc.Call("session-get", nil, nil) == nil, nil
	}); err != nil {
		p.Stop(syscall.SIGTERM, 30*time.Second)
		return nil, nil, err
	}
	return p, rpc, nil
}

// waitSeeding polls torrent-get until n torrents are complete.
func waitSeeding(ctx context.Context, rpc *netlab.Transmission, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	err := pollUntil(ctx, 250*time.Millisecond, func() (bool, error) {
		var res struct {
			Torrents []struct {
				PercentDone float64 `json:"percentDone"`
			} `json:"torrents"`
		}
		if err := rpc.Call("torrent-get", map[string]any{"fields": []string{"percentDone"}}, &res); err != nil {
			return false, err
		}
		done := 0
		for _, t := range res.Torrents {
			if t.PercentDone == 1 {
				done++
			}
		}
		return done == n, nil
	})
	if err != nil {
		return fmt.Errorf("not all %d torrents seeding: %w", n, err)
	}
	return nil
}

// vmRSS is a process's current resident set in MiB.
func vmRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			if f := strings.Fields(v); len(f) > 0 {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS for pid %d", pid)
}
