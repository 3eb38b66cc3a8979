package client

import (
	"context"
	"fmt"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// checkedStorage opens a torrent's storage only for an info dictionary that
// passes ValidateInfo. anacrolix opens storage before it uses a new info for
// anything else, so this is the one gate every torrent passes, whatever its
// source; for a magnet it is the only one, as its info comes from peers.
type checkedStorage struct {
	storage.ClientImplCloser
	// refused is told (under anacrolix's client lock: it must not call
	// back into the engine synchronously).
	refused func(ih metainfo.Hash, err error)
}

func (s checkedStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	if err := ValidateInfo(info); err != nil {
		s.refused(ih, err)
		return storage.TorrentImpl{}, fmt.Errorf("client: %w", err)
	}
	return s.ClientImplCloser.OpenTorrent(ctx, info, ih)
}

// refuseInfo stops a torrent whose info dictionary (from a magnet's peers)
// ValidateInfo refused (told by checkedStorage or metadataWatch, perhaps
// both): anacrolix drops the metadata and would fetch it
// again from the next peer, so the torrent is paused with the reason as its
// error, and stays so across restarts. Other torrents are untouched. It runs
// under anacrolix's client lock, which e.add holds e.mu around: all the
// work is done on a goroutine of its own.
func (e *Engine) refuseInfo(ih metainfo.Hash, err error) {
	if e.ctx.Err() != nil {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.mu.Lock()
		en, ok := e.torrents[ih]
		if !ok || e.closed || en.rec.Refused != "" {
			// Gone, or already refused (another peer's copy was in flight).
			e.mu.Unlock()
			return
		}
		e.log.Warn("torrent refused: its metadata is outside the engine's limits", "torrent", ih.HexString(), "err", err)
		en.err = "metadata refused: " + err.Error()
		en.rec.Refused = en.err
		e.mu.Unlock()
		e.pause(en) // saves the record, Refused with it
		e.notify()
	}()
}
