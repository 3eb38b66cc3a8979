package client

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent/metainfo"
)

// DHT timing: how often dhtLoop looks, how long one announce of a torrent
// runs (anacrolix's own announcer used 5 minutes), and the retry schedule
// of a failed bootstrap (the last step repeats).
const (
	dhtTick         = 5 * time.Second
	dhtAnnounceSpan = 5 * time.Minute
)

var dhtRetry = []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute}

const dhtRetrySchedule = "30s, 1m, 2m, 5m, then every 10m"

func (e *Engine) bootstrapNodes(is4 bool) []dht.Addr {
	e.bootMu.Lock()
	defer e.bootMu.Unlock()
	var nodes []dht.Addr
	for _, ap := range e.bootstrap {
		if ap.Addr().Is4() == is4 {
			nodes = append(nodes, dht.NewAddr(net.UDPAddrFromAddrPort(ap)))
		}
	}
	return nodes
}

func (e *Engine) dhtNodes() int {
	n := 0
	for _, ds := range e.dhts {
		n += ds.NumNodes()
	}
	return n
}

// dhtLoop keeps the DHT bootstrapped and announces the torrents that want
// peers. A failed bootstrap is one log line with its retry schedule; the
// retries that follow log at debug level, and success says so once.
func (e *Engine) dhtLoop() {
	defer e.wg.Done()
	type running struct {
		since time.Time
		stops []func()
	}
	announces := map[metainfo.Hash]running{}
	defer func() {
		for _, r := range announces {
			for _, stop := range r.stops {
				stop()
			}
		}
	}()
	failures := 0
	var next time.Time
	tick := time.NewTicker(dhtTick)
	defer tick.Stop()
	for {
		if now := time.Now(); e.dhtNodes() == 0 && !now.Before(next) {
			err := e.bootstrapDHT()
			if e.ctx.Err() != nil {
				return
			}
			if n := e.dhtNodes(); n == 0 {
				wait := dhtRetry[min(failures, len(dhtRetry)-1)]
				next = time.Now().Add(wait)
				if failures == 0 {
					e.log.Warn("DHT bootstrap failed: no node answered; retrying in the background",
						"nodes", e.o.DHTBootstrap, "err", err, "retry", dhtRetrySchedule)
				} else {
					e.log.Debug("DHT bootstrap failed again", "err", err, "tries", failures+1, "next", wait)
				}
				failures++
			} else {
				if failures > 0 {
					e.log.Info("DHT bootstrapped", "nodes", n, "tries", failures+1)
				}
				failures = 0
			}
		}
		if e.dhtNodes() > 0 {
			e.announceDHT(func(ih metainfo.Hash) (time.Time, bool) {
				r, ok := announces[ih]
				return r.since, ok
			}, func(ih metainfo.Hash, stops []func()) {
				if r, ok := announces[ih]; ok {
					for _, stop := range r.stops {
						stop()
					}
					delete(announces, ih)
				}
				if stops != nil {
					announces[ih] = running{time.Now(), stops}
				}
			})
		}
		select {
		case <-e.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// bootstrapDHT resolves the bootstrap nodes through the tunnel and asks
// every DHT server to bootstrap from them.
func (e *Engine) bootstrapDHT() error {
	ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
	defer cancel()
	var errs []error
	if len(e.o.DHTBootstrap) > 0 {
		nodes, rerrs := e.face.resolveHostPorts(ctx, e.o.DHTBootstrap)
		errs = append(errs, rerrs...)
		e.bootMu.Lock()
		if len(nodes) > 0 || len(e.bootstrap) == 0 {
			e.bootstrap = nodes
		}
		e.bootMu.Unlock()
	}
	for _, ds := range e.dhts {
		_, err := ds.BootstrapContext(ctx)
		// The DHT's table maintainer may be bootstrapping already: wait
		// for it rather than report a failure that is not one.
		for err != nil && err.Error() == "already bootstrapping" && ds.NumNodes() == 0 {
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(200 * time.Millisecond):
				_, err = ds.BootstrapContext(ctx)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// announceDHT starts an announce of every torrent that wants peers and has
// none running, and ends those that ran their span or no longer want any.
func (e *Engine) announceDHT(running func(metainfo.Hash) (time.Time, bool), set func(metainfo.Hash, []func())) {
	e.mu.Lock()
	ens := make([]*entry, 0, len(e.torrents))
	for _, en := range e.torrents {
		ens = append(ens, en)
	}
	paused := make(map[metainfo.Hash]bool, len(ens))
	for _, en := range ens {
		paused[en.ih] = en.rec.Paused || en.err != ""
	}
	e.mu.Unlock()
	failed := 0
	var lastErr error
	for _, en := range ens {
		want := !paused[en.ih] && (e.o.Seed || !e.isComplete(en))
		since, ok := running(en.ih)
		if ok && (!want || time.Since(since) > dhtAnnounceSpan) {
			set(en.ih, nil)
			ok = false
		}
		if ok || !want {
			continue
		}
		var stops []func()
		for _, s := range e.cl.DhtServers() {
			_, stop, err := en.t.AnnounceToDht(s)
			if err != nil {
				failed++
				lastErr = err
				continue
			}
			stops = append(stops, stop)
		}
		if len(stops) > 0 {
			set(en.ih, stops)
		}
	}
	if failed > 0 {
		e.log.Debug("DHT announces failed", "count", failed, "last_err", lastErr)
	}
}

// anacrolixNoise are anacrolix log messages dhtLoop reports better: the
// DHT's table maintainer logs a failed bootstrap as an error every minute.
var anacrolixNoise = []string{"error bootstrapping during bucket refresh"}

// dropMessages drops records whose message starts with one of prefixes.
type dropMessages struct {
	slog.Handler
	prefixes []string
}

func (d dropMessages) Handle(ctx context.Context, r slog.Record) error {
	for _, p := range d.prefixes {
		if strings.HasPrefix(r.Message, p) {
			return nil
		}
	}
	return d.Handler.Handle(ctx, r)
}

func (d dropMessages) WithAttrs(as []slog.Attr) slog.Handler {
	return dropMessages{d.Handler.WithAttrs(as), d.prefixes}
}

func (d dropMessages) WithGroup(name string) slog.Handler {
	return dropMessages{d.Handler.WithGroup(name), d.prefixes}
}
