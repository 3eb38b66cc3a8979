//go:build linux

package bench

import (
	"os"
	"strings"
	"testing"
)

func TestPercentile(t *testing.T) {
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i) // 100 … 1, unsorted
	}
	for _, tc := range []struct {
		xs   []float64
		p    float64
		want float64
	}{
		{nil, 50, 0},
		{[]float64{7}, 99, 7},
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 100, 100},
		{[]float64{3, 1, 2}, 50, 2},
	} {
		if got := percentile(tc.xs, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.xs, tc.p, got, tc.want)
		}
	}
}

// TestScaleTables: one table per count, wgtorrent against the best other
// client column by column; results from before the other clients (no
// client field) still render.
func TestScaleTables(t *testing.T) {
	res := &Results{Scale: []ScaleRun{
		{Client: ClientWgtorrent, Torrents: 1000, AddS: 2, RSSMiB: 100, IdleCPUPct: 1, ListP50MS: 10, ListP99MS: 20, ListCalls: 100, RestartS: 0.5, Processes: 2, IdleWindow: 60},
		{Client: ClientTransmission, Torrents: 1000, AddS: 100, RSSMiB: 20, IdleCPUPct: 0, ListP50MS: 20, ListP99MS: 25, ListCalls: 100, RestartS: 0.25, Processes: 1, IdleWindow: 60},
		{Client: ClientQbittorrent, Torrents: 1000, AddS: 4, RSSMiB: 200, IdleCPUPct: 0.5, ListP50MS: 100, ListP99MS: 150, ListCalls: 100, RestartS: 2, Processes: 1, IdleWindow: 60},
		{Client: ClientQbittorrent, Torrents: 10000, Error: "not all seeding\nsecond line"},
	}}
	md := res.Markdown()
	for _, want := range []string{
		"**1000 torrents**", "**10000 torrents**",
		"| wgtorrent daemon (2 processes) | 2.0 | 100 | 1.00 | 10.0 | 20.0 |",
		"add 0.50× (best: qbittorrent-nox, 4.0 s)",
		"RSS 5.00× (best: transmission-daemon, 20 MiB)",
		"idle CPU – (best: transmission-daemon, 0.00 %)",
		"list p50 0.50× (best: transmission-daemon, 20.0 ms)",
		"restart 2.00× (best: transmission-daemon, 0.2 s)",
		"| qbittorrent-nox | error: not all seeding |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	old := &Results{Scale: []ScaleRun{{Torrents: 1000, AddS: 7.1, RSSMiB: 47, IdleCPUPct: 1.1, RestartS: 0.5, IdleWindow: 10}}}
	md = old.Markdown()
	for _, want := range []string{"of its main process only", "| wgtorrent daemon | 7.1 | 47 | 1.10 | – | – | – | 0.5 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("old results' markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestSeedingTable(t *testing.T) {
	res := &Results{}
	res.Options.SizeMiB = 1024
	res.Seeding = []SeedRun{
		{Seeder: ClientWgtorrent, Round: 1, MBps: 40, AllLeechMBps: 150, CPUS: 12, PeakRSSMiB: 250, LeecherDoneS: map[string]float64{ClientAria2: 16, ClientTransmission: 80, ClientQbittorrent: 15}},
		{Seeder: ClientTransmission, Round: 1, MBps: 25, AllLeechMBps: 40, CPUS: 10, TunnelCPUS: 10, PeakRSSMiB: 40},
		{Seeder: ClientQbittorrent, Round: 1, MBps: 80, AllLeechMBps: 200, CPUS: 6, TunnelCPUS: 6, PeakRSSMiB: 1000},
		{Seeder: ClientQbittorrent, Round: 2, Error: "leecher aria2c: exited"},
	}
	md := res.Markdown()
	for _, want := range []string{
		"| wgtorrent | 40.0 | 150.0 |", "| 16.0 / 80.0 / 15.0 | 1/1 |", "| qbittorrent-nox | 80.0 | 200.0 |", "| 1/2 |",
		"upload 0.50× (best: qbittorrent-nox, 80.0 MB/s)",
		"while all leech 0.75× (best: qbittorrent-nox, 200.0 MB/s)",
		"CPU incl. tunnel per GiB 1.00× (lowest: qbittorrent-nox)",
		"peak RSS 6.25× (lowest: transmission-daemon)",
		"qbittorrent-nox round 2 failed: leecher aria2c: exited",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// TestStatSeconds: the /proc readings parse this process's stat and status;
// its times only grow.
func TestStatSeconds(t *testing.T) {
	own, err := cpuSeconds(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	all, err := cpuWithChildren(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if own < 0 || all < own {
		t.Errorf("cpuSeconds %v, cpuWithChildren %v", own, all)
	}
	if rss, err := vmRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("vmRSS %v, %v", rss, err)
	}
	if _, err := statusMiB(os.Getpid(), "NoSuchLine"); err == nil {
		t.Error("a missing status line read")
	}
	if _, err := statSeconds(os.Getpid(), 99); err == nil {
		t.Error("field 102 of /proc/PID/stat read")
	}
}
