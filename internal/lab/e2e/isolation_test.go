//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// sshPort is the stand-in for a seedbox's SSH: a line echo on the client
// host, talked to from the peer host (the internet).
const sshPort = 2222

// TestIsolatedDownload: with --isolation namespace a magnet download
// completes byte for byte through the tunnel, nothing leaves the client
// outside it, the swarm sees only the VPN's address, the client host's
// links, rules, routes of every table and nftables ruleset are the same
// before, during and after, and a session from the internet into the
// client host keeps answering all along.
func TestIsolatedDownload(t *testing.T) {
	s := newSwarm(t, true)
	before := netState(t, s.lab.Client)
	sess := startEchoSession(t, s.lab)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())

	out, data := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--isolation", "namespace", "--magnet", s.tor.magnet(s.lab), "--seed")...)
	first := p.waitLine(30*time.Second, "a status line", func(map[string]any) bool { return true })
	if first["isolation"] != "namespace" {
		t.Errorf("status line %v: want isolation namespace", first)
	}
	if during := netState(t, s.lab.Client); during != before {
		t.Errorf("the client host changed while wgtorrent runs:\nbefore:\n%s\nduring:\n%s", before, during)
	}
	done := p.waitLine(60*time.Second, "download complete", complete)
	assertStatusLine(t, done, s.tor.InfoHash)
	s.assertTrackerSeesVPN(t)
	p.Signal(syscall.SIGINT)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0", code)
	}
	s.tor.assertIdentical(t, "isolated download", out)

	answered, failed := sess.stop()
	t.Logf("the session from the internet: %d lines echoed, %d failed, through start, download and exit", answered, failed)
	if failed > 0 || answered < 10 {
		t.Errorf("the session into the client host broke: %d answered, %d failed", answered, failed)
	}
	var leaks []string
	for _, l := range capt.stop(t) {
		if !strings.Contains(l, fmt.Sprintf("%s.%d > ", s.lab.Client.Addr4, sshPort)) {
			leaks = append(leaks, l)
		}
	}
	if len(leaks) > 0 {
		t.Errorf("%d packets left the client outside the tunnel (the session's replies aside):\n  %s", len(leaks), strings.Join(leaks, "\n  "))
	}
	if after := netState(t, s.lab.Client); after != before {
		t.Errorf("the client host changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestIsolatedVPNServerKill: in namespace mode, the VPN server stopped
// mid-download: progress stops, nothing leaks, and the download resumes
// and completes when the server is back.
func TestIsolatedVPNServerKill(t *testing.T) {
	s := newSwarm(t, true)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	out, data := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--isolation", "namespace", "--torrent", s.tor.File, "--max-download-rate", "1.5MiB")...)
	at := p.waitLine(40*time.Second, "30% downloaded", atLeast(0.3))
	if complete(at) {
		t.Fatalf("complete at the 30%% mark: the rate limit did not hold (%v)", at)
	}
	must(t, s.srv.Stop())
	time.Sleep(3 * time.Second) // data in flight may still land; a measurement window
	from := p.Len()
	frozen := p.Lines(from - 1)[0]
	_, staleAt := waitLineSince(p, from, 60*time.Second, "tunnel_state stale or down", func(m map[string]any) bool {
		return m["tunnel_state"] == "stale" || m["tunnel_state"] == "down"
	})
	for _, m := range p.Lines(from)[:staleAt-from+1] {
		if num(m, "bytes_completed") != num(frozen, "bytes_completed") {
			t.Errorf("progress while the VPN server was down: %d -> %d", num(frozen, "bytes_completed"), num(m, "bytes_completed"))
			break
		}
	}
	must(t, s.srv.Start())
	restarted := time.Now()
	if code := p.wait(120 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0 (complete)", code)
	}
	t.Logf("complete %s after the server restarted", time.Since(restarted).Round(100*time.Millisecond))
	capt.assertNoLeaks(t, "isolated, VPN server killed")
	s.tor.assertIdentical(t, "isolated, VPN server killed", out)
}

// netState is what namespace mode must leave alone on a host.
func netState(t *testing.T, h *netlab.Host) string {
	t.Helper()
	st, err := h.NetworkState()
	must(t, err)
	return st
}

// echoSession is a long-lived TCP session from the peer host into the
// client host, one line every 200 ms.
type echoSession struct {
	stopc    chan struct{}
	wg       sync.WaitGroup
	answered atomic.Int64
	failed   atomic.Int64
}

func startEchoSession(t *testing.T, lab *netlab.Lab) *echoSession {
	t.Helper()
	ln, err := lab.Client.ListenTCP(fmt.Sprintf("%s:%d", lab.Client.Addr4, sshPort))
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	c, err := lab.Peer.DialContext(context.Background(), "tcp", fmt.Sprintf("%s:%d", lab.Client.Addr4, sshPort))
	must(t, err)
	e := &echoSession{stopc: make(chan struct{})}
	e.wg.Go(func() {
		defer c.Close()
		r := bufio.NewReader(c)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-e.stopc:
				return
			case <-tick.C:
			}
			_ = c.SetDeadline(time.Now().Add(2 * time.Second))
			want := fmt.Sprintf("line %d\n", i)
			if _, err := c.Write([]byte(want)); err != nil {
				e.failed.Add(1)
				continue
			}
			if got, err := r.ReadString('\n'); err != nil || got != want {
				e.failed.Add(1)
				continue
			}
			e.answered.Add(1)
		}
	})
	t.Cleanup(func() { e.stop() })
	return e
}

// stop ends the session and says how many lines were echoed and lost.
func (e *echoSession) stop() (answered, failed int64) {
	select {
	case <-e.stopc:
	default:
		close(e.stopc)
	}
	e.wg.Wait()
	return e.answered.Load(), e.failed.Load()
}

// TestIsolatedDownloadAsNobody: namespace mode needs no root. nobody, with
// no capability at all, downloads a magnet through the tunnel: wgtorrent
// runs itself again in a user namespace of its own (internal/userns), where
// it makes the private network namespace, the TUN device and the inner
// kill switch. Files identical, nothing leaks, the host's network is as
// it was, every file it wrote is nobody's, and SIGINT to the process the
// user started ends it cleanly. The TUN node nobody may open is arranged in
// a private mount namespace (tunNodeWrapper), as a desktop's 0666 node.
func TestIsolatedDownloadAsNobody(t *testing.T) {
	needPrograms(t, "setpriv", "unshare", "mknod", "mount")
	s := newSwarm(t, true)
	const nobody = 65534
	dir, bin, conf := nobodyDir(t, "wgt-e2e-nobody-", s.srv.ClientConfig(), nobody)
	out, data, tunDir := nobodyWorkDirs(t, dir, nobody)

	before := netState(t, s.lab.Client)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	// --seed: the tracker is asked who is in the swarm after the download,
	// and a download that ended would have told it "stopped".
	args := []string{"--config", conf, "--out", out, "--data", data, "--json", "--no-dht",
		"--isolation", "namespace", "--magnet", s.tor.magnet(s.lab), "--seed"}
	p := startInNS(t, s.lab.Client, []string{"HOME=" + dir}, "unshare", tunNodeWrapper(tunDir, "setpriv",
		append([]string{fmt.Sprintf("--reuid=%d", nobody), fmt.Sprintf("--regid=%d", nobody), "--clear-groups", "--", bin}, args...)...)...)
	first := p.waitLine(30*time.Second, "a status line", func(map[string]any) bool { return true })
	status := procStatus(t, p.Cmd.Process.Pid)
	t.Logf("the process nobody started: %s", status)
	for _, want := range []string{"Uid:\t65534", "CapEff:\t0000000000000000", "CapPrm:\t0000000000000000"} {
		if !strings.Contains(status, want) {
			t.Errorf("the process the user started lacks %q: not nobody without capabilities:\n%s", want, status)
		}
	}
	if first["isolation"] != "namespace" {
		t.Errorf("status line %v: want isolation namespace", first)
	}
	done := p.waitLine(60*time.Second, "download complete", complete)
	assertStatusLine(t, done, s.tor.InfoHash)
	if during := netState(t, s.lab.Client); during != before {
		t.Errorf("the client host changed while wgtorrent runs:\nbefore:\n%s\nduring:\n%s", before, during)
	}
	s.assertTrackerSeesVPN(t)
	p.Signal(syscall.SIGINT)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0; stderr:\n%s", code, p.Stderr())
	}
	s.tor.assertIdentical(t, "download as nobody", out)
	capt.assertNoLeaks(t, "download as nobody")
	if after := netState(t, s.lab.Client); after != before {
		t.Errorf("the client host changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	assertOwnedBy(t, nobody, out, data)
}

// assertOwnedBy: every file and directory under roots belongs to uid.
func assertOwnedBy(t *testing.T, uid uint32, roots ...string) {
	t.Helper()
	for _, root := range roots {
		must(t, filepath.WalkDir(root, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			fi, err := os.Lstat(path)
			if err != nil {
				return err
			}
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
				t.Errorf("%s is owned by uid %d, not %d", path, st.Uid, uid)
			}
			return nil
		}))
	}
}

// TestIsolatedDaemon: the seedbox daemon with --isolation namespace. Its
// worker (engine and RPC) lives in the private namespace; the RPC's
// listener stays on the host, where transmission-remote reaches it on
// 127.0.0.1 and the kernel still says who calls (root without a password
// yes, nobody no). A torrent added over RPC downloads byte for byte,
// nothing leaks, and the host's network state is the same before, during
// and after.
func TestIsolatedDaemon(t *testing.T) {
	needPrograms(t, "setpriv")
	d := newDaemonLab(t, 0)
	cl := d.lab.Client
	before := netState(t, cl)
	capt := startLeakCapture(t, d.lab, d.srv.Endpoint())
	out := t.TempDir()
	p := startWgtorrent(t, cl, daemonArgs(d.conf, t.TempDir(), out, "--isolation", "namespace")...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, 200, 30*time.Second)

	priv, closePriv, err := cl.PrivateNetNS(p.Cmd.Process.Pid)
	must(t, err)
	defer closePriv()
	workers := childPIDs(t, p.Cmd.Process.Pid)
	if len(workers) != 1 {
		t.Fatalf("the daemon has %d child processes (%v), want its worker", len(workers), workers)
	}
	if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", workers[0])); ns != priv.NetNS[:strings.Index(priv.NetNS, " ")] {
		t.Errorf("the worker's network namespace is %s, want the private one (%s)", ns, priv.NetNS)
	}

	if list := remote(t, cl, "-l"); !strings.Contains(list, "Sum:") {
		t.Errorf("transmission-remote -l as root on the host:\n%s", list)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	denied, err := cl.Command(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		"transmission-remote", daemonRPCAddr, "-l").CombinedOutput()
	if err == nil || !strings.Contains(string(denied), "403") {
		t.Errorf("transmission-remote as nobody, no password: %v\n%s\nwant refused (403)", err, denied)
	}

	id := c.addFile(t, d.main.File, nil)
	c.waitTorrent(t, p, id, 60*time.Second, "complete", func(x daemonTorrent) bool { return x.complete() })
	if during := netState(t, cl); during != before {
		t.Errorf("the client host changed while the daemon runs:\nbefore:\n%s\nduring:\n%s", before, during)
	}
	d.main.assertIdentical(t, "isolated daemon", out)
	stopDaemon(t, p)
	capt.assertNoLeaks(t, "isolated daemon")
	if after := netState(t, cl); after != before {
		t.Errorf("the client host changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// childPIDs lists pid's children, whichever of its threads forked them.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	must(t, err)
	var pids []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			var n int
			if _, err := fmt.Sscan(s, &n); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// TestIsolatedDaemonUTP: where the whole worker lives in the private
// namespace, anacrolix's own uTP socket is on, since it cannot leave but by
// the tunnel. The seeder is a Debian transmission-daemon with uTP on whose
// TCP port the ISP drops: the torrent can only come by uTP. It comes
// whole, Transmission lists the connection as uTP, and nothing leaks.
func TestIsolatedDaemonUTP(t *testing.T) {
	needPrograms(t, "opentracker", "transmission-daemon")
	lab, srv, conf := newLab(t, netlab.Options{})
	tor := makeTorrent(t, lab, daemonContent)
	startTracker(t, lab, tor.InfoHash)
	seed := startSeeder(t, lab, tor, func(c *netlab.TransmissionConfig) { c.UTP = true })
	must(t, lab.BlockTCPAtISP(transmissionPeerPort))
	capt := startLeakCapture(t, lab, srv.Endpoint())

	out := t.TempDir()
	p := startWgtorrent(t, lab.Client, daemonArgs(conf, t.TempDir(), out, "--isolation", "namespace")...)
	c := newRPCClient(lab.Client, daemonRPCAddr, "", "")
	c.waitHealth(t, p, 200, 30*time.Second)
	id := c.addFile(t, tor.File, nil)
	var peers []map[string]any
	c.waitTorrent(t, p, id, 90*time.Second, "complete", func(x daemonTorrent) bool {
		if x.HaveValid > 0 && peers == nil {
			// While data flows: Transmission drops a finished leecher.
			var raw struct {
				Torrents []struct {
					Peers []map[string]any `json:"peers"`
				} `json:"torrents"`
			}
			if seed.Call("torrent-get", map[string]any{"ids": []string{tor.InfoHash}, "fields": []string{"peers"}}, &raw) == nil &&
				len(raw.Torrents) == 1 && len(raw.Torrents[0].Peers) > 0 {
				peers = raw.Torrents[0].Peers
			}
		}
		return x.complete()
	})
	tor.assertIdentical(t, "isolated daemon over uTP", out)
	t.Logf("Transmission's peers while downloading: %v", peers)
	utp := false
	for _, pe := range peers {
		utp = utp || pe["isUTP"] == true
	}
	if !utp {
		t.Errorf("Transmission listed no uTP peer while data flowed: %v", peers)
	}
	stopDaemon(t, p)
	capt.assertNoLeaks(t, "isolated daemon over uTP")
}
