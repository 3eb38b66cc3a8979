// Package demo shows wgtorrent at work in a private lab built from network
// namespaces: a WireGuard server (the same wireguard-go library, so nothing
// but this binary is needed), a peer host out on the "internet", and the
// client, which runs this very binary. It never touches the host's own
// network and removes everything it built, also on Ctrl-C.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// Run builds the lab, seeds a generated torrent from the peer host, runs
// `self` as the client and narrates what happens. self is the path of the
// wgtorrent binary.
func Run(ctx context.Context, out io.Writer, self string) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	say("== wgtorrent demo: building a private internet in network namespaces")
	lab, err := netlab.New(ctx, netlab.Options{})
	if err != nil {
		return fmt.Errorf("demo: build lab: %w", err)
	}
	defer func() {
		lab.Close()
		say("== lab removed: no namespace, interface, route or rule is left behind")
	}()
	say("   client %s, VPN server %s, peer host %s (namespaces wgt-%s-*)", lab.Client.Addr4, lab.VPN.Addr4, lab.Peer.Addr4, lab.ID)

	srv, err := lab.StartBuiltinWGServer(ctx)
	if err != nil {
		return fmt.Errorf("demo: start WireGuard server: %w", err)
	}
	dir, err := os.MkdirTemp("", "wgtorrent-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "wg-demo.conf")
	if err := os.WriteFile(conf, []byte(srv.ClientConfig()), 0o600); err != nil {
		return err
	}
	say("== WireGuard server listening on %s; the client's config is %s", srv.Endpoint(), conf)

	sw, err := startSwarm(ctx, lab, dir, self, out)
	if err != nil {
		return err
	}
	defer sw.close()
	say("== peer host: tracker %s and a seeder for %q (%d MiB in %d files)", sw.announce, sw.name, sw.size>>20, sw.files)

	const whoamiPort = 8080
	stopWho, err := lab.Peer.ServeWhoAmI(whoamiPort)
	if err != nil {
		return err
	}
	defer stopWho()

	say("== client: wgtorrent makes a private network namespace, arms the kill switch there, brings up the tunnel, then starts the engine in it")
	got := filepath.Join(dir, "client-downloads")
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := lab.Client.Command(tctx, self, "--config", conf, "--torrent", sw.torrent, "--out", got,
		"--data", filepath.Join(dir, "client-state"), "--json", "--no-dht", "--max-download-rate", "6MiB")
	cmd.Stderr = prefixWriter(out, "   [wgtorrent] ")
	client, err := netlab.StartProc(cmd, parseStatus)
	if err != nil {
		return fmt.Errorf("demo: client: %w", err)
	}
	next := 0 // the first status line not yet shown
	progress := func(what string, until func(status) bool, timeout time.Duration) error {
		m, err := client.WaitLine(ctx, next, timeout, what, func(s status) bool {
			say("   %5.1f%%  %8s/s  peers %d  tunnel %-6s kill switch %s", s.percent(), humanize.IBytes(uint64(s.DownloadRate)), s.Peers, s.TunnelState, s.KillSwitch)
			return until(s)
		})
		if err != nil {
			return fmt.Errorf("demo: client: %w", err)
		}
		next = m.Index + 1
		return nil
	}

	if err := progress("20% downloaded", func(s status) bool { return s.percent() >= 20 }, 60*time.Second); err != nil {
		return err
	}
	// The engine lives in a private network namespace (the default
	// isolation): probe from there, where its traffic starts.
	inner, release, err := lab.Client.PrivateNetNS(client.Cmd.Process.Pid)
	if err != nil {
		return fmt.Errorf("demo: the client's private namespace: %w", err)
	}
	defer release()
	peerAddr := net.JoinHostPort(lab.Peer.Addr4.String(), fmt.Sprint(whoamiPort))
	seen, err := inner.WhoAmI(ctx, "tcp", peerAddr)
	if err != nil {
		return fmt.Errorf("demo: reach the peer through the tunnel: %w", err)
	}
	if h, _, _ := net.SplitHostPort(seen); h != lab.VPN.Addr4.String() {
		return fmt.Errorf("demo: the peer saw the engine's namespace as %s, not as the VPN server %s", seen, lab.VPN.Addr4)
	}
	say("== the peer host sees wgtorrent's engine as %s: the VPN server (%s), not the client (%s)", seen, lab.VPN.Addr4, lab.Client.Addr4)
	if direct, err := lab.Client.WhoAmI(ctx, "tcp", peerAddr); err == nil {
		say("   the client host's own programs are untouched: they still reach the peer directly (seen as %s)", direct)
	}
	say("   the tracker has seen announces from: %s", sw.announcers())

	say("== stopping the VPN server mid-download: transfers stall, the kill switch holds")
	if err := srv.Stop(); err != nil {
		return err
	}
	if err := progress("the tunnel stale or down", func(s status) bool { return s.TunnelState == "stale" || s.TunnelState == "down" }, 60*time.Second); err != nil {
		return err
	}
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = inner.WhoAmI(dctx, "tcp", peerAddr)
	dcancel()
	if err == nil {
		return errors.New("demo: the peer was reachable from the engine's namespace with the VPN server stopped")
	}
	say("   a connection attempt from the engine's namespace now fails (%v): its only way out is the tunnel", shortErr(err))

	say("== starting the VPN server again: the tunnel and the download resume by themselves")
	if err := srv.Start(); err != nil {
		return err
	}
	if err := progress("the download complete", func(s status) bool { return s.BytesCompleted >= s.Length && s.Length > 0 }, 120*time.Second); err != nil {
		return err
	}
	// Complete, the client exits by itself.
	if _, err := client.Wait(ctx, time.Minute); err != nil {
		return fmt.Errorf("demo: client: %w", err)
	}
	if err := client.Err(); err != nil {
		return fmt.Errorf("demo: client: %w", err)
	}
	if err := netlab.SameTree(sw.content, filepath.Join(got, sw.name)); err != nil {
		return fmt.Errorf("demo: downloaded data differs: %w", err)
	}
	say("== download complete and verified: every file is identical to the seeder's")
	say("   the tracker saw announces from: %s (never the client's %s)", sw.announcers(), lab.Client.Addr4)
	say("== client exited: its namespace, with the tunnel and the kill switch, is gone")
	return nil
}

func shortErr(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return err.Error()
}

type status struct {
	BytesCompleted int64  `json:"bytes_completed"`
	BytesUnchecked int64  `json:"bytes_unchecked"`
	Length         int64  `json:"length"`
	DownloadRate   int64  `json:"download_rate"`
	Peers          int    `json:"peers"`
	TunnelState    string `json:"tunnel_state"`
	KillSwitch     string `json:"killswitch"`
}

func (s status) percent() float64 {
	if s.Length == 0 {
		return 0
	}
	return 100 * float64(s.BytesCompleted+s.BytesUnchecked) / float64(s.Length)
}

// parseStatus keeps the client's JSON status lines.
func parseStatus(line string) (status, bool) {
	var s status
	return s, json.Unmarshal([]byte(line), &s) == nil
}

type linePrefixer struct {
	w       io.Writer
	prefix  string
	midLine bool
}

func prefixWriter(w io.Writer, prefix string) io.Writer { return &linePrefixer{w: w, prefix: prefix} }

func (p *linePrefixer) Write(b []byte) (int, error) {
	for _, c := range b {
		if !p.midLine {
			io.WriteString(p.w, p.prefix)
		}
		p.w.Write([]byte{c})
		p.midLine = c != '\n'
	}
	return len(b), nil
}
