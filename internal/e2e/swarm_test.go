//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"

	"github.com/wgtorrent/wgtorrent/internal/netlab"
)

// The swarm lives on the lab's peer host (198.18.3.2): an opentracker on
// trackerPort and a transmission-daemon seeding on transmissionPeerPort.
const (
	trackerPort          = 6969
	transmissionPeerPort = 51413
	transmissionRPCPort  = 9091
)

// defaultContent is ~24 MiB in three files, one in a subdirectory, with
// sizes that are not piece multiples so pieces span file boundaries.
var defaultContent = []contentFile{
	{"alpha.bin", 11<<20 + 12345},
	{"sub/beta.bin", 9<<20 + 777},
	{"gamma.dat", 4<<20 + 1},
}

type contentFile struct {
	path string // relative to the torrent's directory
	size int64
}

// swarmTorrent is random content on disk and its .torrent.
type swarmTorrent struct {
	Root     string // parent directory of Name: the seeders' download dir
	Name     string // the torrent's name, its top directory
	Files    []contentFile
	Size     int64
	File     string // the .torrent
	InfoHash string // v1, lower-case hex
}

// makeTorrent writes files of random bytes under a fresh directory and
// makes a multi-file torrent of them with mktorrent, announcing to the
// lab's tracker.
func makeTorrent(t *testing.T, lab *netlab.Lab, files []contentFile) *swarmTorrent {
	t.Helper()
	needPrograms(t, "mktorrent")
	base := t.TempDir()
	st := &swarmTorrent{Root: filepath.Join(base, "seed"), Name: "wgt-content-" + lab.ID, Files: files}
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	rng := rand.NewChaCha8(seed)
	for _, f := range files {
		p := filepath.Join(st.Root, st.Name, f.path)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		fh, err := os.Create(p)
		must(t, err)
		w := bufio.NewWriterSize(fh, 1<<20)
		buf := make([]byte, 64<<10)
		for left := f.size; left > 0; {
			n := min(int64(len(buf)), left)
			_, _ = rng.Read(buf[:n]) // ChaCha8.Read never fails
			_, err := w.Write(buf[:n])
			must(t, err)
			left -= n
		}
		must(t, w.Flush())
		must(t, fh.Close())
		st.Size += f.size
	}
	st.File = filepath.Join(base, st.Name+".torrent")
	announce := fmt.Sprintf("http://%s:%d/announce", lab.Peer.Addr4, trackerPort)
	out, err := lab.Peer.Command(context.Background(), "mktorrent", "-a", announce, "-o", st.File,
		filepath.Join(st.Root, st.Name)).CombinedOutput()
	if err != nil {
		t.Fatalf("mktorrent: %v\n%s", err, out)
	}
	mi, err := metainfo.LoadFromFile(st.File)
	must(t, err)
	st.InfoHash = mi.HashInfoBytes().HexString()
	return st
}

func (st *swarmTorrent) magnet(lab *netlab.Lab) string {
	tr := fmt.Sprintf("http://%s:%d/announce", lab.Peer.Addr4, trackerPort)
	return "magnet:?xt=urn:btih:" + st.InfoHash + "&dn=" + url.QueryEscape(st.Name) + "&tr=" + url.QueryEscape(tr)
}

// copyTo copies the content into dir/Name, as a finished download.
func (st *swarmTorrent) copyTo(t *testing.T, dir string) {
	t.Helper()
	for _, f := range st.Files {
		b, err := os.ReadFile(filepath.Join(st.Root, st.Name, f.path))
		must(t, err)
		dst := filepath.Join(dir, st.Name, f.path)
		must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		must(t, os.WriteFile(dst, b, 0o644))
	}
}

// assertIdentical fails t unless dir/Name holds every file of the content
// with the same bytes.
func (st *swarmTorrent) assertIdentical(t *testing.T, who, dir string) {
	t.Helper()
	for _, f := range st.Files {
		want, err := os.ReadFile(filepath.Join(st.Root, st.Name, f.path))
		must(t, err)
		got, err := os.ReadFile(filepath.Join(dir, st.Name, f.path))
		if err != nil {
			t.Errorf("%s: %v", who, err)
			continue
		}
		if !bytes.Equal(got, want) {
			first := -1
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					first = i
					break
				}
			}
			t.Errorf("%s: %s differs from the seeded file: %d bytes, want %d; first differing byte at %d",
				who, f.path, len(got), len(want), first)
		}
	}
}

// peerHTTP is an HTTP client whose connections start in the peer host's
// namespace, for the tracker and transmission's RPC.
func peerHTTP(lab *netlab.Lab) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext:       lab.Peer.DialContext,
			DisableKeepAlives: true,
			Proxy:             nil, // never the environment's proxy
		},
	}
}

// tracker is a Debian opentracker on the peer host, whitelisting the
// lab's torrents.
type tracker struct {
	lab  *netlab.Lab
	base string // http://198.18.3.2:6969
	hc   *http.Client
	log  *lockedBuffer
}

func startTracker(t *testing.T, lab *netlab.Lab, infoHashes ...string) *tracker {
	t.Helper()
	needPrograms(t, "opentracker")
	// opentracker chroots to -d and reads the whitelist after that, as
	// user nobody: a relative path inside a world-readable directory.
	dir := filepath.Join(t.TempDir(), "opentracker")
	must(t, os.Mkdir(dir, 0o755))
	must(t, os.Chmod(dir, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "whitelist"), []byte(strings.Join(infoHashes, "\n")+"\n"), 0o644))
	tr := &tracker{
		lab:  lab,
		base: fmt.Sprintf("http://%s:%d", lab.Peer.Addr4, trackerPort),
		hc:   peerHTTP(lab),
		log:  &lockedBuffer{},
	}
	port := fmt.Sprint(trackerPort)
	cmd := lab.Peer.Command(context.Background(), "opentracker",
		"-i", lab.Peer.Addr4.String(), "-p", port, "-P", port, "-d", dir, "-w", "whitelist")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = tr.log, tr.log
	must(t, cmd.Start())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("opentracker output:\n%s", tr.log.String())
		}
	})

	// Ready when a scrape answers (a scrape adds no peer; opentracker lists
	// only torrents that have peers, so the answer is empty for now).
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := tr.get("/scrape?info_hash=" + hashParam(t, infoHashes[0]))
		if err == nil && strings.HasPrefix(body, "d5:files") {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("opentracker not answering a scrape within 10s: %q, %v; output:\n%s", body, err, tr.log.String())
		}
		time.Sleep(100 * time.Millisecond) // polling an external server's start-up
	}
}

func (tr *tracker) get(pathQuery string) (string, error) {
	resp, err := tr.hc.Get(tr.base + pathQuery)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("tracker: HTTP %s", resp.Status)
	}
	return string(b), nil
}

func hashParam(t *testing.T, hexHash string) string {
	t.Helper()
	var ih metainfo.Hash
	must(t, ih.FromHexString(hexHash))
	return url.QueryEscape(string(ih.Bytes()))
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

// transmission is a Debian transmission-daemon on the peer host, driven
// over its RPC (the same calls transmission-remote makes, but with exact
// byte counts instead of rounded human units).
type transmission struct {
	hc  *http.Client
	url string
	sid string
	log *lockedBuffer
}

// startSeeder runs transmission-daemon on the peer host, adds st (whose
// data is already in st.Root) and waits until it seeds 100% and its
// announce to the tracker succeeded.
func startSeeder(t *testing.T, lab *netlab.Lab, st *swarmTorrent) *transmission {
	t.Helper()
	needPrograms(t, "transmission-daemon")
	dir := filepath.Join(t.TempDir(), "transmission")
	must(t, os.Mkdir(dir, 0o700))
	settings := map[string]any{
		"dht-enabled":                    false,
		"lpd-enabled":                    false,
		"pex-enabled":                    false,
		"utp-enabled":                    false,
		"port-forwarding-enabled":        false,
		"peer-port":                      transmissionPeerPort,
		"peer-port-random-on-start":      false,
		"rpc-enabled":                    true,
		"rpc-bind-address":               "127.0.0.1",
		"rpc-port":                       transmissionRPCPort,
		"rpc-authentication-required":    false,
		"rpc-whitelist-enabled":          false,
		"rpc-host-whitelist-enabled":     false,
		"download-dir":                   st.Root,
		"incomplete-dir-enabled":         false,
		"watch-dir-enabled":              false,
		"blocklist-enabled":              false,
		"speed-limit-up-enabled":         false,
		"speed-limit-down-enabled":       false,
		"alt-speed-enabled":              false,
		"ratio-limit-enabled":            false,
		"idle-seeding-limit-enabled":     false,
		"scrape-paused-torrents-enabled": false,
		"start-added-torrents":           true,
		"message-level":                  1,
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "settings.json"), b, 0o600))

	tm := &transmission{
		hc:  peerHTTP(lab),
		url: fmt.Sprintf("http://127.0.0.1:%d/transmission/rpc", transmissionRPCPort),
		log: &lockedBuffer{},
	}
	cmd := lab.Peer.Command(context.Background(), "transmission-daemon", "-f", "-g", dir)
	cmd.Stdout, cmd.Stderr = tm.log, tm.log
	must(t, cmd.Start())
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		t.Logf("transmission-daemon output:\n%s", tm.log.String())
		var raw map[string]any
		err := tm.call("torrent-get", map[string]any{"ids": []string{st.InfoHash},
			"fields": []string{"status", "percentDone", "uploadedEver", "errorString", "trackerStats", "peers"}}, &raw)
		t.Logf("transmission's torrent at the end: %v (%v)", raw, err)
	})

	deadline := time.Now().Add(10 * time.Second)
	for {
		err := tm.call("session-get", nil, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmission RPC not answering within 10s: %v; output:\n%s", err, tm.log.String())
		}
		time.Sleep(100 * time.Millisecond) // polling an external server's start-up
	}
	must(t, tm.call("torrent-add", map[string]any{"filename": st.File, "download-dir": st.Root}, nil))

	deadline = time.Now().Add(20 * time.Second)
	for {
		s := tm.stats(t, st.InfoHash)
		if s.PercentDone == 1 && s.Status == 6 && s.announced() {
			return tm
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmission not seeding with a successful announce within 20s: %+v; output:\n%s", s, tm.log.String())
		}
		time.Sleep(200 * time.Millisecond) // polling an external server's progress
	}
}

// seederStats is what the tests read of transmission's torrent.
type seederStats struct {
	Status       int     `json:"status"` // 6: seeding
	PercentDone  float64 `json:"percentDone"`
	UploadedEver int64   `json:"uploadedEver"`
	ErrorString  string  `json:"errorString"`
	TrackerStats []struct {
		LastAnnounceSucceeded bool   `json:"lastAnnounceSucceeded"`
		LastAnnounceResult    string `json:"lastAnnounceResult"`
	} `json:"trackerStats"`
	Peers []struct {
		Address    string `json:"address"`
		ClientName string `json:"clientName"`
	} `json:"peers"`
}

func (s seederStats) announced() bool {
	for _, ts := range s.TrackerStats {
		if ts.LastAnnounceSucceeded {
			return true
		}
	}
	return false
}

func (tm *transmission) stats(t *testing.T, infoHash string) seederStats {
	t.Helper()
	var out struct {
		Torrents []seederStats `json:"torrents"`
	}
	err := tm.call("torrent-get", map[string]any{
		"ids":    []string{infoHash},
		"fields": []string{"status", "percentDone", "uploadedEver", "errorString", "trackerStats", "peers"},
	}, &out)
	if err != nil {
		t.Fatalf("transmission torrent-get: %v", err)
	}
	if len(out.Torrents) != 1 {
		t.Fatalf("transmission torrent-get: %d torrents for %s, want 1", len(out.Torrents), infoHash)
	}
	return out.Torrents[0]
}

// call makes one RPC, doing the session-id dance (409 first) as needed.
func (tm *transmission) call(method string, args, result any) error {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return err
	}
	for range 2 {
		req, err := http.NewRequest(http.MethodPost, tm.url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("X-Transmission-Session-Id", tm.sid)
		resp, err := tm.hc.Do(req)
		if err != nil {
			return fmt.Errorf("transmission rpc %s: %w", method, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("transmission rpc %s: %w", method, err)
		}
		if resp.StatusCode == http.StatusConflict {
			tm.sid = resp.Header.Get("X-Transmission-Session-Id")
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("transmission rpc %s: HTTP %s: %s", method, resp.Status, b)
		}
		var r struct {
			Result    string          `json:"result"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("transmission rpc %s: %w: %s", method, err, b)
		}
		if r.Result != "success" {
			return fmt.Errorf("transmission rpc %s: %s", method, r.Result)
		}
		if result != nil {
			return json.Unmarshal(r.Arguments, result)
		}
		return nil
	}
	return fmt.Errorf("transmission rpc %s: no session id after 409", method)
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
