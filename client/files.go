package client

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/anacrolix/torrent/metainfo"
)

// CheckWritableDir creates dir if needed and proves it takes a file, so a
// bad directory is refused up front instead of failing at the first write.
func CheckWritableDir(dir string) error {
	// 0755: media servers and *arr tools often read downloads as another user.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("directory %q cannot be created: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".wgtorrent-write-test-*")
	if err != nil {
		return fmt.Errorf("directory %q is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// deleteTorrentData removes exactly the files the torrent owns, then the
// directories it created if they are empty.
func deleteTorrentData(dir string, info *metainfo.Info, rn renames) error {
	var errs []error
	dirs := map[string]struct{}{}
	for _, parts := range torrentPaths(info) {
		p := filepath.Join(append([]string{dir}, rn.apply(parts)...)...)
		if rel, err := filepath.Rel(dir, p); err != nil || strings.HasPrefix(rel, "..") {
			continue // never outside the download directory
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("client: delete %q: %w", p, err))
		}
		for d := filepath.Dir(p); d != dir && len(d) > len(dir); d = filepath.Dir(d) {
			dirs[d] = struct{}{}
		}
	}
	// Deepest first, so parents empty out.
	for len(dirs) > 0 {
		deepest := ""
		for d := range dirs {
			if len(d) > len(deepest) {
				deepest = d
			}
		}
		delete(dirs, deepest)
		os.Remove(deepest) // fails harmlessly if not empty
	}
	return errors.Join(errs...)
}

// moveTree renames from to to, copying when they are on different file
// systems. A missing source (nothing downloaded yet) is not an error.
func moveTree(from, to string) error {
	if _, err := os.Lstat(from); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s already exists", to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	err := os.Rename(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if fi, serr := os.Stat(from); serr == nil && !fi.IsDir() {
		err = copyFile(from, to)
	} else {
		err = os.CopyFS(to, os.DirFS(from))
	}
	if err != nil {
		os.RemoveAll(to)
		return err
	}
	return os.RemoveAll(from)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// FreeSpace is the bytes under path an unprivileged user may still write,
// and the file system's size.
func FreeSpace(path string) (free, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("client: free space of %s: %w", path, err)
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}
