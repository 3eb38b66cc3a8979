// Command wgtorrent is a BitTorrent client whose every packet travels through
// a WireGuard tunnel, behind a kill switch. main parses flags and environment
// (WGTORRENT_<FLAG>), builds the pieces and runs them under one context that
// SIGINT and SIGTERM cancel.
//
// wgtorrent is Linux only: the tunnel, the kill switch and the private
// namespace are Linux kernel interfaces (TUN, netlink, nftables, namespaces),
// so the packages that use them carry no stubs for other systems.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/wgtorrent/wgtorrent/internal/headless"
	"github.com/wgtorrent/wgtorrent/internal/loglimit"
	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/internal/userns"
)

// version is set by the linker (-X main.version=...).
var version = "0.1.0-dev"

type cli struct {
	LogLevel  slog.Level `help:"Log level: debug, info, warn, error." default:"info"`
	LogFormat string     `help:"Log format: text or json." enum:"text,json" default:"text"`

	Download   downloadCmd     `cmd:"" default:"withargs" help:"Download the torrents given, and only those, through the tunnel (the default command: wgtorrent --config wg0.conf --magnet URI). Its state is its own (DATA/oneshot/<torrents>): nothing else saved is resumed or announced."`
	TUI        tuiCmd          `cmd:"" name:"tui" help:"Open the interactive TUI (also what plain 'wgtorrent --config wg0.conf' does on a terminal). It keeps a library of torrents in --data and resumes all of them."`
	Daemon     daemonCmd       `cmd:"" help:"Run as a seedbox service with a Transmission-compatible RPC (for Sonarr, Radarr, transmission-remote). It keeps its library of torrents in --data and resumes all of them."`
	Tunnel     tunnelCmd       `cmd:"" help:"Bring the WireGuard tunnel up behind the kill switch and print its status."`
	Killswitch killswitchCmd   `cmd:"" help:"Inspect or remove the kill switch."`
	Health     healthCmd       `cmd:"" help:"Ask a running daemon whether it is healthy (exit 0) or not (exit 1), for container health checks."`
	Demo       demoCmd         `cmd:"" help:"Build a private lab in network namespaces and show a real tunnel at work (root)."`
	LabSeed    labSeedCmd      `cmd:"" name:"lab-seed" hidden:"" help:"Seed without a tunnel inside a demo lab (refuses to run elsewhere)."`
	Worker     daemonWorkerCmd `cmd:"" name:"daemon-worker" hidden:"" help:"The daemon's unprivileged engine and RPC (started by the daemon)."`
	Version    versionCmd      `cmd:"" help:"Print the version."`
}

type versionCmd struct{}

func (versionCmd) Run() error { fmt.Println("wgtorrent", version); return nil }

// defaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT says
// otherwise. wireguard-go gives every packet in flight a 64 KiB buffer from
// pools that only a GC empties; with the default GOGC alone the heap goal
// grows with them and a long download at full speed reached 880 MiB RSS
// (4 GiB fetched). The buffers hold no pointers, so the extra collections
// cost no measurable CPU; RSS stays near this limit.
const defaultMemoryLimit = 256 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	// Profiling hook for `make bench` and by hand: a CPU profile of the whole
	// run; %p in the path becomes the process ID (several processes at once).
	if path := os.Getenv("WGTORRENT_CPUPROFILE"); path != "" {
		path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	if path := os.Getenv("WGTORRENT_MEMPROFILE"); path != "" {
		go peakHeapProfiles(strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid())))
	}
	var c cli
	kctx := kong.Parse(&c,
		kong.Name("wgtorrent"),
		kong.Description("A BitTorrent client bound to a WireGuard tunnel, with a kill switch."),
		kong.DefaultEnvars("WGTORRENT"),
		kong.UsageOnError(),
		kong.Vars{"data_dir": defaultDataDir()},
		kong.Configuration(envFirstJSON),
	)
	log := newLogger(os.Stderr, c.LogLevel, c.LogFormat)
	slog.SetDefault(log)

	ctx, stop := signalContext(context.Background())
	defer stop()
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(log)
	kctx.Bind(logSettings{Level: c.LogLevel, Format: c.LogFormat})

	// --isolation auto becomes the command's own default here, once, for
	// everything after; an ordinary user's namespace mode then runs in a
	// copy of this program that holds a user namespace of its own
	// (internal/userns).
	if n := kctx.Selected(); n != nil && n.Target.CanAddr() {
		if f, ok := n.Target.Addr().Interface().(interface{ isolation() session.Isolation }); ok &&
			f.isolation() == session.IsolationNamespace && userns.Needed() {
			code, err := userns.Run(ctx)
			if err != nil {
				fmt.Fprintln(os.Stderr, "wgtorrent:", err)
				code = 2
			}
			stop()
			os.Exit(code)
		}
	}

	err := kctx.Run()
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "wgtorrent:", err)
	stop()
	os.Exit(exitCode(err))
}

// signalContext is cancelled by SIGINT, SIGTERM and SIGHUP (terminal
// closed), so that what was built is torn down. SIGPIPE is caught but
// cancels nothing: the kernel raises it on every write to a connection the
// peer has closed, routine for a torrent client, and once a program asks
// for SIGPIPE Go hands it those too (a daemon stopped by the first peer
// that hung up). Caught, it no longer kills the process on a closed stdout
// either (`wgtorrent ... | head`): the write fails with EPIPE and the
// command ends through its error path, tearing down in order.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
}

// logSettings are the global log flags, for commands that open their own
// log (the TUI writes to a file).
type logSettings struct {
	Level  slog.Level
	Format string
}

// errInput marks input the user must fix.
var errInput = headless.ErrInput

// exitCode: 2 for input the user must fix (and for a second instance in a
// network namespace another one owns), 1 for failures at run time.
func exitCode(err error) int {
	if errors.Is(err, session.ErrConfig) || errors.Is(err, headless.ErrInput) || errors.Is(err, session.ErrOwned) {
		return 2
	}
	return 1
}

// envFirstJSON reads a JSON config file whose values yield to environment
// variables: flags > WGTORRENT_* > file > defaults.
// Keys are flag names ("rpc-listen"; "rpc_listen" works too).
func envFirstJSON(r io.Reader) (kong.Resolver, error) {
	var raw map[string]any
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: config file: %w", errInput, err)
	}
	norm := make(map[string]any, len(raw))
	for k, v := range raw {
		norm[strings.ReplaceAll(k, "-", "_")] = v
	}
	b, err := json.Marshal(norm)
	if err != nil {
		return nil, err
	}
	res, err := kong.JSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return envFirst{res}, nil
}

type envFirst struct{ kong.Resolver }

func (e envFirst) Resolve(ctx *kong.Context, parent *kong.Path, flag *kong.Flag) (any, error) {
	for _, name := range flag.Envs {
		if _, set := os.LookupEnv(name); set {
			return nil, nil
		}
	}
	return e.Resolver.Resolve(ctx, parent, flag)
}

// newLogger writes to w through a limiter: a message repeated in a tight
// loop is written a few times a minute, then counted (loglimit).
func newLogger(w *os.File, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(loglimit.New(h, loglimit.Options{}))
}

// peakHeapProfiles writes a heap profile to path each time the heap in use
// passes its highest so far (checked twice a second): what the process
// held at its peak, for `make bench` and by hand.
func peakHeapProfiles(path string) {
	var peak uint64
	var ms runtime.MemStats
	for range time.Tick(500 * time.Millisecond) {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse <= peak+peak/20 {
			continue
		}
		peak = ms.HeapInuse
		var b bytes.Buffer
		if pprof.Lookup("heap").WriteTo(&b, 0) == nil {
			_ = os.WriteFile(path, b.Bytes(), 0o600)
		}
	}
}
