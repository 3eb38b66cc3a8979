//go:build linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// iperfAll measures one TCP flow client → peer host on each path, the
// paths interleaved round by round.
func (e *env) iperfAll(ctx context.Context) ([]IperfRun, error) {
	srv := e.lab.Peer.Command(context.Background(), "iperf3", "-s", "--forceflush", "-p", fmt.Sprint(iperfPort))
	sp, err := startProc(srv)
	if err != nil {
		return nil, err
	}
	defer sp.Stop(syscall.SIGTERM, 5*time.Second)
	if _, err := sp.WaitLine(ctx, 0, 10*time.Second, "iperf3 server listening", func(l string) bool {
		return strings.Contains(l, "listening")
	}); err != nil {
		return nil, err
	}
	paths := []string{PathDirect, PathWgtorrent, PathDebianWG}
	var runs []IperfRun
	for round := range e.opt.Runs {
		for i := range paths {
			path := paths[(i+round)%len(paths)]
			r := IperfRun{Path: path, Round: round + 1}
			gbps, err := e.iperfOnce(ctx, path)
			if err != nil {
				if ctx.Err() != nil {
					return runs, ctx.Err()
				}
				r.Error = err.Error()
			}
			r.Gbps = gbps
			e.opt.Logf("iperf3 %-28s round %d: %.2f Gbit/s %s", path, round+1, gbps, r.Error)
			runs = append(runs, r)
		}
	}
	return runs, nil
}

func (e *env) iperfOnce(ctx context.Context, path string) (float64, error) {
	switch path {
	case PathWgtorrent:
		th, err := e.startTunnel(ctx)
		if err != nil {
			return 0, err
		}
		defer th.close()
	case PathDebianWG:
		stop, err := e.startDebianClient(ctx)
		if err != nil {
			return 0, err
		}
		defer stop()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(e.opt.IperfSeconds+30)*time.Second)
	defer cancel()
	for {
		out, err := e.lab.Client.Command(ctx, "iperf3", "-c", e.lab.Peer.Addr4.String(), "-p", fmt.Sprint(iperfPort),
			"-t", fmt.Sprint(e.opt.IperfSeconds), "-O", "1", "-J").Output()
		var r struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		jerr := json.Unmarshal(out, &r)
		// The server may still be closing the previous test (slow over a
		// delayed path): try again shortly.
		if strings.Contains(r.Error, "server is busy") && ctx.Err() == nil {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if jerr != nil || r.Error != "" || err != nil {
			return 0, fmt.Errorf("iperf3 over %s: %v %v %s", path, err, jerr, r.Error)
		}
		return r.End.SumReceived.BitsPerSecond / 1e9, nil
	}
}

// startDebianClient runs Debian's wireguard-go in the client namespace with
// the same key as wgtorrent's config, and routes only the peer host through
// it (the endpoint stays on the uplink), as netlab's tests configure it.
func (e *env) startDebianClient(ctx context.Context) (stop func(), err error) {
	kv := parseWGConfig(e.srv.ClientConfig())
	ifname := "wgbc-" + e.lab.ID // Debian's UAPI socket path is global: unique name
	sock := filepath.Join("/var/run/wireguard", ifname+".sock")
	cmd := e.lab.Client.Command(context.Background(), "wireguard-go", "-f", ifname)
	cmd.Env = append(os.Environ(), "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1", "LOG_LEVEL=error")
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	stop = func() {
		p.Stop(syscall.SIGTERM, 5*time.Second) // it removes its interface and socket
		_ = os.Remove(sock)
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	if err := pollUntil(ctx, 20*time.Millisecond, func() (bool, error) {
		select {
		case <-p.Exited():
			return false, fmt.Errorf("bench: wireguard-go exited: %v: %s", p.Err(), p.Stderr())
		default:
		}
		_, err := os.Stat(sock)
		return err == nil, nil
	}); err != nil {
		return nil, err
	}
	keyFile := filepath.Join(e.dir, "debian-client.key")
	if err := os.WriteFile(keyFile, []byte(kv["PrivateKey"]+"\n"), 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(keyFile)
	out, err := e.lab.Client.Command(ctx, "wg", "set", ifname, "private-key", keyFile,
		"peer", kv["PublicKey"], "endpoint", kv["Endpoint"], "allowed-ips", "0.0.0.0/0",
		"persistent-keepalive", "25").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("bench: wg set %s: %w: %s", ifname, err, out)
	}
	nl := e.lab.Client.Netlink()
	link, err := nl.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: %w", ifname, err)
	}
	addr := netip.PrefixFrom(netlab.TunnelClient4, 32)
	if err := nl.AddrAdd(link, &netlink.Addr{IPNet: &net.IPNet{IP: addr.Addr().AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
		return nil, fmt.Errorf("bench: address on %s: %w", ifname, err)
	}
	if err := nl.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bench: up %s: %w", ifname, err)
	}
	peer := &net.IPNet{IP: e.lab.Peer.Addr4.AsSlice(), Mask: net.CIDRMask(32, 32)}
	if err := nl.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: peer}); err != nil {
		return nil, fmt.Errorf("bench: route to the peer via %s: %w", ifname, err)
	}
	return stop, nil
}

// parseWGConfig returns the keys of a wg-quick config (last one wins).
func parseWGConfig(conf string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(conf))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return kv
}
