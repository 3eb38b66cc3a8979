//go:build linux

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// TestDaemonTransmissionRemote drives the daemon with Debian's
// transmission-remote 3.00 the way a user does: list, add by file and by
// magnet, info, stop, start, verify, remove, remove with data, session
// info and stats. The magnet is downloaded for real from the transmission
// seeder on the peer host, through the tunnel, with nothing leaking.
func TestDaemonTransmissionRemote(t *testing.T) {
	needPrograms(t, "transmission-remote")
	d := newDaemonLab(t, 1)
	cl := d.lab.Client
	local := d.locals[0]
	capt := startLeakCapture(t, d.lab, d.srv.Endpoint())
	data, out := t.TempDir(), t.TempDir()
	local.copyTo(t, out) // already complete: added, it verifies and seeds
	p := startWgtorrent(t, cl, daemonArgs(d.conf, data, out)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)

	if l := remote(t, cl, "-l"); listLine(l, "wgt-") != "" {
		t.Errorf("-l on a fresh daemon lists torrents:\n%s", l)
	}

	// -a FILE: transmission-remote reads the file and sends its metainfo.
	remoteOK(t, cl, "-a", local.File)
	c.waitTorrent(t, p, 1, 20*time.Second, "seeding its data already on disk", func(x daemonTorrent) bool {
		return x.Status == 6 && x.complete()
	})

	// -a MAGNET: the info comes from the seeder, then the data.
	start := time.Now()
	remoteOK(t, cl, "-a", d.main.magnet(d.lab))
	got := c.waitTorrent(t, p, 2, 60*time.Second, "downloaded", func(x daemonTorrent) bool { return x.complete() })
	t.Logf("magnet downloaded through the daemon in %s: %v", time.Since(start).Round(100*time.Millisecond), got)
	if got.Name != d.main.Name || got.HashString != d.main.InfoHash || got.TotalSize != d.main.Size {
		t.Errorf("torrent 2 is %v, want %s (%s, %d bytes)", got, d.main.Name, d.main.InfoHash, d.main.Size)
	}
	d.main.assertIdentical(t, "daemon download by magnet", out)
	if up := d.seed.stats(t, d.main.InfoHash).UploadedEver; up < d.main.Size {
		t.Errorf("the seeder uploaded %d bytes, less than the content (%d): the data came from elsewhere?", up, d.main.Size)
	}

	// Seeders and leechers come from a scrape of opentracker, through the
	// tunnel, shortly after the torrent was added.
	scraped := regexp.MustCompile(`Tracker had (\d+) seeders and (\d+) leechers`)
	var trackers string
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		trackers = remote(t, cl, "-t", "2", "-it")
		if m := scraped.FindStringSubmatch(trackers); m != nil {
			if m[1] == "0" {
				t.Errorf("opentracker's scrape counts no seeders though transmission seeds: %q", m[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("-t 2 -it shows no scrape results:\n%s", trackers)
			break
		}
	}
	t.Logf("transmission-remote -t 2 -it:\n%s", trackers)

	list := remote(t, cl, "-l")
	t.Logf("transmission-remote -l:\n%s", list)
	for _, name := range []string{local.Name, d.main.Name} {
		if l := listLine(list, name); !strings.Contains(l, "100%") {
			t.Errorf("-l line for %s is %q, want it at 100%%", name, l)
		}
	}
	if !strings.Contains(list, "Sum:") {
		t.Errorf("-l lacks its Sum: line:\n%s", list)
	}

	info := remote(t, cl, "-t", "1", "-i")
	for _, want := range []string{"Name: " + local.Name, "Hash: " + local.InfoHash, "Percent Done: 100%", "Location: " + out} {
		if !strings.Contains(info, want) {
			t.Errorf("-t 1 -i lacks %q:\n%s", want, info)
		}
	}

	remoteOK(t, cl, "-t", "1", "-S")
	c.waitTorrent(t, p, 1, 10*time.Second, "stopped", func(x daemonTorrent) bool { return x.Status == 0 })
	if l := listLine(remote(t, cl, "-l"), local.Name); !strings.Contains(l, "Stopped") && !strings.Contains(l, "Finished") {
		t.Errorf("-l line after -S is %q, want Stopped (or Finished)", l)
	}
	remoteOK(t, cl, "-t", "1", "-s")
	c.waitTorrent(t, p, 1, 10*time.Second, "seeding again after -s", func(x daemonTorrent) bool { return x.Status == 6 && x.complete() })

	// -v re-hashes the downloaded data: it must come out whole again.
	remoteOK(t, cl, "-t", "2", "-v")
	seen := map[int]bool{}
	c.waitTorrent(t, p, 2, 30*time.Second, "verified and seeding", func(x daemonTorrent) bool {
		seen[x.Status] = true
		return x.Status == 6 && x.complete()
	})
	t.Logf("statuses seen during -v: %v", seen)

	si := remote(t, cl, "-si")
	for _, want := range []string{"RPC version:", "Download directory: " + out} {
		if !strings.Contains(si, want) {
			t.Errorf("-si lacks %q:\n%s", want, si)
		}
	}
	st := remote(t, cl, "-st")
	for _, want := range []string{"CURRENT SESSION", "TOTAL", "Downloaded:"} {
		if !strings.Contains(st, want) {
			t.Errorf("-st lacks %q:\n%s", want, st)
		}
	}

	// -r forgets the torrent and keeps its data.
	remoteOK(t, cl, "-t", "2", "-r")
	if _, ok := c.torrents(t)[2]; ok {
		t.Errorf("torrent 2 still listed after -r")
	}
	d.main.assertIdentical(t, "data after -r", out)

	// --remove-and-delete takes the data with it.
	remoteOK(t, cl, "-t", "1", "--remove-and-delete")
	if _, ok := c.torrents(t)[1]; ok {
		t.Errorf("torrent 1 still listed after --remove-and-delete")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(out, local.Name))
		if os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still on disk 5s after --remove-and-delete (stat: %v)", local.Name, err)
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the file system
	}
	if l := remote(t, cl, "-l"); listLine(l, "wgt-") != "" {
		t.Errorf("-l after removing both still lists torrents:\n%s", l)
	}

	t.Logf("SIGTERM: stopped in %s", stopDaemon(t, p).Round(10*time.Millisecond))
	capt.assertNoLeaks(t, "daemon driven by transmission-remote")
	assertNothingLeft(t, cl)
}

// TestDaemonRestartRecovery: torrents in three states survive a graceful
// stop and a SIGKILL with the same ids, names and states, without
// fetching verified data again; the interrupted download then completes.
func TestDaemonRestartRecovery(t *testing.T) {
	d := newDaemonLab(t, 2)
	cl := d.lab.Client
	seeding, stopped := d.locals[0], d.locals[1]
	data, out := t.TempDir(), t.TempDir()
	seeding.copyTo(t, out)
	stopped.copyTo(t, out)
	// ~1 MiB/s makes the 24 MiB download last long enough to interrupt.
	slow := append(daemonArgs(d.conf, data, out), "--max-download-rate", "1MiB")
	p := startWgtorrent(t, cl, slow...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)

	ids := map[string]int{
		seeding.InfoHash: c.addFile(t, seeding.File, nil),
		stopped.InfoHash: c.addFile(t, stopped.File, nil),
		d.main.InfoHash:  c.addFile(t, d.main.File, nil),
	}
	idSeed, idStop, idMain := ids[seeding.InfoHash], ids[stopped.InfoHash], ids[d.main.InfoHash]
	c.waitTorrent(t, p, idStop, 20*time.Second, "verified", func(x daemonTorrent) bool { return x.complete() })
	c.call(t, "torrent-stop", map[string]any{"ids": []int{idStop}}, nil)

	isSeeding := func(x daemonTorrent) bool { return x.Status == 6 && x.complete() }
	isStopped := func(x daemonTorrent) bool { return x.Status == 0 && x.complete() }
	c.waitTorrent(t, p, idSeed, 20*time.Second, "seeding", isSeeding)
	c.waitTorrent(t, p, idStop, 10*time.Second, "stopped", isStopped)
	part := c.waitTorrent(t, p, idMain, 40*time.Second, "25% downloaded", func(x daemonTorrent) bool {
		return x.verified() >= x.TotalSize/4 && x.TotalSize > 0
	})
	if part.complete() {
		t.Fatalf("main torrent already complete at the 25%% mark: the rate limit did not hold (%v)", part)
	}
	before := c.torrents(t)
	t.Logf("before SIGTERM: %v", before)

	t.Logf("SIGTERM: stopped in %s", stopDaemon(t, p).Round(10*time.Millisecond))

	// The same state after a graceful restart, still rate limited so that
	// "downloading" can be seen.
	upAtSIGTERM := d.seed.stats(t, d.main.InfoHash).UploadedEver
	p2 := startWgtorrent(t, cl, slow...)
	c.waitHealth(t, p2, http.StatusOK, 20*time.Second)
	// checkSame: the same torrents in the same states; the main torrent
	// holds every piece it had verified (main, as last seen before the
	// stop) again without fetching them: the seeder (its only source)
	// uploads less than a piece meanwhile (one in flight at a kill).
	checkSame := func(phase string, p *proc, main daemonTorrent, seederUpAtStart int64) {
		t.Helper()
		now := c.torrents(t)
		if len(now) != 3 {
			t.Errorf("%s: %d torrents, want 3: %v", phase, len(now), now)
		}
		for id, b := range before {
			a, ok := now[id]
			if !ok || a.Name != b.Name || a.HashString != b.HashString {
				t.Errorf("%s: torrent %d is %v, want %v", phase, id, a, b)
			}
		}
		wantMainAtLeast := main.verified()
		x := c.waitTorrent(t, p, idMain, 20*time.Second, fmt.Sprintf("%s: holding its %d verified bytes, the same pieces", phase, wantMainAtLeast),
			func(x daemonTorrent) bool { return x.hasPiecesOf(main) })
		fetched := d.seed.stats(t, d.main.InfoHash).UploadedEver - seederUpAtStart
		// What the seeder sent beyond the pieces newly verified since: a
		// restarted download requests new pieces at once, so bytes in
		// flight for those (a piece or two, with the protocol's message
		// headers) are not a sign of anything fetched again; a verified
		// piece fetched again would be.
		waste := fetched - (x.verified() - main.verified())
		t.Logf("%s: %v; the seeder sent %d bytes since the restart, %d beyond the newly verified ones", phase, x, fetched, waste)
		if waste > 2*main.PieceSize {
			t.Errorf("%s: the seeder sent %d bytes beyond the newly verified pieces before the %d verified bytes were back: they were fetched again", phase, waste, wantMainAtLeast)
		}
		c.waitTorrent(t, p, idSeed, 20*time.Second, phase+": seeding", isSeeding)
		c.waitTorrent(t, p, idStop, 20*time.Second, phase+": stopped, data complete", isStopped)
	}
	checkSame("after SIGTERM and restart", p2, before[idMain], upAtSIGTERM)
	if x := c.torrents(t)[idMain]; x.Status != 4 && !x.complete() {
		t.Errorf("after restart the main torrent is %v, want downloading (status 4)", x)
	}

	part = c.waitTorrent(t, p2, idMain, 40*time.Second, "60% downloaded", func(x daemonTorrent) bool {
		return x.verified() >= x.TotalSize*6/10
	})
	if part.complete() {
		t.Fatalf("main torrent already complete at the 60%% mark (%v)", part)
	}
	killed := time.Now()
	p2.Signal(syscall.SIGKILL)
	// The worker outlives its parent only to save its state: the tunnel
	// went with the parent, so it says no goodbyes.
	p2.wait(5 * time.Second)
	t.Logf("SIGKILLed at %v; the worker was gone %s later", part, time.Since(killed).Round(10*time.Millisecond))
	if !strings.Contains(p2.Stderr(), "the daemon's main process is gone") {
		t.Errorf("the worker did not say why it stopped")
	}
	upAtSIGKILL := d.seed.stats(t, d.main.InfoHash).UploadedEver

	// Unlimited now, to finish quickly.
	restarted := time.Now()
	p3 := startWgtorrent(t, cl, daemonArgs(d.conf, data, out)...)
	c.waitHealth(t, p3, http.StatusOK, 20*time.Second)
	// Pieces in flight at the kill may be lost, not those the last poll
	// before it saw verified (their data is in the page cache): they are
	// verified again, not fetched.
	checkSame("after SIGKILL and restart", p3, part, upAtSIGKILL)
	t.Logf("after SIGKILL: verified pieces back %s after the restart", time.Since(restarted).Round(100*time.Millisecond))
	done := c.waitTorrent(t, p3, idMain, 60*time.Second, "complete", func(x daemonTorrent) bool { return x.complete() })
	t.Logf("complete after the SIGKILL: %v, %s after the restart", done, time.Since(restarted).Round(100*time.Millisecond))
	d.main.assertIdentical(t, "after SIGTERM, SIGKILL and restarts", out)
	seeding.assertIdentical(t, "seeding torrent", out)
	stopped.assertIdentical(t, "stopped torrent", out)

	// Not a bound: with a rate limit, what the seeder wrote into socket
	// buffers that a stopped daemon never read counts as uploaded too.
	total := d.seed.stats(t, d.main.InfoHash).UploadedEver
	t.Logf("the seeder uploaded %d bytes over three runs for %d bytes of content (%.3fx)", total, d.main.Size, float64(total)/float64(d.main.Size))
	stopDaemon(t, p3)
	assertNothingLeft(t, cl)
}

// TestDaemonHealth: /healthz is 200 while the tunnel is up, 503 with a
// reason once the VPN server is gone and traffic goes unanswered, and 200
// again when it is back; /metrics shows the tunnel and the torrents.
func TestDaemonHealth(t *testing.T) {
	lab, srv, conf := newLab(t, netlab.Options{})
	cl := lab.Client
	data, out := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, cl, daemonArgs(conf, data, out)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	body, took := c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	t.Logf("/healthz 200 %q %s after start", body, took.Round(100*time.Millisecond))
	// `wgtorrent health` is the container's HEALTHCHECK: it reads the same
	// WGTORRENT_RPC_LISTEN as the daemon.
	health := func() (string, int) {
		cmd := cl.Command(context.Background(), wgtorrentBin, "health")
		cmd.Env = append(os.Environ(), "WGTORRENT_RPC_LISTEN="+daemonRPCAddr)
		out, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			code = -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		return strings.TrimSpace(string(out)), code
	}
	if out, code := health(); code != 0 {
		t.Errorf("wgtorrent health on a healthy daemon: exit %d, %q", code, out)
	}
	c.call(t, "torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + randomHash(t)}, nil)

	code, metrics, err := c.get("/metrics")
	must(t, err)
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d: %s", code, metrics)
	}
	for series, want := range map[string]func(float64) bool{
		"wgtorrent_healthy 1":                                                 nil,
		`wgtorrent_tunnel_state{state="up"}`:                                  func(v float64) bool { return v == 1 },
		"wgtorrent_tunnel_received_bytes_total":                               func(v float64) bool { return v > 0 },
		"wgtorrent_tunnel_sent_bytes_total":                                   func(v float64) bool { return v > 0 },
		"wgtorrent_tunnel_handshake_age_seconds":                              func(v float64) bool { return v > 0 && v < 60 },
		"wgtorrent_killswitch_dropped_packets_total":                          func(v float64) bool { return v >= 0 },
		"wgtorrent_peers_connected":                                           func(v float64) bool { return v == 0 },
		`wgtorrent_rpc_requests_total{method="torrent-add",result="success"}`: func(v float64) bool { return v == 1 },
	} {
		if want == nil {
			if !strings.Contains(metrics, series+"\n") {
				t.Errorf("/metrics lacks %q", series)
			}
			continue
		}
		if v, ok := metricValue(metrics, series); !ok || !want(v) {
			t.Errorf("/metrics: %s = %v (present %v): unexpected", series, v, ok)
		}
	}
	var torrents float64
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "wgtorrent_torrents{") {
			var v float64
			fmt.Sscan(l[strings.LastIndex(l, " ")+1:], &v)
			torrents += v
		}
	}
	if torrents != 1 {
		t.Errorf("wgtorrent_torrents sums to %v over its states, want 1 (one magnet added)", torrents)
	}

	// Keep traffic flowing into the tunnel, so that unanswered packets
	// make it stale (an idle tunnel would only expire after minutes).
	stopTraffic := udpTraffic(t, cl, netip.AddrPortFrom(lab.Peer.Addr4, 9))
	defer stopTraffic()
	stopped := time.Now()
	must(t, srv.Stop())
	reason, _ := c.waitHealth(t, p, http.StatusServiceUnavailable, 45*time.Second)
	t.Logf("/healthz 503 %q %s after the VPN server stopped", reason, time.Since(stopped).Round(100*time.Millisecond))
	if !strings.Contains(reason, "tunnel") && !strings.Contains(reason, "handshake") {
		t.Errorf("/healthz 503 reason %q does not name the tunnel", reason)
	}
	if out, code := health(); code != 1 || !strings.Contains(out, "unhealthy") {
		t.Errorf("wgtorrent health with the tunnel stale: exit %d, %q; want 1 and the reason", code, out)
	} else {
		t.Logf("wgtorrent health: exit 1, %q", out)
	}
	_, metrics, err = c.get("/metrics")
	must(t, err)
	if v, ok := metricValue(metrics, "wgtorrent_healthy"); !ok || v != 0 {
		t.Errorf("wgtorrent_healthy = %v (present %v) while /healthz is 503", v, ok)
	}
	if v, _ := metricValue(metrics, `wgtorrent_tunnel_state{state="up"}`); v != 0 {
		t.Errorf(`wgtorrent_tunnel_state{state="up"} = %v while the server is down`, v)
	}

	must(t, srv.Start())
	restarted := time.Now()
	c.waitHealth(t, p, http.StatusOK, 45*time.Second)
	t.Logf("/healthz 200 again %s after the VPN server restarted", time.Since(restarted).Round(100*time.Millisecond))
	stopTraffic()
	t.Logf("SIGTERM: stopped in %s", stopDaemon(t, p).Round(10*time.Millisecond))
	assertNothingLeft(t, cl)
}

// TestDaemonBadRequests: malformed and wrong requests get errors, change
// nothing, and the daemon keeps serving.
func TestDaemonBadRequests(t *testing.T) {
	lab, _, conf := newLab(t, netlab.Options{})
	cl := lab.Client
	data, out := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, cl, daemonArgs(conf, data, out)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, http.StatusOK, 20*time.Second)
	hash := randomHash(t)
	c.call(t, "torrent-add", map[string]any{"filename": hash, "paused": true}, nil)

	// The CSRF guard: no session id, 409 with one.
	code, hdr, _, err := c.request(http.MethodPost, "/transmission/rpc", []byte(`{"method":"session-get"}`), nil)
	must(t, err)
	if code != http.StatusConflict || hdr.Get("X-Transmission-Session-Id") == "" {
		t.Errorf("no session id: HTTP %d, id %q; want 409 with an id", code, hdr.Get("X-Transmission-Session-Id"))
	}
	// A wrong Host without auth (DNS rebinding) is refused.
	code, _, _, err = c.request(http.MethodPost, "/transmission/rpc", nil, map[string]string{"Host": "evil.example"})
	must(t, err)
	if code != http.StatusMisdirectedRequest {
		t.Errorf("Host evil.example: HTTP %d, want 421", code)
	}

	for _, tc := range []struct {
		name, body string
	}{
		{"truncated JSON", `{"method": "torrent-get", "arguments": {`},
		{"not an object", `["torrent-get"]`},
		{"trailing data", `{"method":"session-get"} {}`},
		{"unknown method", `{"method":"torrent-explode"}`},
		{"arguments not an object", `{"method":"torrent-get","arguments":[1,2]}`},
		{"ids of wrong type", `{"method":"torrent-start","arguments":{"ids":{"a":1}}}`},
		{"add http URL", `{"method":"torrent-add","arguments":{"filename":"http://198.18.3.2/x.torrent"}}`},
		{"add garbage metainfo", `{"method":"torrent-add","arguments":{"metainfo":"bm90IGEgdG9ycmVudA=="}}`},
		{"add relative path", `{"method":"torrent-add","arguments":{"filename":"x.torrent"}}`},
		{"add /dev/zero", `{"method":"torrent-add","arguments":{"filename":"/dev/zero"}}`},
		{"set negative limit", `{"method":"torrent-set","arguments":{"ids":[1],"downloadLimit":-5}}`},
		{"set-location relative", `{"method":"torrent-set-location","arguments":{"ids":[1],"location":"tmp"}}`},
	} {
		code, b, err := c.post([]byte(tc.body))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if code == http.StatusOK && strings.Contains(string(b), `"result":"success"`) {
			t.Errorf("%s: answered success: %s", tc.name, b)
			continue
		}
		t.Logf("%s: HTTP %d %s", tc.name, code, b)
	}
	// Ids of no torrent select nothing, as in Transmission: success, and
	// nothing changes (checked below).
	for _, body := range []string{
		`{"method":"torrent-stop","arguments":{"ids":[999]}}`,
		`{"method":"torrent-remove","arguments":{"ids":["` + strings.Repeat("ab", 20) + `"],"delete-local-data":true}}`,
		`{"method":"torrent-set-location","arguments":{"ids":[999],"location":"` + out + `"}}`,
	} {
		if code, b, err := c.post([]byte(body)); err != nil || code != http.StatusOK || !strings.Contains(string(b), `"result":"success"`) {
			t.Errorf("%s: HTTP %d %s, %v; want success selecting nothing", body, code, b, err)
		}
	}
	// A body beyond the limit (10 MiB) is refused as such.
	code, b, err := c.post([]byte(`{"method":"session-get","arguments":{"x":"` + strings.Repeat("a", 11<<20) + `"}}`))
	if err != nil || code != http.StatusRequestEntityTooLarge {
		t.Errorf("11 MiB body: HTTP %d %.100s, %v; want 413", code, b, err)
	}
	code, _, _, err = c.request(http.MethodGet, "/transmission/rpc", nil, map[string]string{"X-Transmission-Session-Id": c.sid})
	if err != nil || code != http.StatusMethodNotAllowed {
		t.Errorf("GET /transmission/rpc: HTTP %d, %v; want 405", code, err)
	}

	// Nothing changed, and the daemon still serves.
	now := c.torrents(t)
	if x, ok := now[1]; len(now) != 1 || !ok || x.HashString != hash || x.Status != 0 {
		t.Errorf("after the bad requests the torrents are %v, want only #1 %s, stopped", now, hash)
	}
	c.call(t, "session-get", nil, nil)
	c.waitHealth(t, p, http.StatusOK, 5*time.Second)
	select {
	case <-p.Exited():
		t.Fatalf("daemon exited: %v", p.Err())
	default:
	}
	stopDaemon(t, p)
	assertNothingLeft(t, cl)
}

// TestDaemonOnlyNetAdmin runs the daemon as a container would: as user
// nobody with CAP_NET_ADMIN as its only capability (ambient, set by capsh),
// the RPC on every address with a password and the ISP-side subnet as
// its LAN, plus a LAN range behind the ISP (not directly connected, as a
// home LAN behind Docker's NAT). The LAN side reaches the RPC with the
// password and not without, from both; a socket of the client host that
// skips the tunnel reaches nothing, and nothing but the RPC's answers
// leaves outside the tunnel.
func TestDaemonOnlyNetAdmin(t *testing.T) {
	needPrograms(t, "capsh", "unshare", "mknod", "mount")
	lab, srv, _ := newLab(t, netlab.Options{})
	cl := lab.Client
	nobody := 65534

	// Everything the daemon reads or runs must be reachable by nobody.
	dir, bin, conf := nobodyDir(t, "wgt-e2e-netadmin-", srv.ClientConfig(), nobody)
	data := filepath.Join(dir, "data")
	must(t, os.Mkdir(data, 0o700))
	must(t, os.Chown(data, nobody, nobody))
	// nobody needs rw on /dev/net/tun, as a container gets it from
	// `devices:`; the host's node is root's alone on a fresh machine
	// (0600) and must stay as it is. The daemon gets a node of its own in
	// a private mount namespace (see tunNodeWrapper).
	hostTun, err := os.Stat("/dev/net/tun")
	must(t, err)
	tunDir := filepath.Join(dir, "tundev")
	must(t, os.Mkdir(tunDir, 0o755))

	peerRec := peerRecorder(t, lab)
	defer peerRec.close()
	capt := startLeakCapture(t, lab, srv.Endpoint())

	const user, pass = "sonarr", "s3cret-pw"
	lan := netip.PrefixFrom(lab.Client.Gateway4, 24).Masked()
	// A LAN host one router away: an address on the ISP's loopback, which
	// the client reaches only through its default gateway.
	farLAN := netip.MustParsePrefix("192.168.77.0/24")
	far := netip.MustParseAddr("192.168.77.1")
	lo, err := lab.ISP.Netlink().LinkByName("lo")
	must(t, err)
	must(t, lab.ISP.Netlink().AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: far.AsSlice(), Mask: net.CIDRMask(32, 32)}}))
	farDial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = lab.ISP.Do(func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: far.AsSlice()}}
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	rpcOn := netip.AddrPortFrom(lab.Client.Addr4, 9091).String()
	// Flags as a compose file would pass them: WGTORRENT_* variables.
	env := []string{
		"WGTORRENT_CONFIG=" + conf,
		"WGTORRENT_DATA=" + data,
		"WGTORRENT_RPC_LISTEN=0.0.0.0:9091",
		"WGTORRENT_RPC_USERNAME=" + user,
		"WGTORRENT_RPC_PASSWORD=" + pass,
		"WGTORRENT_LAN=" + lan.String() + "," + farLAN.String(),
		"WGTORRENT_DHT=false",
		"WGTORRENT_LAN_PORT=8989", // a web UI sharing the namespace, as Sonarr's in deploy/compose.yaml
	}
	// "Sonarr": one service the LAN may reach (8989), one it may not (8990).
	for _, port := range []int{8989, 8990} {
		ln, err := cl.ListenTCP(fmt.Sprintf(":%d", port))
		must(t, err)
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	// capsh keeps CAP_NET_ADMIN across the switch to nobody (--keep=1),
	// then raises it as ambient so that it survives exec into bash and the
	// daemon (and the daemon's own re-exec); every other capability is gone.
	p := startInNS(t, cl, env, "unshare", tunNodeWrapper(tunDir, "capsh",
		"--caps=cap_net_admin+eip cap_setpcap,cap_setuid,cap_setgid+ep",
		"--keep=1", fmt.Sprintf("--user=%s", "nobody"), "--addamb=cap_net_admin",
		"--", "-c", "exec "+bin+" daemon")...)

	lanSide := newRPCClient(lab.ISP, rpcOn, user, pass)
	body, took := lanSide.waitHealth(t, p, http.StatusOK, 20*time.Second)
	t.Logf("/healthz from the LAN side: %q after %s", body, took.Round(100*time.Millisecond))
	status := procStatus(t, p.Cmd.Process.Pid)
	t.Logf("daemon process: %s", status)
	for _, want := range []string{"Uid:\t65534", "CapEff:\t0000000000001000", "CapPrm:\t0000000000001000"} {
		if !strings.Contains(status, want) {
			t.Errorf("daemon process status lacks %q: it does not run as nobody with CAP_NET_ADMIN only:\n%s", want, status)
		}
	}

	var sess map[string]any
	lanSide.call(t, "session-get", nil, &sess)
	t.Logf("session-get from the LAN side: version %v, download-dir %v", sess["version"], sess["download-dir"])
	// Answers to the far LAN host must leave by the gateway, not the tunnel.
	farSide := newRPCClientDial(farDial, rpcOn, user, pass)
	if code, _, _, err := farSide.request(http.MethodGet, "/healthz", nil, nil); err != nil || code != http.StatusOK {
		t.Errorf("/healthz from a LAN host behind a router (%s): HTTP %d, %v; want 200", far, code, err)
	}
	lanSide.call(t, "torrent-add", map[string]any{"filename": randomHash(t), "paused": true}, nil)
	noAuth := newRPCClient(lab.ISP, rpcOn, "", "")
	if code, _, _, err := noAuth.request(http.MethodPost, "/transmission/rpc", []byte(`{"method":"session-get"}`), nil); err != nil || code != http.StatusUnauthorized {
		t.Errorf("RPC from the LAN side without the password: HTTP %d, %v; want 401", code, err)
	}
	wrong := newRPCClient(lab.ISP, rpcOn, user, "wrong")
	if code, _, _, err := wrong.request(http.MethodGet, "/metrics", nil, nil); err != nil || code != http.StatusUnauthorized {
		t.Errorf("/metrics from the LAN side with a wrong password: HTTP %d, %v; want 401", code, err)
	}

	for port, want := range map[int]bool{8989: true, 8990: false} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := lab.ISP.DialContext(ctx, "tcp", netip.AddrPortFrom(lab.Client.Addr4, uint16(port)).String())
		cancel()
		if err == nil {
			c.Close()
		}
		if (err == nil) != want {
			t.Errorf("LAN side to the client's port %d: %v; want reachable=%v (--lan-port 8989 only)", port, err, want)
		}
	}

	// Through the tunnel, the client host's traffic reaches the peer as the
	// VPN server; outside it (sockets marked to skip the tunnel's routing),
	// nothing gets through.
	waitThroughTunnel(t, lab, 10*time.Second)
	peer := target{"peer", lab.Peer.Addr4, whoamiPort, whoamiPort}
	rs := probeAll(cl, peer, vpn.DefaultFwMark)
	assertNoneReached(t, "from the client host outside the tunnel", rs)
	// The VPN host on another port, outside the tunnel: not LAN, blocked.
	rs = probeAll(cl, target{"vpn-host", lab.VPN.Addr4, 22, netlab.WGPort + 1}, vpn.DefaultFwMark)
	assertNoneReached(t, "to the VPN host outside the tunnel", rs)
	peerRec.assertNeverSaw(t, lab.Client.Addr4)

	t.Logf("SIGTERM: stopped in %s", stopDaemon(t, p).Round(10*time.Millisecond))
	if now, err := os.Stat("/dev/net/tun"); err != nil || now.Mode() != hostTun.Mode() {
		t.Errorf("the host's /dev/net/tun is %v (%v), was %v: the test must not change it", now.Mode(), err, hostTun.Mode())
	}
	// What left the client outside the tunnel may only be the RPC's
	// answers to the LAN side.
	var unexpected []string
	answers := 0
	rpcAnswer := lab.Client.Addr4.String() + ".9091 > " + lab.Client.Gateway4.String() + "."
	uiAnswer := lab.Client.Addr4.String() + ".8989 > " + lab.Client.Gateway4.String() + "."
	farAnswer := lab.Client.Addr4.String() + ".9091 > " + far.String() + "."
	for _, l := range capt.stop(t) {
		if strings.Contains(l, rpcAnswer) || strings.Contains(l, uiAnswer) || strings.Contains(l, farAnswer) {
			answers++
		} else {
			unexpected = append(unexpected, l)
		}
	}
	// The RPC's answers prove that the capture saw the uplink at all.
	if answers == 0 {
		t.Errorf("the capture saw no RPC answers to the LAN side: it did not watch the client's uplink")
	}
	if len(unexpected) > 0 {
		t.Errorf("%d packets left the client outside the tunnel besides RPC and UI answers to the LAN:\n  %s", len(unexpected), strings.Join(unexpected, "\n  "))
	}
	assertNothingLeft(t, cl)
}

// procStatus returns the Uid and Cap* lines of /proc/PID/status.
func procStatus(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	must(t, err)
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Cap") || strings.HasPrefix(l, "Name:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// udpTraffic sends a small datagram from h to dst every 200 ms until the
// returned stop is called (idempotent).
func udpTraffic(t *testing.T, h *netlab.Host, dst netip.AddrPort) (stop func()) {
	t.Helper()
	c, err := h.DialContext(context.Background(), "udp", dst.String())
	must(t, err)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			_, _ = c.Write([]byte("ping")) // errors (no route, rejected) are expected while the tunnel is down
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			c.Close()
		})
	}
}

func randomHash(t *testing.T) string {
	var b [20]byte
	_, err := rand.Read(b[:])
	must(t, err)
	return hex.EncodeToString(b[:])
}

// TestDaemonPartialSelectionFinishes: a torrent added with one file
// unwanted is done, as Transmission says it and Sonarr/Radarr read it,
// once the wanted files are: status 6 (seeding), leftUntilDone 0,
// percentDone 1, doneDate set; the unwanted file is not downloaded.
func TestDaemonPartialSelectionFinishes(t *testing.T) {
	d := newDaemonLab(t, 0)
	cl := d.lab.Client
	out := t.TempDir()
	p := startWgtorrent(t, cl, daemonArgs(d.conf, t.TempDir(), out)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, 200, 30*time.Second)
	id := c.addFile(t, d.main.File, map[string]any{"paused": true})
	var files struct {
		Torrents []struct {
			Files []struct {
				Name string `json:"name"`
			} `json:"files"`
		} `json:"torrents"`
	}
	c.call(t, "torrent-get", map[string]any{"ids": []int{id}, "fields": []string{"files"}}, &files)
	unwanted := -1
	for i, f := range files.Torrents[0].Files {
		if strings.HasSuffix(f.Name, "sub/beta.bin") {
			unwanted = i
		}
	}
	if unwanted < 0 {
		t.Fatalf("no sub/beta.bin among %+v", files)
	}
	c.call(t, "torrent-set", map[string]any{"ids": []int{id}, "files-unwanted": []int{unwanted}}, nil)
	c.call(t, "torrent-start", map[string]any{"ids": []int{id}}, nil)
	c.waitTorrent(t, p, id, 60*time.Second, "seeding", func(x daemonTorrent) bool { return x.Status == 6 })
	var got struct {
		Torrents []struct {
			LeftUntilDone int64   `json:"leftUntilDone"`
			PercentDone   float64 `json:"percentDone"`
			DoneDate      int64   `json:"doneDate"`
			HaveValid     int64   `json:"haveValid"`
			TotalSize     int64   `json:"totalSize"`
		} `json:"torrents"`
	}
	c.call(t, "torrent-get", map[string]any{"ids": []int{id},
		"fields": []string{"leftUntilDone", "percentDone", "doneDate", "haveValid", "totalSize"}}, &got)
	if len(got.Torrents) != 1 {
		t.Fatalf("torrent-get: %+v", got)
	}
	g := got.Torrents[0]
	if g.LeftUntilDone != 0 || g.PercentDone != 1 || g.DoneDate == 0 || g.HaveValid >= g.TotalSize {
		t.Errorf("a finished partial selection: %+v; want leftUntilDone 0, percentDone 1, doneDate set, not the whole torrent", g)
	}
	for _, f := range []string{"alpha.bin", "gamma.dat"} {
		if err := netlab.SameFile(filepath.Join(d.main.Root, d.main.Name, f), filepath.Join(out, d.main.Name, f)); err != nil {
			t.Error(err)
		}
	}
	stopDaemon(t, p)
}
