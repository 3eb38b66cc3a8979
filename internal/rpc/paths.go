package rpc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The daemon writes and reads files with more rights than its callers may
// have, so every path a caller names must lie inside a folder the daemon's
// owner chose (--out, --watch, --rpc-allowed-path). Symlinks are resolved
// first: a link inside a root that points outside it does not count.

// confine resolves path (absolute, symlinks followed as far as it exists)
// and returns it if it lies inside one of roots; what is refused names the
// roots, never anything the path holds.
func confine(what, path string, roots []string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("%s must be an absolute path, got %q", what, path)
	}
	real, err := resolveExisting(filepath.Clean(path))
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", what, path, err)
	}
	for _, root := range roots {
		if root == "" {
			continue
		}
		r, err := resolveExisting(filepath.Clean(root))
		if err != nil {
			continue
		}
		if within(real, r) {
			return real, nil
		}
	}
	return "", fmt.Errorf("%s %q is outside the folders this daemon may use (%s); its owner can add one with --rpc-allowed-path", what, path, strings.Join(nonEmpty(roots), ", "))
}

// resolveExisting follows symlinks in the longest part of p that exists
// and appends the rest, which does not exist yet and so holds no links.
func resolveExisting(p string) (string, error) {
	rest := ""
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(real, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", errors.New("cannot be resolved")
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", errors.New("cannot be resolved")
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}

func within(path, root string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(os.PathSeparator))
}

func nonEmpty(ss []string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// writableRoots are where downloads may go.
func (s *Server) writableRoots() []string {
	return append([]string{s.o.DownloadDir}, s.o.WritableRoots...)
}

// readableRoots are where a .torrent named by path may be read.
func (s *Server) readableRoots() []string {
	return append(s.writableRoots(), s.o.ReadableRoots...)
}
