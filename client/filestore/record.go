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
	return !have && r.saved.get(i)
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
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
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
