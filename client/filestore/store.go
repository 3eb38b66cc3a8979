// Package filestore is the engine's storage: a torrent's files on disk as
// they will be when complete, plus a small record of which pieces are
// verified.
//
// It replaces anacrolix's file storage, whose download path opened and
// closed the file for every 16 KiB block, fsynced the whole file after
// every piece, and scanned the completion database on every piece, together
// over half of the engine's CPU. Here files stay open, and durability is
// batched: every FlushInterval (and when a torrent closes) the files
// written since are synced, then the record is replaced atomically. A
// process crash loses nothing: the page cache survives it, and pieces
// verified since the last save, noted unsynced beside the record, are
// verified again at the next start instead of fetched. A power cut loses
// at most the last interval's pieces, which are fetched again, and never
// leaves a piece marked complete over data that did not reach the disk.
package filestore

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// Options configure a Store.
type Options struct {
	// StateDir holds the piece records and the lock that keeps a second
	// process off the same state.
	StateDir string
	// TorrentDir says where a torrent's files go (its name is joined to it).
	TorrentDir func(info *metainfo.Info, ih metainfo.Hash) string
	// Rename, if set, maps a file's path in the metainfo (root name
	// first) to the one on disk.
	Rename func(ih metainfo.Hash, parts []string) []string
	// FlushInterval between syncs of written data and records (10 s if 0).
	FlushInterval time.Duration
	// MaxOpenFiles kept open while idle (256 if 0).
	MaxOpenFiles int
	// BufferBytes of memory for pieces being downloaded (32 MiB if 0,
	// none if negative); see pieceBuf.
	BufferBytes int64
	// OnWriteError is told when a verified piece could not be written
	// (disk full): the piece stays in memory until Retry.
	OnWriteError func(ih metainfo.Hash, err error)
	// OnVerified, if set, is told when a piece is verified and its data is
	// in its files, after Verified says so; maybe more than once for a
	// piece. It runs on anacrolix's hashing goroutine, or wherever a piece
	// kept in memory by a write error is written out (maybe under
	// anacrolix's lock): it must be quick and not call into anacrolix.
	OnVerified func(ih metainfo.Hash, piece int)
	Logger     *slog.Logger
}

// Store implements anacrolix's storage.ClientImplCloser.
type Store struct {
	o        Options
	log      *slog.Logger
	lock     *os.File
	files    *handles
	recDir   string
	stop     chan struct{}
	stopped  sync.WaitGroup
	closing  sync.WaitGroup // syncs of closed torrents
	round    atomic.Int64   // flush rounds, to find idle piece buffers
	buffered atomic.Int64   // bytes of piece buffers in use
	poolsMu  sync.Mutex
	pools    map[int64]*sync.Pool // piece buffers by length

	mu       sync.Mutex
	records  map[metainfo.Hash]*record
	torrents map[*torrent]struct{}
}

var _ storage.ClientImplCloser = (*Store)(nil)

// Open locks StateDir and starts the background flusher.
func Open(o Options) (*Store, error) {
	if o.FlushInterval == 0 {
		o.FlushInterval = 10 * time.Second
	}
	if o.MaxOpenFiles == 0 {
		o.MaxOpenFiles = 256
	}
	if o.BufferBytes == 0 {
		o.BufferBytes = 32 << 20
	}
	if o.OnWriteError == nil {
		o.OnWriteError = func(metainfo.Hash, error) {}
	}
	if o.OnVerified == nil {
		o.OnVerified = func(metainfo.Hash, int) {}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	recDir := filepath.Join(o.StateDir, "pieces")
	if err := os.MkdirAll(recDir, 0o750); err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(o.StateDir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("filestore: %s is in use by another process (is another wgtorrent running with the same data directory?)", o.StateDir)
	}
	s := &Store{
		o:        o,
		log:      o.Logger,
		lock:     lock,
		files:    newHandles(o.MaxOpenFiles),
		recDir:   recDir,
		stop:     make(chan struct{}),
		records:  map[metainfo.Hash]*record{},
		pools:    map[int64]*sync.Pool{},
		torrents: map[*torrent]struct{}{},
	}
	s.stopped.Add(1)
	go s.flusher()
	return s, nil
}

func (s *Store) flusher() {
	defer s.stopped.Done()
	tick := time.NewTicker(s.o.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.Flush()
		}
	}
}

// Flush writes out pieces left in memory for a whole round (their
// download stalled), then syncs every open torrent's written data and its
// record.
func (s *Store) Flush() error {
	round := s.round.Add(1)
	var first error
	for _, t := range s.open() {
		t.flushIdle(round - 1)
		if err := t.flush(); err != nil {
			s.log.Error("storage: saving progress failed", "torrent", t.ih, "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func (s *Store) open() []*torrent {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := make([]*torrent, 0, len(s.torrents))
	for t := range s.torrents {
		ts = append(ts, t)
	}
	return ts
}

// Retry writes out the verified pieces of ih that a write error kept in
// memory; the engine calls it when the user resumes the torrent.
func (s *Store) Retry(ih metainfo.Hash) error {
	for _, t := range s.open() {
		if t.ih == ih {
			if err := t.flushIdle(s.round.Load() + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// getBuf returns a piece buffer of n bytes if the budget has room, else
// nil. Buffers are reused: fresh memory costs a page fault per 4 KiB on
// first write, which was most of the cost of copying a block in.
func (s *Store) getBuf(n int64) []byte {
	if s.buffered.Add(n) > s.o.BufferBytes {
		s.buffered.Add(-n)
		return nil
	}
	s.poolsMu.Lock()
	pool, ok := s.pools[n]
	if !ok {
		pool = &sync.Pool{New: func() any { b := make([]byte, n); return &b }}
		s.pools[n] = pool
	}
	s.poolsMu.Unlock()
	return *pool.Get().(*[]byte)
}

func (s *Store) putBuf(b []byte) {
	n := int64(len(b))
	s.poolsMu.Lock()
	pool := s.pools[n]
	s.poolsMu.Unlock()
	pool.Put(&b)
	s.buffered.Add(-n)
}

// Close flushes everything and releases the state directory.
func (s *Store) Close() error {
	close(s.stop)
	s.stopped.Wait()
	s.closing.Wait()
	err := s.Flush()
	s.files.closeAll()
	s.lock.Close()
	return err
}

// Verified says whether piece i of the open torrent ih is recorded
// verified (its data written).
func (s *Store) Verified(ih metainfo.Hash, i int) bool {
	s.mu.Lock()
	r := s.records[ih]
	s.mu.Unlock()
	if r == nil || i < 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.have)*64 {
		return false
	}
	return r.checked.get(i) && r.have.get(i)
}

// Forget deletes what is known of a torrent's pieces (it was removed): if
// it is added again, its data is verified afresh.
func (s *Store) Forget(ih metainfo.Hash) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.records[ih]; ok {
		// Instances still closing must not write it back; a new one
		// starts from a fresh record.
		r.saveMu.Lock()
		defer r.saveMu.Unlock()
		r.mu.Lock()
		r.gone = true
		r.closeUnsynced(true)
		r.mu.Unlock()
		delete(s.records, ih)
	}
	err := os.Remove(s.recordPath(ih))
	if os.IsNotExist(err) {
		err = nil
	}
	if uerr := os.Remove(s.recordPath(ih) + ".unsynced"); err == nil && !os.IsNotExist(uerr) {
		err = uerr
	}
	return err
}

func (s *Store) recordPath(ih metainfo.Hash) string {
	return filepath.Join(s.recDir, ih.HexString())
}

// OpenTorrent implements storage.ClientImpl.
func (s *Store) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	t, err := s.openTorrent(info, ih)
	if err != nil {
		return storage.TorrentImpl{}, err
	}
	return storage.TorrentImpl{Piece: t.piece, Close: t.close}, nil
}

func (s *Store) openTorrent(info *metainfo.Info, ih metainfo.Hash) (*torrent, error) {
	t, err := newTorrent(s, info, ih)
	if err != nil {
		return nil, fmt.Errorf("filestore: open %s: %w", ih, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[ih]
	if !ok {
		r = &record{path: s.recordPath(ih)}
		if err := r.load(info.NumPieces()); err != nil {
			s.log.Warn("storage: piece record unreadable; the torrent's data will be verified again", "torrent", ih, "err", err)
		}
		s.records[ih] = r
	}
	r.refs++
	t.rec = r
	t.checkFiles()
	s.torrents[t] = struct{}{}
	return t, nil
}

// detach stops the periodic flushes of t (it is closing).
func (s *Store) detach(t *torrent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.torrents, t)
}

// closed drops t; its record goes once no instance uses it.
func (s *Store) closed(t *torrent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.torrents, t)
	if t.rec.refs--; t.rec.refs == 0 {
		t.rec.release()
		if s.records[t.ih] == t.rec {
			delete(s.records, t.ih)
		}
	}
}
