//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
	"github.com/wgtorrent/wgtorrent/internal/lab/netlab/labtest"
)

// daemonRPCAddr is where the daemon's RPC listens in the client namespace
// unless a test says otherwise.
const daemonRPCAddr = "127.0.0.1:9091"

// daemonArgs are `wgtorrent daemon` arguments: no DHT (no public address
// may be contacted), kill switch on (the default).
func daemonArgs(conf, data, out string, extra ...string) []string {
	return append([]string{"daemon", "--config", conf, "--data", data, "--out", out, "--no-dht"}, extra...)
}

// daemonContent is the seeded torrent of the daemon tests: ~12 MiB in
// three files, piece boundaries across files.
var daemonContent = []netlab.ContentFile{
	{Path: "alpha.bin", Size: 6<<20 + 12345},
	{Path: "sub/beta.bin", Size: 4<<20 + 777},
	{Path: "gamma.dat", Size: 2<<20 + 1},
}

// daemonLab is a lab with an opentracker and a transmission seeder of
// main on the peer host, plus small torrents (locals) whose data only the
// test has: the tracker whitelists them all so their announces succeed.
type daemonLab struct {
	lab    *netlab.Lab
	srv    netlab.WGServer
	conf   string
	main   *swarmTorrent
	locals []*swarmTorrent
	tr     *tracker
	seed   *transmission
}

func newDaemonLab(t *testing.T, locals int) *daemonLab {
	t.Helper()
	labtest.SkipIfNotRoot(t)
	needPrograms(t, "wireguard-go", "wg", "tcpdump", "opentracker", "transmission-daemon")
	lab, srv, conf := newLab(t, netlab.Options{})
	d := &daemonLab{lab: lab, srv: srv, conf: conf}
	d.main = makeTorrent(t, lab, daemonContent)
	hashes := []string{d.main.InfoHash}
	for i := range locals {
		lt := makeLocalTorrent(t, lab, fmt.Sprintf("wgt-local%d-%s", i+1, lab.ID), []netlab.ContentFile{
			{Path: "one.bin", Size: 1<<20 + 4321},
			{Path: "dir/two.bin", Size: 512<<10 + 99},
		})
		d.locals = append(d.locals, lt)
		hashes = append(hashes, lt.InfoHash)
	}
	d.tr = startTracker(t, lab, hashes...)
	d.seed = startSeeder(t, lab, d.main)
	return d
}

// makeLocalTorrent is makeTorrent with a name, so that several can share
// a download directory, and 64 KiB pieces.
func makeLocalTorrent(t *testing.T, lab *netlab.Lab, name string, files []netlab.ContentFile) *swarmTorrent {
	t.Helper()
	return makeNamedTorrent(t, lab, netlab.TorrentSpec{Name: name, Files: files, PieceLength: 64 << 10})
}

// remote runs Debian's transmission-remote (3.00) against the daemon in
// the client namespace and returns its output; a non-zero exit fails t.
func remote(t *testing.T, h *netlab.Host, args ...string) string {
	t.Helper()
	out, err := remoteErr(h, args...)
	if err != nil {
		t.Fatalf("transmission-remote %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func remoteErr(h *netlab.Host, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := h.Command(ctx, "transmission-remote", append([]string{daemonRPCAddr}, args...)...).CombinedOutput()
	return string(out), err
}

// remoteOK runs an action and fails t unless the daemon answered success.
func remoteOK(t *testing.T, h *netlab.Host, args ...string) {
	t.Helper()
	if out := remote(t, h, args...); !strings.Contains(out, `responded: "success"`) {
		t.Fatalf("transmission-remote %s: no success:\n%s", strings.Join(args, " "), out)
	}
}

// rpcClient speaks the Transmission RPC to the daemon from a namespace,
// with exact numbers where transmission-remote prints rounded ones.
type rpcClient struct {
	hc         *http.Client
	base       string // http://host:port
	user, pass string
	sid        string
}

func newRPCClient(h *netlab.Host, addr, user, pass string) *rpcClient {
	return newRPCClientDial(h.DialContext, addr, user, pass)
}

func newRPCClientDial(dial func(ctx context.Context, network, addr string) (net.Conn, error), addr, user, pass string) *rpcClient {
	return &rpcClient{
		hc: &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				DialContext:       dial,
				DisableKeepAlives: true,
				Proxy:             nil, // never the environment's proxy
			},
		},
		base: "http://" + addr,
		user: user, pass: pass,
	}
}

// request sends one HTTP request with the client's credentials.
func (c *rpcClient) request(method, path string, body []byte, hdr map[string]string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v // net/http ignores a Host header field
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

func (c *rpcClient) get(path string) (int, string, error) {
	code, _, b, err := c.request(http.MethodGet, path, nil, nil)
	return code, string(b), err
}

// post sends a raw RPC body, doing the 409 session-id dance, and returns
// the HTTP status and body of the answer.
func (c *rpcClient) post(body []byte) (int, []byte, error) {
	for range 2 {
		code, hdr, b, err := c.request(http.MethodPost, "/transmission/rpc", body,
			map[string]string{"X-Transmission-Session-Id": c.sid, "Content-Type": "application/json"})
		if err != nil {
			return 0, nil, err
		}
		if code == http.StatusConflict {
			c.sid = hdr.Get("X-Transmission-Session-Id")
			continue
		}
		return code, b, nil
	}
	return 0, nil, fmt.Errorf("rpc: still 409 after taking the session id")
}

// result sends method with args and returns the answer's "result" and
// its arguments.
func (c *rpcClient) result(method string, args any) (string, json.RawMessage, error) {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return "", nil, err
	}
	code, b, err := c.post(body)
	if err != nil {
		return "", nil, err
	}
	if code != http.StatusOK {
		return "", nil, fmt.Errorf("rpc %s: HTTP %d: %s", method, code, b)
	}
	var r struct {
		Result    string          `json:"result"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return "", nil, fmt.Errorf("rpc %s: %w: %s", method, err, b)
	}
	return r.Result, r.Arguments, nil
}

// call fails t unless method succeeds; out (if not nil) gets the arguments.
func (c *rpcClient) call(t *testing.T, method string, args, out any) {
	t.Helper()
	res, raw, err := c.result(method, args)
	if err != nil {
		t.Fatalf("rpc %s: %v", method, err)
	}
	if res != "success" {
		t.Fatalf("rpc %s %v: result %q", method, args, res)
	}
	if out != nil {
		must(t, json.Unmarshal(raw, out))
	}
}

// addFile adds a .torrent as transmission-remote does (base64 metainfo)
// and returns its id.
func (c *rpcClient) addFile(t *testing.T, path string, extra map[string]any) int {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	args := map[string]any{"metainfo": base64.StdEncoding.EncodeToString(b)}
	for k, v := range extra {
		args[k] = v
	}
	var out map[string]struct {
		ID int `json:"id"`
	}
	c.call(t, "torrent-add", args, &out)
	for _, v := range out {
		return v.ID
	}
	t.Fatalf("torrent-add %s: no id in the answer %v", path, out)
	return 0
}

// daemonTorrent is what the tests read of a torrent over RPC.
type daemonTorrent struct {
	ID            int     `json:"id"`
	Name          string  `json:"name"`
	HashString    string  `json:"hashString"`
	Status        int     `json:"status"` // 0 stopped, 1/2 verify, 3/4 download, 5/6 seed
	PercentDone   float64 `json:"percentDone"`
	HaveValid     int64   `json:"haveValid"`
	TotalSize     int64   `json:"totalSize"`
	LeftUntilDone int64   `json:"leftUntilDone"`
	IsFinished    bool    `json:"isFinished"`
	Error         int     `json:"error"`
	ErrorString   string  `json:"errorString"`
	DownloadDir   string  `json:"downloadDir"`
	Pieces        string  `json:"pieces"` // base64 bitfield of verified pieces
	PieceSize     int64   `json:"pieceSize"`
	PieceCount    int     `json:"pieceCount"`
}

// verified is the size of the pieces the bitfield marks complete (what
// haveValid should say too): it leaves out the chunks of pieces still in
// progress, which a restart may rightly drop.
func (x daemonTorrent) verified() int64 {
	bits, err := base64.StdEncoding.DecodeString(x.Pieces)
	if err != nil {
		return -1
	}
	var n int64
	for i := range x.PieceCount {
		if i/8 < len(bits) && bits[i/8]&(0x80>>(i%8)) != 0 {
			if i == x.PieceCount-1 {
				n += x.TotalSize - int64(i)*x.PieceSize
			} else {
				n += x.PieceSize
			}
		}
	}
	return n
}

// hasPiecesOf reports whether x has every piece that was had (the same
// torrent seen earlier).
func (x daemonTorrent) hasPiecesOf(was daemonTorrent) bool {
	mine, err1 := base64.StdEncoding.DecodeString(x.Pieces)
	theirs, err2 := base64.StdEncoding.DecodeString(was.Pieces)
	if err1 != nil || err2 != nil || len(mine) != len(theirs) {
		return false
	}
	for i := range theirs {
		if theirs[i]&^mine[i] != 0 {
			return false
		}
	}
	return true
}

func (x daemonTorrent) String() string {
	return fmt.Sprintf("#%d %s status=%d %.1f%% have=%d verified=%d/%d err=%q", x.ID, x.Name, x.Status, 100*x.PercentDone, x.HaveValid, x.verified(), x.TotalSize, x.ErrorString)
}

func (x daemonTorrent) complete() bool {
	return x.TotalSize > 0 && x.HaveValid == x.TotalSize && x.PercentDone == 1
}

// torrents returns every torrent, by id.
func (c *rpcClient) torrents(t *testing.T) map[int]daemonTorrent {
	t.Helper()
	var out struct {
		Torrents []daemonTorrent `json:"torrents"`
	}
	c.call(t, "torrent-get", map[string]any{"fields": []string{
		"id", "name", "hashString", "status", "percentDone", "haveValid", "totalSize",
		"leftUntilDone", "isFinished", "error", "errorString", "downloadDir", "pieces", "pieceSize", "pieceCount",
	}}, &out)
	m := map[int]daemonTorrent{}
	for _, x := range out.Torrents {
		m[x.ID] = x
	}
	return m
}

// waitTorrent polls until torrent id satisfies ok, and returns it.
func (c *rpcClient) waitTorrent(t *testing.T, p *proc, id int, within time.Duration, what string, ok func(daemonTorrent) bool) daemonTorrent {
	t.Helper()
	var x daemonTorrent
	pollDaemon(t, p, within, fmt.Sprintf("torrent %d %s", id, what), func() (bool, string) {
		var found bool
		x, found = c.torrents(t)[id]
		return found && ok(x), fmt.Sprintf("%v (found %v)", x, found)
	})
	return x
}

// pollDaemon calls check until it is done, and fails t when the daemon
// exits first or within passes; check says what it saw last.
func pollDaemon(t *testing.T, p *proc, within time.Duration, what string, check func() (done bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		done, last := check()
		if done {
			return
		}
		select {
		case <-p.Exited():
			t.Fatalf("daemon exited (%v) before %s; stderr:\n%s", p.Err(), what, p.Stderr())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not %s within %s; last seen: %s", what, within, last)
		}
		time.Sleep(250 * time.Millisecond) // polling the daemon's progress
	}
}

// waitHealth polls /healthz until it answers want, and returns the body
// and how long it took.
func (c *rpcClient) waitHealth(t *testing.T, p *proc, want int, within time.Duration) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	var code int
	var body string
	var err error
	for {
		code, body, err = c.get("/healthz")
		if err == nil && code == want {
			return strings.TrimSpace(body), time.Since(start)
		}
		select {
		case <-p.Exited():
			t.Fatalf("daemon exited (%v) while waiting for /healthz %d; stderr:\n%s", p.Err(), want, p.Stderr())
		default:
		}
		if time.Since(start) > within {
			t.Fatalf("/healthz not %d within %s: last %d %q, %v", want, within, code, body, err)
		}
		time.Sleep(250 * time.Millisecond) // polling an external condition
	}
}

// stopDaemon sends SIGTERM and fails t unless the daemon exits 0 within
// 10 s; it returns how long the stop took.
func stopDaemon(t *testing.T, p *proc) time.Duration {
	t.Helper()
	start := time.Now()
	p.Signal(syscall.SIGTERM)
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("daemon exit status %d after SIGTERM, want 0; stderr:\n%s", code, p.Stderr())
	}
	return time.Since(start)
}

// metricValue returns the value of the first sample line of /metrics that
// starts with series (name plus labels), and whether there was one.
func metricValue(metrics, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(metrics))
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			if _, err := fmt.Sscan(rest, &v); err == nil {
				return v, true
			}
		}
	}
	return 0, false
}

// listLine returns transmission-remote -l's line naming name ("" if none).
func listLine(list, name string) string {
	for _, l := range strings.Split(list, "\n") {
		if strings.Contains(l, name) {
			return l
		}
	}
	return ""
}

// tunNodeWrapper returns the arguments for unshare(1) that run name with
// args in a private mount namespace where /dev/net/tun is a node of its
// own, mode 0666, as a container's runtime provides it: on a tmpfs
// mounted over dir, bind-mounted over /dev/net/tun. The host's node and
// mount table are untouched, and the mounts vanish with the process.
func tunNodeWrapper(dir, name string, args ...string) []string {
	const script = `mount -t tmpfs -o size=64k,mode=0755 wgt-tun "$1" &&
mknod -m 0666 "$1/tun" c 10 200 &&
mount --bind "$1/tun" /dev/net/tun &&
shift && exec "$@"`
	return append([]string{"--mount", "--propagation", "private", "--", "sh", "-euc", script, "sh", dir, name}, args...)
}

// nobodyDir makes a directory an unprivileged user can reach (t.TempDir is
// 0700 and root's) holding a copy of wgtorrent and the WireGuard config,
// the config owned by uid (0600, as a provider's file should be).
func nobodyDir(t *testing.T, prefix, config string, uid int) (dir, bin, conf string) {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	bin = filepath.Join(dir, "wgtorrent")
	b, err := os.ReadFile(wgtorrentBin)
	must(t, err)
	must(t, os.WriteFile(bin, b, 0o755))
	conf = filepath.Join(dir, "wg0.conf")
	must(t, os.WriteFile(conf, []byte(config), 0o600))
	must(t, os.Chown(conf, uid, uid))
	return dir, bin, conf
}

// nobodyWorkDirs makes, in a nobodyDir, the download and state folders
// (uid's) and the folder tunNodeWrapper mounts its TUN node on.
func nobodyWorkDirs(t *testing.T, dir string, uid int) (out, data, tunDir string) {
	t.Helper()
	out, data, tunDir = filepath.Join(dir, "out"), filepath.Join(dir, "data"), filepath.Join(dir, "tundev")
	for _, d := range []string{out, data, tunDir} {
		must(t, os.Mkdir(d, 0o755))
	}
	for _, d := range []string{out, data} {
		must(t, os.Chown(d, uid, uid))
	}
	return out, data, tunDir
}
