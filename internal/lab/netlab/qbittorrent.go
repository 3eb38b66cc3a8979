//go:build linux

package netlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// QbittorrentConfig describes one qbittorrent-nox (libtorrent) instance.
type QbittorrentConfig struct {
	Host       *Host  // where it runs (a lab host)
	ProfileDir string // its HOME and --profile: config and state
	SavePath   string
	PeerPort   int
	WebUIPort  int // on 127.0.0.1 of Host
	// BindIPv4, if set, is the one address it uses for peers.
	BindIPv4 string
	// MultiConnectionsPerIP lets several peers behind one address connect
	// (libtorrent's default keeps one connection per IP).
	MultiConnectionsPerIP bool
	// MaxActiveChecking is how many torrents it checks at once (0: its
	// default, 1; it then starts about one check a second).
	MaxActiveChecking int
	Args              []string // extra command-line arguments
}

// Qbittorrent is a Debian qbittorrent-nox in a lab host, with its web API.
type Qbittorrent struct {
	*Proc[string]
	hc  *http.Client
	api string
}

// StartQbittorrent runs qbittorrent-nox with a fresh profile (DHT, LSD,
// PeX and UPnP off) adding torrentFile (if not empty), saved to
// cfg.SavePath. Started again on the same ProfileDir, it resumes the
// torrents it had.
func StartQbittorrent(cfg QbittorrentConfig, torrentFile string) (*Qbittorrent, error) {
	extra := ""
	if cfg.BindIPv4 != "" {
		extra += `Session\InterfaceAddress=` + cfg.BindIPv4 + "\n"
	}
	if cfg.MaxActiveChecking > 0 {
		extra += fmt.Sprintf("Session\\MaxActiveCheckingTorrents=%d\n", cfg.MaxActiveChecking)
	}
	conf := fmt.Sprintf(`[LegalNotice]
Accepted=true

[BitTorrent]
Session\DHTEnabled=false
Session\LSDEnabled=false
Session\PeXEnabled=false
Session\Port=%d
Session\DefaultSavePath=%s
Session\TempPathEnabled=false
Session\QueueingSystemEnabled=false
Session\MultiConnectionsPerIp=%t
Session\AnonymousModeEnabled=false
%s
[Preferences]
Connection\UPnP=false
Connection\ResolvePeerCountries=false
General\Locale=en
WebUI\Enabled=true
WebUI\Address=127.0.0.1
WebUI\Port=%d
WebUI\LocalHostAuth=false
WebUI\HostHeaderValidation=false
WebUI\CSRFProtection=false
`, cfg.PeerPort, cfg.SavePath, cfg.MultiConnectionsPerIP, extra, cfg.WebUIPort)
	cfgDir := filepath.Join(cfg.ProfileDir, "qBittorrent", "config")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		return nil, fmt.Errorf("netlab: qbittorrent profile: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "qBittorrent.conf"), []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("netlab: qbittorrent config: %w", err)
	}
	args := append([]string{"--profile=" + cfg.ProfileDir, "--save-path=" + cfg.SavePath}, cfg.Args...)
	if torrentFile != "" {
		args = append(args, torrentFile)
	}
	cmd := cfg.Host.Command(context.Background(), "qbittorrent-nox", args...)
	cmd.Env = append(os.Environ(), "HOME="+cfg.ProfileDir)
	p, err := StartProc(cmd, Text)
	if err != nil {
		return nil, err
	}
	return &Qbittorrent{
		Proc: p,
		hc:   cfg.Host.HTTPClient(60 * time.Second),
		api:  fmt.Sprintf("http://127.0.0.1:%d/api/v2/", cfg.WebUIPort),
	}, nil
}

// WaitTorrent polls the web API until its one torrent satisfies done.
func (q *Qbittorrent) WaitTorrent(ctx context.Context, done func(progress float64, state string) bool) error {
	for {
		ok, err := q.torrentIs(done)
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond): // polling an external program's progress
		}
	}
}

func (q *Qbittorrent) torrentIs(done func(progress float64, state string) bool) (bool, error) {
	if err := q.exited(); err != nil {
		return false, err
	}
	ts, err := q.Torrents()
	if err != nil {
		return false, nil // the web UI is not up yet
	}
	if len(ts) > 0 && ts[0].State == "error" {
		return false, errors.New("qbittorrent: torrent in error state")
	}
	return len(ts) == 1 && done(ts[0].Progress, ts[0].State), nil
}

func (q *Qbittorrent) exited() error {
	select {
	case <-q.Exited():
		return fmt.Errorf("qbittorrent-nox exited: %v; stderr:\n%s", q.Err(), Tail(q.Stderr(), 2000))
	default:
		return nil
	}
}

// Seeding reports a torrent complete and uploading (or ready to).
func Seeding(progress float64, state string) bool {
	return progress >= 1 && (state == "uploading" || state == "stalledUP" || state == "forcedUP")
}

// QbittorrentTorrent is what callers read of one torrent in
// /api/v2/torrents/info.
type QbittorrentTorrent struct {
	Hash     string  `json:"hash"`
	Progress float64 `json:"progress"`
	State    string  `json:"state"`
}

// Get fetches /api/v2/PATH and returns the body of a 200 answer,
// undecoded (what a latency measurement times).
func (q *Qbittorrent) Get(path string) ([]byte, error) {
	resp, err := q.hc.Get(q.api + path)
	if err != nil {
		return nil, fmt.Errorf("qbittorrent web API %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("qbittorrent web API %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("qbittorrent web API %s: HTTP %s: %s", path, resp.Status, Tail(string(b), 500))
	}
	return b, nil
}

// Torrents lists every torrent (GET /api/v2/torrents/info, what Sonarr
// and Radarr poll).
func (q *Qbittorrent) Torrents() ([]QbittorrentTorrent, error) {
	b, err := q.Get("torrents/info")
	if err != nil {
		return nil, err
	}
	var ts []QbittorrentTorrent
	if err := json.Unmarshal(b, &ts); err != nil {
		return nil, fmt.Errorf("qbittorrent web API torrents/info: %w: %s", err, Tail(string(b), 500))
	}
	return ts, nil
}

// WaitAPI polls the web API until it answers.
func (q *Qbittorrent) WaitAPI(ctx context.Context) error {
	for {
		if err := q.exited(); err != nil {
			return err
		}
		if _, err := q.Get("app/version"); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("qbittorrent web API not answering: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond): // polling an external program's start-up
		}
	}
}

// AddTorrent uploads one .torrent (POST /api/v2/torrents/add, multipart, as
// Sonarr and Radarr do) to be saved in savePath; data already there is
// checked and seeded.
func (q *Qbittorrent) AddTorrent(name string, metainfo []byte, savePath string) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("torrents", name)
	if err != nil {
		return err
	}
	if _, err := fw.Write(metainfo); err != nil {
		return err
	}
	if err := mw.WriteField("savepath", savePath); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	resp, err := q.hc.Post(q.api+"torrents/add", mw.FormDataContentType(), &body)
	if err != nil {
		return fmt.Errorf("qbittorrent web API add %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != "Ok." {
		return fmt.Errorf("qbittorrent web API add %s: HTTP %s: %s", name, resp.Status, Tail(string(b), 200))
	}
	return nil
}
