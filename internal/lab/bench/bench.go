//go:build linux

// Package bench measures wgtorrent against real clients in one run, inside a
// netlab lab (namespaces only: it never touches the host's network, and it
// removes every namespace and process it made, also on error or Ctrl-C).
//
// It measures the tunnel's ceiling with iperf3 (no tunnel, wgtorrent's
// tunnel, Debian's wireguard-go as the client), then the same torrent
// fetched by wgtorrent and by aria2c, transmission-daemon and
// qbittorrent-nox, which run in the client namespace while `wgtorrent
// tunnel` holds the same tunnel up, so only the engine differs. Seeders on
// the peer host: several transmission-daemons, one qbittorrent-nox and
// `wgtorrent lab-seed`, each on its own address. Then the other way round
// (seeding.go): wgtorrent, transmission-daemon and qbittorrent-nox in turn
// seed the torrent to three leechers on the peer host at once. Last
// (scale.go), the same three each hold thousands of small seeding
// torrents, with their costs idle, their API's latency and their restart.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// Options select what a run does.
type Options struct {
	Wgtorrent    string        // path to the wgtorrent binary
	SizeMiB      int           // content size
	VPNDelay     time.Duration // added to every round trip through the VPN server (0: none)
	Runs         int           // runs of each measurement (median reported)
	SeedRuns     int           // runs of each seeder in the seeding test (0: Runs)
	IperfSeconds int           // length of one iperf3 test
	Clients      []string      // download clients to compare; nil: all
	Seeders      int           // transmission-daemon seeders (plus one qbittorrent-nox and one wgtorrent lab-seed)
	RunTimeout   time.Duration
	Phases       []string      // of AllPhases; nil: all
	Scale        []int         // torrent counts for the scale test
	IdleWindow   time.Duration // the scale test's idle CPU window
	Logf         func(format string, args ...any)
}

// AllPhases are the tests a run can make, in the order it makes them.
var AllPhases = []string{"iperf", "download", "seeding", "scale"}

// All download clients, in their first round's order.
var AllClients = []string{ClientWgtorrent, ClientAria2, ClientTransmission, ClientQbittorrent, ClientWgtorrentHost, ClientWgtorrentNoTunnel}

const (
	ClientWgtorrent         = "wgtorrent" // the default: --isolation namespace
	ClientWgtorrentHost     = "wgtorrent-isolation-host"
	ClientAria2             = "aria2c"
	ClientTransmission      = "transmission-daemon"
	ClientQbittorrent       = "qbittorrent-nox"
	ClientWgtorrentNoTunnel = "wgtorrent-engine-no-tunnel"
)

// Iperf modes.
const (
	PathDirect    = "direct (no tunnel)"
	PathWgtorrent = "wgtorrent tunnel"
	PathDebianWG  = "Debian wireguard-go client"
)

// Results are every raw run plus where they ran.
type Results struct {
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	Options struct {
		SizeMiB      int      `json:"size_mib"`
		Runs         int      `json:"runs"`
		SeedRuns     int      `json:"seed_runs,omitempty"`
		IperfSeconds int      `json:"iperf_seconds"`
		Seeders      string   `json:"seeders"`
		VPNServer    string   `json:"vpn_server"`
		VPNDelayMS   float64  `json:"vpn_delay_ms,omitempty"`
		Clients      []string `json:"clients"`
	} `json:"options"`
	Iperf     []IperfRun    `json:"iperf"`
	Downloads []DownloadRun `json:"downloads"`
	Seeding   []SeedRun     `json:"seeding,omitempty"`
	Scale     []ScaleRun    `json:"scale"`
	Versions  []string      `json:"versions"`
}

// Machine describes the host.
type Machine struct {
	NProc  int    `json:"nproc"`
	CPU    string `json:"cpu"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// IperfRun is one iperf3 test.
type IperfRun struct {
	Path  string  `json:"path"`
	Round int     `json:"round"`
	Gbps  float64 `json:"gbps"`
	Error string  `json:"error,omitempty"`
}

// DownloadRun is one download of the whole torrent.
type DownloadRun struct {
	Client string `json:"client"`
	Round  int    `json:"round"`
	// From launching the client (tunnel already up, except for wgtorrent,
	// whose launch includes bringing up its own tunnel).
	WallS      float64 `json:"wall_s"`       // until the client said it was complete
	TransferS  float64 `json:"transfer_s"`   // until the last payload left the seeders' host
	FirstByteS float64 `json:"first_byte_s"` // until the first 16 KiB left the seeders' host
	MBps       float64 `json:"mb_per_s"`     // content size / TransferS, 10^6 bytes
	CPUS       float64 `json:"cpu_s"`        // the client process
	TunnelCPUS float64 `json:"tunnel_cpu_s"` // the `wgtorrent tunnel` process during the download
	PeakRSSMiB float64 `json:"peak_rss_mib"` // the client process
	// All processes of the machine (seeders, VPN server, client, kernel),
	// launch → last payload byte, in % of all cores: near 100 means the
	// download was bounded by the shared CPU, not by the client's protocol.
	MachineBusyPct float64 `json:"machine_busy_pct"`
	// wgtorrent only: its own reports (1s period).
	TunnelUpS float64 `json:"tunnel_up_s,omitempty"`
	// External clients: `wgtorrent tunnel` launch → first "up" line.
	HolderUpS float64 `json:"holder_tunnel_up_s,omitempty"`
	SentBytes uint64  `json:"sent_bytes"` // by the seeders' host meanwhile
	// What each seeder sent meanwhile (TCP, headers included), MB.
	SeederMB map[string]float64 `json:"seeder_mb,omitempty"`
	Error    string             `json:"error,omitempty"`
}

// env is one lab with its swarm.
type env struct {
	opt     Options
	lab     *netlab.Lab
	srv     netlab.WGServer
	dir     string
	conf    string // the client's wg-quick config
	tor     *netlab.Torrent
	seeds   *seedCounter
	labSeed *proc
	stops   []func() // run before the lab closes
	// swarmStops stop the download test's seeders and tracker, once it
	// is done: the tests after it measure CPU and memory.
	swarmStops  []func()
	seedTorrent string // the content's .torrent for the seeding test
}

const (
	trackerPort   = 6969
	labSeedPort   = 6881
	firstSeedPort = 51413
	firstSeedRPC  = 9091
	// qbittorrentSeedPort: the qbittorrent-nox seeder's peer port.
	qbittorrentSeedPort = 6882
	iperfPort           = 5201
)

func (o *Options) defaults() {
	if o.SizeMiB == 0 {
		o.SizeMiB = 256
	}
	if o.Runs == 0 {
		o.Runs = 3
	}
	if o.IperfSeconds == 0 {
		o.IperfSeconds = 5
	}
	if o.Seeders == 0 {
		o.Seeders = 3
	}
	if o.RunTimeout == 0 {
		o.RunTimeout = 4 * time.Minute
	}
	if len(o.Phases) == 0 {
		o.Phases = AllPhases
	}
	if len(o.Scale) == 0 {
		o.Scale = []int{1000}
	}
	if o.SeedRuns == 0 {
		o.SeedRuns = o.Runs
	}
	if o.IdleWindow == 0 {
		o.IdleWindow = time.Minute
	}
	if len(o.Clients) == 0 {
		o.Clients = AllClients
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Run builds the lab and the swarm, measures, and tears everything down.
func Run(ctx context.Context, opt Options) (*Results, error) {
	opt.defaults()
	if os.Geteuid() != 0 {
		return nil, errors.New("bench: needs root to build network namespaces (run `sudo make bench`)")
	}
	need := []string{"transmission-daemon", "qbittorrent-nox", "iperf3", "wireguard-go", "wg"}
	if slices.Contains(opt.Clients, ClientAria2) || slices.Contains(opt.Phases, "seeding") {
		need = append(need, "aria2c")
	}
	if slices.Contains(opt.Phases, "seeding") {
		need = append(need, "ss")
	}
	for _, p := range need {
		if _, err := lookPath(p); err != nil {
			return nil, fmt.Errorf("bench: needs %s (run `make deps`): %w", p, err)
		}
	}

	res := &Results{Date: time.Now().UTC(), Machine: machine()}
	res.Options.SizeMiB, res.Options.Runs, res.Options.IperfSeconds = opt.SizeMiB, opt.Runs, opt.IperfSeconds
	res.Options.SeedRuns = opt.SeedRuns
	res.Options.Seeders = fmt.Sprintf("%d transmission-daemon + 1 qbittorrent-nox + 1 wgtorrent lab-seed", opt.Seeders)
	res.Options.VPNServer = "builtin (golang.zx2c4.com/wireguard library, in the bench process)"
	if opt.VPNDelay > 0 {
		res.Options.VPNServer += fmt.Sprintf(", holding client-to-internet packets %v (the round trip to a distant server)", opt.VPNDelay)
		res.Options.VPNDelayMS = float64(opt.VPNDelay) / float64(time.Millisecond)
	}
	res.Options.Clients = opt.Clients
	res.Versions = versions(ctx, opt)

	dir, err := os.MkdirTemp("", "wgtorrent-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	lab, err := netlab.New(ctx, netlab.Options{Logf: opt.Logf, VPNDelay: opt.VPNDelay})
	if err != nil {
		return nil, fmt.Errorf("bench: build lab: %w", err)
	}
	defer lab.Close()
	e := &env{opt: opt, lab: lab, dir: dir}
	defer func() {
		e.stopSwarm()
		for i := len(e.stops) - 1; i >= 0; i-- {
			e.stops[i]()
		}
	}()
	if err := e.setup(ctx); err != nil {
		return res, err
	}
	opt.Logf("lab wgt-%s ready", lab.ID)

	if slices.Contains(opt.Phases, "iperf") {
		if res.Iperf, err = e.iperfAll(ctx); err != nil {
			return res, err
		}
	}
	if slices.Contains(opt.Phases, "download") {
		if res.Downloads, err = e.downloadAll(ctx); err != nil {
			return res, err
		}
	}
	e.stopSwarm()
	if slices.Contains(opt.Phases, "seeding") {
		t := time.Now()
		if res.Seeding, err = e.seedingAll(ctx); err != nil {
			return res, err
		}
		opt.Logf("seeding test: %.0fs", time.Since(t).Seconds())
	}
	if slices.Contains(opt.Phases, "scale") {
		t := time.Now()
		res.Scale = e.scaleAll(ctx)
		opt.Logf("scale test: %.0fs", time.Since(t).Seconds())
	}
	return res, ctx.Err()
}

func (e *env) setup(ctx context.Context) error {
	lab := e.lab
	var err error
	if e.srv, err = lab.StartBuiltinWGServer(ctx); err != nil {
		return err
	}
	e.conf = filepath.Join(e.dir, "wg-bench.conf")
	if err := os.WriteFile(e.conf, []byte(e.srv.ClientConfig()), 0o600); err != nil {
		return err
	}
	if !slices.Contains(e.opt.Phases, "download") && !slices.Contains(e.opt.Phases, "seeding") {
		return nil
	}
	announce := fmt.Sprintf("http://%s:%d/announce", lab.Peer.Addr4, trackerPort)
	// Two files, sizes not piece multiples, so pieces span a boundary.
	size := int64(e.opt.SizeMiB) << 20
	files := []netlab.ContentFile{{Path: "main.bin", Size: size - size/8 + 12345}, {Path: "extra/second.bin", Size: size/8 - 12345}}
	e.opt.Logf("generating %d MiB of content", e.opt.SizeMiB)
	if e.tor, err = netlab.MakeTorrent(e.dir, netlab.TorrentSpec{Name: "wgt-bench-" + lab.ID, Files: files, Announce: announce}); err != nil {
		return err
	}
	if !slices.Contains(e.opt.Phases, "download") {
		return nil
	}
	return e.startSwarm(ctx)
}

// startSwarm starts the download test's seeders and tracker on the peer
// host.
func (e *env) startSwarm(ctx context.Context) error {
	lab := e.lab
	// Each seeder has its own address on the peer host, as in a real swarm:
	// the lab-seed on the host's own, then the transmission-daemons, then
	// qbittorrent-nox.
	peerLink, err := lab.Peer.Netlink().LinkByName(netlab.HostIface)
	if err != nil {
		return fmt.Errorf("bench: peer link: %w", err)
	}
	seeders := []netip.AddrPort{netip.AddrPortFrom(lab.Peer.Addr4, labSeedPort)}
	names := map[netip.AddrPort]string{seeders[0]: "wgtorrent lab-seed"}
	for i := range e.opt.Seeders + 1 {
		a := e.seederAddr(i)
		if err := lab.Peer.Netlink().AddrAdd(peerLink, &netlink.Addr{IPNet: ipNet(a, 24)}); err != nil {
			return fmt.Errorf("bench: peer address %s: %w", a, err)
		}
		ap, name := netip.AddrPortFrom(a, uint16(firstSeedPort+i)), fmt.Sprintf("transmission-daemon %d", i+1)
		if i == e.opt.Seeders {
			ap, name = netip.AddrPortFrom(a, qbittorrentSeedPort), "qbittorrent-nox"
		}
		seeders = append(seeders, ap)
		names[ap] = name
	}
	if e.seeds, err = newSeedCounter(lab.Peer, names); err != nil {
		return err
	}
	e.swarmStops = append(e.swarmStops, e.seeds.close)
	// opentracker would list each seeder under the address its announce
	// came from, the peer host's main one, not the address its peer socket
	// is bound to: several seeders would then share one IP, and clients that
	// keep one connection per IP (Transmission) would use one seeder.
	trk, err := lab.Peer.StartTracker(trackerPort, netlab.TrackerOptions{
		Peers: seeders, Interval: time.Minute, MinInterval: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	e.swarmStops = append(e.swarmStops, func() { _ = trk.Close() })
	for i := range e.opt.Seeders {
		tm, err := netlab.StartTransmission(ctx, netlab.TransmissionConfig{
			Host:        lab.Peer,
			ConfigDir:   filepath.Join(e.dir, fmt.Sprintf("seeder%d", i)),
			DownloadDir: e.tor.Root,
			PeerPort:    firstSeedPort + i,
			RPCPort:     firstSeedRPC + i,
			BindIPv4:    e.seederAddr(i).String(),
		})
		if err != nil {
			return err
		}
		e.swarmStops = append(e.swarmStops, func() { _ = tm.Stop(15 * time.Second) })
		if err := tm.Seed(ctx, e.tor, 60*time.Second); err != nil {
			return fmt.Errorf("bench: seeder %d: %w", i, err)
		}
	}
	if err := e.startQbittorrentSeeder(ctx, e.seederAddr(e.opt.Seeders).String()); err != nil {
		return fmt.Errorf("bench: qbittorrent-nox seeder: %w", err)
	}
	// Our own engine seeds too (tunnel-less, allowed only in a lab's peer host).
	seed := lab.Peer.Command(context.Background(), e.opt.Wgtorrent, "lab-seed", "--torrent", e.tor.File,
		"--dir", e.tor.Root, "--bind", lab.Peer.Addr4.String(), "--port", fmt.Sprint(labSeedPort),
		"--data", filepath.Join(e.dir, "labseed-state"), "--log-level", "warn")
	if e.labSeed, err = startProc(seed); err != nil {
		return fmt.Errorf("bench: wgtorrent lab-seed: %w", err)
	}
	// Stopped before the lab goes: a clean exit writes its CPU profile
	// (WGTORRENT_CPUPROFILE) and its state.
	e.swarmStops = append(e.swarmStops, func() { e.labSeed.Stop(syscall.SIGTERM, 10*time.Second) })
	if _, err := e.labSeed.WaitLine(ctx, 0, 60*time.Second, "seeding", isLine("seeding")); err != nil {
		return fmt.Errorf("bench: wgtorrent lab-seed: %w", err)
	}
	return nil
}

// stopSwarm stops the download test's seeders and tracker (again: no-op).
func (e *env) stopSwarm() {
	for i := len(e.swarmStops) - 1; i >= 0; i-- {
		e.swarmStops[i]()
	}
	e.swarmStops = nil
}

// seederAddr is the peer host's address for transmission seeder i: .3, .4, …
func (e *env) seederAddr(i int) netip.Addr {
	a := e.lab.Peer.Addr4.As4()
	a[3] += byte(1 + i)
	return netip.AddrFrom4(a)
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// seedersAlive fails once a seeder of ours has exited: every later run would
// measure a smaller swarm.
func (e *env) seedersAlive() error {
	select {
	case <-e.labSeed.Exited():
		return fmt.Errorf("bench: wgtorrent lab-seed exited (%v); stderr:\n%s", e.labSeed.Err(), netlab.Tail(e.labSeed.Stderr(), 2000))
	default:
		return nil
	}
}

func machine() Machine {
	m := Machine{NProc: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}
