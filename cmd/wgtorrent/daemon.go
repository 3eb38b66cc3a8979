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
	"github.com/wgtorrent/wgtorrent/internal/rpc"
	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/internal/worker"
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
	RPCPaths    []string        `name:"rpc-allowed-path" help:"Extra folders RPC clients may name as download-dir, move target or .torrent path (--out and --watch always are)." sep:"," type:"path"`
	WebUI       string          `name:"web-ui" help:"Folder of a Transmission web client to serve at /transmission/web/ (Debian's transmission-common installs one in /usr/share/transmission/web)." type:"existingdir"`
	ConfigFile  kong.ConfigFlag `name:"config-file" help:"JSON file of flag values (keys are flag names); flags and WGTORRENT_* win over it."`
	User        string          `help:"Run the engine and the RPC as this user (name or uid); default: the owner of --data. Only the tunnel and the kill switch keep the privileges they need."`
	PrintConfig bool            `help:"Print the resulting configuration (secrets hidden) and exit."`
}

// isolation: a seedbox daemon runs in a container or as a service, host
// mode (see the README).
func (c *daemonCmd) isolation() session.Isolation { return c.resolve(session.IsolationHost) }

func (c *daemonCmd) Run(ctx context.Context, log *slog.Logger, k *kong.Context, ls logSettings) error {
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
	u, err := c.prepareDirs()
	if err != nil {
		return err
	}

	so, err := c.tunnelFlags.options(log, append([]uint16{uint16(port)}, c.LANPorts...)...)
	if err != nil {
		return err
	}
	so.StateDir = c.Data
	s, err := session.Start(ctx, so)
	if err != nil {
		return err
	}
	defer s.Close()
	b := s.Binding()
	return runWorker(ctx, log, ls, s, u, worker.Config{
		Interface:          b.Interface,
		IPv4:               b.IPv4,
		IPv6:               b.IPv6,
		DNS:                b.DNS,
		DataDir:            c.Data,
		DownloadDir:        c.Out,
		ListenPort:         c.ListenPort,
		DHT:                c.DHT,
		DHTBootstrap:       c.peerFlags.options(log, "", "", true).DHTBootstrap,
		Encryption:         c.Encryption,
		Suspicious:         c.Suspicious,
		MaxDownloadRate:    int64(c.MaxDownloadRate),
		MaxUploadRate:      int64(c.MaxUploadRate),
		RPCListen:          c.RPCListen,
		WatchDir:           c.Watch,
		RPCUsername:        c.RPCUsername,
		RPCPassword:        c.RPCPassword,
		RPCHosts:           c.RPCHosts,
		RPCPaths:           c.RPCPaths,
		WebUI:              c.WebUI,
		PortForward:        c.PortForward == "natpmp",
		PortForwardGateway: c.PortForwardGateway,
		Version:            version,
		ConfigDir:          c.Data,
	})
}

// prepareDirs makes --data, --out and --watch if missing, owned by the
// user the engine will run as, and says who that is.
func (c *daemonCmd) prepareDirs() (worker.User, error) {
	var made []string
	for _, d := range []string{c.Data, c.Out, c.Watch} {
		if d == "" {
			continue
		}
		if _, err := os.Stat(d); os.IsNotExist(err) {
			made = append(made, d)
		}
		if err := client.CheckWritableDir(d); err != nil {
			return worker.User{}, fmt.Errorf("%w: %w", errInput, err)
		}
	}
	u, err := c.workerUser()
	if err != nil {
		return u, err
	}
	for _, d := range made {
		if err := os.Chown(d, int(u.UID), int(u.GID)); err != nil {
			return u, fmt.Errorf("%w: give %s to uid %d: %w", errInput, d, u.UID, err)
		}
	}
	return u, nil
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
