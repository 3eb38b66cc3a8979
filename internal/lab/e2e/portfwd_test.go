//go:build linux

package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// TestPortForwardNATPMP: the VPN host forwards a port with NAT-PMP
// (Debian's miniupnpd, as ProtonVPN's P2P servers do); wgtorrent, seeding
// with --port-forward natpmp, listens on the port granted and announces
// it. A transmission-daemon leecher that nobody can dial (the ISP drops
// connections to its port) downloads everything by connecting in, to the
// VPN's address and that port. The gateway then forwards another port:
// wgtorrent follows at its next renewal, and the leecher, starting over,
// connects again. Nothing leaks.
func TestPortForwardNATPMP(t *testing.T) {
	needPrograms(t, "miniupnpd")
	s := newSwarm(t, false)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	gwDir := filepath.Join(t.TempDir(), "miniupnpd")
	gw, err := s.lab.StartNATPMP(context.Background(), gwDir, s.srv.Interface(), 40000, 40000)
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("miniupnpd:\n%s", gw.Log)
		}
		gw.Stop()
	})

	out, data := t.TempDir(), t.TempDir()
	s.tor.copyTo(t, out)
	// miniupnpd looks for a free allowed port upwards from the one asked
	// for, one log line a port: from a random port the answer comes too
	// late. A gateway such as ProtonVPN's picks one at once.
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--torrent", s.tor.File, "--seed", "--port-forward", "natpmp", "--listen-port", "40000")...)
	forwarded := func(port int) func(map[string]any) bool {
		return func(m map[string]any) bool {
			pf, _ := m["port_forward"].(map[string]any)
			return pf["phase"] == "mapped" && pf["port"] == float64(port)
		}
	}
	p.waitLine(30*time.Second, "port 40000 forwarded", forwarded(40000))

	leech := startLeecher(t, s)
	leech.download(t, s, "through the forwarded port 40000")

	// The gateway restarts and forwards another port.
	gw.Stop()
	gw, err = s.lab.StartNATPMP(context.Background(), gwDir, s.srv.Interface(), 40001, 40001)
	must(t, err)
	from := p.Len()
	start := time.Now()
	_, _ = waitLineSince(p, from, 70*time.Second, "port 40001 forwarded", forwarded(40001))
	t.Logf("following the gateway's new port took %s (renewals every 45 s)", time.Since(start).Round(100*time.Millisecond))
	leech.again(t, s)
	leech.download(t, s, "through the new forwarded port 40001")

	p.Signal(syscall.SIGINT)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0", code)
	}
	capt.assertNoLeaks(t, "port forwarding")
}

// leecher is a transmission-daemon on the peer host whose peer port the
// ISP closes: it only gets data over connections it opens.
type leecher struct {
	tm  *netlab.Transmission
	dir string
}

func startLeecher(t *testing.T, s *swarm) *leecher {
	t.Helper()
	needPrograms(t, "transmission-daemon")
	dir := t.TempDir()
	tm, err := netlab.StartTransmission(context.Background(), netlab.TransmissionConfig{
		Host: s.lab.Peer, ConfigDir: filepath.Join(t.TempDir(), "transmission"), DownloadDir: dir,
		PeerPort: transmissionPeerPort, RPCPort: transmissionRPCPort,
	})
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("leecher transmission-daemon:\n%s", tm.Log)
		}
	})
	must(t, s.lab.BlockTCPAtISP(transmissionPeerPort))
	l := &leecher{tm: tm, dir: dir}
	must(t, tm.Call("torrent-add", map[string]any{"filename": s.tor.File, "download-dir": dir}, nil))
	return l
}

// download waits until the leecher has everything, having seen it
// connected to the VPN's address by a connection it opened.
func (l *leecher) download(t *testing.T, s *swarm, what string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	outgoing := false
	for {
		st, err := l.tm.Stats(s.tor.InfoHash)
		must(t, err)
		for _, pe := range st.Peers {
			if pe.Address == s.lab.VPN.Addr4.String() && !pe.IsIncoming {
				outgoing = true
			}
			if pe.IsIncoming {
				t.Errorf("the leecher has an incoming peer %s:%d: its port was meant to be closed", pe.Address, pe.Port)
			}
		}
		if st.PercentDone == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leecher not complete %s within 90s: %+v", what, st)
		}
		time.Sleep(200 * time.Millisecond) // polling another program's progress
	}
	if !outgoing {
		t.Errorf("the leecher completed %s without a connection of its own to %s", what, s.lab.VPN.Addr4)
	}
	s.tor.assertIdentical(t, "leecher "+what, l.dir)
	t.Logf("leecher complete %s", what)
}

// again makes the leecher start over: the torrent and its data removed
// and added back.
func (l *leecher) again(t *testing.T, s *swarm) {
	t.Helper()
	must(t, l.tm.Call("torrent-remove", map[string]any{"ids": []string{s.tor.InfoHash}, "delete-local-data": true}, nil))
	must(t, l.tm.Call("torrent-add", map[string]any{"filename": s.tor.File, "download-dir": l.dir}, nil))
}

// TestDaemonPortForward: the seedbox daemon with --port-forward natpmp:
// the forwarded port shows as peer-port and in /metrics, and a leecher
// nobody can dial downloads by connecting in.
func TestDaemonPortForward(t *testing.T) {
	needPrograms(t, "miniupnpd")
	s := newSwarm(t, false)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	gw, err := s.lab.StartNATPMP(context.Background(), filepath.Join(t.TempDir(), "miniupnpd"), s.srv.Interface(), 40000, 40000)
	must(t, err)
	t.Cleanup(gw.Stop)
	data, out := t.TempDir(), t.TempDir()
	s.tor.copyTo(t, out)
	p := startWgtorrent(t, s.lab.Client, daemonArgs(s.conf, data, out, "--port-forward", "natpmp", "--listen-port", "40000")...)
	c := newRPCClient(s.lab.Client, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	mi, err := os.ReadFile(s.tor.File)
	must(t, err)
	c.call(t, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(mi)}, nil)
	pollDaemon(t, p, 30*time.Second, "port 40000 forwarded in /metrics", func() (bool, string) {
		_, metrics, err := c.get("/metrics")
		if err != nil {
			return false, err.Error()
		}
		v, ok := metricValue(metrics, "wgtorrent_port_forwarded")
		return ok && v == 40000, fmt.Sprintf("wgtorrent_port_forwarded %v (present %v)", v, ok)
	})
	var sess map[string]any
	c.call(t, "session-get", nil, &sess)
	if sess["peer-port"] != 40000.0 {
		t.Errorf("peer-port %v, want the forwarded 40000", sess["peer-port"])
	}
	startLeecher(t, s).download(t, s, "from the daemon through the forwarded port")
	stopDaemon(t, p)
	capt.assertNoLeaks(t, "daemon port forwarding")
}
