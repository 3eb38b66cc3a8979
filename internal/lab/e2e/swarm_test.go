//go:build linux

package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// The swarm lives on the lab's peer host (198.18.3.2): an opentracker on
// trackerPort and a transmission-daemon seeding on transmissionPeerPort.
const (
	trackerPort          = 6969
	transmissionPeerPort = 51413
	transmissionRPCPort  = 9091
	qbittorrentPeerPort  = 6882
	qbittorrentWebUI     = 8089
)

// defaultContent is ~24 MiB in three files, one in a subdirectory, with
// sizes that are not piece multiples so pieces span file boundaries.
var defaultContent = []netlab.ContentFile{
	{Path: "alpha.bin", Size: 11<<20 + 12345},
	{Path: "sub/beta.bin", Size: 9<<20 + 777},
	{Path: "gamma.dat", Size: 4<<20 + 1},
}

// swarmTorrent is netlab's generated torrent with the tests' checks.
type swarmTorrent struct{ *netlab.Torrent }

// makeTorrent writes files of random bytes under a fresh directory and
// makes a multi-file torrent of them, announcing to the lab's tracker.
func makeTorrent(t *testing.T, lab *netlab.Lab, files []netlab.ContentFile) *swarmTorrent {
	t.Helper()
	return makeNamedTorrent(t, lab, netlab.TorrentSpec{Name: "wgt-content-" + lab.ID, Files: files})
}

// makeNamedTorrent is makeTorrent with spec's name and piece length.
func makeNamedTorrent(t *testing.T, lab *netlab.Lab, spec netlab.TorrentSpec) *swarmTorrent {
	t.Helper()
	spec.Announce = fmt.Sprintf("http://%s:%d/announce", lab.Peer.Addr4, trackerPort)
	nt, err := netlab.MakeTorrent(t.TempDir(), spec)
	must(t, err)
	return &swarmTorrent{nt}
}

func (st *swarmTorrent) magnet(lab *netlab.Lab) string {
	tr := fmt.Sprintf("http://%s:%d/announce", lab.Peer.Addr4, trackerPort)
	return "magnet:?xt=urn:btih:" + st.InfoHash + "&dn=" + url.QueryEscape(st.Name) + "&tr=" + url.QueryEscape(tr)
}

// copyTo copies the content into dir/Name, as a finished download.
func (st *swarmTorrent) copyTo(t *testing.T, dir string) {
	t.Helper()
	for _, f := range st.Files {
		b, err := os.ReadFile(filepath.Join(st.Root, st.Name, f.Path))
		must(t, err)
		dst := filepath.Join(dir, st.Name, f.Path)
		must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		must(t, os.WriteFile(dst, b, 0o644))
	}
}

// assertIdentical fails t unless dir/Name holds the content, the same
// files with the same bytes.
func (st *swarmTorrent) assertIdentical(t *testing.T, who, dir string) {
	t.Helper()
	if err := netlab.SameTree(filepath.Join(st.Root, st.Name), filepath.Join(dir, st.Name)); err != nil {
		t.Errorf("%s: %v", who, err)
	}
}

// tracker is a Debian opentracker on the peer host, whitelisting the
// lab's torrents.
type tracker struct {
	*netlab.Opentracker
	lab *netlab.Lab
}

func startTracker(t *testing.T, lab *netlab.Lab, infoHashes ...string) *tracker {
	t.Helper()
	needPrograms(t, "opentracker")
	ot, err := lab.StartOpentracker(context.Background(), t.TempDir(), trackerPort, infoHashes)
	must(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("opentracker output:\n%s", ot.Log.String())
		}
	})
	return &tracker{Opentracker: ot, lab: lab}
}

func (tr *tracker) get(pathQuery string) (string, error) { return tr.Get(pathQuery) }

func hashParam(t *testing.T, hexHash string) string {
	t.Helper()
	var ih metainfo.Hash
	must(t, ih.FromHexString(hexHash))
	return netlab.EscapeBytes(ih.Bytes())
}

// swarmPeers announces to the tracker from the peer host as a fresh
// leecher and returns the addresses the tracker holds for infoHash; it
// then announces "stopped" so nobody tries to reach the made-up peer.
func (tr *tracker) swarmPeers(t *testing.T, infoHash string) []netip.AddrPort {
	t.Helper()
	q := "info_hash=" + hashParam(t, infoHash) + "&peer_id=-E2E001-" + tr.lab.ID + "abcdef" +
		"&port=9&uploaded=0&downloaded=0&left=1&compact=1&numwant=200"
	body, err := tr.get("/announce?" + q + "&event=started")
	if err != nil {
		t.Fatalf("announce to opentracker: %v (%q)", err, body)
	}
	var resp struct {
		Failure string `bencode:"failure reason"`
		Peers   string `bencode:"peers"`
	}
	if err := bencode.Unmarshal([]byte(body), &resp); err != nil {
		t.Fatalf("opentracker answer %q: %v", body, err)
	}
	if resp.Failure != "" {
		t.Fatalf("opentracker refused the announce: %s", resp.Failure)
	}
	var peers []netip.AddrPort
	for p := []byte(resp.Peers); len(p) >= 6; p = p[6:] {
		peers = append(peers, netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[:4])), uint16(p[4])<<8|uint16(p[5])))
	}
	_, _ = tr.get("/announce?" + q + "&event=stopped")
	return peers
}

// transmission is a Debian transmission-daemon on the peer host.
type transmission struct{ *netlab.Transmission }

// startSeeder runs transmission-daemon on the peer host, adds st (whose
// data is already in st.Root) and waits until it seeds 100% and its
// announce to the tracker succeeded.
func startSeeder(t *testing.T, lab *netlab.Lab, st *swarmTorrent, opts ...func(*netlab.TransmissionConfig)) *transmission {
	t.Helper()
	needPrograms(t, "transmission-daemon")
	cfg := netlab.TransmissionConfig{
		Host:        lab.Peer,
		ConfigDir:   filepath.Join(t.TempDir(), "transmission"),
		DownloadDir: st.Root,
		PeerPort:    transmissionPeerPort,
		RPCPort:     transmissionRPCPort,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ntm, err := netlab.StartTransmission(context.Background(), cfg)
	must(t, err)
	tm := &transmission{ntm}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("transmission-daemon output:\n%s", tm.Log.String())
		var raw map[string]any
		err := tm.Call("torrent-get", map[string]any{"ids": []string{st.InfoHash},
			"fields": []string{"status", "percentDone", "uploadedEver", "errorString", "trackerStats", "peers"}}, &raw)
		t.Logf("transmission's torrent at the end: %v (%v)", raw, err)
	})
	must(t, tm.Seed(context.Background(), st.Torrent, 20*time.Second))
	return tm
}

func (tm *transmission) stats(t *testing.T, infoHash string) netlab.TransmissionStats {
	t.Helper()
	s, err := tm.Stats(infoHash)
	if err != nil {
		t.Fatalf("transmission torrent-get: %v", err)
	}
	return s
}

// waitListening polls until something accepts TCP on addr, dialling from h.
func waitListening(t *testing.T, h *netlab.Host, addr string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := h.DialContext(ctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening on %s within %s: %v", addr, within, err)
		}
		time.Sleep(100 * time.Millisecond) // polling an external program's start-up
	}
}
