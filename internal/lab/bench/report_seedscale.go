//go:build linux

package bench

import (
	"fmt"
	"slices"
	"strings"
)

// seedSummary is the medians of one seeder's successful runs.
type seedSummary struct {
	Seeder                  string
	OK, Total               int
	MBps, AllMBps           float64
	First, Done             float64
	CPUPerGiB, CPUTunPerGiB float64
	RSS, MachineBusy        float64
	LeecherDone             map[string]float64
}

func (res *Results) seedSummaries() []seedSummary {
	var out []seedSummary
	gib := float64(int64(len(seedLeechers))*int64(res.Options.SizeMiB)<<20) / (1 << 30)
	for _, c := range ScaleClients {
		s := seedSummary{Seeder: c, LeecherDone: map[string]float64{}}
		var mb, all, first, done, cpu, cput, rss, busy []float64
		leech := map[string][]float64{}
		for _, r := range res.Seeding {
			if r.Seeder != c {
				continue
			}
			s.Total++
			if r.Error != "" {
				continue
			}
			s.OK++
			mb, all = append(mb, r.MBps), append(all, r.AllLeechMBps)
			first, done = append(first, r.FirstByteS), append(done, r.DoneS)
			cpu, cput = append(cpu, r.CPUS/gib), append(cput, (r.CPUS+r.TunnelCPUS)/gib)
			rss, busy = append(rss, r.PeakRSSMiB), append(busy, r.MachineBusyPct)
			for l, t := range r.LeecherDoneS {
				leech[l] = append(leech[l], t)
			}
		}
		if s.Total == 0 {
			continue
		}
		s.MBps, s.AllMBps, s.First, s.Done = median(mb), median(all), median(first), median(done)
		s.CPUPerGiB, s.CPUTunPerGiB, s.RSS, s.MachineBusy = median(cpu), median(cput), median(rss), median(busy)
		for l, ts := range leech {
			s.LeecherDone[l] = median(ts)
		}
		out = append(out, s)
	}
	return out
}

func (res *Results) seedingTable(p printer) {
	p("")
	p("### Seeding to three leechers at once")
	p("")
	p("Each seeder in turn runs in the client namespace behind the tunnel and seeds the content (%d MiB) to %s on the peer host, at once, each leecher on its own address. A tracker tells the seeder about the three and them about nobody, so all they get comes from the seeder, which connects out to them (nothing behind the VPN's NAT can be connected to). wgtorrent seeds with `wgtorrent --torrent FILE --seed` (its default isolation: the engine in a private namespace, the tunnel in its own process); transmission-daemon and qbittorrent-nox run inside `wgtorrent tunnel`. Every seeder checks the data at launch; wgtorrent's launch also brings its tunnel up. Upload MB/s: %d × content / (first → last payload byte received by the leechers' host; its interface counter, sampled every 20 ms): the slowest leecher bounds it. While all leech: what the leechers' host received from the first payload byte until the first leecher was complete, per second: the seeder's pace while all three pull. CPU: the seeder's process tree, launch → last payload byte (the data check included: every seeder makes it), per GiB uploaded; +tunnel adds the `wgtorrent tunnel` process. Peak RSS: the seeder's process tree, launch → done (sampled every 100 ms; qbittorrent-nox's libtorrent 2 maps the files it serves, and the pages it has read count in its RSS). First block, all done and each leecher: seconds from the launch. Machine busy: every process and the kernel, launch → last payload byte, share of all cores. %s",
		res.Options.SizeMiB, strings.Join(seedLeechers, ", "), len(seedLeechers), seedRunsNote(res.Options.SeedRuns))
	p("")
	p("| seeder | upload MB/s | MB/s while all leech | first block s | all done s | CPU s/GiB | CPU+tunnel s/GiB | peak RSS MiB | machine busy %% | leechers done s (%s) | runs ok |", strings.Join(seedLeechers, " / "))
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
	sums := res.seedSummaries()
	for _, s := range sums {
		var done []string
		for _, l := range seedLeechers {
			done = append(done, fmt.Sprintf("%.1f", s.LeecherDone[l]))
		}
		p("| %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.0f | %.0f | %s | %d/%d |", s.Seeder, s.MBps, s.AllMBps, s.First, s.Done,
			s.CPUPerGiB, s.CPUTunPerGiB, s.RSS, s.MachineBusy, strings.Join(done, " / "), s.OK, s.Total)
	}
	for _, r := range res.Seeding {
		if r.Error != "" {
			p("")
			p("- %s round %d failed: %s", r.Seeder, r.Round, oneLine(r.Error, 300))
		}
	}
	var wg *seedSummary
	var others []seedSummary
	for _, s := range sums {
		switch {
		case s.OK == 0:
		case s.Seeder == ClientWgtorrent:
			wg = &s
		default:
			others = append(others, s)
		}
	}
	if wg == nil || len(others) == 0 {
		return
	}
	fast := slices.MaxFunc(others, func(a, b seedSummary) int { return cmpF(a.MBps, b.MBps) })
	fastAll := slices.MaxFunc(others, func(a, b seedSummary) int { return cmpF(a.AllMBps, b.AllMBps) })
	cheap := slices.MinFunc(others, func(a, b seedSummary) int { return cmpF(a.CPUTunPerGiB, b.CPUTunPerGiB) })
	small := slices.MinFunc(others, func(a, b seedSummary) int { return cmpF(a.RSS, b.RSS) })
	p("")
	p("wgtorrent / the best other seeder: upload %s (best: %s, %.1f MB/s); while all leech %s (best: %s, %.1f MB/s); CPU incl. tunnel per GiB %s (lowest: %s); peak RSS %s (lowest: %s).",
		ratio(wg.MBps, fast.MBps), fast.Seeder, fast.MBps, ratio(wg.AllMBps, fastAll.AllMBps), fastAll.Seeder, fastAll.AllMBps, ratio(wg.CPUTunPerGiB, cheap.CPUTunPerGiB), cheap.Seeder,
		ratio(wg.RSS, small.RSS), small.Seeder)
}

func seedRunsNote(runs int) string {
	if runs <= 1 {
		return "One run of each."
	}
	return fmt.Sprintf("Medians of %d runs, seeders interleaved.", runs)
}

// scaleTables renders one table per torrent count.
func (res *Results) scaleTables(p printer) {
	var counts []int
	for _, r := range res.Scale {
		if !slices.Contains(counts, r.Torrents) {
			counts = append(counts, r.Torrents)
		}
	}
	window := res.Scale[0].IdleWindow
	p("")
	p("### Many seeding torrents")
	p("")
	if !slices.ContainsFunc(res.Scale, func(r ScaleRun) bool { return r.Client != "" }) {
		// Results from before the other clients were measured.
		p("`wgtorrent daemon` alone with N torrents of 64 KiB (seeding, no tracker, DHT off), added through its RPC; RSS and idle CPU (%g s) of its main process only.", window)
	} else {
		p("Each client in turn, in the client namespace, holds N single-file torrents of 64 KiB (16 KiB pieces, no tracker; DHT, LPD, PEX and UPnP off) whose data is already in its download folder, added one by one through its own API: the Transmission RPC's `torrent-add` with the metainfo (`wgtorrent daemon`, transmission-daemon), `POST /api/v2/torrents/add` multipart with `savepath` (qbittorrent-nox, its \"max active checking torrents\" raised from 1 to %d: with 1 it starts about one check a second). Same data, same torrents. Add: first call → all seeding. Then %.0f s to settle, then an idle window of %g s with no API call: CPU and RSS of the client's process tree from /proc. `wgtorrent daemon` is two processes, the main one (tunnel, kill switch) and its `daemon-worker` child (engine, RPC): both are counted. transmission-daemon and qbittorrent-nox hold no tunnel here (nothing in this test leaves the namespace). List: the call Sonarr and Radarr poll with, %d times one after another, request → whole answer read: `torrent-get` of every torrent with the %d fields they ask for (Transmission RPC), `GET /api/v2/torrents/info` (qBittorrent: all its fields, hence the bigger answer). Restart: SIGTERM, exit, launch on the same state → all seeding again.",
			qbittorrentScaleChecking, scaleSettle.Seconds(), window, scaleListCalls, len(arrFields))
	}
	for _, n := range counts {
		p("")
		p("**%d torrents**", n)
		p("")
		p("| client | add + verify s | RSS MiB | idle CPU %% of a core | list p50 ms | list p99 ms | list answer KiB | restart → all seeding s |")
		p("|---|---:|---:|---:|---:|---:|---:|---:|")
		var rows []ScaleRun
		for _, r := range res.Scale {
			if r.Torrents != n {
				continue
			}
			name := r.ClientName()
			if name == ClientWgtorrent {
				name = "wgtorrent daemon"
			}
			if r.Processes > 1 {
				name += fmt.Sprintf(" (%d processes)", r.Processes)
			}
			if r.Error != "" {
				p("| %s | error: %s | | | | | | |", name, oneLine(r.Error, 300))
				continue
			}
			lat := []string{"–", "–", "–"}
			if r.ListCalls > 0 {
				lat = []string{fmt.Sprintf("%.1f", r.ListP50MS), fmt.Sprintf("%.1f", r.ListP99MS), fmt.Sprintf("%.0f", r.ListKiB)}
			}
			p("| %s | %.1f | %.0f | %.2f | %s | %s | %s | %.1f |", name, r.AddS, r.RSSMiB, r.IdleCPUPct, lat[0], lat[1], lat[2], r.RestartS)
			rows = append(rows, r)
		}
		if line := scaleRatios(rows); line != "" {
			p("")
			p("%s", line)
		}
	}
}

// scaleRatios compares wgtorrent with the best other client on each
// column (all lower is better).
func scaleRatios(rows []ScaleRun) string {
	var wg *ScaleRun
	var others []ScaleRun
	for _, r := range rows {
		if r.ClientName() == ClientWgtorrent {
			wg = &r
		} else {
			others = append(others, r)
		}
	}
	if wg == nil || len(others) == 0 {
		return ""
	}
	cols := []struct {
		name, unit string // unit: the best value's format
		of         func(ScaleRun) float64
	}{
		{"add", "%.1f s", func(r ScaleRun) float64 { return r.AddS }},
		{"RSS", "%.0f MiB", func(r ScaleRun) float64 { return r.RSSMiB }},
		{"idle CPU", "%.2f %%", func(r ScaleRun) float64 { return r.IdleCPUPct }},
		{"list p50", "%.1f ms", func(r ScaleRun) float64 { return r.ListP50MS }},
		{"list p99", "%.1f ms", func(r ScaleRun) float64 { return r.ListP99MS }},
		{"restart", "%.1f s", func(r ScaleRun) float64 { return r.RestartS }},
	}
	var parts []string
	for _, c := range cols {
		if wg.ListCalls == 0 && strings.HasPrefix(c.name, "list") {
			continue
		}
		best := slices.MinFunc(others, func(a, b ScaleRun) int { return cmpF(c.of(a), c.of(b)) })
		parts = append(parts, fmt.Sprintf("%s %s (best: %s, "+c.unit+")", c.name, ratio(c.of(*wg), c.of(best)), best.ClientName(), c.of(best)))
	}
	return "wgtorrent / the best other client, lower is better everywhere: " + strings.Join(parts, "; ") + "."
}

// ratio is a/b as "1.23×", or "–" when b is 0.
func ratio(a, b float64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// oneLine is the start of an error message's first line, for a table
// cell (results.json has all of it).
func oneLine(s string, n int) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return strings.ReplaceAll(s, "|", "/")
}
