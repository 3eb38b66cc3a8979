//go:build linux

package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
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
	Args                  []string // extra command-line arguments
}

// Qbittorrent is a Debian qbittorrent-nox in a lab host, with its web API.
type Qbittorrent struct {
	*Proc[string]
	hc  *http.Client
	api string
}

// StartQbittorrent runs qbittorrent-nox with a fresh profile (DHT, LSD,
// PeX and UPnP off) adding torrentFile, saved to cfg.SavePath.
func StartQbittorrent(cfg QbittorrentConfig, torrentFile string) (*Qbittorrent, error) {
	iface := ""
	if cfg.BindIPv4 != "" {
		iface = `Session\InterfaceAddress=` + cfg.BindIPv4 + "\n"
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
`, cfg.PeerPort, cfg.SavePath, cfg.MultiConnectionsPerIP, iface, cfg.WebUIPort)
	cfgDir := filepath.Join(cfg.ProfileDir, "qBittorrent", "config")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		return nil, fmt.Errorf("netlab: qbittorrent profile: %w", err)
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "qBittorrent.conf"), []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("netlab: qbittorrent config: %w", err)
	}
	args := append([]string{"--profile=" + cfg.ProfileDir, "--save-path=" + cfg.SavePath}, cfg.Args...)
	cmd := cfg.Host.Command(context.Background(), "qbittorrent-nox", append(args, torrentFile)...)
	cmd.Env = append(os.Environ(), "HOME="+cfg.ProfileDir)
	p, err := StartProc(cmd, Text)
	if err != nil {
		return nil, err
	}
	return &Qbittorrent{
		Proc: p,
		hc:   cfg.Host.HTTPClient(2 * time.Second),
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
	select {
	case <-q.Exited():
		return false, fmt.Errorf("qbittorrent-nox exited: %v; stderr:\n%s", q.Err(), Tail(q.Stderr(), 2000))
	default:
	}
	resp, err := q.hc.Get(q.api + "torrents/info")
	if err != nil {
		return false, nil // the web UI is not up yet
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return false, nil
	}
	var ts []struct {
		Progress float64 `json:"progress"`
		State    string  `json:"state"`
	}
	if err := json.Unmarshal(b, &ts); err != nil {
		return false, fmt.Errorf("qbittorrent web API: %w: %s", err, b)
	}
	if len(ts) > 0 && ts[0].State == "error" {
		return false, errors.New("qbittorrent: torrent in error state")
	}
	return len(ts) == 1 && done(ts[0].Progress, ts[0].State), nil
}

// Seeding reports a torrent complete and uploading (or ready to).
func Seeding(progress float64, state string) bool {
	return progress >= 1 && (state == "uploading" || state == "stalledUP")
}
