package clienttest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
)

// Contract checks what front ends rely on of a client.Controller. It runs
// on the Fake (fake_test.go) and on the real engine (client's
// contract_test.go), so the fake cannot drift from the engine unseen.
// newController returns an empty controller that needs no network.
func Contract(t *testing.T, newController func(t *testing.T) client.Controller) {
	hash := strings.Repeat("ab", 20)
	parse := func(t *testing.T, s string) client.Source {
		t.Helper()
		src, err := client.ParseSource(s)
		if err != nil {
			t.Fatalf("ParseSource(%q): %v", s, err)
		}
		return src
	}

	t.Run("magnet", func(t *testing.T) {
		c := newController(t)
		dir := t.TempDir()
		src := parse(t, "magnet:?xt=urn:btih:"+strings.ToUpper(hash)+"&dn=A+B")
		id, err := c.Add(t.Context(), src, client.AddOptions{DownloadDir: dir})
		if err != nil || id != client.TorrentID(hash) {
			t.Fatalf("Add = %q, %v; want %s", id, err, hash)
		}
		st, err := c.Get(id)
		if err != nil || st.ID != id || st.Name != "A B" || st.DownloadDir != dir {
			t.Errorf("Get = %+v, %v; want name %q in %s", st, err, "A B", dir)
		}
		_, err = c.Add(t.Context(), parse(t, hash), client.AddOptions{})
		var dup *client.DuplicateError
		if !errors.Is(err, client.ErrDuplicate) || !errors.As(err, &dup) || dup.ID != id {
			t.Errorf("the same hash again = %v, want a DuplicateError for %s", err, id)
		}
		if l := c.List(); len(l) != 1 {
			t.Errorf("List = %d torrents, want 1", len(l))
		}
	})

	t.Run("file", func(t *testing.T) {
		c := newController(t)
		mi := Metainfo("contract.bin")
		path := filepath.Join(t.TempDir(), "x.torrent")
		if err := os.WriteFile(path, mi, 0o600); err != nil {
			t.Fatal(err)
		}
		id, err := c.Add(t.Context(), parse(t, path), client.AddOptions{DownloadDir: t.TempDir(), Paused: true})
		if err != nil || id != HashOf(mi) {
			t.Fatalf("Add(file) = %q, %v; want %s", id, err, HashOf(mi))
		}
		st, _ := c.Get(id)
		files, err := c.Files(id)
		var total int64
		for _, f := range files {
			total += f.Length
		}
		if st.Name != "contract.bin" || st.State != client.StatePaused || err != nil || total != 3<<20 {
			t.Errorf("added paused from a file: %+v, files %v (%d bytes), %v", st, files, total, err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		c := newController(t)
		_, err := c.Add(t.Context(), parse(t, filepath.Join(t.TempDir(), "missing.torrent")), client.AddOptions{})
		var in *client.InputError
		if !errors.As(err, &in) {
			t.Errorf("Add(missing file) = %v, want an InputError", err)
		}
		if _, err := c.Add(t.Context(), client.Source{}, client.AddOptions{}); err == nil {
			t.Error("Add(zero Source) succeeded")
		}
		if l := c.List(); len(l) != 0 {
			t.Errorf("refused adds left %d torrents", len(l))
		}
	})

	t.Run("seed goal", func(t *testing.T) {
		c := newController(t)
		goal := client.SeedGoal{RatioMode: client.GoalOwn, Ratio: 1.5}
		id, err := c.Add(t.Context(), parse(t, hash), client.AddOptions{DownloadDir: t.TempDir(), SeedGoal: goal})
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := c.Get(id); st.SeedGoal != goal || st.Finished {
			t.Errorf("added with a goal: %+v, finished %v", st.SeedGoal, st.Finished)
		}
		goal = client.SeedGoal{RatioMode: client.GoalNone, IdleMode: client.GoalOwn, Idle: 90e9}
		if err := c.SetSeedGoal(id, goal); err != nil {
			t.Fatal(err)
		}
		if st, _ := c.Get(id); st.SeedGoal != goal {
			t.Errorf("goal set: %+v, want %+v", st.SeedGoal, goal)
		}
		if err := c.SetSeedGoal(id, client.SeedGoal{IdleMode: 7}); err == nil {
			t.Error("idle mode 7 accepted")
		}
		if err := c.SetSeedGoal("0000000000000000000000000000000000000000", goal); !errors.Is(err, client.ErrNotFound) {
			t.Errorf("goal of an unknown torrent: %v", err)
		}
	})

	t.Run("suspicious", func(t *testing.T) {
		// A right-to-left override makes "clip\u202Egpj.exe" display as
		// "clipexe.jpg": the engine's one file, or the fake's folder.
		c := newController(t)
		name := "clip\u202Egpj.exe"
		mi := Metainfo(name)
		src, err := client.ParseMetainfo(mi)
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.Add(t.Context(), src, client.AddOptions{DownloadDir: t.TempDir(), Paused: true})
		if err != nil {
			t.Fatal(err)
		}
		st := waitStats(t, c, id, func(st client.Stats) bool { return len(st.Warnings) > 0 })
		files, _ := c.Files(id)
		w := st.Warnings[0]
		if w.Code != "rtl-override" || !strings.HasPrefix(w.Path, name) || w.Reason == "" ||
			!slices.ContainsFunc(files, func(f client.File) bool { return f.Index == w.File && f.Path == w.Path }) {
			t.Errorf("warnings %+v, files %+v: want an rtl-override on a file of %q, as Files shows it", st.Warnings, files, name)
		}
		if st.Held != "" {
			t.Errorf("held %q without the pause policy", st.Held)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		c := newController(t)
		id, err := c.Add(t.Context(), parse(t, hash), client.AddOptions{DownloadDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Pause(id); err != nil {
			t.Fatal(err)
		}
		if st, _ := c.Get(id); st.State != client.StatePaused {
			t.Errorf("paused: state %s", st.State)
		}
		if err := c.Resume(id); err != nil {
			t.Fatal(err)
		}
		if st, _ := c.Get(id); st.State == client.StatePaused {
			t.Error("resumed: still paused")
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := c.WaitComplete(ctx, id); !errors.Is(err, context.Canceled) {
			t.Errorf("WaitComplete(cancelled) = %v", err)
		}
		if err := c.Remove(id, false); err != nil {
			t.Fatal(err)
		}
		for what, err := range map[string]error{
			"Get":          func() error { _, err := c.Get(id); return err }(),
			"Pause":        c.Pause(id),
			"Remove":       c.Remove(id, false),
			"WaitComplete": c.WaitComplete(t.Context(), id),
		} {
			if !errors.Is(err, client.ErrNotFound) {
				t.Errorf("%s of a removed torrent = %v, want ErrNotFound", what, err)
			}
		}
	})
}

// waitStats waits (5 s at most) until the torrent's stats satisfy ok: the
// engine judges a torrent's files once its info is in, in the background.
func waitStats(t *testing.T, c client.Controller, id client.TorrentID, ok func(client.Stats) bool) client.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	changed := c.Subscribe(ctx)
	for {
		st, err := c.Get(id)
		if err == nil && ok(st) {
			return st
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("torrent %s: not as wanted within 5 s: %+v (%v)", id, st, err)
		}
	}
}
