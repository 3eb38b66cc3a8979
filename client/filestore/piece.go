package filestore

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/segments"
	"github.com/anacrolix/torrent/storage"
)

// A piece being downloaded is gathered in memory (within Options.BufferBytes
// for the whole store) and reaches its files in one write once its hash is
// good: the hash is computed from memory, not read back from disk, and a
// piece costs one system call instead of one per 16 KiB block. A piece
// that gets no buffer, or whose data is needed from disk, is written
// through as it comes.
type pieceBuf struct {
	mu      sync.Mutex
	data    []byte
	written []segments.Extent // sorted, merged ranges of data that hold data
	touched atomic.Int64      // store's flush round of the last write
	// complete: verified, but writing it out failed; it is marked complete
	// once a Flush succeeds.
	complete bool
}

// covers reports whether [off, off+n) was all written.
func (b *pieceBuf) covers(off, n int64) bool {
	for _, e := range b.written {
		if e.Start <= off && off+n <= e.End() {
			return true
		}
	}
	return false
}

func (b *pieceBuf) add(off, n int64) {
	w := append(b.written, segments.Extent{Start: off, Length: n})
	slices.SortFunc(w, func(x, y segments.Extent) int { return int(x.Start - y.Start) })
	merged := w[:1]
	for _, e := range w[1:] {
		last := &merged[len(merged)-1]
		if e.Start <= last.End() {
			last.Length = max(last.End(), e.End()) - last.Start
		} else {
			merged = append(merged, e)
		}
	}
	b.written = merged
}

func (t *torrent) piece(p metainfo.Piece) storage.PieceImpl {
	pc := t.newPiece(p)
	// anacrolix hashes a piece itself unless its storage does, and then
	// also checks every block against what each peer sent (smart ban): a
	// second pass over the data and a map lookup per block, on every piece.
	// A piece is hashed here instead, except one that failed its hash this
	// session: anacrolix's check then names the peer that sent bad data.
	// (Pieces padded for v1 hashing are left to anacrolix, which pads.)
	if p.V1Length() != p.Length() || t.failedHash(p.Index()) {
		return pc
	}
	return selfHashing{pc}
}

func (t *torrent) newPiece(p metainfo.Piece) *piece {
	return &piece{t: t, index: p.Index(), offset: p.Offset(), length: p.Length()}
}

// selfHashing is a piece that computes its own hash (storage.SelfHashing).
type selfHashing struct{ *piece }

func (p selfHashing) SelfHash() (sum metainfo.Hash, err error) {
	h := sha1.New()
	_, err = p.WriteTo(h)
	h.Sum(sum[:0])
	return sum, err
}

// piece implements storage.PieceImpl, plus io.WriterTo for hashing and
// storage.Flusher (anacrolix calls Flush once the hash is good).
type piece struct {
	t      *torrent
	index  int
	offset int64
	length int64
}

// buf returns the piece's buffer, making one if create and the store's
// budget allows; nil means write through.
func (p *piece) buf(create bool) *pieceBuf {
	t := p.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if b, ok := t.bufs[p.index]; ok || !create {
		return b
	}
	data := t.s.getBuf(p.length)
	if data == nil {
		return nil
	}
	b := &pieceBuf{data: data}
	t.bufs[p.index] = b
	return b
}

// dropBuf forgets the piece's buffer and returns its memory. Called with
// b.mu held.
func (p *piece) dropBuf(b *pieceBuf) {
	p.t.mu.Lock()
	if p.t.bufs[p.index] == b {
		delete(p.t.bufs, p.index)
	}
	p.t.mu.Unlock()
	if b.data != nil {
		p.t.s.putBuf(b.data)
	}
	b.data, b.written = nil, nil
}

func (p *piece) WriteAt(data []byte, off int64) (int, error) {
	if b := p.buf(true); b != nil {
		b.mu.Lock()
		if b.data != nil {
			copy(b.data[off:], data)
			b.add(off, int64(len(data)))
			b.touched.Store(p.t.s.round.Load())
			b.mu.Unlock()
			return len(data), nil
		}
		// Flushed while we waited: write through.
		b.mu.Unlock()
	}
	return p.writeDisk(data, off)
}

// Flush writes the buffered data to the files and frees the buffer.
func (p *piece) Flush() error {
	b := p.buf(false)
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.data == nil {
		return nil
	}
	for _, e := range b.written {
		if _, err := p.writeDisk(b.data[e.Start:e.End()], e.Start); err != nil {
			// Keep the buffer: the data is not on disk.
			return err
		}
	}
	p.dropBuf(b)
	if b.complete {
		p.t.rec.set(p.index, true)
		p.t.s.o.OnVerified(p.t.ih, p.index)
	}
	return nil
}

func (p *piece) segments(off, n int64) func(yield func(int, segments.Extent) bool) {
	return p.t.index.LocateIter(segments.Extent{Start: p.offset + off, Length: n})
}

func (p *piece) writeDisk(b []byte, off int64) (n int, err error) {
	for i, e := range p.segments(off, int64(len(b))) {
		f := p.t.files[i]
		h, err := p.t.s.files.acquire(f.path, true, f.length)
		if err != nil {
			return n, fmt.Errorf("write %s: %w", f.path, err)
		}
		n1, err := h.WriteAt(b[:e.Length], e.Start)
		p.t.s.files.release(h)
		n += n1
		b = b[n1:]
		if err != nil {
			return n, fmt.Errorf("write %s: %w", f.path, err)
		}
		// After the write, so that a sync never takes the file before its
		// data (see torrent.flush).
		p.t.markDirty(i)
	}
	return n, nil
}

// ReadAt returns io.EOF when the data is not all there (a missing or
// short file), which anacrolix takes as "piece no longer complete".
func (p *piece) ReadAt(data []byte, off int64) (int, error) {
	if b := p.buf(false); b != nil {
		b.mu.Lock()
		if b.data != nil && b.covers(off, int64(len(data))) {
			n := copy(data, b.data[off:])
			b.mu.Unlock()
			return n, nil
		}
		b.mu.Unlock()
		// Partly on disk: put it all there and read from there.
		if err := p.Flush(); err != nil {
			return 0, err
		}
	}
	return p.readDisk(data, off)
}

func (p *piece) readDisk(b []byte, off int64) (n int, err error) {
	for i, e := range p.segments(off, int64(len(b))) {
		n1, err := p.readFile(i, b[:e.Length], e.Start)
		n += n1
		b = b[n1:]
		if err != nil {
			return n, err
		}
	}
	if len(b) > 0 {
		return n, io.EOF
	}
	return n, nil
}

func (p *piece) readFile(i int, b []byte, off int64) (int, error) {
	h, err := p.t.s.files.acquire(p.t.files[i].path, false, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, io.EOF
	}
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p.t.files[i].path, err)
	}
	defer p.t.s.files.release(h)
	n, err := h.ReadAt(b, off)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("read %s: %w", p.t.files[i].path, err)
	}
	return n, err
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// hashWrite is the size of the writes WriteTo makes: anacrolix's smart-ban
// checker buffers what it is given and checks it a 16 KiB block at a time,
// so larger writes only grow its buffer.
const hashWrite = 16 << 10

// WriteTo streams the piece for hashing, from memory when it was gathered
// there. A short piece (data missing) ends early without error: the hash
// then fails, as it should.
func (p *piece) WriteTo(w io.Writer) (int64, error) {
	if b := p.buf(false); b != nil {
		b.mu.Lock()
		if b.data != nil && b.covers(0, p.length) {
			defer b.mu.Unlock()
			return writeChunked(w, b.data)
		}
		b.mu.Unlock()
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	var total int64
	for off := int64(0); off < p.length; {
		n, err := p.ReadAt((*bp)[:min(int64(len(*bp)), p.length-off)], off)
		if _, werr := writeChunked(w, (*bp)[:n]); werr != nil {
			return total, werr
		}
		total += int64(n)
		off += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func writeChunked(w io.Writer, b []byte) (int64, error) {
	var total int64
	for len(b) > 0 {
		n, err := w.Write(b[:min(len(b), hashWrite)])
		total += int64(n)
		if err != nil {
			return total, err
		}
		b = b[n:]
	}
	return total, nil
}

// MarkComplete writes out the piece if it is still in memory (anacrolix
// flushes first when the piece has data of this session; this covers the
// rest).
//
// If writing fails (disk full) the piece stays in memory, marked to be
// completed by whichever later Flush succeeds (Store.Retry, or closing),
// and the owner is told through Options.OnWriteError.
func (p *piece) MarkComplete() error {
	if b := p.buf(false); b != nil {
		b.mu.Lock()
		b.complete = true
		b.mu.Unlock()
	}
	if err := p.Flush(); err != nil {
		p.t.s.o.OnWriteError(p.t.ih, err)
		return err
	}
	p.t.rec.set(p.index, true)
	p.t.s.o.OnVerified(p.t.ih, p.index)
	return nil
}

// MarkNotComplete drops gathered data (it failed its hash) and takes effect
// on disk at once when the saved record still calls the piece complete:
// its data is about to be overwritten.
func (p *piece) MarkNotComplete() error {
	p.t.mu.Lock()
	p.t.failed[p.index] = struct{}{}
	p.t.mu.Unlock()
	if b := p.buf(false); b != nil {
		b.mu.Lock()
		p.dropBuf(b)
		b.mu.Unlock()
	}
	if p.t.rec.set(p.index, false) {
		return p.t.flush()
	}
	return nil
}

func (p *piece) Completion() storage.Completion {
	checked, have := p.t.rec.get(p.index)
	return storage.Completion{Ok: checked, Complete: checked && have}
}
