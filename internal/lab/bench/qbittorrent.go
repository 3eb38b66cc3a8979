//go:build linux

package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// qbittorrent is one qbittorrent-nox with its web API, as a leecher in the
// client namespace or a seeder on the peer host.
type qbittorrent struct {
	p     *proc
	hc    *http.Client
	webUI int
}

// startQbittorrent runs qbittorrent-nox on h with its profile in state,
// adding torrentFile saved to savePath (DHT, LSD, PeX and UPnP off). bind,
// if valid, is the one address it uses for peers.
func startQbittorrent(h *netlab.Host, state, savePath string, port, webUI int, bind string, torrentFile string, extra ...string) (*qbittorrent, error) {
	iface := ""
	if bind != "" {
		iface = `Session\InterfaceAddress=` + bind + "\n"
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
Session\MultiConnectionsPerIp=true
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
`, port, savePath, iface, webUI)
	cfgDir := filepath.Join(state, "qBittorrent", "config")
	if err := os.MkdirAll(cfgDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, "qBittorrent.conf"), []byte(conf), 0o600); err != nil {
		return nil, err
	}
	args := append([]string{"--profile=" + state, "--save-path=" + savePath}, extra...)
	cmd := h.Command(context.Background(), "qbittorrent-nox", append(args, torrentFile)...)
	cmd.Env = append(os.Environ(), "HOME="+state)
	p, err := startProc(cmd)
	if err != nil {
		return nil, err
	}
	return &qbittorrent{p: p, hc: h.HTTPClient(2 * time.Second), webUI: webUI}, nil
}

// waitTorrent polls the web API until the one torrent satisfies done.
func (q *qbittorrent) waitTorrent(ctx context.Context, done func(progress float64, state string) bool) error {
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v2/torrents/info", q.webUI)
	return pollUntil(ctx, 100*time.Millisecond, func() (bool, error) {
		select {
		case <-q.p.Exited():
			return false, fmt.Errorf("qbittorrent-nox exited: %v; stderr:\n%s", q.p.Err(), netlab.Tail(q.p.Stderr(), 2000))
		default:
		}
		resp, err := q.hc.Get(api)
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
	})
}

// launchQbittorrent runs qbittorrent-nox as a leecher in the client
// namespace with a fresh profile and waits, through its web API, for the
// download to complete.
func (e *env) launchQbittorrent(out, state string) (*leecher, error) {
	q, err := startQbittorrent(e.lab.Client, state, out, qbittorrentPort, qbittorrentWebUI, "", e.tor.File)
	if err != nil {
		return nil, err
	}
	return procLeecher(q.p, syscall.SIGTERM, false, func(ctx context.Context) error {
		return q.waitTorrent(ctx, func(progress float64, _ string) bool { return progress >= 1 })
	}), nil
}

// startQbittorrentSeeder seeds the bench torrent from the peer host, at
// addr, trusting the data there (no hash check).
func (e *env) startQbittorrentSeeder(ctx context.Context, addr string) error {
	state := filepath.Join(e.dir, "qbittorrent-seeder")
	q, err := startQbittorrent(e.lab.Peer, state, e.tor.Root, qbittorrentSeedPort, qbittorrentWebUI, addr, e.tor.File, "--skip-hash-check")
	if err != nil {
		return err
	}
	e.stops = append(e.stops, func() { q.p.Stop(syscall.SIGTERM, 15*time.Second) })
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return q.waitTorrent(ctx, func(progress float64, state string) bool {
		return progress >= 1 && (state == "uploading" || state == "stalledUP")
	})
}
