//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// Leecher ports in the client namespace (nothing reaches them from outside:
// the VPN server NATs), and the local RPC / web UI ports.
const (
	aria2Port         = 6891
	transmissionPort  = 51500
	transmissionRPC   = 9191
	qbittorrentPort   = 6895
	qbittorrentWebUI  = 8089
	noTunnelLeechPort = 6890
)

// downloadAll fetches the torrent with every client Runs times, in a
// rotating order so that no client always runs first or last. A first,
// unmeasured download warms the seeders (their page cache, their peer
// state): the first measured run was otherwise ~25 % slower, and it is
// always the same client's.
func (e *env) downloadAll(ctx context.Context) ([]DownloadRun, error) {
	if w := e.downloadOnce(ctx, ClientWgtorrentNoTunnel, 0); w.Error != "" {
		e.opt.Logf("warm-up download failed (not counted): %s", w.Error)
	} else {
		e.opt.Logf("warm-up download (not counted): %.1f s", w.TransferS)
	}
	var runs []DownloadRun
	n := len(e.opt.Clients)
	for round := range e.opt.Runs {
		for i := range n {
			c := e.opt.Clients[(i+round)%n]
			r := e.downloadOnce(ctx, c, round+1)
			if ctx.Err() != nil {
				return runs, ctx.Err()
			}
			if err := e.seedersAlive(); err != nil {
				return runs, err
			}
			e.opt.Logf("%-27s round %d: transfer %5.1fs (%6.1f MB/s) wall %5.1fs first block %4.2fs cpu %5.1fs+%4.1fs tunnel, rss %4.0f MiB, machine busy %3.0f%%; served by %s %s",
				c, round+1, r.TransferS, r.MBps, r.WallS, r.FirstByteS, r.CPUS, r.TunnelCPUS, r.PeakRSSMiB, r.MachineBusyPct, servedBy(r.SeederMB), r.Error)
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// leecher is one client downloading.
type leecher struct {
	pid         int
	waitDone    func(ctx context.Context) error
	stop        func() usage // stops the client, returns its exit usage (CPU)
	exitsItself bool         // it exits when complete: its CPU is its exit usage
}

func (e *env) downloadOnce(ctx context.Context, client string, round int) (r DownloadRun) {
	r = DownloadRun{Client: client, Round: round}
	ctx, cancel := context.WithTimeout(ctx, e.opt.RunTimeout)
	defer cancel()
	runDir := filepath.Join(e.dir, fmt.Sprintf("run-%s-%d", client, round))
	out, state := filepath.Join(runDir, "out"), filepath.Join(runDir, "state")
	defer os.RemoveAll(runDir)
	fail := func(err error) DownloadRun {
		r.Error = err.Error()
		return r
	}
	for _, d := range []string{out, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}

	var th *tunnelHolder
	if client != ClientWgtorrent && client != ClientWgtorrentHost && client != ClientWgtorrentNoTunnel {
		var err error
		if th, err = e.startTunnel(ctx); err != nil {
			return fail(err)
		}
		defer th.close()
		r.HolderUpS = th.upAfter.Seconds()
	}
	// Tunnelled traffic leaves the seeders' host on its uplink; the
	// tunnel-less leecher lives on that host and talks over loopback.
	iface := netlab.HostIface
	if client == ClientWgtorrentNoTunnel {
		iface = "lo"
	}
	t0 := time.Now()
	sampler, err := startTxSampler(e.lab.Peer, iface, t0)
	if err != nil {
		return fail(err)
	}
	seeded0, _ := e.seeds.read()
	var tun0 float64
	if th != nil {
		tun0, _ = cpuSeconds(th.Cmd.Process.Pid)
	}
	l, err := e.launch(ctx, client, out, state, &r)
	if err != nil {
		sampler.finish()
		return fail(err)
	}
	hwm := watchHWM(l.pid)
	err = l.waitDone(ctx)
	r.WallS = time.Since(t0).Seconds()
	r.PeakRSSMiB = hwm.finish()
	if !l.exitsItself {
		r.CPUS, _ = cpuSeconds(l.pid)
	}
	if th != nil {
		tun1, _ := cpuSeconds(th.Cmd.Process.Pid)
		r.TunnelCPUS = tun1 - tun0
	}
	first, last, total, busy := sampler.finish()
	if seeded, err := e.seeds.read(); err == nil && seeded0 != nil {
		r.SeederMB = sentSince(seeded0, seeded)
	}
	r.MachineBusyPct = busy
	u := l.stop()
	if l.exitsItself {
		r.CPUS = u.CPU
	}
	r.SentBytes = total
	r.FirstByteS, r.TransferS = first.Seconds(), last.Seconds()
	if r.TransferS > 0 {
		r.MBps = float64(e.tor.Size) / r.TransferS / 1e6
	}
	if err != nil {
		return fail(err)
	}
	if total < uint64(e.tor.Size) {
		return fail(fmt.Errorf("the seeders' host sent %d bytes, less than the content (%d): the data came from elsewhere?", total, e.tor.Size))
	}
	if err := netlab.SameTree(filepath.Join(e.tor.Root, e.tor.Name), filepath.Join(out, e.tor.Name)); err != nil {
		return fail(err)
	}
	return r
}

func (e *env) launch(ctx context.Context, client, out, state string, r *DownloadRun) (*leecher, error) {
	switch client {
	case ClientWgtorrent:
		return e.launchWgtorrent(out, state, "namespace", r)
	case ClientWgtorrentHost:
		return e.launchWgtorrent(out, state, "host", r)
	case ClientWgtorrentNoTunnel:
		return e.launchLabSeedLeecher(out, state)
	case ClientAria2:
		return e.launchAria2(out)
	case ClientTransmission:
		return e.launchTransmission(ctx, out, state)
	case ClientQbittorrent:
		return e.launchQbittorrent(out, state)
	}
	return nil, fmt.Errorf("bench: unknown client %q", client)
}

func procLeecher(p *proc, sig syscall.Signal, exitsItself bool, waitDone func(context.Context) error) *leecher {
	return &leecher{
		pid:         p.Cmd.Process.Pid,
		waitDone:    waitDone,
		exitsItself: exitsItself,
		stop: func() usage {
			p.Stop(sig, 15*time.Second)
			return usageOf(p)
		},
	}
}

// waitExit waits until p exits and fails unless it exited 0.
func waitExit(p *proc) func(context.Context) error {
	return func(ctx context.Context) error {
		name := filepath.Base(p.Cmd.Path)
		select {
		case <-p.Exited():
		case <-ctx.Done():
			return fmt.Errorf("%s not done: %w; stderr:\n%s", name, ctx.Err(), netlab.Tail(p.Stderr(), 2000))
		}
		if err := p.Err(); err != nil {
			lines := p.Lines(p.Len() - 10)
			return fmt.Errorf("%s: %v; stdout tail %q; stderr:\n%s", name, err, lines, netlab.Tail(p.Stderr(), 2000))
		}
		return nil
	}
}

// launchWgtorrent runs the download command: kill switch, its own tunnel
// and the engine, in the isolation given; it exits once the torrent is
// complete.
func (e *env) launchWgtorrent(out, state, isolation string, r *DownloadRun) (*leecher, error) {
	cmd := e.lab.Client.Command(context.Background(), e.opt.Wgtorrent, "--config", e.conf, "--isolation", isolation,
		"--torrent", e.tor.File, "--out", out, "--data", state, "--json", "--no-dht", "--log-level", "warn")
	if prof := os.Getenv("WGTORRENT_BENCH_CPUPROFILE"); prof != "" {
		cmd.Env = append(os.Environ(), "WGTORRENT_CPUPROFILE="+prof)
	}
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	return procLeecher(p, syscall.SIGINT, true, func(ctx context.Context) error {
		if up, err := p.WaitLine(ctx, 0, 60*time.Second, "tunnel_state up", jsonField("tunnel_state", "up")); err == nil {
			r.TunnelUpS = up.After.Seconds()
		}
		if err := waitExit(p)(ctx); err != nil {
			return err
		}
		// The last status line must say complete.
		lines := p.Lines(0)
		for i := len(lines) - 1; i >= 0; i-- {
			var m struct {
				BytesCompleted int64 `json:"bytes_completed"`
				Length         int64 `json:"length"`
			}
			if json.Unmarshal([]byte(lines[i]), &m) == nil && m.Length > 0 {
				if m.BytesCompleted != m.Length {
					return fmt.Errorf("wgtorrent exited at %d of %d bytes", m.BytesCompleted, m.Length)
				}
				return nil
			}
		}
		return errors.New("wgtorrent exited without a status line")
	}), nil
}

// launchLabSeedLeecher runs our engine without a tunnel on the peer host
// (the only place lab-seed agrees to run): it downloads what it lacks, then
// says "seeding". Its path is loopback, not the lab's links.
func (e *env) launchLabSeedLeecher(out, state string) (*leecher, error) {
	cmd := e.lab.Peer.Command(context.Background(), e.opt.Wgtorrent, "lab-seed", "--torrent", e.tor.File,
		"--dir", out, "--bind", e.lab.Peer.Addr4.String(), "--port", fmt.Sprint(noTunnelLeechPort),
		"--data", state, "--log-level", "warn")
	if prof := os.Getenv("WGTORRENT_BENCH_CPUPROFILE"); prof != "" {
		cmd.Env = append(os.Environ(), "WGTORRENT_CPUPROFILE="+prof+".engine")
	}
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	return procLeecher(p, syscall.SIGTERM, false, func(ctx context.Context) error {
		_, err := p.WaitLine(ctx, 0, e.opt.RunTimeout, "seeding", isLine("seeding"))
		return err
	}), nil
}

func (e *env) launchAria2(out string) (*leecher, error) {
	cmd := e.lab.Client.Command(context.Background(), "aria2c", "--dir="+out, "--seed-time=0",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--disable-ipv6=true", fmt.Sprintf("--listen-port=%d", aria2Port), "--file-allocation=none",
		"--summary-interval=0", "--console-log-level=warn", "--bt-save-metadata=false", e.tor.File)
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	return procLeecher(p, syscall.SIGTERM, true, waitExit(p)), nil
}

// launchTransmission runs transmission-daemon as a leecher in the client
// namespace and polls its RPC (its own clock: 100ms).
func (e *env) launchTransmission(ctx context.Context, out, state string) (*leecher, error) {
	tm, err := netlab.StartTransmission(ctx, netlab.TransmissionConfig{
		Host:        e.lab.Client,
		ConfigDir:   state,
		DownloadDir: out,
		PeerPort:    transmissionPort,
		RPCPort:     transmissionRPC,
	})
	if err != nil {
		return nil, err
	}
	l := &leecher{
		pid: tm.Cmd.Process.Pid,
		stop: func() usage {
			_ = tm.Stop(15 * time.Second)
			return exitUsage(tm.Cmd.ProcessState)
		},
	}
	if err := tm.Call("torrent-add", map[string]any{"filename": e.tor.File, "download-dir": out}, nil); err != nil {
		l.stop()
		return nil, err
	}
	l.waitDone = func(ctx context.Context) error {
		return pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
			s, err := tm.Stats(e.tor.InfoHash)
			if err != nil {
				return false, err
			}
			if s.ErrorString != "" {
				return false, fmt.Errorf("transmission: %s", s.ErrorString)
			}
			return s.PercentDone == 1 && s.LeftUntilDone == 0, nil
		})
	}
	return l, nil
}
