//go:build linux

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab/labtest"
)

// TestDaemonTrackerTruth: what trackers answer reaches the RPC as they
// said it, and announces go out when they matter (issue 21), against
// opentracker and transmission-daemon in the lab:
//   - a tracker that refuses (opentracker without the hash in its
//     whitelist) shows its words; a working one, its real peer count;
//   - stop then start has a peer again within 5 s;
//   - a magnet whose first announce found nobody gets the seeder that
//     announced after it within 30 s;
//   - an HTTPS tracker with a certificate of a lab CA fails with a
//     "certificate" error until the CA is trusted (SSL_CERT_FILE), and
//     its passkey never reaches the log;
//   - the refusal shows in the JSON lines and the TUI's Trackers tab too.
func TestDaemonTrackerTruth(t *testing.T) {
	labtest.SkipIfNotRoot(t)
	needPrograms(t, "wireguard-go", "wg", "opentracker", "transmission-daemon")
	lab, _, conf := newLab(t, netlab.Options{})
	small := []netlab.ContentFile{{Path: "one.bin", Size: 1<<20 + 4321}, {Path: "dir/two.bin", Size: 512<<10 + 99}}
	main := makeTorrent(t, lab, daemonContent)
	late := makeLocalTorrent(t, lab, "wgt-late-"+lab.ID, small)
	unlisted := makeLocalTorrent(t, lab, "wgt-unlisted-"+lab.ID, small)
	const passkey = "pk0123456789abcdef"
	caFile, httpsAnnounce := startHTTPSTracker(t, lab)
	secure, err := netlab.MakeTorrent(t.TempDir(), netlab.TorrentSpec{Name: "wgt-secure-" + lab.ID, Files: small,
		PieceLength: 64 << 10, Announce: httpsAnnounce + "?passkey=" + passkey})
	must(t, err)
	startTracker(t, lab, main.InfoHash, late.InfoHash, secure.InfoHash)
	seed := startSeeder(t, lab, main)

	cl := lab.Client
	data, out := t.TempDir(), t.TempDir()
	p := startWgtorrent(t, cl, daemonArgs(conf, data, out)...)
	c := newRPCClient(cl, daemonRPCAddr, "", "")
	c.waitHealth(t, p, 200, 30*time.Second)

	// Slowed, so that it still wants peers through the stop and start.
	mainID := c.addFile(t, main.File, map[string]any{"paused": true})
	c.call(t, "torrent-set", map[string]any{"ids": []int{mainID}, "downloadLimited": true, "downloadLimit": 200}, nil)
	c.call(t, "torrent-start", map[string]any{"ids": []int{mainID}}, nil)
	unlistedID := c.addFile(t, unlisted.File, nil)

	tr := c.waitTracker(t, p, unlistedID, 30*time.Second, "refused", func(tr map[string]any) bool {
		return tr["hasAnnounced"] == true
	})
	if tr["lastAnnounceSucceeded"] != false || !strings.Contains(fmt.Sprint(tr["lastAnnounceResult"]), "not authorized") {
		t.Errorf("a tracker refusing the torrent: %v; want its refusal", tr)
	}
	tr = c.waitTracker(t, p, mainID, 30*time.Second, "answered with the seeder", func(tr map[string]any) bool {
		return tr["lastAnnounceSucceeded"] == true
	})
	// opentracker's peer list holds the announcer too.
	if tr["lastAnnouncePeerCount"].(float64) < 1 || tr["seederCount"] != 1.0 || tr["lastAnnounceResult"] != "Success" ||
		tr["host"] != fmt.Sprintf("http://%s:%d", lab.Peer.Addr4, trackerPort) || tr["nextAnnounceTime"].(float64) <= float64(time.Now().Unix()) {
		t.Errorf("a working tracker: %v; want the seeder among its peers, 1 seeder, host with scheme and port, a next announce", tr)
	}
	c.waitPeers(t, p, mainID, 30*time.Second, func(n int) bool { return n >= 1 })

	// Stop, then start: "stopped", then "started" at once.
	c.call(t, "torrent-stop", map[string]any{"ids": []int{mainID}}, nil)
	c.waitPeers(t, p, mainID, 10*time.Second, func(n int) bool { return n == 0 })
	c.waitTorrent(t, p, mainID, 10*time.Second, "stopped", func(x daemonTorrent) bool { return x.Status == 0 })
	start := time.Now()
	c.call(t, "torrent-start", map[string]any{"ids": []int{mainID}}, nil)
	c.waitPeers(t, p, mainID, 5*time.Second, func(n int) bool { return n >= 1 })
	t.Logf("stop/start: a peer again %v after the start", time.Since(start).Round(10*time.Millisecond))

	// transmission-remote's tracker edits: added, announced to, removed.
	extra := fmt.Sprintf("udp://%s:%d/announce", lab.Peer.Addr4, trackerPort)
	remoteOK(t, cl, "-t", fmt.Sprint(mainID), "-td", extra)
	c.waitTorrentField(t, p, mainID, "trackerStats", 30*time.Second, "with the added tracker announced to", func(v any) bool {
		trs, _ := v.([]any)
		return len(trs) == 2 && strings.Contains(fmt.Sprint(trs[1]), extra) && strings.Contains(fmt.Sprint(trs[1]), "hasAnnounced:true")
	})
	remoteOK(t, cl, "-t", fmt.Sprint(mainID), "-tr", "1")
	c.waitTorrentField(t, p, mainID, "trackerStats", 10*time.Second, "with the tracker removed", func(v any) bool {
		trs, _ := v.([]any)
		return len(trs) == 1
	})

	// A magnet that found nobody, and the seeder announcing after it.
	var added map[string]struct {
		ID int `json:"id"`
	}
	c.call(t, "torrent-add", map[string]any{"filename": late.magnet(lab)}, &added)
	lateID := added["torrent-added"].ID
	c.waitTracker(t, p, lateID, 30*time.Second, "announced to, no seeder", func(tr map[string]any) bool {
		return tr["lastAnnounceSucceeded"] == true && tr["seederCount"] == 0.0
	})
	must(t, seed.Seed(context.Background(), late.Torrent, 60*time.Second))
	start = time.Now()
	c.waitTorrent(t, p, lateID, 30*time.Second, "downloading from the late seeder", func(x daemonTorrent) bool { return x.HaveValid > 0 })
	t.Logf("late seeder: data %v after its announce", time.Since(start).Round(10*time.Millisecond))

	// HTTPS: refused while the lab CA is unknown.
	secureID := c.addFile(t, secure.File, nil)
	tr = c.waitTracker(t, p, secureID, 30*time.Second, "failed", func(tr map[string]any) bool { return tr["hasAnnounced"] == true })
	if tr["lastAnnounceSucceeded"] != false || !strings.Contains(fmt.Sprint(tr["lastAnnounceResult"]), "certificate") {
		t.Errorf("HTTPS tracker with an unknown CA: %v; want a certificate error", tr)
	}
	stopDaemon(t, p)

	// Trusted: the same torrents, restored, announce over HTTPS.
	p2 := startInNS(t, cl, []string{"SSL_CERT_FILE=" + caFile}, wgtorrentBin, daemonArgs(conf, data, out)...)
	c.waitHealth(t, p2, 200, 30*time.Second)
	tr = c.waitTracker(t, p2, secureID, 30*time.Second, "working over HTTPS", func(tr map[string]any) bool {
		return tr["lastAnnounceSucceeded"] == true
	})
	t.Logf("HTTPS tracker with the lab CA trusted: %v", tr["lastAnnounceResult"])
	stopDaemon(t, p2)

	// The refusal in the other front ends: the JSON lines of a download,
	// and the TUI's Trackers tab.
	p3 := startWgtorrent(t, cl, "--config", conf, "--out", t.TempDir(), "--data", t.TempDir(), "--json", "--no-dht",
		"--torrent", unlisted.File)
	p3.waitLine(30*time.Second, "a JSON line with the tracker's refusal", func(m map[string]any) bool {
		trs, _ := m["trackers"].([]any)
		return len(trs) == 1 && strings.Contains(fmt.Sprint(trs[0]), "not authorized")
	})
	p3.Stop(syscall.SIGTERM, 10*time.Second)
	term := startTmux(t, cl.NetNS, wgtorrentBin, "tui", "--config", conf, "--out", t.TempDir(), "--data", t.TempDir(),
		"--no-dht", unlisted.File)
	term.waitFor(30*time.Second, "the tunnel bar saying the tunnel is up", tunnelUp)
	term.keys("Enter", "l", "l")
	term.waitFor(30*time.Second, "the Trackers tab with the refusal", func(sc string) bool {
		return strings.Contains(sc, "Last result") && strings.Contains(sc, "not authorized")
	})
	term.quit()
	if code := term.waitExit(30 * time.Second); code != 0 {
		t.Errorf("TUI exit status %d", code)
	}
	for _, pr := range []*proc{p, p2, p3} {
		if strings.Contains(pr.Stderr(), passkey) {
			t.Errorf("the passkey is in the daemon's log")
		}
		for _, l := range pr.Lines(0) {
			if strings.Contains(fmt.Sprint(l), passkey) {
				t.Errorf("the passkey is in a status line: %v", l)
			}
		}
	}
}

// waitTracker polls the torrent's first trackerStats entry until ok.
func (c *rpcClient) waitTracker(t *testing.T, p *proc, id int, within time.Duration, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	var last map[string]any
	c.waitTorrentField(t, p, id, "trackerStats", within, "tracker "+what, func(v any) bool {
		trs, _ := v.([]any)
		if len(trs) == 0 {
			return false
		}
		last, _ = trs[0].(map[string]any)
		return last != nil && ok(last)
	})
	return last
}

// waitPeers polls the torrent's peersConnected until ok.
func (c *rpcClient) waitPeers(t *testing.T, p *proc, id int, within time.Duration, ok func(int) bool) {
	t.Helper()
	c.waitTorrentField(t, p, id, "peersConnected", within, "with the peers wanted", func(v any) bool {
		n, _ := v.(float64)
		return ok(int(n))
	})
}

// waitTorrentField polls one torrent-get field of a torrent until ok.
func (c *rpcClient) waitTorrentField(t *testing.T, p *proc, id int, field string, within time.Duration, what string, ok func(any) bool) {
	t.Helper()
	pollDaemon(t, p, within, fmt.Sprintf("torrent %d %s", id, what), func() (bool, string) {
		var got struct {
			Torrents []map[string]any `json:"torrents"`
		}
		c.call(t, "torrent-get", map[string]any{"ids": []int{id}, "fields": []string{field}}, &got)
		if len(got.Torrents) != 1 {
			return false, "no such torrent"
		}
		v := got.Torrents[0][field]
		return ok(v), fmt.Sprintf("%s %v", field, v)
	})
}

// startHTTPSTracker puts an HTTPS front, with a certificate of a fresh lab
// CA, before the lab's opentracker on the peer host. It returns the CA's
// PEM file and the announce URL.
func startHTTPSTracker(t *testing.T, lab *netlab.Lab) (caFile, announce string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wgtorrent lab CA " + lab.ID},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: lab.Peer.Addr4.String()},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IPAddresses: []net.IP{lab.Peer.Addr4.AsSlice()},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}, ca, &key.PublicKey, caKey)
	must(t, err)
	caFile = filepath.Join(t.TempDir(), "lab-ca.pem")
	must(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))

	const port = 8443
	l, err := lab.Peer.ListenTCP(fmt.Sprintf("%s:%d", lab.Peer.Addr4, port))
	must(t, err)
	backend := &url.URL{Scheme: "http", Host: fmt.Sprintf("%s:%d", lab.Peer.Addr4, trackerPort)}
	proxy := httputil.NewSingleHostReverseProxy(backend)
	proxy.Transport = &http.Transport{DialContext: lab.Peer.DialContext}
	srv := &http.Server{Handler: proxy, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{
		Certificate: [][]byte{leafDER}, PrivateKey: key,
	}}}}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	return caFile, fmt.Sprintf("https://%s:%d/announce", lab.Peer.Addr4, port)
}
