//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// The seeding test: one client in the client namespace, behind the
// tunnel, seeds the content to three leechers at once on the peer host
// (aria2c, transmission-daemon, qbittorrent-nox, each on its own address).
// A tracker of the lab's tells the seeder about the leechers and the
// leechers about nobody, so everything they get comes from the seeder
// measured, and the seeder connects out to them (nothing behind the VPN's
// NAT can be connected to).

// SeedRun is one seeder serving the content to the leechers.
type SeedRun struct {
	Seeder string `json:"seeder"`
	Round  int    `json:"round"`
	// Times from the seeder's launch (its tunnel already up, except for
	// wgtorrent, whose launch includes bringing up its own tunnel; every
	// seeder checks the data first).
	FirstByteS float64 `json:"first_byte_s"` // until the first 16 KiB reached the leechers' host
	LastByteS  float64 `json:"last_byte_s"`  // until the last payload did
	DoneS      float64 `json:"done_s"`       // until the last leecher said it was complete
	// Leechers × content size / (LastByteS − FirstByteS), 10^6 bytes: the
	// slowest leecher bounds it.
	MBps float64 `json:"mb_per_s"`
	// While all three leech: what reached their host from the first
	// payload byte until the first leecher was complete, per second.
	AllLeechMBps float64 `json:"all_leeching_mb_per_s"`
	CPUS         float64 `json:"cpu_s"`        // the seeder's process tree, launch → last payload byte (its data check included)
	TunnelCPUS   float64 `json:"tunnel_cpu_s"` // the `wgtorrent tunnel` process meanwhile
	PeakRSSMiB   float64 `json:"peak_rss_mib"` // the seeder's process tree, launch → done
	// All processes and the kernel, launch → last payload byte, in % of
	// all cores.
	MachineBusyPct float64            `json:"machine_busy_pct"`
	ReceivedMB     float64            `json:"received_mb"`    // by the leechers' host (headers included)
	LeecherDoneS   map[string]float64 `json:"leecher_done_s"` // launch → each leecher complete
	Error          string             `json:"error,omitempty"`
}

// Seeding leechers on the peer host: their names, addresses (after the
// download test's seeders) and ports.
var seedLeechers = []string{ClientAria2, ClientTransmission, ClientQbittorrent}

const (
	seedTrackerPort   = 6970
	seedLeecherPort   = 7001 // + index
	seedLeecherRPC    = 9391 // transmission-daemon leecher
	seedLeecherWebUI  = 8189 // qbittorrent-nox leecher
	seedLeecherOffset = 20   // leecher i at the peer host's address + 20 + i
)

// seedingAll has each seeder serve the leechers SeedRuns times, in a
// rotating order.
func (e *env) seedingAll(ctx context.Context) ([]SeedRun, error) {
	var seeders []string
	for _, c := range ScaleClients {
		if slices.Contains(e.opt.Clients, c) {
			seeders = append(seeders, c)
		}
	}
	if err := e.setupSeeding(); err != nil {
		return nil, err
	}
	var runs []SeedRun
	n := len(seeders)
	for round := range e.opt.SeedRuns {
		for i := range n {
			s := seeders[(i+round)%n]
			r := e.seedOnce(ctx, s, round+1)
			if ctx.Err() != nil {
				return runs, ctx.Err()
			}
			var done []string
			for _, l := range seedLeechers {
				done = append(done, fmt.Sprintf("%s %.1fs", l, r.LeecherDoneS[l]))
			}
			e.opt.Logf("seeding: %-19s round %d: %6.1f MB/s over %5.1fs (%6.1f MB/s while all three leech), first block %5.2fs, all done %5.1fs, cpu %5.1fs+%4.1fs tunnel, peak rss %4.0f MiB, machine busy %3.0f%%; leechers done: %s %s",
				s, round+1, r.MBps, r.LastByteS-r.FirstByteS, r.AllLeechMBps, r.FirstByteS, r.DoneS, r.CPUS, r.TunnelCPUS, r.PeakRSSMiB, r.MachineBusyPct, strings.Join(done, ", "), r.Error)
			runs = append(runs, r)
		}
	}
	return runs, nil
}

// setupSeeding gives the peer host the leechers' addresses, writes a
// .torrent of the content announcing to the seeding tracker and starts
// that tracker.
func (e *env) setupSeeding() error {
	peerLink, err := e.lab.Peer.Netlink().LinkByName(netlab.HostIface)
	if err != nil {
		return fmt.Errorf("bench: peer link: %w", err)
	}
	var leechers []netip.AddrPort
	for i := range seedLeechers {
		a := e.leecherAddr(i)
		if err := e.lab.Peer.Netlink().AddrAdd(peerLink, &netlink.Addr{IPNet: ipNet(a.Addr(), 24)}); err != nil {
			return fmt.Errorf("bench: leecher address %s: %w", a.Addr(), err)
		}
		leechers = append(leechers, a)
	}
	peerNet := netip.PrefixFrom(e.lab.Peer.Addr4, 24).Masked()
	trk, err := e.lab.Peer.StartTracker(seedTrackerPort, netlab.TrackerOptions{
		// The leechers (on the peer host) learn of nobody; the seeder (from
		// the VPN server's address) of the three leechers.
		PeersFor: func(from netip.AddrPort) []netip.AddrPort {
			if peerNet.Contains(from.Addr()) {
				return nil
			}
			return leechers
		},
		Interval: time.Minute, MinInterval: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("bench: seeding tracker: %w", err)
	}
	e.stops = append(e.stops, func() { _ = trk.Close() })

	// The same info dictionary (same info hash), announcing to it.
	mi, err := metainfo.LoadFromFile(e.tor.File)
	if err != nil {
		return fmt.Errorf("bench: seeding torrent: %w", err)
	}
	mi.Announce, mi.AnnounceList = trk.Announce, nil
	e.seedTorrent = filepath.Join(e.dir, "seeding.torrent")
	f, err := os.Create(e.seedTorrent)
	if err != nil {
		return fmt.Errorf("bench: seeding torrent: %w", err)
	}
	if err := mi.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("bench: seeding torrent: %w", err)
	}
	return f.Close()
}

// leecherAddr is leecher i's address and port on the peer host.
func (e *env) leecherAddr(i int) netip.AddrPort {
	a := e.lab.Peer.Addr4.As4()
	a[3] += byte(seedLeecherOffset + i)
	return netip.AddrPortFrom(netip.AddrFrom4(a), uint16(seedLeecherPort+i))
}

// seedLeecher is one leecher running.
type seedLeecher struct {
	name     string
	out      string
	waitDone func(ctx context.Context) error
	stop     func()
}

func (e *env) seedOnce(ctx context.Context, seeder string, round int) (r SeedRun) {
	r = SeedRun{Seeder: seeder, Round: round, LeecherDoneS: map[string]float64{}}
	fail := func(err error) SeedRun {
		r.Error = err.Error()
		return r
	}
	// Three copies of the content go out: more time than one download.
	ctx, cancel := context.WithTimeout(ctx, 3*e.opt.RunTimeout)
	defer cancel()
	runDir := filepath.Join(e.dir, fmt.Sprintf("seed-%s-%d", seeder, round))
	defer os.RemoveAll(runDir)

	var th *tunnelHolder
	if seeder != ClientWgtorrent {
		var err error
		if th, err = e.startTunnel(ctx); err != nil {
			return fail(err)
		}
		defer th.close()
	}
	var leechers []*seedLeecher
	defer func() {
		for _, l := range leechers {
			l.stop()
		}
	}()
	for i, name := range seedLeechers {
		l, err := e.startSeedLeecher(ctx, i, name, filepath.Join(runDir, "leecher-"+name))
		if err != nil {
			return fail(fmt.Errorf("leecher %s: %w", name, err))
		}
		leechers = append(leechers, l)
	}

	tunPID := 0
	var tun0 treeUsage
	if th != nil {
		tunPID = th.Cmd.Process.Pid
		var err error
		if tun0, err = readTree(tunPID); err != nil {
			return fail(fmt.Errorf("wgtorrent tunnel: %w", err))
		}
	}
	t0 := time.Now()
	rx, err := startIfaceSampler(e.lab.Peer, netlab.HostIface, true, t0)
	if err != nil {
		return fail(err)
	}
	pid, stopSeeder, err := e.launchSeeder(ctx, seeder, filepath.Join(runDir, "seeder"))
	if err != nil {
		rx.finish()
		return fail(fmt.Errorf("seeder %s: %w", seeder, err))
	}
	defer stopSeeder()
	us := startUsageSampler(pid, tunPID, t0)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, l := range leechers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.waitDone(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("leecher %s: %w", l.name, err))
				cancel() // the run has failed: stop waiting for the others
				return
			}
			r.LeecherDoneS[l.name] = time.Since(t0).Seconds()
		}()
	}
	wg.Wait()
	r.DoneS = time.Since(t0).Seconds()
	samples := us.finish()
	first, last, total, busy := rx.finish()
	r.FirstByteS, r.LastByteS, r.MachineBusyPct = first.Seconds(), last.Seconds(), busy
	r.ReceivedMB = float64(total) / 1e6
	// The seeder's CPU from its start (its tree's times are cumulative),
	// the tunnel's from the launch.
	at := usageAt(samples, last)
	r.CPUS, r.TunnelCPUS, r.PeakRSSMiB = at.client.CPU, at.tunnel.CPU-tun0.CPU, peakRSS(samples)
	content := int64(len(leechers)) * e.tor.Size
	if last > first {
		r.MBps = float64(content) / (last - first).Seconds() / 1e6
	}
	if len(r.LeecherDoneS) > 0 {
		firstDone := time.Duration(slices.Min(slices.Collect(maps.Values(r.LeecherDoneS))) * float64(time.Second))
		if firstDone > first {
			r.AllLeechMBps = float64(rx.countedBy(firstDone)-rx.countedBy(first)) / (firstDone - first).Seconds() / 1e6
		}
	}
	if len(errs) > 0 {
		return fail(errors.Join(errs...))
	}
	if total < uint64(content) {
		return fail(fmt.Errorf("the leechers' host received %d bytes, less than %d copies of the content (%d)", total, len(leechers), content))
	}
	for _, l := range leechers {
		if err := netlab.SameTree(filepath.Join(e.tor.Root, e.tor.Name), filepath.Join(l.out, e.tor.Name)); err != nil {
			return fail(fmt.Errorf("leecher %s: %w", l.name, err))
		}
	}
	return r
}

// launchSeeder starts seeder on the content in the client namespace and
// returns the pid whose process tree is the seeder.
func (e *env) launchSeeder(ctx context.Context, seeder, state string) (int, func(), error) {
	if err := os.MkdirAll(state, 0o755); err != nil {
		return 0, nil, err
	}
	switch seeder {
	case ClientWgtorrent:
		// Its default isolation: the engine in a private namespace behind
		// its own tunnel, all in this one command.
		cmd := e.lab.Client.Command(context.Background(), e.opt.Wgtorrent, "--config", e.conf, "--isolation", "namespace",
			"--torrent", e.seedTorrent, "--out", e.tor.Root, "--data", state, "--seed", "--json", "--no-dht", "--log-level", "warn")
		p, err := startProc(cmd)
		if err != nil {
			return 0, nil, err
		}
		return p.Cmd.Process.Pid, func() { p.Stop(syscall.SIGINT, 15*time.Second) }, nil
	case ClientTransmission:
		tm, err := netlab.StartTransmission(ctx, netlab.TransmissionConfig{
			Host: e.lab.Client, ConfigDir: state, DownloadDir: e.tor.Root,
			PeerPort: transmissionPort, RPCPort: transmissionRPC,
		})
		if err != nil {
			return 0, nil, err
		}
		stop := func() { _ = tm.Stop(15 * time.Second) }
		if err := tm.Call("torrent-add", map[string]any{"filename": e.seedTorrent, "download-dir": e.tor.Root}, nil); err != nil {
			stop()
			return 0, nil, err
		}
		return tm.Cmd.Process.Pid, stop, nil
	case ClientQbittorrent:
		q, err := netlab.StartQbittorrent(qbittorrentConfig(e.lab.Client, state, e.tor.Root, qbittorrentPort, ""), e.seedTorrent)
		if err != nil {
			return 0, nil, err
		}
		return q.Cmd.Process.Pid, func() { q.Stop(syscall.SIGTERM, 15*time.Second) }, nil
	}
	return 0, nil, fmt.Errorf("bench: no seeding test for %q", seeder)
}

// startSeedLeecher starts leecher i in dir on the peer host and waits
// until it listens for peers.
func (e *env) startSeedLeecher(ctx context.Context, i int, name, dir string) (*seedLeecher, error) {
	ap := e.leecherAddr(i)
	l := &seedLeecher{name: name, out: filepath.Join(dir, "out")}
	state := filepath.Join(dir, "state")
	for _, d := range []string{l.out, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	var exited <-chan struct{}
	switch name {
	case ClientAria2:
		cmd := e.lab.Peer.Command(context.Background(), "aria2c", "--dir="+l.out, "--seed-time=0",
			"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
			"--disable-ipv6=true", "--interface="+ap.Addr().String(), fmt.Sprintf("--listen-port=%d", ap.Port()),
			"--file-allocation=none", "--summary-interval=0", "--console-log-level=warn", "--bt-save-metadata=false", e.seedTorrent)
		p, err := startProc(cmd)
		if err != nil {
			return nil, err
		}
		exited = p.Exited()
		l.waitDone = waitExit(p)
		l.stop = func() { p.Stop(syscall.SIGTERM, 15*time.Second) }
	case ClientTransmission:
		tm, err := netlab.StartTransmission(ctx, netlab.TransmissionConfig{
			Host: e.lab.Peer, ConfigDir: state, DownloadDir: l.out,
			PeerPort: int(ap.Port()), RPCPort: seedLeecherRPC, BindIPv4: ap.Addr().String(),
		})
		if err != nil {
			return nil, err
		}
		exited = tm.Exited()
		l.stop = func() { _ = tm.Stop(15 * time.Second) }
		if err := tm.Call("torrent-add", map[string]any{"filename": e.seedTorrent, "download-dir": l.out}, nil); err != nil {
			l.stop()
			return nil, err
		}
		ih := e.tor.InfoHash
		l.waitDone = func(ctx context.Context) error {
			return pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
				s, err := tm.Stats(ih)
				if err != nil {
					return false, err
				}
				if s.ErrorString != "" {
					return false, fmt.Errorf("transmission: %s", s.ErrorString)
				}
				return s.PercentDone == 1 && s.LeftUntilDone == 0, nil
			})
		}
	case ClientQbittorrent:
		cfg := netlab.QbittorrentConfig{Host: e.lab.Peer, ProfileDir: state, SavePath: l.out,
			PeerPort: int(ap.Port()), WebUIPort: seedLeecherWebUI, BindIPv4: ap.Addr().String()}
		q, err := netlab.StartQbittorrent(cfg, e.seedTorrent)
		if err != nil {
			return nil, err
		}
		exited = q.Exited()
		l.stop = func() { q.Stop(syscall.SIGTERM, 15*time.Second) }
		l.waitDone = func(ctx context.Context) error {
			return q.WaitTorrent(ctx, func(progress float64, _ string) bool { return progress >= 1 })
		}
	default:
		return nil, fmt.Errorf("bench: no leecher %q", name)
	}
	// Ready once its peer port listens (it has read the torrent by then).
	err := pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-exited:
			return false, fmt.Errorf("%s exited before listening", name)
		default:
		}
		out, err := e.lab.Peer.Command(ctx, "ss", "-Hltn", fmt.Sprintf("sport = :%d", ap.Port())).Output()
		if err != nil {
			return false, fmt.Errorf("ss: %w", err)
		}
		return strings.TrimSpace(string(out)) != "", nil
	})
	if err != nil {
		l.stop()
		return nil, fmt.Errorf("not listening on %s: %w", ap, err)
	}
	return l, nil
}
