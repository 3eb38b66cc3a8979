//go:build linux

package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// SameTree reports how the tree got differs from the tree want: every file
// of want missing from got or not the same bytes, and every file of got
// that want lacks. It is how a lab checks a download against the seeders'
// copy; nil means identical.
func SameTree(want, got string) error {
	files := map[string]bool{}
	var errs []error
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(want, p)
		if err != nil {
			return err
		}
		files[rel] = true
		if err := SameFile(p, filepath.Join(got, rel)); err != nil {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("netlab: compare %s with %s: %w", got, want, err)
	}
	err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == got {
			return nil // missing as a whole: every file was reported missing
		}
		if err != nil || d.IsDir() {
			return err
		}
		if rel, err := filepath.Rel(got, p); err == nil && !files[rel] {
			errs = append(errs, fmt.Errorf("netlab: %s: not in %s", p, want))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("netlab: compare %s with %s: %w", got, want, err)
	}
	return errors.Join(errs...)
}

// SameFile reports how the file got differs from the file want: missing,
// another size, or the first byte that differs. It reads both in chunks,
// so content of any size costs little memory.
func SameFile(want, got string) error {
	fw, err := os.Open(want)
	if err != nil {
		return fmt.Errorf("netlab: compare: %w", err)
	}
	defer fw.Close()
	fg, err := os.Open(got)
	if err != nil {
		return fmt.Errorf("netlab: %s: missing: %w", got, err)
	}
	defer fg.Close()
	sw, err := fw.Stat()
	if err != nil {
		return fmt.Errorf("netlab: compare: %w", err)
	}
	sg, err := fg.Stat()
	if err != nil {
		return fmt.Errorf("netlab: compare: %w", err)
	}
	off, err := firstDifference(fw, fg)
	if err != nil {
		return fmt.Errorf("netlab: compare %s with %s: %w", got, want, err)
	}
	switch {
	case sg.Size() != sw.Size() && off >= 0:
		return fmt.Errorf("netlab: %s: %d bytes, want %d; first differing byte at %d", got, sg.Size(), sw.Size(), off)
	case sg.Size() != sw.Size():
		return fmt.Errorf("netlab: %s: %d bytes, want %d", got, sg.Size(), sw.Size())
	case off >= 0:
		return fmt.Errorf("netlab: %s differs from %s at byte %d", got, want, off)
	}
	return nil
}

// firstDifference is the offset of the first byte at which a and b differ
// over their common length, or -1.
func firstDifference(a, b io.Reader) (int64, error) {
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); ; {
		na, ea := io.ReadFull(a, ba)
		nb, eb := io.ReadFull(b, bb)
		for _, e := range []error{ea, eb} {
			if e != nil && e != io.EOF && e != io.ErrUnexpectedEOF {
				return 0, e
			}
		}
		n := min(na, nb)
		if i := mismatch(ba[:n], bb[:n]); i >= 0 {
			return off + int64(i), nil
		}
		if na < len(ba) || nb < len(bb) {
			return -1, nil // one of them has ended
		}
		off += int64(n)
	}
}

// mismatch is the index of the first byte at which a and b differ, or -1.
func mismatch(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
