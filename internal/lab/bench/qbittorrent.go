//go:build linux

package bench

import (
	"context"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// launchQbittorrent runs qbittorrent-nox as a leecher in the client
// namespace with a fresh profile and waits, through its web API, for the
// download to complete.
func (e *env) launchQbittorrent(out, state string) (*leecher, error) {
	q, err := netlab.StartQbittorrent(qbittorrentConfig(e.lab.Client, state, out, qbittorrentPort, ""), e.tor.File)
	if err != nil {
		return nil, err
	}
	return procLeecher(q.Proc, syscall.SIGTERM, false, func(ctx context.Context) error {
		return q.WaitTorrent(ctx, func(progress float64, _ string) bool { return progress >= 1 })
	}), nil
}

// startQbittorrentSeeder seeds the bench torrent from the peer host, at
// addr, trusting the data there (no hash check).
func (e *env) startQbittorrentSeeder(ctx context.Context, addr string) error {
	state := filepath.Join(e.dir, "qbittorrent-seeder")
	cfg := qbittorrentConfig(e.lab.Peer, state, e.tor.Root, qbittorrentSeedPort, addr)
	cfg.Args = []string{"--skip-hash-check"}
	q, err := netlab.StartQbittorrent(cfg, e.tor.File)
	if err != nil {
		return err
	}
	e.swarmStops = append(e.swarmStops, func() { q.Stop(syscall.SIGTERM, 15*time.Second) })
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return q.WaitTorrent(ctx, netlab.Seeding)
}

// qbittorrentConfig: the bench's clients share the VPN's one address, so
// several connections per IP are allowed.
func qbittorrentConfig(h *netlab.Host, state, savePath string, port int, bind string) netlab.QbittorrentConfig {
	return netlab.QbittorrentConfig{Host: h, ProfileDir: state, SavePath: savePath, PeerPort: port,
		WebUIPort: qbittorrentWebUI, BindIPv4: bind, MultiConnectionsPerIP: true}
}
