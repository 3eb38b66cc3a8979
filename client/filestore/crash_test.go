package filestore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestProcessCrashKeepsVerifiedPieces: pieces verified after the last
// save are in the page cache when the process dies (SIGKILL). A restart
// must verify them again, not take the saved record's "incomplete" and
// fetch them again; pieces the record rightly calls incomplete stay known
// (no hashing of what was never written). A clean close removes the notes.
func TestProcessCrashKeepsVerifiedPieces(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{FlushInterval: time.Hour})
	f.download(t, tor, 0)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	f.download(t, tor, 3)
	f.download(t, tor, 4)
	// SIGKILL: no close, no flush; the lock goes with the process.
	s.lock.Close()

	s, tor = f.open(t, Options{FlushInterval: time.Hour})
	for i, want := range []struct{ ok, complete bool }{
		{true, true},   // saved
		{true, false},  // never written
		{true, false},  // never written
		{false, false}, // verified after the save: verify again
		{false, false}, // same
		{true, false},  // never written
	} {
		if c := f.piece(tor, i).Completion(); c.Ok != want.ok || c.Complete != want.complete {
			t.Errorf("piece %d after the crash: %+v, want Ok=%v Complete=%v", i, c, want.ok, want.complete)
		}
	}
	// A second crash before anything was saved or verified changes nothing.
	s.lock.Close()
	s, tor = f.open(t, Options{FlushInterval: time.Hour})
	for _, i := range []int{3, 4} {
		if c := f.piece(tor, i).Completion(); c.Ok {
			t.Errorf("piece %d after a second crash: %+v, want unchecked", i, c)
		}
	}
	// anacrolix verifies them; a clean stop then leaves only the record.
	for _, i := range []int{3, 4} {
		f.verify(t, f.piece(tor, i), i)
		if err := f.piece(tor, i).MarkComplete(); err != nil {
			t.Fatal(err)
		}
	}
	tor.Close()
	s.Close()
	notes := filepath.Join(f.state, "pieces", f.ih.HexString()+".unsynced")
	if _, err := os.Stat(notes); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unsynced notes left after a clean close: %v", err)
	}
	s, tor = f.open(t, Options{})
	defer s.Close()
	for i := range f.info.NumPieces() {
		want := i == 0 || i == 3 || i == 4
		if c := f.piece(tor, i).Completion(); !c.Ok || c.Complete != want {
			t.Errorf("piece %d after a clean restart: %+v, want Ok, Complete=%v", i, c, want)
		}
	}
}

// TestRemovedTorrentLeavesNoNotes: removing a torrent removes its unsynced
// notes with its record, and its closing does not write them again.
func TestRemovedTorrentLeavesNoNotes(t *testing.T) {
	f := newFixture(t)
	s, tor := f.open(t, Options{FlushInterval: time.Hour})
	f.download(t, tor, 1)
	notes := filepath.Join(f.state, "pieces", f.ih.HexString()+".unsynced")
	if _, err := os.Stat(notes); err != nil {
		t.Fatalf("no unsynced notes after a verified piece: %v", err)
	}
	if err := s.Forget(f.ih); err != nil {
		t.Fatal(err)
	}
	f.download(t, tor, 2) // still open: anacrolix closes it after
	tor.Close()
	s.Close()
	for _, p := range []string{notes, filepath.Join(f.state, "pieces", f.ih.HexString())} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Forget: %v", filepath.Base(p), err)
		}
	}
}
