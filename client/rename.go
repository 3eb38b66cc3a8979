package client

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/anacrolix/torrent/metainfo"
)

// renames are the names a user gave a torrent's files and folders
// (Transmission's torrent-rename-path). A key is a path as the metainfo
// has it, root name first, "/"-joined; its value is the new last element.
// Keys stay the original paths, so renames compose whatever their order.
type renames map[string]string

// apply returns parts (a path from the metainfo, root first) with every
// renamed element replaced.
func (r renames) apply(parts []string) []string {
	if len(r) == 0 {
		return parts
	}
	out := slices.Clone(parts)
	for i := range parts {
		if n, ok := r[strings.Join(parts[:i+1], "/")]; ok {
			out[i] = n
		}
	}
	return out
}

// original finds the metainfo path whose renamed form is cur, among the
// torrent's file paths.
func (r renames) original(paths [][]string, cur []string) ([]string, bool) {
	for _, p := range paths {
		if len(p) >= len(cur) && slices.Equal(r.apply(p[:len(cur)]), cur) {
			return p[:len(cur)], true
		}
	}
	return nil, false
}

// torrentPaths lists each file's path in the metainfo, root name first.
func torrentPaths(info *metainfo.Info) [][]string {
	var out [][]string
	for _, fi := range info.UpvertedFiles() {
		if !info.IsDir() {
			out = append(out, []string{info.BestName()})
			continue
		}
		out = append(out, append([]string{info.BestName()}, fi.BestPath()...))
	}
	return out
}

// placement is where a torrent's files are: its download directory and
// the renames of its paths.
type placement struct {
	dir     string
	renames renames
}

// CheckFileName refuses what cannot be one element of a path: a new name
// for a file or folder (RenamePath).
func CheckFileName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("%q is not a file name", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%q: a new name is one element, without \"/\"", name)
	case len(name) > 255:
		return errors.New("a new name is at most 255 bytes")
	}
	return nil
}

// RenamePath renames the file or folder at path (as Files shows it, root
// name first, "/"-separated) to name, on disk too, as Transmission's
// torrent-rename-path does. Renaming the root renames the torrent.
func (e *Engine) RenamePath(id TorrentID, path, name string) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	info := en.t.Info()
	if info == nil {
		return fmt.Errorf("client: rename in %s: metadata not known yet", id)
	}
	if err := CheckFileName(name); err != nil {
		return fmt.Errorf("client: rename in %s: %w", id, err)
	}
	e.mu.Lock()
	rec := en.rec
	e.mu.Unlock()
	paths := torrentPaths(info)
	cur := strings.Split(strings.Trim(path, "/"), "/")
	orig, ok := renames(rec.Renames).original(paths, cur)
	if !ok {
		return fmt.Errorf("client: rename in %s: no file or folder %q in the torrent", id, path)
	}
	to := append(slices.Clone(cur[:len(cur)-1]), name)
	if slices.Equal(cur, to) {
		return nil
	}
	if _, taken := renames(rec.Renames).original(paths, to); taken {
		return fmt.Errorf("client: rename in %s: %q is already in the torrent", id, strings.Join(to, "/"))
	}
	return e.reopen(en, func(rec *record) error {
		from, dst := filepath.Join(append([]string{rec.DownloadDir}, cur...)...), filepath.Join(append([]string{rec.DownloadDir}, to...)...)
		if _, err := os.Lstat(dst); err == nil {
			return fmt.Errorf("rename %s: %s already exists", path, dst)
		}
		if err := os.Rename(from, dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rename %s: %w", path, err)
		}
		if rec.Renames == nil {
			rec.Renames = map[string]string{}
		}
		rec.Renames[strings.Join(orig, "/")] = name
		return nil
	})
}
