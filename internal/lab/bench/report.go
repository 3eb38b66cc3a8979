//go:build linux

package bench

import (
	"fmt"
	"slices"
	"strings"
)

// clientSummary is the medians of one client's successful runs.
type clientSummary struct {
	Client                        string
	OK, Total                     int
	TransferS, MBps, WallS, First float64
	CPUPerGiB, CPUTunPerGiB, RSS  float64
	MachineBusy                   float64
	TunnelUpS, HolderUpS          float64
	Served                        map[string]float64 // MB by seeder kind, all successful runs
}

func (res *Results) summaries() []clientSummary {
	var out []clientSummary
	gib := float64(int64(res.Options.SizeMiB)<<20) / (1 << 30)
	for _, c := range res.Options.Clients {
		s := clientSummary{Client: c, Served: map[string]float64{}}
		var tr, mb, wall, first, cpu, cput, rss, up, hup, busy []float64
		for _, r := range res.Downloads {
			if r.Client != c {
				continue
			}
			s.Total++
			if r.Error != "" {
				continue
			}
			s.OK++
			tr, mb, wall, first = append(tr, r.TransferS), append(mb, r.MBps), append(wall, r.WallS), append(first, r.FirstByteS)
			cpu, cput, rss = append(cpu, r.CPUS/gib), append(cput, (r.CPUS+r.TunnelCPUS)/gib), append(rss, r.PeakRSSMiB)
			busy = append(busy, r.MachineBusyPct)
			for name, mb := range r.SeederMB {
				kind, _, _ := strings.Cut(name, " ") // the transmission-daemons together
				if strings.HasPrefix(name, "wgtorrent") {
					kind = "lab-seed"
				}
				s.Served[kind] += mb
			}
			if r.TunnelUpS > 0 {
				up = append(up, r.TunnelUpS)
			}
			if r.HolderUpS > 0 {
				hup = append(hup, r.HolderUpS)
			}
		}
		s.TransferS, s.MBps, s.WallS, s.First = median(tr), median(mb), median(wall), median(first)
		s.CPUPerGiB, s.CPUTunPerGiB, s.RSS = median(cpu), median(cput), median(rss)
		s.MachineBusy = median(busy)
		s.TunnelUpS, s.HolderUpS = median(up), median(hup)
		out = append(out, s)
	}
	return out
}

func (res *Results) iperfMedian(path string) (float64, int) {
	var xs []float64
	for _, r := range res.Iperf {
		if r.Path == path && r.Error == "" {
			xs = append(xs, r.Gbps)
		}
	}
	return median(xs), len(xs)
}

// Markdown renders the tables and ratios.
func (res *Results) Markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	m := res.Machine
	p("## wgtorrent benchmark, %s", res.Date.Format("2006-01-02 15:04 MST"))
	p("")
	p("Machine: %d × %s, Linux %s, %s. Everything runs in one netlab lab (network namespaces on this host: client, ISP, VPN server, peer host), so client, VPN server and seeders share these %d cores.", m.NProc, m.CPU, m.Kernel, m.Go, m.NProc)
	switch {
	case len(res.Downloads) > 0:
		p("VPN server: %s. Content: %d MiB in 2 files. Seeders on the peer host: %s. Median of %d runs, clients interleaved round-robin.", res.Options.VPNServer, res.Options.SizeMiB, res.Options.Seeders, res.Options.Runs)
	case len(res.Seeding) > 0:
		p("VPN server: %s. Content: %d MiB in 2 files.", res.Options.VPNServer, res.Options.SizeMiB)
	default:
		p("VPN server: %s.", res.Options.VPNServer)
	}
	p("")
	if len(res.Iperf) > 0 {
		res.iperfTable(p)
	}
	if len(res.Downloads) > 0 {
		res.downloadTables(p)
	}
	if len(res.Seeding) > 0 {
		res.seedingTable(p)
	}
	if len(res.Scale) > 0 {
		res.scaleTables(p)
	}
	p("")
	p("Programs: %s.", strings.Join(res.Versions, "; "))
	return b.String()
}

type bestOf struct{ mbps, cpu, rss clientSummary }

// isolations returns wgtorrent's two isolations' summaries, if both ran.
func isolations(sums []clientSummary) (ns, host clientSummary, ok bool) {
	var okNS, okHost bool
	for _, s := range sums {
		switch {
		case s.Client == ClientWgtorrent && s.OK > 0:
			ns, okNS = s, true
		case s.Client == ClientWgtorrentHost && s.OK > 0:
			host, okHost = s, true
		}
	}
	return ns, host, okNS && okHost
}

func (res *Results) vsBest(sums []clientSummary) (wg clientSummary, best bestOf, ok bool) {
	var others []clientSummary
	for _, s := range sums {
		switch {
		case s.Client == ClientWgtorrent && s.OK > 0:
			wg, ok = s, true
		case s.Client != ClientWgtorrentNoTunnel && s.Client != ClientWgtorrentHost && s.OK > 0:
			others = append(others, s)
		}
	}
	if !ok || len(others) == 0 {
		return wg, best, false
	}
	best.mbps = slices.MaxFunc(others, func(a, b clientSummary) int { return cmpF(a.MBps, b.MBps) })
	best.cpu = slices.MinFunc(others, func(a, b clientSummary) int { return cmpF(a.CPUTunPerGiB, b.CPUTunPerGiB) })
	best.rss = slices.MinFunc(others, func(a, b clientSummary) int { return cmpF(a.RSS, b.RSS) })
	return wg, best, true
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

type printer func(format string, args ...any)

func (res *Results) iperfTable(p printer) {
	p("### Tunnel ceiling (iperf3, one TCP flow client → peer host, %ds)", res.Options.IperfSeconds)
	p("")
	p("| path | Gbit/s (median) | runs ok |")
	p("|---|---:|---:|")
	for _, path := range []string{PathDirect, PathWgtorrent, PathDebianWG} {
		g, n := res.iperfMedian(path)
		p("| %s | %.2f | %d/%d |", path, g, n, res.Options.Runs)
	}
}

func (res *Results) downloadTables(p printer) {
	ceiling, _ := res.iperfMedian(PathWgtorrent)
	p("")
	p("### Download of the same torrent through the same tunnel")
	p("")
	p("Transfer: launch → last payload byte left the seeders' host (its uplink counter, sampled every 20 ms; same clock for every client). Wall: launch → the client itself reported completion (wgtorrent reports once a second and then tears its tunnel down, so its wall time is coarser). CPU: the client process; +tunnel adds the `wgtorrent tunnel` process that holds the tunnel for the other clients (wgtorrent's tunnel is in its own process). wgtorrent's launch includes bringing its tunnel up; the others start with the tunnel already up. Seeders each have their own address (a static tracker lists them). `" + ClientWgtorrentNoTunnel + "` is `wgtorrent lab-seed` used as a leecher on the peer host itself, the only tunnel-less mode the CLI has: loopback path, an engine-only reference, not a peer of the others. Machine busy: CPU time of every process and the kernel, launch → last payload byte, as a share of all cores (seeders, VPN server and client share them). Served by: the share of the bytes each kind of seeder sent (nftables counters on the peer host; lab-seed is wgtorrent's own engine seeding).")
	p("")
	p("| client | transfer s | MB/s | × tunnel ceiling | wall s | first block s | CPU s/GiB | CPU+tunnel s/GiB | peak RSS MiB | machine busy %% | served by | runs ok |")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
	sums := res.summaries()
	for _, s := range sums {
		ratio := "–"
		if ceiling > 0 && s.Client != ClientWgtorrentNoTunnel {
			ratio = fmt.Sprintf("%.2f", s.MBps*8e6/(ceiling*1e9))
		}
		p("| %s | %.1f | %.1f | %s | %.1f | %.2f | %.1f | %.1f | %.0f | %.0f | %s | %d/%d |", s.Client, s.TransferS, s.MBps, ratio,
			s.WallS, s.First, s.CPUPerGiB, s.CPUTunPerGiB, s.RSS, s.MachineBusy, servedBy(s.Served), s.OK, s.Total)
	}
	if wg, best, ok := res.vsBest(sums); ok {
		p("")
		p("wgtorrent vs the best other client through the tunnel: throughput %.2f× (best: %s, %.1f MB/s); CPU incl. tunnel %.2f× (lowest: %s); peak RSS %.2f× (lowest: %s).",
			wg.MBps/best.mbps.MBps, best.mbps.Client, best.mbps.MBps,
			wg.CPUTunPerGiB/best.cpu.CPUTunPerGiB, best.cpu.Client,
			wg.RSS/best.rss.RSS, best.rss.Client)
	}
	if ns, host, ok := isolations(sums); ok {
		p("")
		p("wgtorrent's private namespace (the default) vs `--isolation host`, same run: throughput %.2f×, CPU incl. tunnel %.2f×, peak RSS %.2f×.",
			ns.MBps/host.MBps, ns.CPUTunPerGiB/host.CPUTunPerGiB, ns.RSS/host.RSS)
	}
	p("")
	p("### Start-up")
	p("")
	for _, s := range sums {
		switch {
		case s.Client == ClientWgtorrent:
			p("- `wgtorrent` download: launch → first status line with the tunnel up: %.2f s (status lines come once a second); launch → first payload block left the seeders: %.2f s.", s.TunnelUpS, s.First)
		case s.HolderUpS > 0 && s.Client == ClientAria2:
			p("- `wgtorrent tunnel`: launch → first status line with state up: %.2f s (median over the runs that held the tunnel for other clients).", s.HolderUpS)
		}
	}
}
