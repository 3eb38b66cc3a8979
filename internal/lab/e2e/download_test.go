//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab/labtest"
)

// swarm is a lab with a Debian wireguard-go VPN server, random content, an
// opentracker on the peer host and (optionally) a transmission seeder there.
type swarm struct {
	lab  *netlab.Lab
	srv  netlab.WGServer
	conf string
	tor  *swarmTorrent
	tr   *tracker
	seed *transmission // nil without a seeder
}

// assertCleanEnd: nothing left the client outside the tunnel, dir holds
// the torrent byte for byte, and the client host is as it was.
func (s *swarm) assertCleanEnd(t *testing.T, capt *leakCapture, what, dir string) {
	t.Helper()
	capt.assertNoLeaks(t, what)
	s.tor.assertIdentical(t, what, dir)
	assertNothingLeft(t, s.lab.Client)
}

// assertTrackerSeesVPN: the tracker knows wgtorrent by the VPN server's
// address, never by the client's own.
func (s *swarm) assertTrackerSeesVPN(t *testing.T) {
	t.Helper()
	peers := s.tr.swarmPeers(t, s.tor.InfoHash)
	t.Logf("opentracker's peers: %v", peers)
	var sawVPN bool
	for _, ap := range peers {
		switch ap.Addr() {
		case s.lab.Client.Addr4:
			t.Errorf("the tracker holds the client's own address %s: the announce went outside the tunnel", ap)
		case s.lab.VPN.Addr4:
			sawVPN = true
		}
	}
	if !sawVPN {
		t.Errorf("the tracker's peers %v lack the VPN server's address %s: wgtorrent's announce never arrived", peers, s.lab.VPN.Addr4)
	}
}

func newSwarm(t *testing.T, seeder bool) *swarm {
	t.Helper()
	need := []string{"wireguard-go", "wg", "tcpdump", "opentracker"}
	if seeder {
		need = append(need, "transmission-daemon")
	}
	labtest.SkipIfNotRoot(t)
	needPrograms(t, need...)
	lab, srv, conf := newLab(t, netlab.Options{})
	s := &swarm{lab: lab, srv: srv, conf: conf}
	s.tor = makeTorrent(t, lab, defaultContent)
	s.tr = startTracker(t, lab, s.tor.InfoHash)
	if seeder {
		s.seed = startSeeder(t, lab, s.tor)
	}
	return s
}

// args are wgtorrent's download arguments (the default command) for out
// and data directories, with the kill switch on (the default).
func (s *swarm) args(out, data string, extra ...string) []string {
	return append([]string{"--config", s.conf, "--out", out, "--data", data, "--json", "--no-dht"}, extra...)
}

func num(m map[string]any, key string) int64 {
	f, _ := m[key].(float64)
	return int64(f)
}

func complete(m map[string]any) bool {
	return num(m, "length") > 0 && num(m, "bytes_completed") == num(m, "length")
}

func atLeast(frac float64) func(map[string]any) bool {
	return func(m map[string]any) bool {
		l := num(m, "length")
		return l > 0 && float64(num(m, "bytes_completed")) >= frac*float64(l)
	}
}

// assertStatusLine checks what every download status line must say: the
// torrent we asked for, the kill switch armed.
func assertStatusLine(t *testing.T, m map[string]any, infoHash string) {
	t.Helper()
	if m["info_hash"] != infoHash || m["killswitch"] != "armed" {
		t.Errorf("status line %v: want info_hash %s and killswitch armed", m, infoHash)
	}
}

// TestDownloadTorrentFile: a multi-file torrent from a transmission seeder,
// found through opentracker, arrives byte-identical through the tunnel; the
// tracker knows the client only by the VPN server's address, and nothing
// leaves the client outside the tunnel.
func TestDownloadTorrentFile(t *testing.T) {
	s := newSwarm(t, true)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	out, data := t.TempDir(), t.TempDir()
	start := time.Now()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--torrent", s.tor.File, "--seed")...)
	done := p.waitLine(60*time.Second, "download complete", complete)
	t.Logf("%d bytes in %s", s.tor.Size, time.Since(start).Round(100*time.Millisecond))
	assertStatusLine(t, done, s.tor.InfoHash)
	if num(done, "length") != s.tor.Size {
		t.Errorf("length %d, want %d", num(done, "length"), s.tor.Size)
	}

	// While wgtorrent seeds, ask the tracker who is in the swarm.
	s.assertTrackerSeesVPN(t)
	seeder := s.seed.stats(t, s.tor.InfoHash)
	if seeder.UploadedEver < s.tor.Size {
		t.Errorf("transmission uploaded %d bytes, less than the content (%d): the data came from elsewhere?", seeder.UploadedEver, s.tor.Size)
	}

	p.Signal(syscall.SIGINT)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGINT while seeding, want 0", code)
	}
	s.assertCleanEnd(t, capt, "download by .torrent", out)
}

// TestDownloadMagnet: the same by magnet link; the info dictionary comes
// from the seeder, and wgtorrent exits 0 by itself once complete. The
// seeder requires encryption: wgtorrent's default (plaintext first) must
// retry encrypted.
func TestDownloadMagnet(t *testing.T) {
	s := newSwarm(t, true)
	must(t, s.seed.Call("session-set", map[string]any{"encryption": "required"}, nil))
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	out, data := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--magnet", s.tor.magnet(s.lab))...)
	p.waitLine(30*time.Second, "metadata (length known)", func(m map[string]any) bool { return num(m, "length") > 0 })
	done := p.waitLine(60*time.Second, "download complete", complete)
	assertStatusLine(t, done, s.tor.InfoHash)
	if done["name"] != s.tor.Name {
		t.Errorf("name %v, want %s (from the metadata)", done["name"], s.tor.Name)
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d once complete, want 0", code)
	}
	// The metadata fetched from the swarm is kept in --data with the
	// torrent's record: a restart resumes without asking peers for it.
	saved := filepath.Join(data, "torrents", s.tor.InfoHash)
	if _, err := os.Stat(saved + ".json"); err != nil {
		t.Errorf("no record of the torrent in --data: %v", err)
	}
	if mi, err := metainfo.LoadFromFile(saved + ".torrent"); err != nil {
		t.Errorf("metadata fetched by magnet not saved in --data: %v", err)
	} else if got := mi.HashInfoBytes().HexString(); got != s.tor.InfoHash {
		t.Errorf("saved metadata has info hash %s, want %s", got, s.tor.InfoHash)
	}
	s.assertCleanEnd(t, capt, "download by magnet", out)
}

// TestDownloadSurvivesVPNServerKill: the VPN server dies mid-download. No
// packet may leave outside the tunnel, progress must stop while it is gone
// and the status must say the tunnel is broken; once the server is back,
// the download must finish by itself.
//
// Transmission unchokes a new connection only in its rechoke pulse, every
// 10 s, so payload flows again up to 10 s after our new connection (and
// issue 21's 5 s is measured against libtorrent below).
func TestDownloadSurvivesVPNServerKill(t *testing.T) {
	s := newSwarm(t, true)
	if back := survivesServerKill(t, s); back > 15*time.Second {
		t.Errorf("payload flowed again %s after the tunnel was back: more than Transmission's 10 s rechoke and 5 s to reconnect", back)
	}
}

// TestOutageRecoveryLibtorrentSeeder: the same outage with a qbittorrent-nox
// (libtorrent) seeder, which unchokes an interested peer at once while it
// has upload slots free: payload flows again within 5 s of the tunnel's
// return (issue 21).
func TestOutageRecoveryLibtorrentSeeder(t *testing.T) {
	s := newSwarm(t, false)
	needPrograms(t, "qbittorrent-nox")
	q, err := netlab.StartQbittorrent(netlab.QbittorrentConfig{
		Host: s.lab.Peer, ProfileDir: t.TempDir(), SavePath: s.tor.Root,
		PeerPort: qbittorrentPeerPort, WebUIPort: qbittorrentWebUI,
		Args: []string{"--skip-hash-check"},
	}, s.tor.File)
	must(t, err)
	t.Cleanup(func() { q.Stop(syscall.SIGTERM, 15*time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	must(t, q.WaitTorrent(ctx, netlab.Seeding))
	if back := survivesServerKill(t, s); back > 5*time.Second {
		t.Errorf("payload flowed again %s after the tunnel was back, want within 5 s", back)
	}
}

// survivesServerKill stops the VPN server a third into a rate-limited
// download until the tunnel goes stale (and 40 s at least), starts it
// again and returns how long after the tunnel was back up payload flowed
// again; the download must then complete with nothing leaked.
func survivesServerKill(t *testing.T, s *swarm) time.Duration {
	t.Helper()
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	out, data := t.TempDir(), t.TempDir()
	// ~16 s for the whole content, so there is a middle to cut into.
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--torrent", s.tor.File, "--max-download-rate", "1.5MiB")...)
	at := p.waitLine(40*time.Second, "30% downloaded", atLeast(0.3))
	if complete(at) {
		t.Fatalf("download already complete at the 30%% mark: the rate limit did not hold (%v)", at)
	}

	stopped := time.Now()
	must(t, s.srv.Stop())
	// Data already in flight when the server died may still complete a
	// piece; after that, nothing can arrive.
	time.Sleep(3 * time.Second) // a measurement window, not a synchronisation
	from := p.Len()
	frozen := p.Lines(from - 1)[0]
	// The client has nothing to send while it waits for data, so the
	// tunnel notices only with the next persistent keepalive (25 s in the
	// lab's config) plus 15 s without an answer.
	stale, staleAt := waitLineSince(p, from, 60*time.Second, "tunnel_state stale or down", func(m map[string]any) bool {
		return m["tunnel_state"] == "stale" || m["tunnel_state"] == "down"
	})
	t.Logf("tunnel_state %v %s after the server stopped", stale["tunnel_state"], time.Since(stopped).Round(100*time.Millisecond))
	window := p.Lines(from)
	window = window[:staleAt-from+1]
	for _, m := range window {
		if num(m, "bytes_completed") != num(frozen, "bytes_completed") {
			t.Errorf("bytes_completed moved from %d to %d while the VPN server was down: data came another way",
				num(frozen, "bytes_completed"), num(m, "bytes_completed"))
			break
		}
	}
	if len(window) < 5 {
		t.Errorf("only %d status lines between the stall check and the tunnel going stale: not a meaningful window", len(window))
	}
	t.Logf("progress held at %d/%d bytes for %d status lines while the server was down",
		num(frozen, "bytes_completed"), num(frozen, "length"), len(window))

	// An outage of 40 s at least (issue 21): long enough for every TCP
	// retransmission timer on both sides to back off beyond 10 s.
	time.Sleep(time.Until(stopped.Add(40 * time.Second))) // the fault's length, not a synchronisation
	must(t, s.srv.Start())
	restarted := time.Now()
	_, upAt := waitLineSince(p, staleAt, 60*time.Second, "tunnel_state up again", func(m map[string]any) bool { return m["tunnel_state"] == "up" })
	up := time.Now()
	_, _ = waitLineSince(p, upAt, 60*time.Second, "progress after the server came back", func(m map[string]any) bool {
		return num(m, "bytes_completed")+num(m, "bytes_unchecked") > num(frozen, "bytes_completed")+num(frozen, "bytes_unchecked")
	})
	back := time.Since(up)
	t.Logf("outage %s; data flowing again %s after the tunnel was back up (%s after the server restarted)",
		up.Sub(stopped).Round(100*time.Millisecond), back.Round(100*time.Millisecond), time.Since(restarted).Round(100*time.Millisecond))
	if code := p.wait(90 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0 (complete)", code)
	}
	t.Logf("complete %s after the server restarted", time.Since(restarted).Round(100*time.Millisecond))
	s.assertCleanEnd(t, capt, "VPN server killed mid-download", out)
	return back
}

// TestDownloadResumesAfterSIGKILL: wgtorrent is SIGKILLed mid-download and
// started again with the same --data and --out: it completes, and pieces
// verified before the crash are not fetched again. The seeder is the only
// source, so its upload total bounds what wgtorrent fetched over both runs.
//
// Host mode: in namespace mode Transmission 3.00 kept refusing the restarted
// client for over a minute in 1 run of 4 under load (it holds the dead
// connection, one per address, and nothing we send reaches it to reset it);
// measured and left open for the recovery work (issue 21), see the note.
func TestDownloadResumesAfterSIGKILL(t *testing.T) {
	s := newSwarm(t, true)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	out, data := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--isolation", "host", "--torrent", s.tor.File, "--max-download-rate", "2MiB")...)
	// Verified pieces become durable in batches (every 10 s): kill once a
	// batch is on disk, so that the restart has something to keep.
	record := filepath.Join(data, "pieces", s.tor.InfoHash)
	at := p.waitLine(60*time.Second, "40% downloaded and progress saved", func(m map[string]any) bool {
		_, err := os.Stat(record)
		return atLeast(0.4)(m) && err == nil
	})
	p.Signal(syscall.SIGKILL)
	p.wait(10 * time.Second)
	last := p.Lines(p.Len() - 1)[0]
	if complete(last) {
		t.Fatalf("complete before the SIGKILL: the rate limit did not hold (%v)", at)
	}
	before := s.seed.stats(t, s.tor.InfoHash).UploadedEver
	t.Logf("killed at %d/%d bytes; transmission uploaded %d so far (more than wgtorrent read: the rest sat in socket buffers behind the rate limit)",
		num(last, "bytes_completed"), s.tor.Size, before)

	restarted := time.Now()
	p2 := startWgtorrent(t, s.lab.Client, s.args(out, data, "--isolation", "host", "--torrent", s.tor.File)...)
	first := p2.waitLine(30*time.Second, "status with the torrent's length", func(m map[string]any) bool { return num(m, "length") > 0 })
	kept := num(first, "bytes_completed")
	t.Logf("restart's first status: %d bytes complete, state %v", kept, first["state"])
	if kept == 0 {
		t.Errorf("the restart starts from zero: the progress saved before the SIGKILL was not kept")
	}
	// The seeder still holds our connection from before the kill (its
	// reset died with the tunnel) and takes one connection per address:
	// the restart dials from the same port (kept in --data), so the
	// seeder's challenge ACK draws our reset and the redial gets in.
	if code := p2.wait(60 * time.Second); code != 0 {
		t.Errorf("exit status %d after the restart, want 0 (complete)", code)
	}
	t.Logf("complete %s after the restart", time.Since(restarted).Round(100*time.Millisecond))
	// Transmission is the only source, so what it sent during the second
	// run is what the restart fetched: what the saved progress did not
	// cover, and a few pieces in flight. Pieces verified after the last
	// save (at most 10 s of download) are fetched again by design, as
	// Transmission and libtorrent do after a crash; fetching saved pieces
	// again would add the whole saved share. (The total over both runs is
	// not the measure: at the kill, megabytes sent by transmission still
	// sat unread in the client's socket buffers behind the rate limiter.)
	run2 := s.seed.stats(t, s.tor.InfoHash).UploadedEver - before
	notSaved := s.tor.Size - kept
	t.Logf("the restart fetched %d bytes; %d were not saved (%.3fx), %d missing at the kill",
		run2, notSaved, float64(run2)/float64(notSaved), s.tor.Size-num(last, "bytes_completed"))
	if slack := s.tor.Size / 20; run2 > notSaved+slack {
		t.Errorf("the restart fetched %d bytes, %d more than the saved progress left (slack %d): saved pieces were fetched again",
			run2, run2-notSaved, slack)
	}
	s.assertCleanEnd(t, capt, "SIGKILL and resume", out)
}

// aria2Port is where aria2c listens for peers on the peer host.
const aria2Port = 6881

// TestUploadToAria2: wgtorrent seeds through the tunnel. It sits behind the
// VPN's NAT, so it dials out to aria2c (--peer), which downloads everything
// from it and exits 0 with identical files.
func TestUploadToAria2(t *testing.T) {
	needPrograms(t, "aria2c")
	s := newSwarm(t, false)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	out, data := t.TempDir(), t.TempDir()
	s.tor.copyTo(t, out)

	dl := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	aria := s.lab.Peer.Command(ctx, "aria2c", "--dir="+dl,
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--seed-time=0", fmt.Sprintf("--listen-port=%d", aria2Port), "--disable-ipv6=true",
		"--file-allocation=none", "--summary-interval=0", "--console-log-level=notice", s.tor.File)
	ariaLog := &netlab.SyncBuffer{}
	aria.Stdout, aria.Stderr = ariaLog, ariaLog
	must(t, aria.Start())
	ariaDone := make(chan error, 1)
	go func() { ariaDone <- aria.Wait() }()
	peerAddr := netip.AddrPortFrom(s.lab.Peer.Addr4, aria2Port).String()
	waitListening(t, s.lab.Peer, peerAddr, 10*time.Second)

	start := time.Now()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--torrent", s.tor.File, "--seed", "--peer", peerAddr)...)
	first := p.waitLine(30*time.Second, "seeding (data verified)", complete)
	assertStatusLine(t, first, s.tor.InfoHash)

	select {
	case err := <-ariaDone:
		if err != nil {
			t.Errorf("aria2c: %v; output:\n%s", err, ariaLog.String())
		} else {
			t.Logf("aria2c fetched %d bytes in %s", s.tor.Size, time.Since(start).Round(100*time.Millisecond))
		}
	case <-time.After(80 * time.Second):
		t.Fatalf("aria2c not done after 80s; output:\n%s\nwgtorrent's last status: %v", ariaLog.String(), p.Lines(p.Len()-1))
	}
	up := p.waitLine(10*time.Second, "upload ratio >= 1", func(m map[string]any) bool {
		r, _ := m["ratio"].(float64)
		return r >= 0.99
	})
	t.Logf("wgtorrent after the upload: %v", up)

	p.Signal(syscall.SIGINT)
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("wgtorrent exit status %d after SIGINT, want 0", code)
	}
	if strings.Contains(ariaLog.String(), s.lab.Client.Addr4.String()) {
		t.Errorf("aria2c's output names the client's own address %s:\n%s", s.lab.Client.Addr4, ariaLog.String())
	}
	s.assertCleanEnd(t, capt, "seeding to aria2c", dl)
}

// TestDownloadBadInput: input the user must fix is refused with exit 2 and
// a message naming the problem, before anything is brought up. It runs in a
// lab namespace so that a regression could not touch the host's network.
func TestDownloadBadInput(t *testing.T) {
	lab := labtest.New(t, netlab.Options{})
	dir := t.TempDir()
	conf := filepath.Join(dir, "wg0.conf")
	must(t, os.WriteFile(conf, []byte(fmt.Sprintf(
		"[Interface]\nPrivateKey = %s\nAddress = %s/32\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:%d\nAllowedIPs = 0.0.0.0/0\n",
		randomKey(t), netlab.TunnelClient4, randomKey(t), lab.VPN.Addr4, netlab.WGPort)), 0o600))
	notDir := filepath.Join(dir, "file")
	must(t, os.WriteFile(notDir, []byte("x"), 0o644))
	const hash = "0123456789abcdef0123456789abcdef01234567"

	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the output
	}{
		{"BadMagnet", []string{"--magnet", "magnet:?xt=urn:btih:nothex&dn=x", "--out", dir}, []string{"magnet"}},
		{"MagnetWithoutHash", []string{"--magnet", "magnet:?dn=x", "--out", dir}, []string{"magnet", "info hash"}},
		{"MissingTorrent", []string{"--torrent", filepath.Join(dir, "missing.torrent"), "--out", dir}, []string{"missing.torrent"}},
		{"NotATorrent", []string{"--torrent", conf, "--out", dir}, []string{"torrent"}},
		{"OutUnderAFile", []string{"--out", filepath.Join(notDir, "sub"), hash}, []string{"--out", "not a directory"}},
		{"OutNotWritable", []string{"--out", "/proc/1", hash}, []string{"--out", "not writable"}},
		{"NothingToDownload", []string{"--out", dir}, []string{"nothing to download"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--config", conf, "--data", filepath.Join(dir, "data"), "--no-dht", "--handshake-timeout", "2s"}, tc.args...)
			start := time.Now()
			out, code := runWgtorrent(t, lab.Client, args...)
			t.Logf("exit %d: %s", code, strings.TrimSpace(out))
			if code != 2 {
				t.Errorf("exit %d, want 2; output:\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(strings.ToLower(out), strings.ToLower(w)) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("refusing took %s: something was brought up first", took)
			}
			assertNothingLeft(t, lab.Client)
		})
	}
}

func randomKey(t *testing.T) string {
	var k [32]byte
	_, err := rand.Read(k[:])
	must(t, err)
	return base64.StdEncoding.EncodeToString(k[:])
}

// TestDownloadSurvivesInterfaceDeletion: the tunnel interface is deleted
// mid-download; the tunnel rebuilds it, the engine restarts on it (sockets
// bound to the old interface are dead), and the download completes with
// nothing leaked. Host mode: in a private namespace no other program can
// reach the interface to delete it.
func TestDownloadSurvivesInterfaceDeletion(t *testing.T) {
	s := newSwarm(t, true)
	capt := startLeakCapture(t, s.lab, s.srv.Endpoint())
	out, data := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, s.lab.Client, s.args(out, data, "--isolation", "host", "--torrent", s.tor.File, "--max-download-rate", "2MiB")...)
	at := p.waitLine(40*time.Second, "30% downloaded", atLeast(0.3))
	if complete(at) {
		t.Fatalf("download already complete at the 30%% mark: the rate limit did not hold (%v)", at)
	}
	link, err := s.lab.Client.Netlink().LinkByName("wgt0")
	must(t, err)
	must(t, s.lab.Client.Netlink().LinkDel(link))
	if code := p.wait(120 * time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0 (complete); stderr:\n%s", code, p.Stderr())
	}
	if !strings.Contains(p.Stderr(), "engine restarted on the rebuilt tunnel") {
		t.Errorf("the engine was not restarted on the rebuilt interface; stderr:\n%s", p.Stderr())
	}
	s.assertCleanEnd(t, capt, "tunnel interface deleted mid-download", out)
}
