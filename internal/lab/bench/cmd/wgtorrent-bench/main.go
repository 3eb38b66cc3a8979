//go:build linux

// Command wgtorrent-bench runs internal/bench once (`make bench`): it prints
// a markdown table and writes it, with the raw runs as JSON, to -out.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/bench"
)

func main() {
	var opt bench.Options
	var out, clients, phases, scale string
	flag.StringVar(&opt.Wgtorrent, "wgtorrent", "bin/wgtorrent", "wgtorrent binary to measure")
	flag.StringVar(&out, "out", "bench-results", "directory for results.md and results.json")
	flag.IntVar(&opt.SizeMiB, "size", 1024, "content size in MiB")
	flag.DurationVar(&opt.VPNDelay, "vpn-delay", 0, "add this to every round trip through the VPN server (e.g. 40ms: a distant server)")
	flag.IntVar(&opt.Runs, "runs", 3, "runs of each measurement (the median is reported)")
	flag.IntVar(&opt.SeedRuns, "seed-runs", 0, "runs of each seeder in the seeding test (the median is reported; 0: as -runs; ~5 min a round at 1 GiB)")
	flag.IntVar(&opt.IperfSeconds, "iperf-seconds", 5, "length of one iperf3 test")
	flag.IntVar(&opt.Seeders, "seeders", 3, "transmission-daemon seeders (plus one qbittorrent-nox and one wgtorrent lab-seed)")
	flag.StringVar(&clients, "clients", strings.Join(bench.AllClients, ","), "clients to compare, comma separated (the seeding and scale tests take those of "+strings.Join(bench.ScaleClients, ", ")+")")
	flag.StringVar(&phases, "phases", strings.Join(bench.AllPhases, ","), "what to measure, comma separated, of "+strings.Join(bench.AllPhases, ", "))
	flag.StringVar(&scale, "scale", "1000", "torrent counts for the scale test, comma separated (e.g. 1000,10000)")
	flag.DurationVar(&opt.IdleWindow, "idle-window", time.Minute, "the scale test's idle CPU window")
	flag.DurationVar(&opt.RunTimeout, "run-timeout", 4*time.Minute, "give up one download after this long")
	render := flag.String("render", "", "only print the markdown of a results.json and exit")
	flag.Parse()
	if *render != "" {
		b, err := os.ReadFile(*render)
		if err != nil {
			fail(err)
		}
		var res bench.Results
		if err := json.Unmarshal(b, &res); err != nil {
			fail(err)
		}
		fmt.Print(res.Markdown())
		return
	}
	opt.Clients = strings.Split(clients, ",")
	opt.Phases = strings.Split(phases, ",")
	for _, p := range opt.Phases {
		if !slices.Contains(bench.AllPhases, p) {
			fail(fmt.Errorf("-phases: unknown %q (want some of %s)", p, strings.Join(bench.AllPhases, ",")))
		}
	}
	for _, f := range strings.Split(scale, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			fail(fmt.Errorf("-scale: %w", err))
		}
		opt.Scale = append(opt.Scale, n)
	}
	abs, err := filepath.Abs(opt.Wgtorrent)
	if err != nil {
		fail(err)
	}
	opt.Wgtorrent = abs
	opt.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Run(ctx, opt)
	if res != nil && (len(res.Iperf) > 0 || len(res.Downloads) > 0 || len(res.Seeding) > 0 || len(res.Scale) > 0) {
		if werr := write(out, res); werr != nil {
			fmt.Fprintln(os.Stderr, "wgtorrent-bench:", werr)
		}
	}
	if err != nil {
		fail(err)
	}
}

func write(dir string, res *bench.Results) error {
	md := res.Markdown()
	fmt.Print(md)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	stamp := res.Date.Format("20060102-150405")
	if err := os.WriteFile(filepath.Join(dir, "results-"+stamp+".json"), j, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), j, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wgtorrent-bench:", err)
	os.Exit(1)
}
