//go:build linux

package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
)

// A swarm on the lab's peer host: a Debian opentracker and
// transmission-daemon seeders of a generated torrent (torrent.go). The e2e
// tests and the benchmark (internal/lab/bench) share these; they need the
// opentracker and transmission-daemon programs.

// HTTPClient returns an HTTP client whose connections start in h's
// namespace (use IP literals), never through the environment's proxy.
func (h *Host) HTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       h.DialContext,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}

// SyncBuffer is a bytes buffer safe for concurrent writers and readers, for
// a program's output.
type SyncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Opentracker is Debian's opentracker on the peer host.
type Opentracker struct {
	Base string      // http://198.18.3.2:PORT
	Log  *SyncBuffer // its output
	hc   *http.Client
}

// StartOpentracker runs opentracker on the peer host's address and port,
// whitelisting infoHashes (hex; at least one), with its chroot in a fresh
// directory under dir, and waits until it answers a scrape.
func (l *Lab) StartOpentracker(ctx context.Context, dir string, port int, infoHashes []string) (*Opentracker, error) {
	if len(infoHashes) == 0 {
		return nil, errors.New("netlab: opentracker: no info hash to whitelist")
	}
	// opentracker chroots to -d and reads the whitelist after that, as
	// user nobody: a relative path inside a world-readable directory.
	root, err := os.MkdirTemp(dir, "opentracker-")
	if err != nil {
		return nil, fmt.Errorf("netlab: opentracker dir: %w", err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return nil, fmt.Errorf("netlab: opentracker dir: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "whitelist"), []byte(strings.Join(infoHashes, "\n")+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("netlab: opentracker whitelist: %w", err)
	}
	tr := &Opentracker{
		Base: fmt.Sprintf("http://%s:%d", l.Peer.Addr4, port),
		Log:  &SyncBuffer{},
		hc:   l.Peer.HTTPClient(5 * time.Second),
	}
	p := fmt.Sprint(port)
	cmd := l.Peer.Command(context.Background(), "opentracker",
		"-i", l.Peer.Addr4.String(), "-p", p, "-P", p, "-d", root, "-w", "whitelist")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = tr.Log, tr.Log
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start opentracker: %w", err)
	}

	// Ready when a scrape answers (a scrape adds no peer; opentracker lists
	// only torrents that have peers, so the answer is empty for now).
	var ih metainfo.Hash
	if err := ih.FromHexString(infoHashes[0]); err != nil {
		return nil, fmt.Errorf("netlab: opentracker: info hash %q: %w", infoHashes[0], err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		body, err := tr.Get("/scrape?info_hash=" + EscapeBytes(ih.Bytes()))
		if err == nil && strings.HasPrefix(body, "d5:files") {
			return tr, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("netlab: opentracker not answering a scrape within 10s: %q, %v; output:\n%s", body, err, tr.Log)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling an external server's start-up
		}
	}
}

// Get fetches Base+pathQuery from the peer host and returns the body; a
// status other than 200 is an error (with the body).
func (tr *Opentracker) Get(pathQuery string) (string, error) {
	resp, err := tr.hc.Get(tr.Base + pathQuery)
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

// TransmissionConfig describes one transmission-daemon instance.
type TransmissionConfig struct {
	Host        *Host  // where it runs (a lab host)
	ConfigDir   string // created if missing; holds settings.json
	DownloadDir string
	PeerPort    int // e.g. 51413
	RPCPort     int // on 127.0.0.1 of Host, e.g. 9091
	// BindIPv4 is the address its peer sockets use; empty: any. (A second
	// seeder on its own address matters: Transmission and libtorrent keep
	// one connection per peer IP.)
	BindIPv4 string
	// UTP turns uTP on (off by default: TCP makes runs comparable).
	UTP bool
	// StartTimeout is how long its RPC may take to answer at start (0: 10
	// s): one restarted with thousands of torrents loads them first.
	StartTimeout time.Duration
}

// Transmission is a Debian transmission-daemon in a lab host, driven over
// its RPC (the same calls transmission-remote makes, but with exact byte
// counts instead of rounded human units).
type Transmission struct {
	Cmd *Cmd
	Log *SyncBuffer // its output
	// exited is closed once Cmd has exited (nil for NewTransmissionClient).
	exited chan struct{}

	hc  *http.Client
	url string
	mu  sync.Mutex
	sid string
}

// StartTransmission runs transmission-daemon (DHT, LPD, PEX, uTP and port
// forwarding off, no speed limits) and waits until its RPC answers.
func StartTransmission(ctx context.Context, cfg TransmissionConfig) (*Transmission, error) {
	if err := os.MkdirAll(cfg.ConfigDir, 0o700); err != nil {
		return nil, fmt.Errorf("netlab: transmission dir: %w", err)
	}
	settings := map[string]any{
		"dht-enabled":                    false,
		"lpd-enabled":                    false,
		"pex-enabled":                    false,
		"utp-enabled":                    cfg.UTP,
		"port-forwarding-enabled":        false,
		"peer-port":                      cfg.PeerPort,
		"peer-port-random-on-start":      false,
		"rpc-enabled":                    true,
		"rpc-bind-address":               "127.0.0.1",
		"rpc-port":                       cfg.RPCPort,
		"rpc-authentication-required":    false,
		"rpc-whitelist-enabled":          false,
		"rpc-host-whitelist-enabled":     false,
		"download-dir":                   cfg.DownloadDir,
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
	if cfg.BindIPv4 != "" {
		settings["bind-address-ipv4"] = cfg.BindIPv4
	}
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.ConfigDir, "settings.json"), b, 0o600); err != nil {
		return nil, fmt.Errorf("netlab: transmission settings: %w", err)
	}
	tm := &Transmission{
		Log: &SyncBuffer{},
		hc:  cfg.Host.HTTPClient(30 * time.Second),
		url: fmt.Sprintf("http://127.0.0.1:%d/transmission/rpc", cfg.RPCPort),
	}
	tm.Cmd = cfg.Host.Command(context.Background(), "transmission-daemon", "-f", "-g", cfg.ConfigDir)
	tm.Cmd.Stdout, tm.Cmd.Stderr = tm.Log, tm.Log
	if err := tm.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("netlab: start transmission-daemon: %w", err)
	}
	tm.exited = make(chan struct{})
	go func() { _ = tm.Cmd.Wait(); close(tm.exited) }()
	within := cfg.StartTimeout
	if within == 0 {
		within = 10 * time.Second
	}
	deadline := time.Now().Add(within)
	for {
		err := tm.Call("session-get", nil, nil)
		if err == nil {
			return tm, nil
		}
		select {
		case <-tm.exited:
			return nil, fmt.Errorf("netlab: transmission-daemon exited (%s); output:\n%s", tm.Cmd.ProcessState, tm.Log)
		default:
		}
		if time.Now().After(deadline) {
			_ = tm.Stop(5 * time.Second)
			return nil, fmt.Errorf("netlab: transmission RPC not answering within %s: %w; output:\n%s", within, err, tm.Log)
		}
		select {
		case <-ctx.Done():
			_ = tm.Stop(5 * time.Second)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling an external server's start-up
		}
	}
}

// Exited is closed once the daemon has exited.
func (tm *Transmission) Exited() <-chan struct{} { return tm.exited }

// Stop sends SIGTERM and waits for the exit, killing the daemon if it is
// still running after grace. The error says it had to, or that the daemon
// exited with a failure.
func (tm *Transmission) Stop(grace time.Duration) error {
	if tm.exited == nil {
		return errors.New("netlab: transmission client without a process to stop")
	}
	select {
	case <-tm.exited:
	default:
		_ = tm.Cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-tm.exited:
		case <-t.C:
			_ = tm.Cmd.Process.Kill()
			<-tm.exited
			return fmt.Errorf("netlab: transmission-daemon still running %s after SIGTERM: killed", grace)
		}
	}
	if ps := tm.Cmd.ProcessState; !ps.Success() {
		return fmt.Errorf("netlab: transmission-daemon: %s; output:\n%s", ps, Tail(tm.Log.String(), 2000))
	}
	return nil
}

// TransmissionStats is what callers read of one transmission torrent.
type TransmissionStats struct {
	Status        int     `json:"status"` // 6: seeding
	PercentDone   float64 `json:"percentDone"`
	LeftUntilDone int64   `json:"leftUntilDone"`
	UploadedEver  int64   `json:"uploadedEver"`
	ErrorString   string  `json:"errorString"`
	TrackerStats  []struct {
		LastAnnounceSucceeded bool   `json:"lastAnnounceSucceeded"`
		LastAnnounceResult    string `json:"lastAnnounceResult"`
	} `json:"trackerStats"`
	Peers []struct {
		Address    string `json:"address"`
		Port       int    `json:"port"`
		ClientName string `json:"clientName"`
		IsIncoming bool   `json:"isIncoming"`
	} `json:"peers"`
}

// Announced reports whether an announce to a tracker succeeded.
func (s TransmissionStats) Announced() bool {
	for _, ts := range s.TrackerStats {
		if ts.LastAnnounceSucceeded {
			return true
		}
	}
	return false
}

// Stats returns the torrent's stats.
func (tm *Transmission) Stats(infoHash string) (TransmissionStats, error) {
	var out struct {
		Torrents []TransmissionStats `json:"torrents"`
	}
	err := tm.Call("torrent-get", map[string]any{
		"ids": []string{infoHash},
		"fields": []string{"status", "percentDone", "leftUntilDone", "uploadedEver", "errorString",
			"trackerStats", "peers"},
	}, &out)
	if err != nil {
		return TransmissionStats{}, err
	}
	if len(out.Torrents) != 1 {
		return TransmissionStats{}, fmt.Errorf("transmission torrent-get: %d torrents for %s, want 1", len(out.Torrents), infoHash)
	}
	return out.Torrents[0], nil
}

// Seed adds st (whose data is already in st.Root) and waits until it seeds
// 100% and an announce to the tracker succeeded.
func (tm *Transmission) Seed(ctx context.Context, st *Torrent, within time.Duration) error {
	if err := tm.Call("torrent-add", map[string]any{"filename": st.File, "download-dir": st.Root}, nil); err != nil {
		return err
	}
	deadline := time.Now().Add(within)
	for {
		s, err := tm.Stats(st.InfoHash)
		if err != nil {
			return err
		}
		if s.PercentDone == 1 && s.Status == 6 && s.Announced() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("transmission not seeding with a successful announce within %s: %+v; output:\n%s", within, s, tm.Log)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond): // polling an external server's progress
		}
	}
}

// Call makes one RPC, doing the session-id dance (409 first) as needed,
// and decodes its arguments into result (unless nil).
func (tm *Transmission) Call(method string, args, result any) error {
	b, err := tm.Post(method, args)
	if err != nil {
		return err
	}
	var r struct {
		Result    string          `json:"result"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("transmission rpc %s: %w: %s", method, err, Tail(string(b), 500))
	}
	if r.Result != "success" {
		return fmt.Errorf("transmission rpc %s: %s", method, r.Result)
	}
	if result != nil {
		return json.Unmarshal(r.Arguments, result)
	}
	return nil
}

// Post makes one RPC, doing the session-id dance (409 first) as needed,
// and returns the whole response body of a 200 answer, undecoded: what a
// latency measurement times.
func (tm *Transmission) Post(method string, args any) ([]byte, error) {
	body, err := json.Marshal(map[string]any{"method": method, "arguments": args})
	if err != nil {
		return nil, err
	}
	for range 2 {
		req, err := http.NewRequest(http.MethodPost, tm.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		tm.mu.Lock()
		req.Header.Set("X-Transmission-Session-Id", tm.sid)
		tm.mu.Unlock()
		resp, err := tm.hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("transmission rpc %s: %w", method, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("transmission rpc %s: %w", method, err)
		}
		if resp.StatusCode == http.StatusConflict {
			tm.mu.Lock()
			tm.sid = resp.Header.Get("X-Transmission-Session-Id")
			tm.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("transmission rpc %s: HTTP %s: %s", method, resp.Status, Tail(string(b), 500))
		}
		return b, nil
	}
	return nil, fmt.Errorf("transmission rpc %s: no session id after 409", method)
}

// NewTransmissionClient returns an RPC client for a Transmission-compatible
// server listening on 127.0.0.1:rpcPort in h (transmission-daemon, or
// wgtorrent's daemon). Its Cmd is nil.
func NewTransmissionClient(h *Host, rpcPort int) *Transmission {
	return &Transmission{
		Log: &SyncBuffer{},
		hc:  h.HTTPClient(30 * time.Second),
		url: fmt.Sprintf("http://127.0.0.1:%d/transmission/rpc", rpcPort),
	}
}

// EscapeBytes percent-encodes every byte of b, for binary query values
// (info_hash, peer_id). url.QueryEscape turns a space into "+", which
// opentracker reads as a plus: one info hash in 13 holds a 0x20 byte.
func EscapeBytes(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}
