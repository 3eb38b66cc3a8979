//go:build linux

package netlab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, body := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSameTree(t *testing.T) {
	big := strings.Repeat("x", 3<<20) // more than one read
	want := writeTree(t, map[string]string{"a.bin": big, "sub/b.bin": "bee", "sub/c.bin": "sea"})
	for _, tc := range []struct {
		name string
		got  map[string]string
		errs []string // each in the error; none: identical
	}{
		{"identical", map[string]string{"a.bin": big, "sub/b.bin": "bee", "sub/c.bin": "sea"}, nil},
		{"a byte differs far in", map[string]string{"a.bin": big[:3<<20-2] + "yx", "sub/b.bin": "bee", "sub/c.bin": "sea"},
			[]string{"a.bin differs from", "at byte 3145726"}},
		{"shorter", map[string]string{"a.bin": big, "sub/b.bin": "be", "sub/c.bin": "sea"},
			[]string{"b.bin: 2 bytes, want 3"}},
		{"longer and different", map[string]string{"a.bin": big, "sub/b.bin": "bag!", "sub/c.bin": "sea"},
			[]string{"b.bin: 4 bytes, want 3; first differing byte at 1"}},
		{"missing and extra", map[string]string{"a.bin": big, "sub/b.bin": "bee", "sub/d.bin": "sea"},
			[]string{"c.bin: missing", "d.bin: not in"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := SameTree(want, writeTree(t, tc.got))
			if len(tc.errs) == 0 && err != nil {
				t.Fatalf("identical trees: %v", err)
			}
			for _, w := range tc.errs {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v: want %q in it", err, w)
				}
			}
		})
	}
}

func TestSameTreeGotMissing(t *testing.T) {
	want := writeTree(t, map[string]string{"a": "1", "b/c": "2"})
	err := SameTree(want, filepath.Join(t.TempDir(), "nothing"))
	if err == nil || strings.Count(err.Error(), "missing") != 2 {
		t.Fatalf("no download at all: %v; want both files missing", err)
	}
}
