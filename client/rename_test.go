package client

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRenamesCompose(t *testing.T) {
	paths := [][]string{{"payload", "a.bin"}, {"payload", "sub", "b.bin"}, {"payload", "sub", "deep", "c.txt"}}
	r := renames{}
	// A folder, then a file inside it named by its new path, then the root.
	for _, step := range []struct{ cur, name string }{
		{"payload/sub", "extras"},
		{"payload/extras/b.bin", "b.mkv"},
		{"payload", "Movie (2024)"},
	} {
		orig, ok := r.original(paths, strings.Split(step.cur, "/"))
		if !ok {
			t.Fatalf("%s not found after %v", step.cur, r)
		}
		r[strings.Join(orig, "/")] = step.name
	}
	var got []string
	for _, p := range paths {
		got = append(got, strings.Join(r.apply(p), "/"))
	}
	want := []string{"Movie (2024)/a.bin", "Movie (2024)/extras/b.mkv", "Movie (2024)/extras/deep/c.txt"}
	if !slices.Equal(got, want) {
		t.Fatalf("paths %q, want %q", got, want)
	}
	if _, ok := r.original(paths, []string{"payload", "sub"}); ok {
		t.Errorf("an old name still resolves")
	}
}

func TestCheckNewName(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "a/b", "../x", "nul\x00", strings.Repeat("x", 256)} {
		if CheckFileName(bad) == nil {
			t.Errorf("%q accepted as a new name", bad)
		}
	}
	if err := CheckFileName("Movie (2024).mkv"); err != nil {
		t.Errorf("an ordinary name refused: %v", err)
	}
}

// TestRenamePath: a file, a folder and the root renamed on disk and in
// the engine's names; the torrent stays complete, the names survive a
// restart, and removal with data removes the renamed files.
func TestRenamePath(t *testing.T) {
	seed, root, _, id := seeder(t, Options{})
	steps := []struct{ path, name string }{
		{"payload/sub/b.bin", "b.mkv"},
		{"payload/sub", "extras"},
		{"payload", "Movie"},
	}
	for _, s := range steps {
		if err := seed.RenamePath(id, s.path, s.name); err != nil {
			t.Fatalf("rename %s to %s: %v", s.path, s.name, err)
		}
	}
	for _, p := range []string{"Movie/a.bin", "Movie/extras/b.mkv", "Movie/extras/deep/c.txt"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("renamed file %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "payload")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old root is still there (%v)", err)
	}
	waitDone(t, seed, id, 10*time.Second)
	st, _ := seed.Get(id)
	files, _ := seed.Files(id)
	var names []string
	for _, f := range files {
		names = append(names, f.Path)
	}
	slices.Sort(names)
	if st.Name != "Movie" || !slices.Equal(names, []string{"Movie/a.bin", "Movie/extras/b.mkv", "Movie/extras/deep/c.txt"}) {
		t.Fatalf("name %q, files %q after the renames", st.Name, names)
	}

	for _, bad := range []struct{ path, name string }{
		{"payload/a.bin", "x"},       // an old name
		{"Movie/a.bin", "../x"},      // not one element
		{"Movie/a.bin", "extras"},    // taken
		{"Movie/missing.bin", "new"}, // not in the torrent
	} {
		if err := seed.RenamePath(id, bad.path, bad.name); err == nil {
			t.Errorf("rename %s to %q accepted", bad.path, bad.name)
		}
	}

	// A restart finds the files under their new names: still complete.
	o := seed.o
	seed.Close()
	again := newEngine(t, o)
	waitDone(t, again, id, 20*time.Second)
	if st, _ := again.Get(id); st.Name != "Movie" {
		t.Errorf("name after a restart %q, want Movie", st.Name)
	}
	if err := again.Remove(id, true); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("removal with data left %v", left)
	}
}
