package filestore

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// handles keeps files open between reads and writes: opening and closing a
// file for every 16 KiB block was a fifth of the download path's CPU. It
// holds at most max idle files; files in use are never closed under their
// users, only once the last one lets go.
type handles struct {
	mu   sync.Mutex
	max  int
	open map[string]*handle
	lru  list.List // of *handle, most recently used first
}

type handle struct {
	*os.File
	path     string
	writable bool
	refs     int
	elem     *list.Element
	detached bool // no longer in the cache: close on last release
}

func newHandles(max int) *handles {
	return &handles{max: max, open: map[string]*handle{}}
}

// acquire returns an open handle for path; release it when done. For
// write, a missing file (and its directory) is created with size bytes
// allocated; for read, a missing file is fs.ErrNotExist.
func (c *handles) acquire(path string, write bool, size int64) (*handle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.open[path]; ok {
		if h.writable || !write {
			h.refs++
			c.lru.MoveToFront(h.elem)
			return h, nil
		}
		// Opened read-only before: reopen for writing.
		c.detach(h)
	}
	f, err := openFile(path, write, size)
	if err != nil {
		return nil, err
	}
	h := &handle{File: f, path: path, writable: write, refs: 1}
	h.elem = c.lru.PushFront(h)
	c.open[path] = h
	c.evict()
	return h, nil
}

func openFile(path string, write bool, size int64) (*os.File, error) {
	if !write {
		return os.Open(path)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create directory: %w", err)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	// Allocate the whole file up front, as Transmission and aria2 do: a
	// full disk shows when the file is created, not halfway through, and
	// blocks written out of order land in place (a third cheaper to
	// write here). File systems without fallocate just stay sparse.
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil &&
		!errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.ENOSYS) {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("allocate %d bytes: %w", size, err)
	}
	return f, nil
}

func (c *handles) release(h *handle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h.refs--
	if h.refs == 0 && h.detached {
		h.Close()
		return
	}
	c.evict()
}

// forget closes the handles of paths (a torrent closing or moving away).
func (c *handles) forget(paths []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range paths {
		if h, ok := c.open[p]; ok {
			c.detach(h)
		}
	}
}

// detach removes h from the cache and closes it unless it is in use.
// Called with c.mu held.
func (c *handles) detach(h *handle) {
	delete(c.open, h.path)
	c.lru.Remove(h.elem)
	h.detached = true
	if h.refs == 0 {
		h.Close()
	}
}

// evict closes the least recently used idle handles over the limit.
// Called with c.mu held.
func (c *handles) evict() {
	for e := c.lru.Back(); e != nil && len(c.open) > c.max; {
		h := e.Value.(*handle)
		e = e.Prev()
		if h.refs == 0 {
			c.detach(h)
		}
	}
}

func (c *handles) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.open {
		c.detach(h)
	}
}
