//go:build linux

package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/bencode"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// ScaleRun is one client holding N small seeding torrents.
type ScaleRun struct {
	// Client is wgtorrent (its daemon), transmission-daemon or
	// qbittorrent-nox; empty in results from before the other two were
	// measured: wgtorrent.
	Client     string  `json:"client,omitempty"`
	Torrents   int     `json:"torrents"`
	AddS       float64 `json:"add_s"`         // adding them all through its API until all seed
	AddCallsS  float64 `json:"add_calls_s"`   // of which the add calls, one after another
	RestartS   float64 `json:"restart_s"`     // launch → all seeding again, after a stop
	StopS      float64 `json:"stop_s"`        // SIGTERM → exit, before the restart
	RSSMiB     float64 `json:"rss_mib"`       // resident set once idle, the process tree's
	IdleCPUPct float64 `json:"idle_cpu_pct"`  // of one core, over IdleWindow, the process tree's
	IdleWindow float64 `json:"idle_window_s"` // seconds
	Processes  int     `json:"processes,omitempty"`
	// The list call Sonarr and Radarr poll with (torrent-get of every
	// torrent with their fields; qBittorrent: torrents/info), ListCalls
	// times one after another once idle: request sent → whole answer read.
	ListP50MS float64 `json:"list_p50_ms,omitempty"`
	ListP99MS float64 `json:"list_p99_ms,omitempty"`
	ListCalls int     `json:"list_calls,omitempty"`
	ListKiB   float64 `json:"list_kib,omitempty"` // one answer's size
	Error     string  `json:"error,omitempty"`
}

// ClientName is the client measured (wgtorrent in old results).
func (r ScaleRun) ClientName() string {
	if r.Client == "" {
		return ClientWgtorrent
	}
	return r.Client
}

const (
	daemonRPC = 9291
	// scaleSettle: after the last torrent seeds, before the idle window.
	scaleSettle = 10 * time.Second
	// scaleListCalls: list calls timed per client.
	scaleListCalls = 100
	// qbittorrentScaleChecking: qBittorrent's "max active checking
	// torrents" in the scale test (its default: 1).
	qbittorrentScaleChecking = 50
)

// ScaleClients are the clients the scale and seeding tests compare, in
// the order measured.
var ScaleClients = []string{ClientWgtorrent, ClientTransmission, ClientQbittorrent}

// arrFields are the torrent-get fields Sonarr and Radarr ask for.
var arrFields = []string{"id", "hashString", "name", "downloadDir", "totalSize", "leftUntilDone",
	"isFinished", "eta", "status", "secondsDownloading", "secondsSeeding", "errorString",
	"uploadedEver", "downloadedEver", "seedRatioLimit", "seedRatioMode", "seedIdleLimit",
	"seedIdleMode", "fileCount", "labels"}

// scaleTorrent is one small torrent of the scale test.
type scaleTorrent struct {
	Name string // its .torrent's file name
	Meta []byte // bencoded metainfo
}

// scaleClient is one client under the scale test, driven through its own
// API.
type scaleClient interface {
	// start launches it (again, on the same state) and waits until its API
	// answers.
	start(ctx context.Context) error
	pid() int
	add(t scaleTorrent) error
	// seeding counts the torrents complete and seeding; an error in any
	// torrent is an error.
	seeding() (int, error)
	// list makes the call Sonarr and Radarr poll with and returns the
	// answer undecoded; count reads how many torrents an answer holds.
	list() ([]byte, error)
	count(answer []byte) (int, error)
	// stop sends SIGTERM and waits for the exit; an error if it had to be
	// killed or exited with a failure.
	stop(grace time.Duration) error
}

// scaleAll measures each client in turn for each count, on the same
// torrents and data.
func (e *env) scaleAll(ctx context.Context) []ScaleRun {
	var clients []string
	for _, c := range ScaleClients {
		if slices.Contains(e.opt.Clients, c) {
			clients = append(clients, c)
		}
	}
	var runs []ScaleRun
	for _, n := range e.opt.Scale {
		dir := filepath.Join(e.dir, fmt.Sprintf("scale-%d", n))
		out := filepath.Join(dir, "out")
		start := time.Now()
		torrents, err := makeScaleTorrents(out, n)
		if err != nil {
			for _, c := range clients {
				runs = append(runs, ScaleRun{Client: c, Torrents: n, Error: err.Error()})
			}
			continue
		}
		e.opt.Logf("scale: %d torrents made in %.1fs", n, time.Since(start).Seconds())
		for _, c := range clients {
			start := time.Now()
			r, err := e.scaleOnce(ctx, c, filepath.Join(dir, c), out, torrents)
			if err != nil {
				r.Error = err.Error()
			}
			e.opt.Logf("scale: %-19s %5d torrents: add %.1fs (calls %.1fs), rss %.0f MiB (%d processes), idle cpu %.2f%%, list p50 %.1f ms p99 %.1f ms (%.0f KiB), restart %.1fs; %.0fs in all %s",
				c, n, r.AddS, r.AddCallsS, r.RSSMiB, r.Processes, r.IdleCPUPct, r.ListP50MS, r.ListP99MS, r.ListKiB, r.RestartS, time.Since(start).Seconds(), r.Error)
			runs = append(runs, r)
			if ctx.Err() != nil {
				return runs
			}
		}
		_ = os.RemoveAll(dir)
	}
	return runs
}

// makeScaleTorrents writes n files of 64 KiB in out and a single-file
// torrent of each (16 KiB pieces, no tracker).
func makeScaleTorrents(out string, n int) ([]scaleTorrent, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("bench: scale data: %w", err)
	}
	files := make([]netlab.ContentFile, n)
	for i := range files {
		files[i] = netlab.ContentFile{Path: fmt.Sprintf("scale-%05d.bin", i), Size: 64 << 10}
	}
	if _, err := netlab.WriteContent(out, files); err != nil {
		return nil, fmt.Errorf("bench: scale data: %w", err)
	}
	torrents := make([]scaleTorrent, n)
	for i, f := range files {
		mi, err := netlab.BuildTorrent(filepath.Join(out, f.Path), "", 16<<10)
		if err != nil {
			return nil, fmt.Errorf("bench: scale torrent %d: %w", i, err)
		}
		mb, err := bencode.Marshal(mi)
		if err != nil {
			return nil, fmt.Errorf("bench: scale torrent %d: %w", i, err)
		}
		torrents[i] = scaleTorrent{Name: f.Path + ".torrent", Meta: mb}
	}
	return torrents, nil
}

func (e *env) newScaleClient(client, state, out string) (scaleClient, error) {
	if err := os.MkdirAll(state, 0o755); err != nil {
		return nil, fmt.Errorf("bench: scale state: %w", err)
	}
	switch client {
	case ClientWgtorrent:
		return &wgtorrentScale{e: e, data: state, out: out}, nil
	case ClientTransmission:
		return &transmissionScale{out: out, cfg: netlab.TransmissionConfig{
			Host: e.lab.Client, ConfigDir: state, DownloadDir: out,
			PeerPort: transmissionPort, RPCPort: transmissionRPC, StartTimeout: 10 * time.Minute,
		}}, nil
	case ClientQbittorrent:
		cfg := qbittorrentConfig(e.lab.Client, state, out, qbittorrentPort, "")
		// Its default checks one torrent at a time and starts about one
		// check a second (200 torrents: 201 s to add): a user with
		// thousands of torrents raises it, and the comparison is with
		// each peer at its best.
		cfg.MaxActiveChecking = qbittorrentScaleChecking
		return &qbittorrentScale{out: out, cfg: cfg}, nil
	}
	return nil, fmt.Errorf("bench: no scale test for %q", client)
}

func (e *env) scaleOnce(ctx context.Context, client, state, out string, torrents []scaleTorrent) (ScaleRun, error) {
	n := len(torrents)
	r := ScaleRun{Client: client, Torrents: n, IdleWindow: e.opt.IdleWindow.Seconds()}
	defer os.RemoveAll(state)
	c, err := e.newScaleClient(client, state, out)
	if err != nil {
		return r, err
	}
	if err := c.start(ctx); err != nil {
		return r, err
	}
	running := true
	defer func() {
		if running {
			_ = c.stop(2 * time.Minute)
		}
	}()
	// Adding and (re)starting may take a while with many torrents, but
	// not forever: 5 minutes and 150 ms a torrent (transmission-daemon
	// checks about 9 a second).
	within := 5*time.Minute + time.Duration(n)*150*time.Millisecond

	start := time.Now()
	for i, t := range torrents {
		if err := c.add(t); err != nil {
			return r, fmt.Errorf("add torrent %d: %w", i, err)
		}
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
	}
	r.AddCallsS = time.Since(start).Seconds()
	if err := waitSeeding(ctx, c, n, within); err != nil {
		return r, fmt.Errorf("after adding: %w", err)
	}
	r.AddS = time.Since(start).Seconds()

	// Settle, then an idle window with no API call: only /proc is read.
	if err := sleepCtx(ctx, scaleSettle); err != nil {
		return r, err
	}
	u0, err := readTree(c.pid())
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := sleepCtx(ctx, e.opt.IdleWindow); err != nil {
		return r, err
	}
	u1, err := readTree(c.pid())
	if err != nil {
		return r, err
	}
	r.IdleCPUPct = 100 * (u1.CPU - u0.CPU) / time.Since(t0).Seconds()
	r.RSSMiB, r.Processes = u1.RSS, u1.Procs

	// The *arr tools' poll, one call after another.
	lat := make([]float64, 0, scaleListCalls)
	for i := range scaleListCalls {
		t := time.Now()
		b, err := c.list()
		if err != nil {
			return r, fmt.Errorf("list call %d: %w", i, err)
		}
		lat = append(lat, float64(time.Since(t))/float64(time.Millisecond))
		if i == 0 || i == scaleListCalls-1 {
			got, err := c.count(b)
			if err != nil {
				return r, fmt.Errorf("list call %d: %w", i, err)
			}
			if got != n {
				return r, fmt.Errorf("list call %d: %d torrents, want %d", i, got, n)
			}
			r.ListKiB = float64(len(b)) / 1024
		}
	}
	r.ListCalls = len(lat)
	r.ListP50MS, r.ListP99MS = percentile(lat, 50), percentile(lat, 99)

	// A seedbox restarts (upgrades, reboots): how long until all seed again.
	start = time.Now()
	running = false
	tree := processTree(c.pid())
	if err := c.stop(2 * time.Minute); err != nil {
		return r, fmt.Errorf("stop: %w", err)
	}
	if err := waitGone(ctx, tree, time.Minute); err != nil {
		return r, fmt.Errorf("stop: %w", err)
	}
	r.StopS = time.Since(start).Seconds()
	start = time.Now()
	if err := c.start(ctx); err != nil {
		return r, fmt.Errorf("restart: %w", err)
	}
	running = true
	if err := waitSeeding(ctx, c, n, within); err != nil {
		return r, fmt.Errorf("restart: %w", err)
	}
	r.RestartS = time.Since(start).Seconds()
	return r, nil
}

// waitSeeding polls the client until n torrents seed.
func waitSeeding(ctx context.Context, c scaleClient, n int, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	seeding := 0
	err := pollUntil(ctx, 250*time.Millisecond, func() (bool, error) {
		var err error
		seeding, err = c.seeding()
		return seeding == n, err
	})
	if err != nil {
		return fmt.Errorf("%d of %d torrents seeding: %w", seeding, n, err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d): // a measurement window, not a wait for an event
		return nil
	}
}

// percentile is the nearest-rank p-th percentile of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// wgtorrentScale is `wgtorrent daemon` (a main process and its
// daemon-worker child) through its Transmission-compatible RPC.
type wgtorrentScale struct {
	e         *env
	data, out string
	p         *proc
	rpc       *netlab.Transmission
}

func (w *wgtorrentScale) start(ctx context.Context) error {
	var err error
	w.p, w.rpc, err = w.e.startDaemon(ctx, w.data, w.out)
	return err
}

func (w *wgtorrentScale) pid() int { return w.p.Cmd.Process.Pid }

func (w *wgtorrentScale) add(t scaleTorrent) error {
	return w.rpc.Call("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(t.Meta), "download-dir": w.out}, nil)
}

func (w *wgtorrentScale) seeding() (int, error) { return transmissionSeeding(w.rpc) }
func (w *wgtorrentScale) list() ([]byte, error) { return transmissionList(w.rpc) }
func (w *wgtorrentScale) count(b []byte) (int, error) {
	return transmissionCount(b)
}

func (w *wgtorrentScale) stop(grace time.Duration) error {
	return stopProc(w.p, grace, "wgtorrent daemon")
}

// transmissionScale is transmission-daemon through its RPC.
type transmissionScale struct {
	cfg netlab.TransmissionConfig
	out string
	tm  *netlab.Transmission
}

func (t *transmissionScale) start(ctx context.Context) error {
	var err error
	t.tm, err = netlab.StartTransmission(ctx, t.cfg)
	return err
}

func (t *transmissionScale) pid() int { return t.tm.Cmd.Process.Pid }

func (t *transmissionScale) add(st scaleTorrent) error {
	return t.tm.Call("torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(st.Meta), "download-dir": t.out}, nil)
}

func (t *transmissionScale) seeding() (int, error) { return transmissionSeeding(t.tm) }
func (t *transmissionScale) list() ([]byte, error) { return transmissionList(t.tm) }
func (t *transmissionScale) count(b []byte) (int, error) {
	return transmissionCount(b)
}

func (t *transmissionScale) stop(grace time.Duration) error { return t.tm.Stop(grace) }

// qbittorrentScale is qbittorrent-nox through its web API v2.
type qbittorrentScale struct {
	cfg netlab.QbittorrentConfig
	out string
	q   *netlab.Qbittorrent
}

func (c *qbittorrentScale) start(ctx context.Context) error {
	q, err := netlab.StartQbittorrent(c.cfg, "")
	if err != nil {
		return err
	}
	c.q = q
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := q.WaitAPI(ctx); err != nil {
		_ = c.stop(30 * time.Second)
		return err
	}
	return nil
}

func (c *qbittorrentScale) pid() int { return c.q.Cmd.Process.Pid }

func (c *qbittorrentScale) add(t scaleTorrent) error { return c.q.AddTorrent(t.Name, t.Meta, c.out) }

func (c *qbittorrentScale) seeding() (int, error) {
	ts, err := c.q.Torrents()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		switch {
		case t.State == "error" || t.State == "missingFiles":
			return n, fmt.Errorf("qbittorrent-nox: torrent %s in state %s", t.Hash, t.State)
		case netlab.Seeding(t.Progress, t.State):
			n++
		}
	}
	return n, nil
}

func (c *qbittorrentScale) list() ([]byte, error) { return c.q.Get("torrents/info") }

func (c *qbittorrentScale) count(b []byte) (int, error) {
	var ts []json.RawMessage
	if err := json.Unmarshal(b, &ts); err != nil {
		return 0, fmt.Errorf("qbittorrent torrents/info: %w", err)
	}
	return len(ts), nil
}

func (c *qbittorrentScale) stop(grace time.Duration) error {
	return stopProc(c.q.Proc, grace, "qbittorrent-nox")
}

// stopProc sends SIGTERM and waits for a clean exit.
func stopProc(p *proc, grace time.Duration, name string) error {
	p.Signal(syscall.SIGTERM)
	if _, err := p.Wait(context.Background(), grace); err != nil {
		p.Stop(syscall.SIGKILL, 10*time.Second)
		return fmt.Errorf("%s: %w: killed", name, err)
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("%s: %v; stderr:\n%s", name, err, netlab.Tail(p.Stderr(), 2000))
	}
	return nil
}

// transmissionSeeding counts the torrents a Transmission RPC says are
// complete and seeding (status 6).
func transmissionSeeding(rpc *netlab.Transmission) (int, error) {
	var res struct {
		Torrents []struct {
			Status      int     `json:"status"`
			PercentDone float64 `json:"percentDone"`
			HashString  string  `json:"hashString"`
			ErrorString string  `json:"errorString"`
		} `json:"torrents"`
	}
	if err := rpc.Call("torrent-get", map[string]any{"fields": []string{"status", "percentDone", "hashString", "errorString"}}, &res); err != nil {
		return 0, err
	}
	n := 0
	for _, t := range res.Torrents {
		if t.ErrorString != "" {
			return n, fmt.Errorf("torrent %s: %s", t.HashString, t.ErrorString)
		}
		if t.Status == 6 && t.PercentDone == 1 {
			n++
		}
	}
	return n, nil
}

func transmissionList(rpc *netlab.Transmission) ([]byte, error) {
	return rpc.Post("torrent-get", map[string]any{"fields": arrFields})
}

func transmissionCount(b []byte) (int, error) {
	var r struct {
		Result    string `json:"result"`
		Arguments struct {
			Torrents []json.RawMessage `json:"torrents"`
		} `json:"arguments"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("torrent-get: %w", err)
	}
	if r.Result != "success" {
		return 0, fmt.Errorf("torrent-get: %s", r.Result)
	}
	return len(r.Arguments.Torrents), nil
}

// startDaemon runs `wgtorrent daemon` in the client namespace and waits
// until its RPC answers.
func (e *env) startDaemon(ctx context.Context, data, out string) (*proc, *netlab.Transmission, error) {
	cmd := e.lab.Client.Command(context.Background(), e.opt.Wgtorrent, "daemon", "--config", e.conf,
		"--data", data, "--out", out, "--no-dht", "--rpc-listen", fmt.Sprintf("127.0.0.1:%d", daemonRPC), "--log-level", "warn")
	p, err := startProc(cmd)
	if err != nil {
		return nil, nil, err
	}
	rpc := netlab.NewTransmissionClient(e.lab.Client, daemonRPC)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-p.Exited():
			return false, fmt.Errorf("wgtorrent daemon exited: %v: %s", p.Err(), netlab.Tail(p.Stderr(), 2000))
		default:
		}
		return rpc.Call("session-get", nil, nil) == nil, nil
	}); err != nil {
		p.Stop(syscall.SIGTERM, 30*time.Second)
		return nil, nil, fmt.Errorf("wgtorrent daemon RPC: %w", err)
	}
	return p, rpc, nil
}

// vmRSS is a process's current resident set in MiB.
func vmRSS(pid int) (float64, error) { return statusMiB(pid, "VmRSS") }
