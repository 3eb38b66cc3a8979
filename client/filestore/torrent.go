package filestore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/segments"
	"github.com/anacrolix/torrent/storage"
)

// torrent is one open instance of a torrent's storage.
type torrent struct {
	s     *Store
	ih    metainfo.Hash
	info  *metainfo.Info
	files []file
	index segments.Index
	rec   *record

	// flushMu makes flushes of one torrent take turns: two at once could
	// split the dirty files, and one save a record before the other's sync.
	flushMu sync.Mutex

	mu    sync.Mutex
	dirty map[int]struct{}  // files written since the last sync
	bufs  map[int]*pieceBuf // pieces gathered in memory, by index
	// failed: pieces marked not complete this session (a failed hash);
	// see torrent.piece.
	failed map[int]struct{}
}

type file struct {
	path   string
	offset int64 // in the torrent
	length int64
}

func newTorrent(s *Store, info *metainfo.Info, ih metainfo.Hash) (*torrent, error) {
	dir := s.o.TorrentDir(info, ih)
	t := &torrent{s: s, ih: ih, info: info, index: info.FileSegmentsIndex(), dirty: map[int]struct{}{}, bufs: map[int]*pieceBuf{}, failed: map[int]struct{}{}}
	var off int64
	for i, fi := range info.UpvertedFiles() {
		parts := fi.BestPath()
		if name := info.BestName(); name != metainfo.NoName {
			parts = append([]string{name}, parts...)
		}
		if s.o.Rename != nil {
			parts = s.o.Rename(ih, parts)
		}
		// Reject "..", absolute paths and the like: a torrent must not
		// write outside its directory.
		rel, err := storage.ToSafeFilePath(parts...)
		if err != nil {
			return nil, fmt.Errorf("file %d: %w", i, err)
		}
		f := file{path: filepath.Join(dir, rel), offset: off, length: fi.Length}
		if f.length == 0 {
			if err := createEmpty(f.path); err != nil {
				return nil, err
			}
		}
		t.files = append(t.files, f)
		off += fi.Length
	}
	return t, nil
}

func createEmpty(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// pieces returns the range of pieces that overlap f.
func (t *torrent) pieces(f file) (from, to int) {
	pl := t.info.PieceLength
	return int(f.offset / pl), int((f.offset + f.length + pl - 1) / pl)
}

// checkFiles compares the record with the disk: pieces in missing or short
// files are not complete whatever the record says, and pieces lying wholly
// in missing files need no verifying.
func (t *torrent) checkFiles() {
	missing := make([]bool, len(t.files))
	for i, f := range t.files {
		if f.length == 0 {
			continue
		}
		st, err := os.Stat(f.path)
		if err == nil && st.Size() >= f.length {
			continue
		}
		missing[i] = errors.Is(err, fs.ErrNotExist)
		t.rec.forgetRange(t.pieces(f))
	}
	for i := range t.info.NumPieces() {
		p := t.info.Piece(i)
		all := true
		for fi := range t.index.LocateIter(segments.Extent{Start: p.Offset(), Length: p.Length()}) {
			all = all && missing[fi]
		}
		if all {
			t.rec.knownMissing(i)
		}
	}
}

// flush syncs the files written since the last flush, then saves the
// record.
func (t *torrent) flush() error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	return t.finishSync(t.prepareSync())
}

// syncJob is one flush: the record as it was, and the files to sync
// before it may be saved, held open (they may be moved or deleted
// meanwhile).
type syncJob struct {
	data  []byte // nil: the record did not change
	have  bitset
	files []*handle
	index []int // of files, in t.files
	err   error // a file could not be opened: do not save the record
}

// prepareSync snapshots the record first: every piece it calls complete
// was written before the snapshot, so into a file in the dirty set taken
// after it (or synced by an earlier flush).
func (t *torrent) prepareSync() syncJob {
	var j syncJob
	j.data, j.have = t.rec.snapshot()
	t.mu.Lock()
	dirty := t.dirty
	t.dirty = map[int]struct{}{}
	t.mu.Unlock()
	for i := range dirty {
		h, err := t.s.files.acquire(t.files[i].path, false, 0)
		if err != nil {
			j.err = fmt.Errorf("sync %s: %w", t.files[i].path, err)
			t.markDirty(i) // try again next time
			continue
		}
		j.files, j.index = append(j.files, h), append(j.index, i)
	}
	return j
}

func (t *torrent) finishSync(j syncJob) error {
	err := j.err
	for k, h := range j.files {
		if serr := h.Sync(); serr != nil {
			err = fmt.Errorf("sync %s: %w", h.path, serr)
			t.markDirty(j.index[k])
		}
		t.s.files.release(h)
	}
	if j.data == nil {
		return err
	}
	if err == nil {
		err = t.rec.save(j.data)
	}
	t.rec.stored(j.have, err)
	return err
}

func (t *torrent) markDirty(i int) {
	t.mu.Lock()
	t.dirty[i] = struct{}{}
	t.mu.Unlock()
}

// flushIdle writes out the pieces in memory not written to since before
// round, and returns the first error.
func (t *torrent) flushIdle(round int64) error {
	t.mu.Lock()
	var idle []*piece
	for i, b := range t.bufs {
		if b.touched.Load() < round {
			idle = append(idle, t.newPiece(t.info.Piece(i)))
		}
	}
	t.mu.Unlock()
	var first error
	for _, p := range idle {
		if err := p.Flush(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// close writes out the pieces still in memory (into the page cache: fast)
// and leaves the syncing to a goroutine: anacrolix holds its client-wide
// lock while a torrent's storage closes, and an fsync of seconds would
// stall every torrent. The record stays shared until the sync is done, so
// a torrent reopened meanwhile (moved) sees the latest state.
func (t *torrent) close() error {
	err := t.flushIdle(t.s.round.Load() + 1)
	t.flushMu.Lock() // unlocked when the background sync is done
	j := t.prepareSync()
	paths := make([]string, len(t.files))
	for i, f := range t.files {
		paths[i] = f.path
	}
	t.s.files.forget(paths) // the job's handles stay open until released
	t.s.closing.Add(1)
	t.s.detach(t)
	go func() {
		defer t.s.closing.Done()
		defer t.flushMu.Unlock()
		if err := t.finishSync(j); err != nil {
			t.s.log.Error("storage: saving progress of a closed torrent failed", "torrent", t.ih, "err", err)
		}
		t.s.closed(t)
	}()
	return err
}

func (t *torrent) failedHash(i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.failed[i]
	return ok
}
