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

func TestAddSources(t *testing.T) {
	hash := strings.Repeat("ab", 20)
	path := filepath.Join(t.TempDir(), "x.torrent")
	if err := os.WriteFile(path, []byte("d4:infoe"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		source, wantID, wantName string
		wantErr                  bool
	}{
		{"magnet:?xt=urn:btih:" + strings.ToUpper(hash) + "&dn=A+B", hash, "A B", false},
		{hash, hash, "", false},
		{path, string(HashOf([]byte("d4:infoe"))), "meta-" + string(HashOf([]byte("d4:infoe")))[:6], false},
		{"magnet:?dn=nohash", "", "", true},
		{"/no/such.torrent", "", "", true},
	} {
		f := New()
		id, err := f.Add(t.Context(), tc.source, client.AddOptions{DownloadDir: "/dl"})
		if (err != nil) != tc.wantErr || string(id) != tc.wantID {
			t.Errorf("Add(%q) = %q, %v; want %q, error %v", tc.source, id, err, tc.wantID, tc.wantErr)
			continue
		}
		if tc.wantErr {
			if c := f.Calls(); len(c) != 0 {
				t.Errorf("Add(%q) failed but recorded %q", tc.source, c)
			}
			continue
		}
		if st, _ := f.Get(id); st.Name != tc.wantName || st.DownloadDir != "/dl" {
			t.Errorf("Add(%q): stats %+v, want name %q in /dl", tc.source, st, tc.wantName)
		}
		if _, err := f.Add(t.Context(), tc.source, client.AddOptions{}); !errors.Is(err, client.ErrDuplicate) {
			t.Errorf("second Add(%q) = %v, want a duplicate", tc.source, err)
		}
	}
}

func TestCallsAndFailures(t *testing.T) {
	f := New()
	f.Put(Torrent{Stats: client.Stats{ID: "a"}, Files: []client.File{{Index: 0}}})
	f.Put(Torrent{Stats: client.Stats{ID: "b"}})
	const magnet = "magnet:?xt=urn:btih:cccccccccccccccccccccccccccccccccccccccc"
	boom := errors.New("boom")
	f.FailAdd(magnet, boom)

	if err := f.Pause("nope"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("Pause(unknown) = %v", err)
	}
	if err := f.SetFilePriority("a", 3, client.PriorityHigh); err == nil {
		t.Error("SetFilePriority of a missing file succeeded")
	}
	if _, err := f.Add(t.Context(), magnet, client.AddOptions{}); err != boom {
		t.Errorf("Add with FailAdd = %v", err)
	}
	_ = f.SetFilePriority("a", 0, client.PriorityOff)
	_ = f.SetLocation("b", "/x", true)
	_ = f.SetSequential("a", true)
	_ = f.Remove("b", true)
	want := []string{"add " + magnet + " dir= paused=false", "prio a 0 off", "location b /x move=true", "sequential a true", "remove b delete=true"}
	if c := f.Calls(); !slices.Equal(c, want) {
		t.Errorf("calls\n%q\nwant\n%q", c, want)
	}
	if l := f.List(); len(l) != 1 || !l[0].Sequential {
		t.Errorf("list after changes: %+v", l)
	}
}

func TestSetOrder(t *testing.T) {
	f := New()
	for _, id := range []client.TorrentID{"a", "b", "c"} {
		f.Put(Torrent{Stats: client.Stats{ID: id}})
	}
	f.SetOrder("c", "a")
	var got []client.TorrentID
	for _, st := range f.List() {
		got = append(got, st.ID)
	}
	if !slices.Equal(got, []client.TorrentID{"c", "a", "b"}) {
		t.Errorf("order %v", got)
	}
}

// WaitCalls and Subscribe are used across goroutines; run with -race.
func TestConcurrentWaiters(t *testing.T) {
	f := New()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	done := make(chan []string)
	go func() {
		c, _ := f.WaitCalls(ctx, 3)
		done <- c
	}()
	sub := f.Subscribe(ctx)
	for i := range 3 {
		go f.SetRateLimits(int64(i), 0)
	}
	if c := <-done; len(c) != 3 {
		t.Fatalf("WaitCalls returned %q, want 3 calls", c)
	}
	f.Notify()
	select {
	case <-sub:
	case <-ctx.Done():
		t.Fatal("Notify did not wake the subscriber")
	}
	cancel()
	for range sub { // drained and closed once ctx ends
	}
}
