package clienttest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wgtorrent/wgtorrent/client"
)

func TestFakeContract(t *testing.T) {
	Contract(t, func(*testing.T) client.Controller { return New() })
}

// TestScriptDrivesCompletion: a scripted download ends, and WaitComplete
// sees it end, as headless waits on the engine.
func TestScriptDrivesCompletion(t *testing.T) {
	f := New()
	src, err := client.ParseSource(strings.Repeat("cd", 20))
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.Add(t.Context(), src, client.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.Script(id, client.Stats{State: client.StateDownloading, Length: 100, BytesCompleted: 50},
		client.Stats{State: client.StateSeeding, Length: 100, BytesCompleted: 100})
	done := make(chan error, 1)
	go func() { done <- f.WaitComplete(t.Context(), id) }()
	for _, want := range []client.State{client.StateDownloading, client.StateSeeding, client.StateSeeding} {
		if st, _ := f.Get(id); st.State != want || st.ID != id {
			t.Fatalf("Get = %+v, want %s", st, want)
		}
	}
	if err := <-done; err != nil {
		t.Errorf("WaitComplete = %v", err)
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
	src, err := client.ParseSource(magnet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Add(t.Context(), src, client.AddOptions{}); err != boom {
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
