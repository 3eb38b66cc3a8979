package client

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Restartable is a Controller whose engine can be replaced: when the tunnel
// interface is rebuilt, sockets bound to the old one (listeners, the DHT)
// are dead, and anacrolix cannot drop a listener, so the engine is closed
// and started again on the same DataDir. Torrents come back from their
// saved state; front ends keep this one handle.
type Restartable struct {
	opts Options

	mu     sync.RWMutex
	e      *Engine
	swap   chan struct{} // closed and replaced at every restart
	closed bool
}

var _ Controller = (*Restartable)(nil)

// NewRestartable starts an engine.
func NewRestartable(ctx context.Context, o Options) (*Restartable, error) {
	e, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	return &Restartable{opts: o, e: e, swap: make(chan struct{})}, nil
}

// Rebind closes the engine and starts a new one on the tunnel as it is
// now: rebuilt, or with other addresses after a move to another server.
func (r *Restartable) Rebind(ctx context.Context, b Binding) error {
	return r.restart(ctx, "on the rebuilt tunnel", func(o *Options) { o.Binding = b })
}

// restart closes the engine, lets change edit the options (under the
// lock) and starts a new one; why goes into the log line.
func (r *Restartable) restart(ctx context.Context, why string, change func(*Options)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	if err := r.e.Close(); err != nil {
		r.e.log.Warn("closing engine for restart", "err", err)
	}
	if change != nil {
		change(&r.opts)
	}
	e, err := New(ctx, r.opts)
	if err != nil {
		return err
	}
	r.e = e
	close(r.swap)
	r.swap = make(chan struct{})
	e.log.Info("engine restarted " + why)
	return nil
}

// Relisten restarts the engine listening on port (the VPN forwards
// another port): anacrolix cannot move a listener.
func (r *Restartable) Relisten(ctx context.Context, port int) error {
	return r.restart(ctx, "on the forwarded port", func(o *Options) { o.ListenPort, o.NoListen = port, false })
}

// ForwardPort is the current engine's Engine.ForwardPort.
func (r *Restartable) ForwardPort() int { return r.cur().ForwardPort() }

func (r *Restartable) cur() *Engine {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.e
}

// ListenPort is the current engine's port for incoming peers.
func (r *Restartable) ListenPort() int { return r.cur().ListenPort() }

// Close closes the engine for good.
func (r *Restartable) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return r.e.Close()
}

// CloseOffline is Engine.CloseOffline.
func (r *Restartable) CloseOffline() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return r.e.CloseOffline()
}

// Subscribe follows the engine across restarts.
func (r *Restartable) Subscribe(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for {
			r.mu.RLock()
			e, swap, closed := r.e, r.swap, r.closed
			r.mu.RUnlock()
			if closed {
				return
			}
			sctx, cancel := context.WithCancel(ctx)
			in := e.Subscribe(sctx)
			for open := true; open; {
				select {
				case _, open = <-in:
					if open {
						select {
						case out <- struct{}{}:
						default:
						}
					}
				case <-swap:
					open = false
				}
			}
			cancel()
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return out
}

// WaitComplete waits across restarts.
func (r *Restartable) WaitComplete(ctx context.Context, id TorrentID) error {
	for {
		err := r.cur().WaitComplete(ctx, id)
		r.mu.RLock()
		closed := r.closed
		r.mu.RUnlock()
		if !errors.Is(err, ErrClosed) || closed {
			return err
		}
	}
}

func (r *Restartable) Add(ctx context.Context, src Source, opts AddOptions) (TorrentID, error) {
	return r.cur().Add(ctx, src, opts)
}

func (r *Restartable) SetSeedGoal(id TorrentID, g SeedGoal) error {
	return r.cur().SetSeedGoal(id, g)
}

// SetSeedDefaults holds across restarts: the new engine gets them.
func (r *Restartable) SetSeedDefaults(d SeedDefaults) {
	r.mu.Lock()
	r.opts.SeedDefaults = d
	e := r.e
	r.mu.Unlock()
	e.SetSeedDefaults(d)
}

func (r *Restartable) Remove(id TorrentID, deleteData bool) error {
	return r.cur().Remove(id, deleteData)
}
func (r *Restartable) Pause(id TorrentID) error                 { return r.cur().Pause(id) }
func (r *Restartable) Resume(id TorrentID) error                { return r.cur().Resume(id) }
func (r *Restartable) Verify(id TorrentID) error                { return r.cur().Verify(id) }
func (r *Restartable) Reannounce(id TorrentID) error            { return r.cur().Reannounce(id) }
func (r *Restartable) List() []Stats                            { return r.cur().List() }
func (r *Restartable) Get(id TorrentID) (Stats, error)          { return r.cur().Get(id) }
func (r *Restartable) Files(id TorrentID) ([]File, error)       { return r.cur().Files(id) }
func (r *Restartable) Peers(id TorrentID) ([]Peer, error)       { return r.cur().Peers(id) }
func (r *Restartable) Trackers(id TorrentID) ([]Tracker, error) { return r.cur().Trackers(id) }

func (r *Restartable) SetTrackers(id TorrentID, tiers [][]string) error {
	return r.cur().SetTrackers(id, tiers)
}

// TunnelBack: see Engine.TunnelBack.
func (r *Restartable) TunnelBack(lastUp time.Time)         { r.cur().TunnelBack(lastUp) }
func (r *Restartable) Pieces(id TorrentID) (Pieces, error) { return r.cur().Pieces(id) }
func (r *Restartable) SetFilePriority(id TorrentID, index int, prio Priority) error {
	return r.cur().SetFilePriority(id, index, prio)
}
func (r *Restartable) SetSequential(id TorrentID, on bool) error {
	return r.cur().SetSequential(id, on)
}

// RenamePath: see Engine.RenamePath.
func (r *Restartable) RenamePath(id TorrentID, path, name string) error {
	return r.cur().RenamePath(id, path, name)
}

func (r *Restartable) SetLocation(id TorrentID, dir string, move bool) error {
	return r.cur().SetLocation(id, dir, move)
}
func (r *Restartable) SetRateLimits(down, up int64) {
	// Kept for the next engine too.
	r.mu.Lock()
	r.opts.MaxDownloadRate, r.opts.MaxUploadRate = down, up
	e := r.e
	r.mu.Unlock()
	e.SetRateLimits(down, up)
}
func (r *Restartable) SetTorrentRateLimits(id TorrentID, down, up int64) error {
	return r.cur().SetTorrentRateLimits(id, down, up)
}
func (r *Restartable) RateLimits() (down, up int64) { return r.cur().RateLimits() }
