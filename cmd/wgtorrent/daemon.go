package main

import (
	"strings"
	"time"

	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/alecthomas/kong"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/daemon"
	"github.com/wgtorrent/wgtorrent/internal/rpc"
	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/killswitch"
)

// daemonCmd is the seedbox service. Its flags also come from
// WGTORRENT_<FLAG> and from an optional JSON config file (--config-file),
// in that order of precedence after the command line.
type daemonCmd struct {
	tunnelFlags
	peerFlags
	Data        string          `help:"State directory: torrents, resume data, RPC state." required:"" type:"path"`
	Out         string          `help:"Download directory (default DATA/downloads)." type:"path"`
	RPCListen   string          `name:"rpc-listen" help:"Address of the Transmission RPC, /healthz and /metrics." default:"127.0.0.1:9091"`
	RPCUsername string          `name:"rpc-username" help:"Basic-auth user for the RPC (required to listen beyond loopback)."`
	RPCPassword string          `name:"rpc-password" help:"Basic-auth password for the RPC."`
	RPCHosts    []string        `name:"rpc-host" help:"Extra host names the RPC answers to (DNS-rebinding guard)." sep:","`
	LANPorts    []uint16        `name:"lan-port" help:"Extra TCP ports hosts in --lan ranges may connect to, e.g. the web UI of a container sharing this network namespace (the RPC port always is)." sep:","`
	Watch       string          `help:"Watch folder: .torrent files dropped here are added." type:"path"`
	ConfigFile  kong.ConfigFlag `name:"config-file" help:"JSON file of flag values (keys are flag names); flags and WGTORRENT_* win over it."`
	PrintConfig bool            `help:"Print the resulting configuration (secrets hidden) and exit."`
}

func (c *daemonCmd) Run(ctx context.Context, log *slog.Logger, k *kong.Context) error {
	if c.Out == "" {
		c.Out = filepath.Join(c.Data, "downloads")
	}
	if c.PrintConfig {
		return printConfig(k, c.Out)
	}
	_, portStr, err := net.SplitHostPort(c.RPCListen)
	if err != nil {
		return fmt.Errorf("%w: --rpc-listen %q: %w", errInput, c.RPCListen, err)
	}
	port, _ := strconv.Atoi(portStr)
	if err := rpc.CheckListenAddr(c.RPCListen, c.RPCUsername != "" || c.RPCPassword != "", c.LAN); err != nil {
		return fmt.Errorf("%w: %w", errInput, err)
	}
	for _, d := range []string{c.Data, c.Out} {
		if err := client.CheckWritableDir(d); err != nil {
			return fmt.Errorf("%w: %w", errInput, err)
		}
	}

	so := c.tunnelFlags.options(log, append([]uint16{uint16(port)}, c.LANPorts...)...)
	so.StateDir = c.Data
	s, err := session.Start(ctx, so)
	if err != nil {
		return err
	}
	defer s.Close()
	// The session closes the engine and flushes the tunnel before teardown.
	eng, err := s.StartEngine(ctx, c.peerFlags.options(log, c.Data, c.Out, true))
	if err != nil {
		return err
	}

	fw := killswitch.Firewall{}
	health := daemon.Health{
		Tunnel: s.Tunnel.Status,
		// Measured in the kernel by the session's guard, not assumed.
		KillSwitch: s.KillSwitchArmed,
	}
	return daemon.Run(ctx, eng, health, daemon.Options{
		Listen:   c.RPCListen,
		WatchDir: c.Watch,
		Logger:   log,
		RPC: rpc.Options{
			DataDir:      filepath.Join(c.Data, "rpc"),
			DownloadDir:  c.Out,
			Username:     c.RPCUsername,
			Password:     c.RPCPassword,
			AllowedHosts: c.RPCHosts,
			Version:      version,
			ConfigDir:    c.Data,
			PeerPort:     eng.ListenPort(),
			Encryption:   client.Encryption(c.Encryption),
			Tunnel:       s.Tunnel.Status,
			KillSwitchDrops: func() uint64 {
				st, err := fw.Status()
				if err != nil {
					return 0
				}
				return st.RejectedOut + st.DroppedIn
			},
			KillSwitch: func() (string, uint64, uint64) {
				ks, rt := s.Restores()
				return s.KillSwitchState(), ks, rt
			},
			Logger: log,
		},
	})
}

// printConfig shows the effective configuration as a JSON config file
// would hold it; secrets are hidden.
func printConfig(k *kong.Context, out string) error {
	cfg := map[string]any{}
	for _, f := range k.Flags() {
		switch f.Name {
		case "help", "print-config", "config-file":
			continue
		}
		v := f.Value.Target.Interface()
		if d, ok := v.(time.Duration); ok {
			v = d.String()
		}
		if strings.Contains(f.Name, "password") && v != "" {
			v = "(hidden)"
		}
		cfg[f.Name] = v
	}
	cfg["out"] = out
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(cfg)
}
