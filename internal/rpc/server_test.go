package rpc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/client/clienttest"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/vpn"
)

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

type fakeHealth struct {
	ok     bool
	reason string
}

func (h *fakeHealth) Healthy() (bool, string) { return h.ok, h.reason }

type harness struct {
	t      *testing.T
	fake   *clienttest.Fake
	srv    *Server
	http   *httptest.Server
	health *fakeHealth
	dir    string
	sid    string
	now    time.Time
}

// seed puts a downloading multi-file torrent (A) and a complete seeding one
// (B) in the fake.
func seed(f *clienttest.Fake) {
	f.Put(clienttest.Torrent{
		Stats: client.Stats{ID: hashA, Name: "Show.S01E01", State: client.StateDownloading, Length: 3 << 20,
			BytesCompleted: 1 << 20, DownloadRate: 50_000, UploadRate: 1_000, PeersConnected: 2, Downloaded: 1 << 20,
			Uploaded: 1000, DownloadDir: "/dl/tv", ETA: 42 * time.Second, Ratio: 0.001, LastActive: time.Unix(1_700_001_000, 0)},
		Files: []client.File{
			{Index: 0, Path: "Show.S01E01/ep.mkv", Length: 2 << 20, BytesCompleted: 1 << 20},
			{Index: 1, Path: "Show.S01E01/sample.mkv", Length: 1 << 20, Priority: client.PriorityOff},
		},
		Peers: []client.Peer{
			{Addr: netip.MustParseAddrPort("10.64.0.5:6881"), Client: "Transmission 4.0.5", Flags: "Tr", Network: "tcp4", DownRate: 50_000, Progress: 1},
			{Addr: netip.MustParseAddrPort("10.64.0.6:51413"), Client: "qBittorrent", Flags: "I", Network: "tcp4", UpRate: 1_000, Progress: 0.2},
		},
		Trackers: []client.Tracker{{URL: "http://tracker.test:6969/announce", Status: "announcing", Seeders: -1, Leechers: -1}},
		Pieces:   client.Pieces{Count: 12, Complete: 4, Bitmap: []byte{0xf0, 0}},
	})
	f.Put(clienttest.Torrent{
		Stats: client.Stats{ID: hashB, Name: "Movie.2024", State: client.StateSeeding, Length: 1 << 20,
			BytesCompleted: 1 << 20, Downloaded: 1 << 20, Uploaded: 3 << 20, Ratio: 3, DownloadDir: "/dl/movies", ETA: -1,
			DoneAt: time.Unix(1_700_000_500, 0)},
		Files: []client.File{{Index: 0, Path: "Movie.2024.mkv", Length: 1 << 20, BytesCompleted: 1 << 20}},
	})
}

func newHarness(t *testing.T, mod ...func(*Options)) *harness {
	t.Helper()
	f := clienttest.New()
	seed(f)
	return newHarnessWith(t, f, t.TempDir(), mod...)
}

func newHarnessWith(t *testing.T, f *clienttest.Fake, dir string, mod ...func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, fake: f, dir: dir, health: &fakeHealth{ok: true}, now: time.Unix(1_700_001_000, 0)}
	o := Options{DataDir: dir, DownloadDir: "/dl", Version: "0.1", Now: func() time.Time { return h.now },
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		WritableRoots: []string{"/data", "/srv"}, ReadableRoots: []string{os.TempDir()}}
	for _, m := range mod {
		m(&o)
	}
	srv, err := NewServer(f, h.health, o)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	h.srv = srv
	h.http = httptest.NewUnstartedServer(srv.Handler())
	h.http.Config.ConnContext = srv.ConnContext
	h.http.Start()
	t.Cleanup(h.http.Close)
	return h
}

func (h *harness) post(path, body string, hdr map[string]string) (*http.Response, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.http.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := h.http.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// raw sends a body after the session handshake and returns the decoded
// answer.
func (h *harness) raw(body string) map[string]any {
	h.t.Helper()
	if h.sid == "" {
		resp, _ := h.post("/transmission/rpc", "", nil)
		h.sid = resp.Header.Get(sessionHeader)
	}
	resp, text := h.post("/transmission/rpc", body, map[string]string{sessionHeader: h.sid})
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("POST %s: status %d: %s", body, resp.StatusCode, text)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		h.t.Fatalf("answer is not JSON: %v: %s", err, text)
	}
	return out
}

func (h *harness) call(method string, arguments any) (string, map[string]any) {
	h.t.Helper()
	body, _ := json.Marshal(map[string]any{"method": method, "arguments": arguments})
	out := h.raw(string(body))
	a, _ := out["arguments"].(map[string]any)
	res, _ := out["result"].(string)
	return res, a
}

func (h *harness) mustCall(method string, arguments any) map[string]any {
	h.t.Helper()
	res, a := h.call(method, arguments)
	if res != success {
		h.t.Fatalf("%s %v: result %q", method, arguments, res)
	}
	return a
}

func torrents(t *testing.T, a map[string]any) []map[string]any {
	t.Helper()
	list, ok := a["torrents"].([]any)
	if !ok {
		t.Fatalf("no torrents list in %v", a)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}

func TestSessionHandshake(t *testing.T) {
	h := newHarness(t)
	body := `{"method":"session-get"}`
	resp, text := h.post("/transmission/rpc", body, nil)
	sid := resp.Header.Get(sessionHeader)
	if resp.StatusCode != http.StatusConflict || len(sid) < 32 {
		t.Fatalf("first request: status %d, session id %q; want 409 with an id", resp.StatusCode, sid)
	}
	if !strings.Contains(text, sid) {
		t.Errorf("409 body does not show the id: %s", text)
	}
	resp, _ = h.post("/transmission/rpc", body, map[string]string{sessionHeader: "wrong"})
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("wrong id: status %d, want 409", resp.StatusCode)
	}
	resp, text = h.post("/transmission/rpc", body, map[string]string{sessionHeader: sid})
	if resp.StatusCode != http.StatusOK || !strings.Contains(text, `"result":"success"`) {
		t.Fatalf("with id: status %d body %s", resp.StatusCode, text)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	resp, _ = h.post("/transmission/rpc/", body, map[string]string{sessionHeader: sid})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("trailing slash: status %d", resp.StatusCode)
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Username, o.Password = "user", "s3cret" })
	basic := func(u, p string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+p)) }
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"none", nil, 401},
		{"wrong password", map[string]string{"Authorization": basic("user", "nope")}, 401},
		{"wrong user", map[string]string{"Authorization": basic("admin", "s3cret")}, 401},
		{"right", map[string]string{"Authorization": basic("user", "s3cret")}, 409},
		// With auth on, the Host check is off (as in Transmission).
		{"right, foreign host", map[string]string{"Authorization": basic("user", "s3cret"), "Host": "nas.example:9091"}, 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, text := h.post("/transmission/rpc", `{"method":"session-get"}`, tc.hdr)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, text)
			}
			if tc.want == 401 && !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Errorf("no WWW-Authenticate: %v", resp.Header)
			}
			if tc.want == 401 && resp.Header.Get(sessionHeader) != "" {
				t.Errorf("session id leaked before auth")
			}
		})
	}
	// /metrics is behind the same auth; /healthz is not.
	resp, _ := h.post("/metrics", "", nil)
	if resp.StatusCode != 401 {
		t.Errorf("/metrics without auth: %d", resp.StatusCode)
	}
	resp, _ = h.post("/healthz", "", nil)
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
}

func TestHostWhitelist(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.AllowedHosts = []string{"wgtorrent.lan", "*.home.arpa"} })
	for _, tc := range []struct {
		host string
		want int
	}{
		{"localhost:9091", 409},
		{"127.0.0.1:9091", 409},
		{"[::1]:9091", 409},
		{"192.168.1.20:9091", 409},
		{"wgtorrent.lan:9091", 409},
		{"WGTORRENT.LAN.", 409},
		{"box.home.arpa", 409},
		{"evil.example:9091", 421},
		{"wgtorrent.lan.evil.example", 421},
		{"home.arpa.evil", 421},
	} {
		t.Run(tc.host, func(t *testing.T) {
			resp, text := h.post("/transmission/rpc", `{"method":"session-get"}`, map[string]string{"Host": tc.host})
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, text)
			}
			if tc.want == 421 && !strings.Contains(text, "not allowed") {
				t.Errorf("421 body unclear: %s", text)
			}
		})
	}
}

func TestSessionGet(t *testing.T) {
	h := newHarness(t)
	a := h.mustCall("session-get", nil)
	if v := a["version"]; v != "3.00 (wgtorrent 0.1)" {
		t.Errorf("version %v", v)
	}
	for k, want := range map[string]any{
		"rpc-version": 16.0, "rpc-version-minimum": 1.0, "download-dir": "/dl", "seedRatioLimit": 2.0,
		"seedRatioLimited": false, "idle-seeding-limit": 30.0, "idle-seeding-limit-enabled": false,
		"speed-limit-down-enabled": false, "dht-enabled": false, "encryption": "tolerated", "utp-enabled": false,
	} {
		if a[k] != want {
			t.Errorf("%s = %v, want %v", k, a[k], want)
		}
	}
	units, _ := a["units"].(map[string]any)
	if units["speed-bytes"] != 1000.0 {
		t.Errorf("units %v", units)
	}
	a = h.mustCall("session-get", map[string]any{"fields": []string{"version", "download-dir", "nonsense"}})
	if len(a) != 2 || a["download-dir"] != "/dl" {
		t.Errorf("fields filter: %v", a)
	}
}

// TestSessionGetTunnel: our own field says which server the tunnel follows
// and what its config keeps it from reaching.
func TestSessionGetTunnel(t *testing.T) {
	warning := "AllowedIPs do not cover every IPv4 address"
	h := newHarness(t, func(o *Options) {
		o.Tunnel = func() vpn.Status {
			return vpn.Status{State: vpn.StateUp, Endpoint: "198.18.2.2:51820", Warnings: []string{warning}, Server: "b.conf", Moves: 3}
		}
	})
	a := h.mustCall("session-get", map[string]any{"fields": []string{"wgtorrent-tunnel"}})
	tun, _ := a["wgtorrent-tunnel"].(map[string]any)
	if w, _ := tun["warnings"].([]any); tun["state"] != "up" || tun["endpoint"] != "198.18.2.2:51820" || len(w) != 1 || w[0] != warning ||
		tun["server"] != "b.conf" || tun["moves"] != float64(3) {
		t.Errorf("wgtorrent-tunnel = %v", a["wgtorrent-tunnel"])
	}
}

func TestSessionSet(t *testing.T) {
	h := newHarness(t)
	h.mustCall("session-set", map[string]any{
		"download-dir": "/data/new", "speed-limit-down": 500, "speed-limit-down-enabled": true,
		"speed-limit-up": 100, "speed-limit-up-enabled": 1, "seedRatioLimit": 1.5, "seedRatioLimited": true,
		"idle-seeding-limit": 60, "idle-seeding-limit-enabled": true, "alt-speed-enabled": false,
	})
	if d, u := h.fake.RateLimits(); d != 500_000 || u != 100_000 {
		t.Errorf("engine limits %d %d, want 500000 100000 (kB/s * 1000)", d, u)
	}
	a := h.mustCall("session-get", nil)
	for k, want := range map[string]any{
		"download-dir": "/data/new", "speed-limit-down": 500.0, "speed-limit-down-enabled": true,
		"speed-limit-up": 100.0, "seedRatioLimit": 1.5, "seedRatioLimited": true, "idle-seeding-limit": 60.0,
	} {
		if a[k] != want {
			t.Errorf("%s = %v, want %v", k, a[k], want)
		}
	}
	// The encryption policy is fixed at start: unchanged passes (clients
	// send every setting), a change is refused.
	h.mustCall("session-set", map[string]any{"encryption": "tolerated"})
	if res, _ := h.call("session-set", map[string]any{"encryption": "required"}); !strings.Contains(res, "--encryption") {
		t.Errorf("changing encryption: result %q, want a refusal naming --encryption", res)
	}
	// camelCase (Transmission 4.1) names work too.
	h.mustCall("session-set", map[string]any{"speedLimitDownEnabled": false})
	if d, _ := h.fake.RateLimits(); d != 0 {
		t.Errorf("down limit %d after disabling", d)
	}
	// A new torrent lands in the new download dir.
	h.mustCall("torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("c", 40)})
	if c := h.fake.Calls(); !strings.Contains(c[len(c)-1], "dir=/data/new") {
		t.Errorf("add used %q", c[len(c)-1])
	}
}

// The request shape Sonarr/Radarr send when polling.
const sonarrGet = `{"method":"torrent-get","arguments":{"fields":["id","hashString","name","downloadDir","totalSize","leftUntilDone","isFinished","eta","status","secondsDownloading","secondsSeeding","errorString","uploadedEver","downloadedEver","seedRatioLimit","seedRatioMode","seedIdleLimit","seedIdleMode","fileCount"]}}`

func TestTorrentGetSonarr(t *testing.T) {
	h := newHarness(t)
	out := h.raw(sonarrGet)
	list := torrents(t, out["arguments"].(map[string]any))
	if len(list) != 2 {
		t.Fatalf("got %d torrents", len(list))
	}
	a, b := list[0], list[1]
	want := map[string]any{
		"id": 1.0, "hashString": hashA, "name": "Show.S01E01", "downloadDir": "/dl/tv", "totalSize": float64(3 << 20),
		"leftUntilDone": float64(1 << 20), "isFinished": false, "eta": 42.0, "status": 4.0, "errorString": "",
		"uploadedEver": 1000.0, "downloadedEver": float64(1 << 20), "seedRatioLimit": 2.0, "seedRatioMode": 0.0,
		"seedIdleLimit": 30.0, "seedIdleMode": 0.0, "fileCount": 2.0, "secondsSeeding": 0.0,
	}
	for k, w := range want {
		if a[k] != w {
			t.Errorf("A.%s = %v, want %v", k, a[k], w)
		}
	}
	if len(a) != 19 {
		t.Errorf("A has %d fields, want the 19 asked: %v", len(a), a)
	}
	if b["status"] != 6.0 || b["leftUntilDone"] != 0.0 || b["id"] != 2.0 || b["eta"] != -1.0 {
		t.Errorf("B: %v", b)
	}
	if b["secondsSeeding"] != 500.0 {
		t.Errorf("B.secondsSeeding = %v, want 500", b["secondsSeeding"])
	}
	// By hash, as *arr do; a hash we do not have is simply absent.
	res, args := h.call("torrent-get", map[string]any{"ids": []string{strings.ToUpper(hashB), strings.Repeat("e", 40)}, "fields": []string{"id", "name"}})
	if l := torrents(t, args); res != success || len(l) != 1 || l[0]["name"] != "Movie.2024" {
		t.Errorf("by hash: %s %v", res, args)
	}
}

func TestTorrentGetFields(t *testing.T) {
	h := newHarness(t)
	all := []string{"id", "hashString", "name", "status", "percentDone", "totalSize", "sizeWhenDone", "leftUntilDone",
		"rateDownload", "rateUpload", "eta", "uploadRatio", "peersConnected", "peersSendingToUs", "peersGettingFromUs",
		"downloadDir", "error", "errorString", "addedDate", "doneDate", "activityDate", "labels", "files", "fileStats",
		"trackers", "trackerStats", "peers", "isFinished", "isStalled", "seedRatioLimit", "seedRatioMode", "seedIdleLimit",
		"seedIdleMode", "secondsDownloading", "secondsSeeding", "uploadedEver", "downloadedEver", "haveValid",
		"haveUnchecked", "magnetLink", "fileCount", "queuePosition", "metadataPercentComplete", "pieceCount", "pieceSize",
		"priorities", "wanted", "recheckProgress", "startDate"}
	a := h.mustCall("torrent-get", map[string]any{"ids": 1, "fields": all})
	list := torrents(t, a)
	if len(list) != 1 {
		t.Fatalf("ids:1 gave %d torrents", len(list))
	}
	got := list[0]
	for _, f := range all {
		if _, ok := got[f]; !ok {
			t.Errorf("field %q missing", f)
		}
	}
	for k, w := range map[string]any{
		// sample.mkv is unwanted: sizeWhenDone counts ep.mkv only.
		"sizeWhenDone": float64(2 << 20), "leftUntilDone": float64(1 << 20), "percentDone": 0.5,
		"peersSendingToUs": 1.0, "peersGettingFromUs": 1.0, "pieceCount": 12.0, "pieceSize": float64(256 << 10),
		"haveValid": float64(1 << 20), "error": 0.0, "queuePosition": 0.0, "metadataPercentComplete": 1.0,
		"addedDate": 1_700_000_001.0, "activityDate": 1_700_001_000.0,
	} {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	if !reflect.DeepEqual(got["wanted"], []any{1.0, 0.0}) || !reflect.DeepEqual(got["priorities"], []any{0.0, 0.0}) {
		t.Errorf("wanted %v priorities %v", got["wanted"], got["priorities"])
	}
	fs := got["fileStats"].([]any)[1].(map[string]any)
	if fs["wanted"] != false {
		t.Errorf("fileStats[1] %v", fs)
	}
	if m := got["magnetLink"].(string); !strings.HasPrefix(m, "magnet:?xt=urn:btih:"+hashA) || !strings.Contains(m, "tr=http%3A%2F%2Ftracker.test") {
		t.Errorf("magnetLink %s", m)
	}
	peer := got["peers"].([]any)[0].(map[string]any)
	if peer["address"] != "10.64.0.5" || peer["port"] != 6881.0 || peer["rateToClient"] != 50_000.0 {
		t.Errorf("peer %v", peer)
	}
	tr := got["trackerStats"].([]any)[0].(map[string]any)
	if tr["host"] != "http://tracker.test:6969" || tr["sitename"] != "tracker" || tr["seederCount"] != -1.0 || tr["scrape"] != "http://tracker.test:6969/scrape" {
		t.Errorf("trackerStats %v", tr)
	}

	// "table" format: header row, then one row per torrent.
	a = h.mustCall("torrent-get", map[string]any{"fields": []string{"id", "name"}, "format": "table"})
	if want := []any{[]any{"id", "name"}, []any{1.0, "Show.S01E01"}, []any{2.0, "Movie.2024"}}; !reflect.DeepEqual(a["torrents"], want) {
		t.Errorf("table: %v", a["torrents"])
	}

	// recently-active: A is transferring, B is idle since long before.
	a = h.mustCall("torrent-get", map[string]any{"ids": "recently-active", "fields": []string{"id"}})
	if l := torrents(t, a); len(l) != 1 || l[0]["id"] != 1.0 || a["removed"] == nil {
		t.Errorf("recently-active: %v", a)
	}
}

func TestTorrentGetTransmissionRemoteList(t *testing.T) {
	h := newHarness(t)
	h.fake.Edit(hashB, func(t *clienttest.Torrent) {
		t.Stats.Error = "write /dl/movies: no space left on device"
		t.Stats.State = client.StateError
	})
	a := h.mustCall("torrent-get", map[string]any{"fields": []string{"error", "errorString", "eta", "id", "isFinished",
		"leftUntilDone", "name", "peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload", "sizeWhenDone",
		"status", "uploadRatio"}})
	l := torrents(t, a)
	if len(l) != 2 || l[1]["error"] != 3.0 || l[1]["status"] != 0.0 || !strings.Contains(l[1]["errorString"].(string), "no space") {
		t.Errorf("error torrent: %v", l)
	}
	if l[0]["rateDownload"] != 50_000.0 || l[0]["uploadRatio"] != 0.001 {
		t.Errorf("A: %v", l[0])
	}
}

func TestTorrentAdd(t *testing.T) {
	h := newHarness(t)
	meta := clienttest.Metainfo("foo")
	metaID := string(clienttest.HashOf(meta))
	// Sonarr's shape: metainfo + download-dir + paused.
	a := h.mustCall("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(meta),
		"download-dir": "/dl/tv", "paused": true, "labels": []string{"sonarr"}})
	added, ok := a["torrent-added"].(map[string]any)
	if !ok || added["id"] != 3.0 || added["hashString"] != metaID || added["name"] == "" {
		t.Fatalf("answer %v", a)
	}
	if c := h.fake.Calls(); !reflect.DeepEqual(c, []string{"add " + metaID + " dir=/dl/tv paused=true"}) {
		t.Errorf("engine calls %v", c)
	}
	a = h.mustCall("torrent-get", map[string]any{"ids": []any{3}, "fields": []string{"labels", "status"}})
	if l := torrents(t, a); !reflect.DeepEqual(l[0]["labels"], []any{"sonarr"}) || l[0]["status"] != 0.0 {
		t.Errorf("added torrent: %v", l)
	}
	// The same again: success, torrent-duplicate, same id.
	a = h.mustCall("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(meta)})
	if d, ok := a["torrent-duplicate"].(map[string]any); !ok || d["id"] != 3.0 || d["hashString"] != metaID {
		t.Errorf("duplicate: %v", a)
	}
	// Magnet with the Transmission 4 camelCase name and files selection
	// ignored until metadata.
	a = h.mustCall("torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("D", 40) + "&dn=Thing", "downloadDir": "/dl/x"})
	if ad := a["torrent-added"].(map[string]any); ad["id"] != 4.0 || ad["name"] != "Thing" {
		t.Errorf("magnet: %v", a)
	}
	// A local .torrent path is read by the RPC (confined, bounded).
	p := filepath.Join(t.TempDir(), "x.torrent")
	os.WriteFile(p, clienttest.Metainfo("bar"), 0o600)
	a = h.mustCall("torrent-add", map[string]any{"filename": p, "files-unwanted": []int{1}})
	ad := a["torrent-added"].(map[string]any)
	f, _ := h.fake.Files(client.TorrentID(ad["hashString"].(string)))
	if ad["id"] != 5.0 || f[1].Priority != client.PriorityOff {
		t.Errorf("path add: %v, files %v", a, f)
	}
}

func TestTorrentActions(t *testing.T) {
	for _, tc := range []struct {
		method string
		args   map[string]any
		calls  []string
	}{
		{"torrent-stop", map[string]any{"ids": []any{1}}, []string{"pause " + hashA}},
		{"torrent-start", map[string]any{"ids": 2}, []string{"resume " + hashB}},
		{"torrent-start-now", map[string]any{"ids": []any{hashA}}, []string{"resume " + hashA}},
		{"torrent-verify", map[string]any{"ids": []any{1, hashB}}, []string{"verify " + hashA, "verify " + hashB}},
		{"torrent-reannounce", nil, []string{"reannounce " + hashA, "reannounce " + hashB}},
		{"torrent-remove", map[string]any{"ids": []any{2}, "delete-local-data": true}, []string{"remove " + hashB + " delete=true"}},
		{"torrent-remove", map[string]any{"ids": []any{1}}, []string{"remove " + hashA + " delete=false"}},
		{"torrent-set", map[string]any{"ids": []any{1}, "files-wanted": []int{1}, "priority-high": []int{0}},
			[]string{"prio " + hashA + " 0 high", "prio " + hashA + " 1 normal"}},
		{"torrent-set", map[string]any{"ids": []any{1}, "files-unwanted": []int{}}, []string{"prio " + hashA + " 0 off"}},
		{"torrent-set", map[string]any{"ids": []any{2}, "priority-high": []int{}}, []string{"prio " + hashB + " 0 high"}},
		{"torrent-set", map[string]any{"ids": []any{1}, "priority-high": []int{1}}, nil}, // unwanted stays off
	} {
		t.Run(tc.method, func(t *testing.T) {
			h := newHarness(t)
			h.mustCall(tc.method, tc.args)
			if c := h.fake.Calls(); !slices.Equal(c, tc.calls) {
				t.Errorf("engine calls %q, want %q", c, tc.calls)
			}
		})
	}
}

func TestTorrentRemoveForgetsID(t *testing.T) {
	h := newHarness(t)
	h.mustCall("torrent-remove", map[string]any{"ids": []any{1}})
	a := h.mustCall("torrent-get", map[string]any{"ids": "recently-active", "fields": []string{"id"}})
	if !reflect.DeepEqual(a["removed"], []any{1.0}) {
		t.Errorf("removed %v", a["removed"])
	}
	// A new torrent never reuses a removed id.
	a = h.mustCall("torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + hashA})
	if a["torrent-added"].(map[string]any)["id"] != 3.0 {
		t.Errorf("re-added: %v", a)
	}
}

func TestTorrentSetStoredSettings(t *testing.T) {
	h := newHarness(t)
	h.mustCall("torrent-set", map[string]any{"ids": []any{hashA}, "labels": []string{"tv", "hd"}, "seedRatioLimit": 1.25,
		"seedRatioMode": 1, "seedIdleLimit": 10, "seedIdleMode": 1, "downloadLimit": 100, "downloadLimited": true})
	a := h.mustCall("torrent-get", map[string]any{"ids": 1, "fields": []string{"labels", "seedRatioLimit", "seedRatioMode",
		"seedIdleLimit", "seedIdleMode", "downloadLimit", "downloadLimited"}})
	want := map[string]any{"labels": []any{"tv", "hd"}, "seedRatioLimit": 1.25, "seedRatioMode": 1.0, "seedIdleLimit": 10.0,
		"seedIdleMode": 1.0, "downloadLimit": 100.0, "downloadLimited": true}
	if got := torrents(t, a)[0]; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	// The limit is enforced by the engine, in bytes/s.
	if c := h.fake.Calls(); !slices.Contains(c, "torrent-limits "+string(hashA)+" 100000 0") {
		t.Errorf("engine calls %v: want the torrent limited to 100000 B/s down", c)
	}
}

func TestOtherMethods(t *testing.T) {
	h := newHarness(t)
	dir := t.TempDir()
	a := h.mustCall("free-space", map[string]any{"path": dir})
	if n, _ := a["size-bytes"].(float64); n <= 0 || a["path"] != dir {
		t.Errorf("free-space: %v", a)
	}
	if res, a := h.call("free-space", map[string]any{"path": filepath.Join(dir, "missing")}); res == success || a["size-bytes"] != -1.0 {
		t.Errorf("free-space of a missing path: %s %v, want an error and size-bytes -1", res, a)
	}
	if res, _ := h.call("free-space", map[string]any{"path": "relative"}); res == success {
		t.Errorf("free-space relative path accepted")
	}
	if res, a := h.call("port-test", nil); res == success || !strings.Contains(res, "not supported") {
		t.Errorf("port-test answered %q %v: an untested port must not be reported", res, a)
	}
	a = h.mustCall("session-stats", nil)
	if a["torrentCount"] != 2.0 || a["activeTorrentCount"] != 2.0 || a["downloadSpeed"] != 50_000.0 {
		t.Errorf("session-stats: %v", a)
	}
	if res, _ := h.call("torrent-set-location", map[string]any{"ids": []any{1}, "location": "/srv/media", "move": true}); res != success {
		t.Errorf("torrent-set-location: %q", res)
	}
	if res, _ := h.call("torrent-set-location", map[string]any{"ids": []any{1}, "location": "relative"}); res == success {
		t.Error("torrent-set-location accepted a relative path")
	}
	for _, m := range []string{"blocklist-update", "session-close", "queue-move-top", "queue-move-up", "queue-move-down", "queue-move-bottom"} {
		if res, _ := h.call(m, map[string]any{"ids": []any{1}, "location": "/x"}); res == success || res == "" {
			t.Errorf("%s: %q, want an honest error", m, res)
		}
	}
	out := h.raw(`{"method":"no-such-method","tag":7}`)
	if out["result"] != "method name not recognized" || out["tag"] != 7.0 {
		t.Errorf("unknown method: %v", out)
	}
	out = h.raw(`{"method":"session-get","arguments":{"fields":["rpc-version"]},"tag":12345}`)
	if out["tag"] != 12345.0 {
		t.Errorf("tag not echoed: %v", out)
	}
}

// Bad requests get an error and change nothing: no engine call, no new
// state on disk.
func TestBadRequests(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"malformed", `{"method":"torrent-remove","arguments":{"ids":[1]`},
		{"not an object", `[1,2,3]`},
		{"trailing garbage", `{"method":"torrent-stop"} {"method":"torrent-stop"}`},
		{"arguments not an object", `{"method":"torrent-stop","arguments":[1]}`},
		{"ids wrong type", `{"method":"torrent-stop","arguments":{"ids":{"a":1}}}`},
		{"ids fraction", `{"method":"torrent-stop","arguments":{"ids":[1.5]}}`},
		{"delete flag wrong type", `{"method":"torrent-remove","arguments":{"ids":[1],"delete-local-data":"yes"}}`},
		{"paused wrong type", `{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:` + hashB + `","paused":"no"}}`},
		{"metainfo not base64", `{"method":"torrent-add","arguments":{"metainfo":"!!!"}}`},
		{"metainfo not a torrent", `{"method":"torrent-add","arguments":{"metainfo":"aGVsbG8="}}`},
		{"http url", `{"method":"torrent-add","arguments":{"filename":"https://tracker.example/x.torrent"}}`},
		{"nothing to add", `{"method":"torrent-add","arguments":{}}`},
		{"relative dir", `{"method":"torrent-add","arguments":{"filename":"magnet:?xt=urn:btih:` + strings.Repeat("1", 40) + `","download-dir":"dl"}}`},
		{"label with comma", `{"method":"torrent-set","arguments":{"ids":[1],"labels":["a,b"]}}`},
		{"file index out of range", `{"method":"torrent-set","arguments":{"ids":[1,2],"files-wanted":[1]}}`},
		{"negative file index", `{"method":"torrent-set","arguments":{"ids":[1],"files-wanted":[-1]}}`},
		{"ratio mode out of range", `{"method":"torrent-set","arguments":{"ids":[1],"seedRatioMode":7}}`},
		{"ratio wrong type", `{"method":"torrent-set","arguments":{"ids":[1],"seedRatioLimit":"2"}}`},
		{"session-set wrong type", `{"method":"session-set","arguments":{"speed-limit-down":"fast","speed-limit-down-enabled":true}}`},
		{"session-set negative", `{"method":"session-set","arguments":{"speed-limit-up":-5,"speed-limit-up-enabled":true}}`},
		{"session-set relative dir", `{"method":"session-set","arguments":{"download-dir":"x"}}`},
		{"torrent-get no fields", `{"method":"torrent-get","arguments":{}}`},
		{"torrent-get bad format", `{"method":"torrent-get","arguments":{"fields":["id"],"format":"xml"}}`},
		{"tracker of an unknown scheme", `{"method":"torrent-set","arguments":{"ids":[1],"trackerAdd":["ftp://x/a"]}}`},
		{"tracker id out of range", `{"method":"torrent-set","arguments":{"ids":[1],"trackerRemove":[9]}}`},
		{"trackerList with trackerAdd", `{"method":"torrent-set","arguments":{"ids":[1],"trackerAdd":["http://x/a"],"trackerList":"http://y/a"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			before, _ := os.ReadFile(filepath.Join(h.dir, stateFile))
			out := h.raw(tc.body)
			if out["result"] == success || out["result"] == "" {
				t.Fatalf("answer %v, want an error", out)
			}
			if _, ok := out["arguments"].(map[string]any); !ok {
				t.Errorf("no arguments object: %v", out)
			}
			if c := h.fake.Calls(); len(c) != 0 {
				t.Errorf("engine was changed: %v", c)
			}
			after, _ := os.ReadFile(filepath.Join(h.dir, stateFile))
			if !bytes.Equal(before, after) {
				t.Errorf("state changed:\n%s\n->\n%s", before, after)
			}
			t.Logf("%s -> %q", tc.name, out["result"])
		})
	}
}

func TestHugeBody(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxBody = 1024 })
	h.raw(`{"method":"session-get"}`) // handshake
	body := `{"method":"torrent-add","arguments":{"metainfo":"` + strings.Repeat("A", 4096) + `"}}`
	resp, text := h.post("/transmission/rpc", body, map[string]string{sessionHeader: h.sid})
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d: %s", resp.StatusCode, text)
	}
	if c := h.fake.Calls(); len(c) != 0 {
		t.Errorf("engine changed: %v", c)
	}
}

func TestIDsStableAcrossRestart(t *testing.T) {
	f := clienttest.New()
	seed(f)
	dir := t.TempDir()
	h := newHarnessWith(t, f, dir)
	h.mustCall("torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("c", 40)})
	h.mustCall("torrent-remove", map[string]any{"ids": []any{1}})
	h.mustCall("torrent-set", map[string]any{"ids": []any{3}, "labels": []string{"keep"}})
	ids := func(h *harness) map[string]any {
		out := map[string]any{}
		for _, t0 := range torrents(t, h.mustCall("torrent-get", map[string]any{"fields": []string{"id", "hashString", "labels"}})) {
			out[t0["hashString"].(string)] = []any{t0["id"], t0["labels"]}
		}
		return out
	}
	first := ids(h)
	// A restarted engine may list torrents in another order.
	var order []client.TorrentID
	for _, st := range f.List() {
		order = append(order, st.ID)
	}
	slices.Reverse(order)
	f.SetOrder(order...)
	h.srv.Close()
	h2 := newHarnessWith(t, f, dir)
	if second := ids(h2); !reflect.DeepEqual(first, second) {
		t.Errorf("ids changed across restart:\n%v\n%v", first, second)
	}
	a := h2.mustCall("torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("d", 40)})
	if a["torrent-added"].(map[string]any)["id"] != 4.0 {
		t.Errorf("next id after restart: %v", a)
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("data dir: %v", ents)
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	get := func() (int, string) {
		resp, err := http.Get(h.http.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != "ok\n" {
		t.Errorf("healthy: %d %q", code, body)
	}
	h.health.ok, h.health.reason = false, "no handshake for 3m"
	if code, body := get(); code != 503 || !strings.Contains(body, "no handshake") {
		t.Errorf("unhealthy: %d %q", code, body)
	}
}

func TestMetrics(t *testing.T) {
	var drops uint64 = 17
	h := newHarness(t, func(o *Options) {
		o.Tunnel = func() vpn.Status {
			return vpn.Status{State: vpn.StateUp, RxBytes: 1234, TxBytes: 567, LastHandshake: time.Unix(1_700_000_990, 0),
				Endpoint: "198.18.4.2:51820", Server: "b.conf", Moves: 2}
		}
		o.KillSwitchDrops = func() uint64 { return drops }
	})
	h.raw(`{"method":"session-get"}`)
	resp, err := http.Get(h.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`wgtorrent_torrents{state="downloading"} 1`,
		`wgtorrent_torrents{state="seeding"} 1`,
		`wgtorrent_tunnel_received_bytes_total 1234`,
		`wgtorrent_tunnel_sent_bytes_total 567`,
		`wgtorrent_tunnel_handshake_age_seconds 10`,
		`wgtorrent_tunnel_state{state="up"} 1`,
		`wgtorrent_tunnel_server{endpoint="198.18.4.2:51820",server="b.conf"} 1`,
		`wgtorrent_tunnel_failovers_total 2`,
		`wgtorrent_killswitch_dropped_packets_total 17`,
		`wgtorrent_download_rate_bytes_per_second 50000`,
		`wgtorrent_peers_connected 2`,
		`wgtorrent_healthy 1`,
		`wgtorrent_rpc_requests_total{method="session-get",result="success"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
}

// TestSeedGoalsBelongToTheEngine: the RPC sets seeding goals and their
// session defaults on the engine, which enforces them, and reads
// isFinished from it.
func TestSeedGoalsBelongToTheEngine(t *testing.T) {
	h := newHarness(t)
	if d := h.fake.SeedDefaults(); d != (client.SeedDefaults{Ratio: 2, Idle: 30 * time.Minute}) {
		t.Errorf("session defaults given to the engine at start: %+v", d)
	}
	h.mustCall("session-set", map[string]any{"seedRatioLimit": 2.5, "seedRatioLimited": true})
	h.mustCall("torrent-set", map[string]any{"ids": []any{2}, "seedRatioLimit": 1, "seedRatioMode": 1})
	c := h.fake.Calls()
	if d := h.fake.SeedDefaults(); !slices.Contains(c, "seedgoal "+hashB+" 1 1 0 0s") || d.Ratio != 2.5 || !d.RatioOn {
		t.Errorf("calls %v, defaults %+v", c, d)
	}
	// The engine stopped B at its goal.
	h.fake.Edit(client.TorrentID(hashB), func(t *clienttest.Torrent) {
		t.Stats.State, t.Stats.Finished = client.StatePaused, true
	})
	a := h.mustCall("torrent-get", map[string]any{"fields": []string{"isFinished", "status", "seedRatioLimit", "seedRatioMode"}})
	l := torrents(t, a)
	if l[1]["isFinished"] != true || l[1]["status"] != 0.0 || l[1]["seedRatioLimit"] != 1.0 || l[1]["seedRatioMode"] != 1.0 ||
		l[0]["isFinished"] != false || l[0]["seedRatioLimit"] != 2.5 {
		t.Errorf("after the goal: %v", l)
	}
	// Started again by the user: seeding, so not finished.
	h.mustCall("torrent-start", map[string]any{"ids": []any{2}})
	if l := torrents(t, h.mustCall("torrent-get", map[string]any{"ids": []any{2}, "fields": []string{"isFinished"}})); l[0]["isFinished"] != false {
		t.Errorf("restarted: %v", l)
	}
}

// TestLegacySeedGoalsMove: goals an older version kept in rpc-state.json
// go to the engine once, and out of the file.
func TestLegacySeedGoalsMove(t *testing.T) {
	dir := t.TempDir()
	old := `{"nextId":3,"session":{"seedRatioLimit":2,"idleSeedingLimit":30},"torrents":[
		{"id":1,"hash":"` + hashA + `","seedRatioLimit":1.5,"seedRatioMode":1,"seedIdleLimit":30,"seedIdleMode":0},
		{"id":2,"hash":"` + hashB + `","seedRatioLimit":2,"seedRatioMode":0,"seedIdleLimit":30,"seedIdleMode":0}]}`
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	f := clienttest.New()
	seed(f)
	h := newHarnessWith(t, f, dir)
	var goals []string
	for _, c := range h.fake.Calls() {
		if strings.HasPrefix(c, "seedgoal ") {
			goals = append(goals, c)
		}
	}
	if !slices.Equal(goals, []string{"seedgoal " + hashA + " 1 1.5 0 30m0s"}) {
		t.Errorf("goals handed over: %v", goals)
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil || strings.Contains(string(b), "seedRatioMode") {
		t.Errorf("state file still holds goals (%v):\n%s", err, b)
	}
	l := torrents(t, h.mustCall("torrent-get", map[string]any{"ids": []any{1}, "fields": []string{"seedRatioLimit", "seedRatioMode"}}))
	if l[0]["seedRatioLimit"] != 1.5 || l[0]["seedRatioMode"] != 1.0 {
		t.Errorf("after the move: %v", l)
	}
}

func TestCheckListenAddr(t *testing.T) {
	lan := []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24")}
	for _, tc := range []struct {
		addr string
		auth bool
		lan  []netip.Prefix
		ok   bool
	}{
		{"127.0.0.1:9091", false, nil, true},
		{"[::1]:9091", false, nil, true},
		{"localhost:9091", false, nil, true},
		{"127.0.0.2:9091", false, nil, true},
		{":9091", false, nil, false},
		{"0.0.0.0:9091", false, lan, false},
		{"[::]:9091", false, nil, false},
		{":9091", true, nil, true},
		{"192.168.1.10:9091", false, lan, true},
		{"192.168.2.10:9091", false, lan, false},
		{"192.168.2.10:9091", true, nil, true},
		{"[::ffff:192.168.1.10]:9091", false, lan, true},
		{"nas.local:9091", false, nil, false},
		{"127.0.0.1", false, nil, false},
	} {
		err := CheckListenAddr(tc.addr, tc.auth, tc.lan)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListenAddr(%q, auth=%v, %v) = %v, want ok=%v", tc.addr, tc.auth, tc.lan, err, tc.ok)
		}
	}
}

func TestFilePlan(t *testing.T) {
	files := []client.File{{Priority: client.PriorityNormal}, {Priority: client.PriorityOff}, {Priority: client.PriorityHigh}}
	P := func(p ...client.Priority) []client.Priority { return p }
	off, norm, high := client.PriorityOff, client.PriorityNormal, client.PriorityHigh
	for _, tc := range []struct {
		name string
		sets fileSets
		want []client.Priority
		err  bool
	}{
		{"nothing", fileSets{}, P(norm, off, high), false},
		{"want all", fileSets{hasW: true}, P(norm, norm, high), false},
		{"unwant all", fileSets{hasU: true}, P(off, off, off), false},
		{"high on unwanted stays off", fileSets{hasHigh: true, high: []int{1}}, P(norm, off, high), false},
		{"high and wanted", fileSets{hasHigh: true, high: []int{1}, hasW: true, wanted: []int{1}}, P(norm, high, high), false},
		{"low is refused, not read back as normal", fileSets{hasLow: true, low: []int{2}}, nil, true},
		{"out of range", fileSets{hasU: true, unwanted: []int{3}}, nil, true},
	} {
		got, err := tc.sets.plan(files)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v %v, want %v err=%v", tc.name, got, err, tc.want, tc.err)
		}
	}
}

func TestTorrentAddRefusesSpecialFiles(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.MaxBody = 256 })
	big := filepath.Join(t.TempDir(), "big.torrent")
	os.WriteFile(big, []byte("d"+strings.Repeat("x", 300)+"e"), 0o600)
	for _, p := range []string{"/dev/zero", t.TempDir(), big, "relative.torrent", "/no/such/file.torrent"} {
		if res, _ := h.call("torrent-add", map[string]any{"filename": p}); res == success {
			t.Errorf("%s accepted", p)
		} else {
			t.Logf("%s -> %s", p, res)
		}
	}
	if c := h.fake.Calls(); len(c) != 0 {
		t.Errorf("engine changed: %v", c)
	}
}

// TestLargeAnswerHasContentLength: an answer over Go's 2 KiB chunking
// threshold still says its length and is not chunked (transmission.el
// waits forever on a chunked one).
func TestLargeAnswerHasContentLength(t *testing.T) {
	h := newHarness(t)
	for i := range 20 {
		h.mustCall("torrent-add", map[string]any{"filename": fmt.Sprintf("magnet:?xt=urn:btih:%040x", i+1)})
	}
	body := `{"method":"torrent-get","arguments":{"fields":["id","name","hashString","status","percentDone"]}}`
	resp, text := h.post("/transmission/rpc", body, map[string]string{sessionHeader: h.sid})
	if len(text) <= 2048 {
		t.Fatalf("torrent-get answered %d bytes: too small to test chunking", len(text))
	}
	if resp.ContentLength != int64(len(text)) || len(resp.TransferEncoding) != 0 {
		t.Errorf("Content-Length %d, Transfer-Encoding %v for a %d-byte answer; want the length, not chunked",
			resp.ContentLength, resp.TransferEncoding, len(text))
	}
}

// TestSessionSetUnsupported: a setting wgtorrent does not implement is an
// error naming it when a client asks to change it (never "success" for
// nothing), while the same value sent back, as clients that save every
// setting do, passes; dht-enabled and utp-enabled say what the engine runs.
func TestSessionSetUnsupported(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.DHT, o.UTP = true, true })
	a := h.mustCall("session-get", nil)
	if a["dht-enabled"] != true || a["utp-enabled"] != true {
		t.Errorf("dht-enabled %v, utp-enabled %v; want what the engine runs (true, true)", a["dht-enabled"], a["utp-enabled"])
	}
	for _, c := range []struct {
		name string
		val  any
	}{
		{"peer-port", 51413}, {"dht-enabled", false}, {"pex-enabled", false},
		{"peer-limit-global", 500}, {"cache-size-mb", 64}, {"script-torrent-done-enabled", true},
		{"incomplete-dir-enabled", true},
	} {
		res, _ := h.call("session-set", map[string]any{c.name: c.val})
		if res == success || !strings.Contains(res, c.name) || !strings.Contains(res, "not supported") {
			t.Errorf("session-set %s=%v: %q; want an error naming it as not supported", c.name, c.val, res)
		}
	}
	// Everything session-get said, sent back (Flood's save), passes.
	back := map[string]any{}
	for k, v := range a {
		back[k] = v
	}
	back["download-dir-free-space"] = 12345 // read-only: ignored
	h.mustCall("session-set", back)
	h.mustCall("session-set", map[string]any{"speed-limit-down": 100, "speed-limit-down-enabled": true})
}

// TestTorrentSetUnsupported: torrent-set of a setting wgtorrent keeps fixed
// is refused by name unless it is the value torrent-get reports.
func TestTorrentSetUnsupported(t *testing.T) {
	h := newHarness(t)
	h.mustCall("torrent-add", map[string]any{"filename": fmt.Sprintf("magnet:?xt=urn:btih:%040x", 7)})
	for _, c := range []struct {
		name string
		val  any
	}{{"bandwidthPriority", 1}, {"peer-limit", 200}, {"honorsSessionLimits", false}, {"queuePosition", 0}} {
		res, _ := h.call("torrent-set", map[string]any{"ids": []int{1}, c.name: c.val})
		if res == success || !strings.Contains(res, c.name) {
			t.Errorf("torrent-set %s=%v: %q; want an error naming it", c.name, c.val, res)
		}
	}
	h.mustCall("torrent-set", map[string]any{"ids": []int{1}, "bandwidthPriority": 0, "peer-limit": 50, "honorsSessionLimits": true})
}

// TestStartAddedTorrents: transmission-remote --start-paused (session-set
// start-added-torrents false) makes torrent-add without "paused" add the
// torrent stopped; an explicit "paused" still wins; session-get says so.
func TestStartAddedTorrents(t *testing.T) {
	h := newHarness(t)
	h.mustCall("session-set", map[string]any{"start-added-torrents": false})
	if a := h.mustCall("session-get", nil); a["start-added-torrents"] != false {
		t.Errorf("start-added-torrents reads back %v", a["start-added-torrents"])
	}
	id := func(a map[string]any) any { return a["torrent-added"].(map[string]any)["id"] }
	first := id(h.mustCall("torrent-add", map[string]any{"filename": fmt.Sprintf("magnet:?xt=urn:btih:%040x", 1)}))
	second := id(h.mustCall("torrent-add", map[string]any{"filename": fmt.Sprintf("magnet:?xt=urn:btih:%040x", 2), "paused": false}))
	got := torrents(t, h.mustCall("torrent-get", map[string]any{"ids": []any{first, second}, "fields": []string{"id", "status"}}))
	if len(got) != 2 || got[0]["status"] != 0.0 || got[1]["status"] == 0.0 {
		t.Errorf("after --start-paused: %v; want the first stopped (0), the second (paused false) running", got)
	}
}

// TestTorrentLimitsReadFromEngine: what is in force is the engine's, so a
// limit set elsewhere shows; turned off, the value stays shown as
// Transmission keeps it.
func TestTorrentLimitsReadFromEngine(t *testing.T) {
	h := newHarness(t)
	h.fake.Edit(client.TorrentID(hashA), func(t *clienttest.Torrent) { t.Stats.DownloadLimit = 200_000 })
	get := func() map[string]any {
		return torrents(t, h.mustCall("torrent-get", map[string]any{"ids": []any{1},
			"fields": []string{"downloadLimit", "downloadLimited", "uploadLimit", "uploadLimited"}}))[0]
	}
	if g := get(); g["downloadLimit"] != 200.0 || g["downloadLimited"] != true || g["uploadLimited"] != false {
		t.Errorf("engine's limit: %v", g)
	}
	h.mustCall("torrent-set", map[string]any{"ids": []any{1}, "downloadLimited": false})
	if c := h.fake.Calls(); !slices.Equal(c, []string{"torrent-limits " + hashA + " 0 0"}) {
		t.Errorf("engine calls %v", c)
	}
	h.fake.Edit(client.TorrentID(hashA), func(t *clienttest.Torrent) { t.Stats.DownloadLimit = 0 })
	if g := get(); g["downloadLimit"] != 200.0 || g["downloadLimited"] != false {
		t.Errorf("turned off: %v, want 200 kept and not limited", g)
	}
	h.mustCall("torrent-set", map[string]any{"ids": []any{1}, "uploadLimit": 50, "uploadLimited": true})
	if c := h.fake.Calls(); c[len(c)-1] != "torrent-limits "+hashA+" 0 50000" {
		t.Errorf("engine calls %v", c)
	}
}

// TestUnknownIdsPassOver: as in Transmission, ids and hashes of no torrent
// select nothing: a remover run twice succeeds, ids ["1"] lists nothing,
// and a known id beside an unknown one is acted on.
func TestUnknownIdsPassOver(t *testing.T) {
	h := newHarness(t)
	for _, body := range []string{
		`{"method":"torrent-remove","arguments":{"ids":[99]}}`,
		`{"method":"torrent-verify","arguments":{"ids":["` + strings.Repeat("0", 40) + `"]}}`,
		`{"method":"torrent-stop","arguments":{"ids":["zz"]}}`,
	} {
		if res := h.raw(body); res["result"] != "success" {
			t.Errorf("%s: %v", body, res)
		}
	}
	if c := h.fake.Calls(); len(c) != 0 {
		t.Errorf("engine changed: %v", c)
	}
	if l := torrents(t, h.mustCall("torrent-get", map[string]any{"ids": []any{"1"}, "fields": []string{"id"}})); len(l) != 0 {
		t.Errorf(`ids ["1"]: %v, want none`, l)
	}
	h.mustCall("torrent-stop", map[string]any{"ids": []any{1, 99}})
	if c := h.fake.Calls(); !slices.Equal(c, []string{"pause " + hashA}) {
		t.Errorf("known beside unknown: %v", c)
	}
}

// TestTransmissionDefaults: a torrent nothing happened to yet reads as in
// Transmission: ratio not applicable, no manual announce, the default
// limit of its own (not in force).
func TestTransmissionDefaults(t *testing.T) {
	h := newHarness(t)
	h.mustCall("torrent-add", map[string]any{"filename": "magnet:?xt=urn:btih:" + strings.Repeat("e", 40)})
	l := torrents(t, h.mustCall("torrent-get", map[string]any{"ids": []any{strings.Repeat("e", 40)},
		"fields": []string{"uploadRatio", "manualAnnounceTime", "downloadLimit", "downloadLimited", "uploadLimit"}}))
	want := map[string]any{"uploadRatio": -1.0, "manualAnnounceTime": -1.0, "downloadLimit": 100.0, "downloadLimited": false, "uploadLimit": 100.0}
	if len(l) != 1 || !reflect.DeepEqual(l[0], want) {
		t.Errorf("new torrent: %v, want %v", l, want)
	}
}

// TestSessionStatsCurrentAndCumulative: current counts this run only;
// cumulative adds the runs before it, kept in the state file.
func TestSessionStatsCurrentAndCumulative(t *testing.T) {
	dir := t.TempDir()
	f := clienttest.New()
	seed(f)
	h := newHarnessWith(t, f, dir)
	f.Edit(client.TorrentID(hashA), func(t *clienttest.Torrent) { t.Stats.Downloaded += 500 })
	stats := func(h *harness) (cur, cum map[string]any) {
		a := h.mustCall("session-stats", nil)
		return a["current-stats"].(map[string]any), a["cumulative-stats"].(map[string]any)
	}
	cur, cum := stats(h)
	if cur["downloadedBytes"] != 500.0 || cum["downloadedBytes"] != 500.0 || cur["sessionCount"] != 1.0 || cum["sessionCount"] != 1.0 {
		t.Errorf("first run: current %v, cumulative %v", cur, cum)
	}
	h.srv.Close() // saves
	h2 := newHarnessWith(t, f, dir)
	cur, cum = stats(h2)
	if cur["downloadedBytes"] != 0.0 || cum["downloadedBytes"] != 500.0 || cur["sessionCount"] != 1.0 || cum["sessionCount"] != 2.0 {
		t.Errorf("second run: current %v, cumulative %v", cur, cum)
	}
}

// TestAltSpeeds: turtle mode puts the alt limits in force and takes them
// off again; session-get keeps telling the normal limits from the alt
// ones; the schedule turns it on where its period begins and off where it
// ends, and a user's toggle in between stands.
func TestAltSpeeds(t *testing.T) {
	h := newHarness(t)
	h.mustCall("session-set", map[string]any{"speed-limit-down": 500, "speed-limit-down-enabled": true})
	h.mustCall("session-set", map[string]any{"alt-speed-enabled": true, "alt-speed-down": 20})
	h.mustCall("session-set", map[string]any{"alt-speed-enabled": false})
	c := h.fake.Calls()
	want := []string{"limits 500000 0", "limits 20000 50000", "limits 500000 0"}
	if !slices.Equal(c, want) {
		t.Errorf("engine limits %v, want %v", c, want)
	}
	h.mustCall("session-set", map[string]any{"alt-speed-enabled": true})
	a := h.mustCall("session-get", nil)
	if a["speed-limit-down"] != 500.0 || a["speed-limit-down-enabled"] != true || a["alt-speed-down"] != 20.0 || a["alt-speed-enabled"] != true {
		t.Errorf("session-get under alt speeds: %v", a)
	}
	h.mustCall("session-set", map[string]any{"alt-speed-enabled": false})

	// A schedule from 01:00 to 02:00 every day, in local time.
	day := time.Date(2026, 12, 2, 0, 30, 0, 0, time.Local)
	h.now = day
	h.mustCall("session-set", map[string]any{"alt-speed-time-enabled": true, "alt-speed-time-begin": 60, "alt-speed-time-end": 120})
	step := func(at time.Time, wantOn bool) {
		t.Helper()
		h.now = at
		h.srv.mu.Lock()
		h.srv.followAltScheduleLocked(at)
		on := h.srv.st.sess.AltSpeedEnabled
		h.srv.mu.Unlock()
		if on != wantOn {
			t.Errorf("at %s: alt speeds on = %v, want %v", at.Format("15:04"), on, wantOn)
		}
	}
	step(day, false)
	step(day.Add(45*time.Minute), true) // 01:15
	h.mustCall("session-set", map[string]any{"alt-speed-enabled": false})
	step(day.Add(50*time.Minute), false) // the user's toggle stands
	step(day.Add(95*time.Minute), false) // 02:05: the period ended
	step(day.Add(24*time.Hour+31*time.Minute), true)
	if c := h.fake.Calls(); c[len(c)-1] != "limits 20000 50000" {
		t.Errorf("the schedule's last call: %v", c)
	}
	if res, _ := h.call("session-set", map[string]any{"alt-speed-time-begin": 1440}); res == success {
		t.Error("begin at minute 1440 accepted")
	}
}

func TestAltScheduledOverMidnight(t *testing.T) {
	s := sessionState{AltTimeEnabled: true, AltTimeBegin: 22 * 60, AltTimeEnd: 6 * 60, AltTimeDay: 1 << time.Friday}
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{time.Date(2026, 12, 4, 23, 0, 0, 0, time.Local), true},  // Friday night
		{time.Date(2026, 12, 5, 3, 0, 0, 0, time.Local), true},   // Saturday morning: Friday's period
		{time.Date(2026, 12, 5, 23, 0, 0, 0, time.Local), false}, // Saturday night
		{time.Date(2026, 12, 4, 3, 0, 0, 0, time.Local), false},  // Friday morning: Thursday's
		{time.Date(2026, 12, 4, 12, 0, 0, 0, time.Local), false},
	} {
		if got := s.altScheduled(tc.at); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.at.Format("Mon 15:04"), got, tc.want)
		}
	}
}

// TestTrackerEdits: torrent-set's tracker edits reach the engine as the
// announce list Transmission would make of them.
func TestTrackerEdits(t *testing.T) {
	h := newHarness(t)
	trackers := func() string {
		a := h.mustCall("torrent-get", map[string]any{"ids": []int{1}, "fields": []string{"trackerStats"}})
		var out []string
		for _, tr := range a["torrents"].([]any)[0].(map[string]any)["trackerStats"].([]any) {
			m := tr.(map[string]any)
			out = append(out, fmt.Sprintf("%v:%v", m["tier"], m["announce"]))
		}
		return strings.Join(out, " ")
	}
	start := trackers()
	if start != "0:http://tracker.test:6969/announce" {
		t.Fatalf("the harness's torrent 1 has trackers %s", start)
	}
	steps := []struct {
		set  map[string]any
		want string
	}{
		{map[string]any{"trackerAdd": []string{"udp://b.test:80/announce", "http://c.test/announce"}},
			"0:http://tracker.test:6969/announce 1:udp://b.test:80/announce 2:http://c.test/announce"},
		{map[string]any{"trackerRemove": []int{0}, "trackerReplace": []any{2, "https://c.test/announce"}},
			"0:udp://b.test:80/announce 1:https://c.test/announce"},
		{map[string]any{"trackerList": "http://x.test/a\nhttp://y.test/a\n\nudp://z.test:1/a\n"},
			"0:http://x.test/a 0:http://y.test/a 1:udp://z.test:1/a"},
	}
	for _, s := range steps {
		s.set["ids"] = []int{1}
		h.mustCall("torrent-set", s.set)
		if got := trackers(); got != s.want {
			t.Errorf("after %v: %s, want %s", s.set, got, s.want)
		}
	}
}

// TestWebUI: the folder given is served at /transmission/web/ behind the
// RPC's auth, / leads there, and a folder without index.html is not listed.
func TestWebUI(t *testing.T) {
	web := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(web, "index.html"), []byte("<title>Transmission Web</title>"), 0o644))
	must(os.Mkdir(filepath.Join(web, "images"), 0o755))
	must(os.WriteFile(filepath.Join(web, "images", "logo.png"), []byte("png"), 0o644))
	h := newHarness(t, func(o *Options) { o.Username, o.Password, o.WebUI = "user", "s3cret", web })
	get := func(path string, auth bool) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, h.http.URL+path, nil)
		must(err)
		if auth {
			req.SetBasicAuth("user", "s3cret")
		}
		c := h.http.Client()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Do(req)
		must(err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	if code, _, _ := get("/transmission/web/", false); code != http.StatusUnauthorized {
		t.Errorf("web UI without auth: HTTP %d, want 401", code)
	}
	if code, _, body := get("/transmission/web/", true); code != http.StatusOK || !strings.Contains(body, "Transmission Web") {
		t.Errorf("web UI: HTTP %d %q, want its index.html", code, body)
	}
	if code, _, body := get("/transmission/web/images/logo.png", true); code != http.StatusOK || body != "png" {
		t.Errorf("web UI file: HTTP %d %q", code, body)
	}
	if code, _, body := get("/transmission/web/images/", true); code != http.StatusNotFound {
		t.Errorf("a folder without index.html: HTTP %d %q, want 404 (no listing)", code, body)
	}
	if code, loc, _ := get("/", true); code != http.StatusFound || loc != "/transmission/web/" {
		t.Errorf("/: HTTP %d to %q, want a redirect to /transmission/web/", code, loc)
	}
	if code, _, body := get("/transmission/web/../../../etc/passwd", true); code == http.StatusOK && strings.Contains(body, "root:") {
		t.Errorf("a path outside the web folder was served")
	}

	h = newHarness(t) // no WebUI
	if code, _, body := get("/transmission/web/", false); code != http.StatusNotFound || !strings.Contains(body, "--web-ui") {
		t.Errorf("no web UI configured: HTTP %d %q, want 404 naming --web-ui", code, body)
	}
}

// TestTorrentRenamePath: one torrent, a path and a name; the answer names
// them and the id, as Transmission's does; the new names show in
// torrent-get.
func TestTorrentRenamePath(t *testing.T) {
	h := newHarness(t)
	res, a := h.call("torrent-rename-path", map[string]any{"ids": []any{1}, "path": "Show.S01E01", "name": "Show S01E01"})
	if res != success || a["path"] != "Show.S01E01" || a["name"] != "Show S01E01" || a["id"] != 1.0 {
		t.Fatalf("rename the root: %q %v", res, a)
	}
	if c := h.fake.Calls(); c[len(c)-1] != "rename "+string(hashA)+" Show.S01E01 Show S01E01" {
		t.Errorf("engine call %q", c[len(c)-1])
	}
	got := torrents(t, h.mustCall("torrent-get", map[string]any{"ids": []any{1}, "fields": []string{"name", "files"}}))[0]
	files := got["files"].([]any)
	if got["name"] != "Show S01E01" || files[0].(map[string]any)["name"] != "Show S01E01/ep.mkv" {
		t.Errorf("after the rename: name %v, files %v", got["name"], files)
	}
	for _, bad := range []map[string]any{
		{"ids": []any{1, 2}, "path": "x", "name": "y"}, // two torrents
		{"ids": []any{1}, "name": "y"},                 // no path
		{"ids": []any{1}, "path": "Show S01E01"},       // no name
		{"ids": []any{1}, "path": "Show S01E01", "name": "a/b"},
	} {
		if res, _ := h.call("torrent-rename-path", bad); res == success {
			t.Errorf("torrent-rename-path %v: success", bad)
		}
	}
}

// TestPortForwardShown: peer-port follows the engine, and port-test, which
// measures nothing, quotes what the VPN's gateway said.
func TestPortForwardShown(t *testing.T) {
	port := 40000
	h := newHarness(t, func(o *Options) {
		o.PeerPort = func() int { return port }
		o.PortForward = func() (portfwd.State, bool) {
			return portfwd.State{Phase: portfwd.Mapped, Port: uint16(port), Until: time.Unix(1_700_001_060, 0)}, true
		}
	})
	port = 40001
	if a := h.mustCall("session-get", nil); a["peer-port"] != 40001.0 {
		t.Errorf("peer-port %v, want the engine's 40001", a["peer-port"])
	}
	if res, _ := h.call("port-test", nil); res == success || !strings.Contains(res, "forwards port 40001") {
		t.Errorf("port-test: %q, want an error quoting the gateway's mapping", res)
	}
}

// TestStateWritesPaced: a burst of adds is written in a few writes of the
// whole state, the last one without anybody asking (a crash after the
// burst loses nothing), and ids survive the restart.
func TestStateWritesPaced(t *testing.T) {
	dir := t.TempDir()
	h := newHarnessWith(t, clienttest.New(), dir)
	const n = 50
	for i := range n {
		h.mustCall("torrent-add", map[string]any{"filename": fmt.Sprintf("magnet:?xt=urn:btih:%040x", i+1)})
	}
	h.srv.mu.Lock()
	pending := h.srv.saveTimer != nil
	h.srv.mu.Unlock()
	if !pending {
		t.Fatal("no write pending after a burst: every add wrote the whole state")
	}
	// The pending write comes by itself, within saveEvery.
	deadline := time.Now().Add(5 * saveEvery)
	for {
		st, err := openStore(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.byID) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state file lists %d of %d torrents %s after the burst", len(st.byID), n, 5*saveEvery)
		}
		time.Sleep(50 * time.Millisecond) // polling a file another goroutine writes
	}
}

// TestTorrentGetSuspicious: a torrent with suspicious files carries the
// label "suspicious" besides the client's own, and the files with their
// reasons in wgtorrentWarnings (after why it is paused, if it is); set
// back by a client, the label is not kept as the client's.
func TestTorrentGetSuspicious(t *testing.T) {
	h := newHarness(t)
	h.fake.Edit(hashA, func(tr *clienttest.Torrent) {
		tr.Stats.State = client.StatePaused
		tr.Stats.Held = "paused for 1 suspicious file(s): resume to download them anyway, or unselect them first"
		tr.Stats.Warnings = []client.Warning{{File: 1, Path: "Show.S01E01/sample.mkv", Code: "content",
			Reason: "named as a video (.mkv) but its content is a Linux program (ELF)"}}
	})
	h.mustCall("torrent-set", map[string]any{"ids": []any{1, 2}, "labels": []string{"tv"}})
	get := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, tr := range torrents(t, h.mustCall("torrent-get", map[string]any{"fields": []string{"hashString", "labels", "wgtorrentWarnings", "errorString"}})) {
			out[tr["hashString"].(string)] = tr
		}
		return out
	}
	got := get()
	a, b := got[string(hashA)], got[string(hashB)]
	if !reflect.DeepEqual(a["labels"], []any{"tv", "suspicious"}) || !reflect.DeepEqual(b["labels"], []any{"tv"}) {
		t.Errorf("labels: suspicious %v, clean %v", a["labels"], b["labels"])
	}
	want := "paused for 1 suspicious file(s): resume to download them anyway, or unselect them first\n" +
		"Show.S01E01/sample.mkv: named as a video (.mkv) but its content is a Linux program (ELF)"
	if a["wgtorrentWarnings"] != want || b["wgtorrentWarnings"] != "" || a["errorString"] != "" {
		t.Errorf("wgtorrentWarnings %q and %q, errorString %q: want %q and none", a["wgtorrentWarnings"], b["wgtorrentWarnings"], a["errorString"], want)
	}
	// Flood sends back the labels it showed.
	h.mustCall("torrent-set", map[string]any{"ids": []any{1}, "labels": []string{"tv", "suspicious", "hd"}})
	if ts := h.srv.st.byHash[hashA]; !reflect.DeepEqual(ts.Labels, []string{"tv", "hd"}) {
		t.Errorf("labels kept as the client's: %v", ts.Labels)
	}
	if l := get()[string(hashA)]["labels"]; !reflect.DeepEqual(l, []any{"tv", "hd", "suspicious"}) {
		t.Errorf("labels shown: %v", l)
	}
}
