package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/session"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// tunnelFlags are shared by every command that brings the tunnel up.
type tunnelFlags struct {
	Config           []string       `help:"WireGuard config file (wg-quick format) from your VPN provider; repeat it, or give a directory of .conf files, for failover between servers (in the order given, directories in name order)." type:"path" required:""`
	FailoverAfter    time.Duration  `help:"With several configs: move to the next server when the tunnel has been unhealthy this long (it calls a silent server stale after ~15 s)." default:"15s"`
	ResolveEvery     time.Duration  `help:"Look endpoint host names up again this often, through the tunnel, and follow a server whose address changed." default:"5m"`
	Interface        string         `help:"Name of the tunnel interface." default:"wgt0"`
	KillSwitch       string         `name:"killswitch" help:"Kill switch: on (removed at exit), persist (stays after exit), off." enum:"on,persist,off" default:"on"`
	LAN              []netip.Prefix `name:"lan" help:"LAN ranges allowed outside the tunnel (CIDR, comma separated)." sep:","`
	HandshakeTimeout time.Duration  `help:"Give up when the server does not answer within this time." default:"15s"`
	Isolation        string         `help:"namespace: the tunnel and the engine in a private network namespace whose only way out is the tunnel; the host's routes, rules and firewall are not touched (other programs and SSH sessions carry on), and no root is needed. host: route this whole network namespace through the tunnel behind a kill switch (wg-quick's way; for containers, where the container is the namespace). auto: namespace for downloads and the TUI, host for the daemon and the tunnel command." enum:"auto,host,namespace" default:"auto"`
}

// resolve turns --isolation auto into the command's default, in place, so
// that every later reader (options, the status lines) sees the mode in force.
func (f *tunnelFlags) resolve(auto session.Isolation) session.Isolation {
	if f.Isolation == "" || f.Isolation == "auto" {
		f.Isolation = string(auto)
	}
	return session.Isolation(f.Isolation)
}

func (f tunnelFlags) options(log *slog.Logger, inboundPorts ...uint16) (session.Options, error) {
	paths, err := vpn.ConfigFiles(f.Config)
	if err != nil {
		return session.Options{}, fmt.Errorf("%w: %w", session.ErrConfig, err)
	}
	return session.Options{
		ConfigPaths:      paths,
		FailoverAfter:    f.FailoverAfter,
		ResolveEvery:     f.ResolveEvery,
		Interface:        f.Interface,
		KillSwitch:       killswitch.Mode(f.KillSwitch),
		AllowLAN:         f.LAN,
		LANInboundPorts:  inboundPorts,
		HandshakeTimeout: f.HandshakeTimeout,
		Isolation:        session.Isolation(f.Isolation),
		Logger:           log,
	}, nil
}

type tunnelCmd struct {
	tunnelFlags
	JSON bool   `help:"Print one JSON object a line instead of text."`
	Data string `help:"Directory for wgtorrent's state (the endpoint addresses last resolved)." default:"${data_dir}" type:"path"`
}

// tunnelLine is the --json status record. KillSwitch is measured in the
// kernel (armed, broken, unknown, off); the restore counts say how often the
// kill switch and the routing were found missing or changed and put back.
type tunnelLine struct {
	vpn.Status
	KillSwitch         killswitch.State `json:"killswitch"`
	Routing            string           `json:"routing"`
	KillSwitchRestores uint64           `json:"killswitch_restores"`
	RoutingRestores    uint64           `json:"routing_restores"`
}

// isolation: the tunnel command shows what a daemon or container would
// get, so host unless asked.
func (c *tunnelCmd) isolation() session.Isolation { return c.resolve(session.IsolationHost) }

func (c *tunnelCmd) Run(ctx context.Context, log *slog.Logger) error {
	so, err := c.options(log)
	if err != nil {
		return err
	}
	so.StateDir = c.Data
	s, err := session.Start(ctx, so)
	if err != nil {
		return err
	}
	defer s.Close()
	enc := json.NewEncoder(os.Stdout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		st := s.Tunnel.Status()
		ks, rt := s.Restores()
		routing := "ok"
		if !s.RoutingIntact() {
			routing = "broken"
		}
		if c.JSON {
			if err := enc.Encode(tunnelLine{st, s.KillSwitchState(), routing, ks, rt}); err != nil {
				return fmt.Errorf("write status: %w", err)
			}
		} else if _, err := fmt.Printf("%-10s %s endpoint %s (%s, %d moves) handshake %s rx %d tx %d killswitch %s\n",
			st.State, st.Interface, st.Endpoint, st.Server, st.Moves, handshakeAge(st), st.RxBytes, st.TxBytes, s.KillSwitchState()); err != nil {
			return fmt.Errorf("write status: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func handshakeAge(st vpn.Status) string {
	if st.LastHandshake.IsZero() {
		return "never"
	}
	return time.Since(st.LastHandshake).Round(time.Second).String() + " ago"
}
