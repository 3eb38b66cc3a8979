package filestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"sync"

	"github.com/wgtorrent/wgtorrent/internal/atomicfile"
)

// record is what we know of one torrent's pieces: which were checked this
// session or before (checked) and which of those are complete (have). It is
// shared by every open instance of the torrent (a moved torrent is reopened
// before the old instance has closed).
//
// On disk it is a small file per torrent, replaced atomically. It is
// written only after the data it vouches for has been synced, so that
// after a power cut a piece is never believed complete over data that did
// not reach the disk; a missing or damaged file only costs a re-check.
//
// Between two saves, pieces verified since the last one are noted in a
// second file, <record>.unsynced, without syncing (see noteUnsynced): the
// saved record calls them "checked, incomplete", and after a process crash
// (whose written data survives in the page cache) they would otherwise be
// fetched again instead of verified.
type record struct {
	path   string
	saveMu sync.Mutex // serializes saves with Forget's removal

	mu      sync.Mutex
	refs    int
	checked bitset
	have    bitset
	saved   bitset // have as last written to disk
	changed bool   // differs from the file
	gone    bool   // the torrent was removed: never write it again

	// unsynced: pieces verified this session (or in one that crashed)
	// that the saved record may not call complete; mirrored word for word
	// in unsyncedFile, opened on the first such piece.
	unsynced     bitset
	unsyncedFile *os.File
}

const recordMagic = "wgtorrent-pieces-1\n"

func (r *record) get(i int) (checked, have bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checked.get(i), r.have.get(i)
}

// set notes piece i's state and reports whether the file on disk still
// calls it complete when it no longer is (the caller must then save now,
// before the piece is overwritten).
func (r *record) set(i int, have bool) (stale bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.checked.get(i) && r.have.get(i) == have {
		return false
	}
	r.checked.set(i, true)
	r.have.set(i, have)
	r.changed = true
	if have {
		r.noteUnsynced(i)
	}
	return !have && r.saved.get(i)
}

func (r *record) unsyncedPath() string { return r.path + ".unsynced" }

// noteUnsynced writes down, without syncing, that piece i was verified
// (its data is written: see piece.MarkComplete). A process that dies
// before the next save leaves this in the page cache, and the next start
// verifies the piece again rather than take the saved record's
// "incomplete" for it. It is only ever a reason to verify, never to trust
// a piece: after a power cut it may be ahead of the data, or lost (the
// pieces are then fetched again, as promised). Best effort for the same
// reason: failing to note a piece costs at most fetching it again after a
// crash. Called with r.mu held.
func (r *record) noteUnsynced(i int) {
	if r.gone || r.saved.get(i) || r.unsynced.get(i) {
		return
	}
	r.unsynced.set(i, true)
	if r.unsyncedFile == nil {
		f, err := os.OpenFile(r.unsyncedPath(), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return
		}
		r.unsyncedFile = f
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], r.unsynced[i/64])
	r.unsyncedFile.WriteAt(b[:], int64(i/64)*8)
}

// loadUnsynced reads what a session that did not close cleanly noted
// (noteUnsynced): those pieces the record does not call complete become
// unchecked, so they are verified instead of fetched.
func (r *record) loadUnsynced() {
	b, err := os.ReadFile(r.unsyncedPath())
	if err != nil {
		return
	}
	for w := range min(len(b)/8, len(r.unsynced)) {
		r.unsynced[w] = binary.LittleEndian.Uint64(b[8*w:])
		if r.unsynced[w] &^= ^r.checked[w] | r.have[w]; r.unsynced[w] != 0 {
			r.checked[w] &^= r.unsynced[w]
			r.changed = true // the saved record's "incomplete" is wrong
		}
	}
}

// release is called when the last open instance has closed: if the saved
// record holds everything (the last save succeeded), the unsynced notes
// are no longer needed.
func (r *record) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeUnsynced(!r.changed)
}

// closeUnsynced closes the unsynced notes, and removes them if remove.
// Called with r.mu held.
func (r *record) closeUnsynced(remove bool) {
	if r.unsyncedFile != nil {
		r.unsyncedFile.Close()
		r.unsyncedFile = nil
	}
	if remove {
		os.Remove(r.unsyncedPath())
		r.unsynced = newBitset(len(r.unsynced) * 64)
	}
}

// snapshot returns the bytes to save, or nil when nothing changed.
func (r *record) snapshot() (data []byte, have bitset) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.changed || r.gone {
		return nil, nil
	}
	var b bytes.Buffer
	b.WriteString(recordMagic)
	binary.Write(&b, binary.LittleEndian, uint32(len(r.have)))
	binary.Write(&b, binary.LittleEndian, []uint64(r.checked))
	binary.Write(&b, binary.LittleEndian, []uint64(r.have))
	binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(b.Bytes()))
	r.changed = false
	return b.Bytes(), r.have.clone()
}

// stored notes that have (a snapshot) is now on disk, or, on error, that
// the record still has to be saved.
func (r *record) stored(have bitset, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.changed = true
		return
	}
	r.saved = have
}

// load reads the record file; a missing one is an empty record (every
// piece unchecked) and a damaged one is reported so the caller can log it
// and start afresh.
func (r *record) load(pieces int) error {
	r.checked, r.have, r.saved = newBitset(pieces), newBitset(pieces), newBitset(pieces)
	r.unsynced = newBitset(pieces)
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.loadUnsynced()
	words := len(r.have)
	want := len(recordMagic) + 4 + 16*words + 4
	if len(b) != want || string(b[:len(recordMagic)]) != recordMagic ||
		crc32.ChecksumIEEE(b[:want-4]) != binary.LittleEndian.Uint32(b[want-4:]) ||
		binary.LittleEndian.Uint32(b[len(recordMagic):]) != uint32(words) {
		return fmt.Errorf("%s is damaged or from another torrent", r.path)
	}
	rd := bytes.NewReader(b[len(recordMagic)+4:])
	binary.Read(rd, binary.LittleEndian, []uint64(r.checked))
	binary.Read(rd, binary.LittleEndian, []uint64(r.have))
	r.saved = r.have.clone()
	return nil
}

// forgetRange marks pieces [from, to) unchecked: their data is gone or
// short, so they must be verified (or fetched) again.
func (r *record) forgetRange(from, to int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := from; i < to; i++ {
		if r.checked.get(i) || r.have.get(i) {
			r.checked.set(i, false)
			r.have.set(i, false)
			r.changed = true
		}
	}
}

// knownMissing marks piece i checked and incomplete: it lies in files
// that do not exist, so there is nothing to verify.
func (r *record) knownMissing(i int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked.set(i, true)
	r.have.set(i, false)
}

// save writes data (a snapshot) as the record file, unless the torrent was
// removed meanwhile.
func (r *record) save(data []byte) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	gone := r.gone
	r.mu.Unlock()
	if gone {
		return nil
	}
	// Durable when it returns: a failed recheck must not come back as
	// complete after a power cut.
	return atomicfile.Write(r.path, data)
}

// bitset is a fixed-size set of piece indices; it is padded to whole words
// by the bits of pieces that do not exist, which stay zero.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) get(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitset) set(i int, v bool) {
	if v {
		b[i/64] |= 1 << (i % 64)
	} else {
		b[i/64] &^= 1 << (i % 64)
	}
}

func (b bitset) clone() bitset { return append(bitset(nil), b...) }
