package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/alecthomas/kong"
)

// healthCmd asks a running daemon's /healthz, for container health checks:
// the image then needs no wget or curl. It reads the daemon's own
// --rpc-listen (flag, WGTORRENT_RPC_LISTEN or --config-file).
type healthCmd struct {
	ConfigFile kong.ConfigFlag `name:"config-file" help:"The daemon's JSON config file, to find its --rpc-listen."`
	RPCListen  string          `name:"rpc-listen" help:"The daemon's RPC address (a wildcard means this host)." default:"127.0.0.1:9091"`
	Timeout    time.Duration   `help:"Give up after this long." default:"4s"`
}

func (c healthCmd) Run(ctx context.Context) error {
	host, port, err := net.SplitHostPort(c.RPCListen)
	if err != nil {
		return fmt.Errorf("%w: --rpc-listen %q: %w", errInput, c.RPCListen, err)
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "127.0.0.1"
		if err == nil && a.Is6() {
			host = "::1"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("health: no answer from the daemon at %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	reason := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: unhealthy (HTTP %d): %s", resp.StatusCode, reason)
	}
	fmt.Println(reason)
	return nil
}
