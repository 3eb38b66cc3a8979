// Package demo shows wgtorrent at work in a private lab built from network
// namespaces: a WireGuard server (the same wireguard-go library, so nothing
// but this binary is needed), a peer host out on the "internet", and the
// client, which runs this very binary. It never touches the host's own
// network and removes everything it built, also on Ctrl-C.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/netlab"
)

// Run builds the lab, runs `self tunnel` in the client namespace and narrates
// what happens. self is the path of the wgtorrent binary.
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
	say("   client %s, VPN server %s, peer host %s (namespaces %s...)",
		lab.Client.Addr4, lab.VPN.Addr4, lab.Peer.Addr4, "wgt-"+lab.ID)

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
	say("== WireGuard server listening on %s; client config written to %s", srv.Endpoint(), conf)

	const whoamiPort = 8080
	stopWho, err := lab.Peer.ServeWhoAmI(whoamiPort)
	if err != nil {
		return err
	}
	defer stopWho()

	say("== starting `wgtorrent tunnel` on the client: kill switch first, then the tunnel")
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := lab.Client.Command(tctx, self, "tunnel", "--config", conf, "--json")
	cmd.Stderr = prefixWriter(out, "   [wgtorrent] ")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("demo: start client: %w", err)
	}
	states := make(chan status, 16)
	go readStatus(stdout, states)

	if _, err := waitState(ctx, states, "up", 20*time.Second); err != nil {
		return err
	}
	peerAddr := net.JoinHostPort(lab.Peer.Addr4.String(), fmt.Sprint(whoamiPort))
	seen, err := lab.Client.WhoAmI(ctx, "tcp", peerAddr)
	if err != nil {
		return fmt.Errorf("demo: reach the peer through the tunnel: %w", err)
	}
	say("== the peer host saw the connection come from %s: the VPN server (%s), not the client (%s)", seen, lab.VPN.Addr4, lab.Client.Addr4)

	say("== stopping the VPN server: the tunnel goes quiet, the kill switch holds")
	if err := srv.Stop(); err != nil {
		return err
	}
	dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = lab.Client.WhoAmI(dctx, "tcp", peerAddr)
	dcancel()
	if err == nil {
		return errors.New("demo: the peer was reachable with the VPN server stopped")
	}
	say("   connection attempt while the server is down: %v (nothing left the client outside the tunnel)", err)

	say("== starting the VPN server again: the tunnel recovers by itself")
	if err := srv.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		seen, err = lab.Client.WhoAmI(rctx, "tcp", peerAddr)
		rcancel()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("demo: tunnel did not recover: %w", err)
	}
	say("   the peer sees %s again", seen)

	cancel()
	_ = cmd.Wait()
	say("== client stopped: tunnel and kill switch removed")
	return nil
}

type status struct {
	State   string `json:"state"`
	RxBytes uint64 `json:"rx_bytes"`
	TxBytes uint64 `json:"tx_bytes"`
}

func readStatus(r io.Reader, ch chan<- status) {
	defer close(ch)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var s status
		if json.Unmarshal(sc.Bytes(), &s) == nil {
			select {
			case ch <- s:
			default: // the reader only needs the latest states
			}
		}
	}
}

func waitState(ctx context.Context, ch <-chan status, want string, timeout time.Duration) (status, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case s, ok := <-ch:
			if !ok {
				return status{}, errors.New("demo: the client exited (see its log above)")
			}
			if s.State == want {
				return s, nil
			}
		case <-t.C:
			return status{}, fmt.Errorf("demo: tunnel not %s within %s", want, timeout)
		case <-ctx.Done():
			return status{}, ctx.Err()
		}
	}
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
