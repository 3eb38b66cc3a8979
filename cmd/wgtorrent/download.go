package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/mattn/go-isatty"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/headless"
	"github.com/wgtorrent/wgtorrent/internal/session"
)

// peerFlags tune the engine for every command that runs it.
type peerFlags struct {
	ListenPort      int      `help:"Port for incoming peers, inside the tunnel (0: the one used last time with this --data, random the first time; use the port your VPN forwards)." default:"0"`
	DHT             bool     `name:"dht" help:"Use the DHT (through the tunnel)." default:"true" negatable:""`
	DHTBootstrap    []string `name:"dht-bootstrap" help:"DHT bootstrap nodes (host:port), resolved through the tunnel's DNS." default:"router.bittorrent.com:6881,router.utorrent.com:6881,dht.transmissionbt.com:6881,dht.libtorrent.org:25401" sep:","`
	MaxDownloadRate rate     `help:"Download limit in bytes/s (units allowed: 5MiB, 800k); 0 = unlimited." default:"0"`
	MaxUploadRate   rate     `help:"Upload limit in bytes/s (units allowed); 0 = unlimited." default:"0"`
	Encryption      string   `help:"BitTorrent encryption with peers: tolerated (plaintext unless a peer requires it: fastest), preferred, required. Obfuscation beyond the VPN server; the tunnel encrypts everything up to it." enum:"tolerated,preferred,required" default:"tolerated"`
	Suspicious      string   `help:"Files that are not what their names say (a program named film.mkv.exe, a sample.mkv whose bytes are a Linux program, shortcuts, programs in a video torrent): warn (report them: TUI, JSON \"warnings\", RPC label \"suspicious\" and wgtorrentWarnings, the log), skip (leave them out: by name before anything is fetched, by content once the piece holding their first bytes is verified), pause (pause the torrent until you resume it). Judged by names and first bytes only: nothing is ever run." enum:"warn,skip,pause" default:"warn"`
	// Port forwarding: the engine then listens on the port the VPN forwards.
	PortForward        string     `name:"port-forward" help:"Ask the VPN server to forward a port to the engine, so peers can connect in: natpmp (RFC 6886, through the tunnel: ProtonVPN's P2P servers), or off." enum:"off,natpmp" default:"off"`
	PortForwardGateway netip.Addr `name:"port-forward-gateway" help:"The NAT-PMP gateway (default: the config's first IPv4 DNS server, which is ProtonVPN's gateway, 10.2.0.1)."`
}

func (f peerFlags) options(log *slog.Logger, dataDir, downloadDir string, seed bool) client.Options {
	o := client.Options{
		DataDir:         dataDir,
		DownloadDir:     downloadDir,
		ListenPort:      f.ListenPort,
		NoListen:        f.PortForward == "natpmp", // until the VPN forwards a port
		DHT:             f.DHT,
		Seed:            seed,
		MaxDownloadRate: int64(f.MaxDownloadRate),
		MaxUploadRate:   int64(f.MaxUploadRate),
		Encryption:      client.Encryption(f.Encryption),
		Suspicious:      client.SuspectPolicy(f.Suspicious),
		Logger:          log,
	}
	if f.DHT {
		o.DHTBootstrap = f.DHTBootstrap
	}
	return o
}

// engineFlags are those of the interactive and headless commands.
type engineFlags struct {
	peerFlags
	Out  string `help:"Directory for downloaded data." default:"." type:"path"`
	Data string `help:"Directory for wgtorrent's state. The TUI keeps its library of torrents there and resumes all of them; a download given torrents resumes and announces only those, and without --data keeps them apart in DATA/oneshot/<torrents>." default:"${data_dir}" type:"path"`
	Seed bool   `help:"Keep seeding once complete (until --seed-ratio or --seed-time, or Ctrl-C)."`

	// restoreOnly: the torrents a one-shot download was given.
	restoreOnly []client.TorrentID `kong:"-"`
}

func (f engineFlags) options(log *slog.Logger) client.Options {
	o := f.peerFlags.options(log, f.Data, f.Out, f.Seed)
	o.RestoreOnly = f.restoreOnly
	return o
}

// oneShotState points a download given sources at state of its own: it
// resumes and announces only those torrents (issue 18: a user downloading
// one file announced, through the tunnel, every torrent saved by the TUI).
// Without --data the state goes to DATA/oneshot/<digest of the torrents>,
// so the same download run again resumes, and the TUI's library (and its
// lock, held while the TUI runs) is left alone.
func (f *engineFlags) oneShotState(sources []client.Source) error {
	for _, s := range sources {
		id := s.ID()
		if !slices.Contains(f.restoreOnly, id) {
			f.restoreOnly = append(f.restoreOnly, id)
		}
	}
	if f.Data == defaultDataDir() {
		ids := slices.Clone(f.restoreOnly)
		slices.Sort(ids)
		h := sha256.New()
		for _, id := range ids {
			h.Write([]byte(id))
		}
		f.Data = filepath.Join(f.Data, "oneshot", hex.EncodeToString(h.Sum(nil))[:16])
	}
	return nil
}

// parseSources parses what the user gave and reads the .torrent files, so
// a typo fails before anything starts and each file is read once.
func parseSources(args []string) ([]client.Source, error) {
	var out []client.Source
	for _, a := range args {
		src, err := client.ParseSource(a)
		if err == nil {
			src, err = src.Load()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, src)
	}
	return out, nil
}

// rate is a byte rate given with or without units.
type rate int64

func (r *rate) UnmarshalText(b []byte) error {
	n, err := humanize.ParseBytes(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a rate in bytes/s (examples: 0, 800k, 5MiB)", b)
	}
	*r = rate(n)
	return nil
}

type downloadCmd struct {
	tunnelFlags
	engineFlags
	Magnet     []string         `help:"Magnet link to download (repeatable)."`
	Torrent    []string         `help:".torrent file to download (repeatable)." type:"path"`
	Sources    []string         `arg:"" optional:"" help:"More magnet links, .torrent files or info hashes."`
	Peer       []netip.AddrPort `help:"Peer to contact directly (ip:port, repeatable), besides trackers and the DHT."`
	Sequential bool             `help:"Download pieces in order (for previewing media)."`
	SeedRatio  float64          `help:"With --seed: stop once every torrent reached this upload ratio."`
	SeedTime   time.Duration    `help:"With --seed: stop after seeding this long."`
	JSON       bool             `help:"Report progress as one JSON object a line (default when not on a terminal)."`
	LogFile    string           `help:"Where the log goes while the TUI owns the terminal (default: DATA/wgtorrent.log)." type:"path"`
}

// isolation: on a host a download gets a namespace of its own.
func (c *downloadCmd) isolation() session.Isolation { return c.resolve(session.IsolationNamespace) }

func (c *downloadCmd) Run(ctx context.Context, log *slog.Logger, ls logSettings) error {
	args := append(append(append([]string{}, c.Magnet...), c.Torrent...), c.Sources...)
	// Nothing to download on a terminal: the interactive TUI.
	if len(args) == 0 && !c.JSON && isatty.IsTerminal(os.Stdout.Fd()) {
		return runTUI(ctx, ls, c.tunnelFlags, c.engineFlags, nil, c.LogFile, false)
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: nothing to download: give --magnet URI, --torrent FILE or an info hash", headless.ErrInput)
	}
	// Refuse bad input before anything touches the network.
	sources, err := parseSources(args)
	if err != nil {
		return fmt.Errorf("%w: %w", headless.ErrInput, err)
	}
	if err := client.CheckWritableDir(c.Out); err != nil {
		return fmt.Errorf("%w: --out: %w", headless.ErrInput, err)
	}
	if err := c.oneShotState(sources); err != nil {
		return fmt.Errorf("%w: %w", headless.ErrInput, err)
	}
	return withEngine(ctx, log, c.tunnelFlags, c.engineFlags, func(ctx context.Context, s *session.Session, eng *client.Restartable) error {
		return headless.Run(ctx, eng, s.Tunnel, headless.Options{
			Sources:         sources,
			Add:             client.AddOptions{Sequential: c.Sequential, Peers: c.Peer},
			Seed:            c.Seed,
			SeedRatio:       c.SeedRatio,
			SeedTime:        c.SeedTime,
			JSON:            c.JSON,
			Terminal:        isatty.IsTerminal(os.Stdout.Fd()),
			KillSwitch:      s.KillSwitchState(),
			KillSwitchState: s.KillSwitchState,
			PortForward:     s.PortForward,
			Suspicious:      client.SuspectPolicy(c.Suspicious),
			Out:             os.Stdout,
		})
	})
}

// withEngine brings up the kill switch, the tunnel and the engine in that
// order, runs fn, and tears down in reverse.
func withEngine(ctx context.Context, log *slog.Logger, tf tunnelFlags, ef engineFlags, fn func(context.Context, *session.Session, *client.Restartable) error) error {
	so, err := tf.options(log)
	if err != nil {
		return err
	}
	so.StateDir = ef.Data
	s, err := session.Start(ctx, so)
	if err != nil {
		return err
	}
	defer s.Close()
	// The session closes the engine and flushes the tunnel before teardown.
	eng, err := s.StartEngine(ctx, ef.options(log))
	if err != nil {
		return err
	}
	if ef.PortForward == "natpmp" {
		if err := s.StartPortForward(ef.PortForwardGateway); err != nil {
			return err
		}
	}
	err = fn(ctx, s, eng)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil // Ctrl-C or SIGTERM: a normal stop
	}
	return err
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "wgtorrent")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "wgtorrent")
	}
	return "/var/lib/wgtorrent"
}
