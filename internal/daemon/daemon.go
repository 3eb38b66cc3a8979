// Package daemon runs wgtorrent as a seedbox service: the Transmission RPC
// (with /healthz and /metrics) on one listener, an optional watch folder,
// and a graceful stop that flushes state within the deadline.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/rpc"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Options for Run.
type Options struct {
	Listen string // RPC address, e.g. 127.0.0.1:9091
	// Listener, when set, is the RPC's listener, made elsewhere (by the
	// daemon's parent, outside the tunnel's namespace); Listen is then
	// only its name.
	Listener     net.Listener
	RPC          rpc.Options
	WatchDir     string        // .torrent files dropped here are added
	WatchEvery   time.Duration // default 2s
	StopDeadline time.Duration // default 10s
	Logger       *slog.Logger
}

// Run serves until ctx ends, then stops the listener within the deadline.
// The caller closes the engine (which flushes its state) afterwards.
func Run(ctx context.Context, eng client.Controller, health rpc.Health, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.StopDeadline == 0 {
		o.StopDeadline = 10 * time.Second
	}
	srv, err := rpc.NewServer(eng, health, o.RPC)
	if err != nil {
		return err
	}
	ln := o.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", o.Listen); err != nil {
			return fmt.Errorf("daemon: listen for RPC on %s: %w", o.Listen, err)
		}
	}
	hs := &http.Server{Handler: srv.Handler(), ConnContext: srv.ConnContext, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Go(func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	})
	wg.Go(func() { srv.Run(ctx) })
	if o.WatchDir != "" {
		w := &watcher{dir: o.WatchDir, eng: eng, log: log, opts: client.AddOptions{}}
		wg.Go(func() { w.run(ctx, o.WatchEvery) })
	}
	log.Info("daemon ready", "rpc", "http://"+ln.Addr().String()+"/transmission/rpc", "watch", o.WatchDir)

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("daemon: RPC server: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.StopDeadline/2)
	defer cancel()
	if serr := hs.Shutdown(sctx); serr != nil {
		hs.Close()
	}
	wg.Wait()
	srv.Close()
	return err
}

// Health is healthy while the tunnel is up and the kill switch is armed.
type Health struct {
	Tunnel     func() vpn.Status
	KillSwitch func() (armed bool, err error)
	// MaxHandshakeAge beyond which the tunnel counts as down; default 3 min
	// (WireGuard renews a busy session every 2).
	MaxHandshakeAge time.Duration
}

// Healthy implements rpc.Health.
func (h Health) Healthy() (bool, string) {
	st := h.Tunnel()
	maxAge := h.MaxHandshakeAge
	if maxAge == 0 {
		maxAge = 3 * time.Minute
	}
	switch {
	case st.State != vpn.StateUp:
		return false, fmt.Sprintf("tunnel %s (endpoint %s)", st.State, st.Endpoint)
	case st.LastHandshake.IsZero() || time.Since(st.LastHandshake) > maxAge:
		return false, fmt.Sprintf("no handshake with %s for %s", st.Endpoint, time.Since(st.LastHandshake).Round(time.Second))
	}
	armed, err := h.KillSwitch()
	switch {
	case err != nil:
		return false, "kill switch state unknown: " + err.Error()
	case !armed:
		return false, "kill switch not armed"
	}
	return true, "ok"
}

// watcher adds .torrent files dropped into a folder, then renames them
// to NAME.added (or NAME.invalid with the reason logged) so nothing is
// added twice and nothing is lost.
type watcher struct {
	dir  string
	eng  client.Controller
	log  *slog.Logger
	opts client.AddOptions
}

func (w *watcher) run(ctx context.Context, every time.Duration) {
	if every == 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *watcher) scan(ctx context.Context) {
	names, err := filepath.Glob(filepath.Join(w.dir, "*.torrent"))
	if err != nil {
		w.log.Warn("watch folder", "dir", w.dir, "err", err)
		return
	}
	for _, p := range names {
		// A file still being copied in is left for the next scan.
		if fi, err := os.Stat(p); err != nil || time.Since(fi.ModTime()) < time.Second {
			continue
		}
		src, err := client.ParseSource(p)
		if err == nil {
			src, err = src.Load()
		}
		var in *client.InputError
		if err != nil && !errors.As(err, &in) {
			w.log.Warn("watch folder: read", "file", p, "err", err)
			continue
		}
		var id client.TorrentID
		if err == nil {
			id, err = w.eng.Add(ctx, src, w.opts)
		}
		suffix := ".added"
		switch {
		case errors.Is(err, client.ErrDuplicate):
			w.log.Info("watch folder: already added", "file", p)
		case err != nil:
			suffix = ".invalid"
			w.log.Warn("watch folder: not added", "file", p, "err", err)
		default:
			w.log.Info("watch folder: added", "file", p, "torrent", id)
		}
		if err := os.Rename(p, strings.TrimSuffix(p, ".torrent")+".torrent"+suffix); err != nil {
			w.log.Warn("watch folder: rename", "file", p, "err", err)
		}
	}
}
