package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wgtorrent/wgtorrent/internal/lab/netlab"
)

// swarm is the peer host's side of the demo: a tracker and a seeder.
type swarm struct {
	announce string
	name     string
	content  string // the seeder's copy
	torrent  string // .torrent file
	size     int64
	files    int

	mu      sync.Mutex
	seen    []netip.AddrPort
	closers []func()
}

const demoName = "wgtorrent-demo"

// demoContent is a large file and a small one in a subdirectory, so the
// torrent has several files.
var demoContent = []netlab.ContentFile{
	{Path: "video.bin", Size: 48 << 20},
	{Path: "extras/readme.bin", Size: 1<<20 + 12345},
}

func startSwarm(ctx context.Context, lab *netlab.Lab, dir, self string, out io.Writer) (*swarm, error) {
	sw := &swarm{name: demoName, files: len(demoContent)}
	seederUp := make(chan struct{})
	var once sync.Once
	// The demo's own tracker, not opentracker: it tells which addresses
	// announced, and the demo needs nothing but this binary.
	trk, err := lab.Peer.StartTracker(6969, netlab.TrackerOptions{
		Interval: 5 * time.Second,
		OnAnnounce: func(from netip.AddrPort) {
			sw.mu.Lock()
			if !slices.Contains(sw.seen, from) {
				sw.seen = append(sw.seen, from)
			}
			sw.mu.Unlock()
			if from.Addr() == lab.Peer.Addr4 {
				once.Do(func() { close(seederUp) })
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	sw.closers = append(sw.closers, func() { _ = trk.Close() })
	sw.announce = trk.Announce

	tor, err := netlab.MakeTorrent(dir, netlab.TorrentSpec{Name: demoName, Files: demoContent, Announce: sw.announce})
	if err != nil {
		sw.close()
		return nil, fmt.Errorf("demo: generate content: %w", err)
	}
	sw.content, sw.torrent, sw.size = filepath.Join(tor.Root, tor.Name), tor.File, tor.Size
	cmd := lab.Peer.Command(ctx, self, "lab-seed", "--torrent", sw.torrent, "--dir", tor.Root,
		"--bind", lab.Peer.Addr4.String(), "--data", filepath.Join(dir, "seeder-state"), "--log-level", "error")
	cmd.Stderr = prefixWriter(out, "   [seeder] ")
	seeder, err := netlab.StartProc(cmd, netlab.Text)
	if err != nil {
		sw.close()
		return nil, fmt.Errorf("demo: seeder: %w", err)
	}
	sw.closers = append(sw.closers, func() { seeder.Stop(syscall.SIGKILL, time.Second) })
	if _, err := seeder.WaitLine(ctx, 0, 30*time.Second, "seeding", func(l string) bool { return l == "seeding" }); err != nil {
		sw.close()
		return nil, fmt.Errorf("demo: the seeder did not verify its data: %w", err)
	}
	select {
	case <-seederUp:
	case <-time.After(30 * time.Second):
		sw.close()
		return nil, errors.New("demo: the seeder did not announce within 30s")
	case <-ctx.Done():
		sw.close()
		return nil, ctx.Err()
	}
	return sw, nil
}

func (sw *swarm) announcers() string {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var s []string
	for _, a := range sw.seen {
		s = append(s, a.Addr().String())
	}
	return strings.Join(slices.Compact(s), ", ")
}

func (sw *swarm) close() {
	for i := len(sw.closers) - 1; i >= 0; i-- {
		sw.closers[i]()
	}
	sw.closers = nil
}
