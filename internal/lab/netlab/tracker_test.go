//go:build linux

package netlab

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
)

type trackerAnswer struct {
	Failure     string `bencode:"failure reason"`
	Interval    int    `bencode:"interval"`
	MinInterval int    `bencode:"min interval"`
	Peers       string `bencode:"peers"`
}

func (a trackerAnswer) peers() []netip.AddrPort {
	var out []netip.AddrPort
	for p := []byte(a.Peers); len(p) >= 6; p = p[6:] {
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte(p[:4])), uint16(p[4])<<8|uint16(p[5])))
	}
	return out
}

func announce(t *testing.T, srv *httptest.Server, ih, port, event string) trackerAnswer {
	t.Helper()
	q := url.Values{"info_hash": {ih}, "port": {port}, "event": {event}}
	resp, err := srv.Client().Get(srv.URL + "/announce?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a trackerAnswer
	if err := bencode.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %q: %v", b, err)
	}
	return a
}

func TestTrackerLearnsPeers(t *testing.T) {
	var mu sync.Mutex
	var seen []netip.AddrPort
	srv := httptest.NewServer(NewTracker(TrackerOptions{
		Interval: 5 * time.Second,
		OnAnnounce: func(a netip.AddrPort) {
			mu.Lock()
			seen = append(seen, a)
			mu.Unlock()
		},
	}))
	defer srv.Close()
	ih, other := strings.Repeat("A", 20), strings.Repeat("B", 20)
	lo := netip.MustParseAddr("127.0.0.1")

	if a := announce(t, srv, ih, "1001", "started"); a.Failure != "" || len(a.peers()) != 0 || a.Interval != 5 || a.MinInterval != 0 {
		t.Errorf("first announce: %+v, want no peers, interval 5, no min interval", a)
	}
	if a := announce(t, srv, ih, "1002", ""); len(a.peers()) != 1 || a.peers()[0] != netip.AddrPortFrom(lo, 1001) {
		t.Errorf("second announce: peers %v, want the first announcer only", a.peers())
	}
	if a := announce(t, srv, other, "1003", ""); len(a.peers()) != 0 {
		t.Errorf("another info hash: peers %v, want none", a.peers())
	}
	announce(t, srv, ih, "1001", "stopped")
	if a := announce(t, srv, ih, "1002", ""); len(a.peers()) != 0 {
		t.Errorf("after the first stopped: peers %v, want none", a.peers())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 5 || seen[0] != netip.AddrPortFrom(lo, 1001) {
		t.Errorf("announcers seen: %v", seen)
	}
}

func TestTrackerFixedPeers(t *testing.T) {
	seeders := []netip.AddrPort{netip.MustParseAddrPort("198.18.3.2:6881"), netip.MustParseAddrPort("198.18.3.3:51413")}
	srv := httptest.NewServer(NewTracker(TrackerOptions{Peers: seeders, Interval: time.Minute, MinInterval: 30 * time.Second}))
	defer srv.Close()
	ih := strings.Repeat("C", 20)
	a := announce(t, srv, ih, "6891", "started")
	if len(a.peers()) != 2 || a.Interval != 60 || a.MinInterval != 30 {
		t.Errorf("a leecher's announce: %+v, want both seeders, interval 60, min interval 30", a)
	}
	// A seeder's announce comes from the host's main address: its port
	// says which entry is its own.
	if a := announce(t, srv, ih, "51413", ""); len(a.peers()) != 1 || a.peers()[0] != seeders[0] {
		t.Errorf("the second seeder's announce: peers %v, want the first seeder only", a.peers())
	}
}

// TestTrackerPeersFor: each announcer is told whom PeersFor says (the
// seeding benchmark's leechers learn of nobody, its seeder of them all).
func TestTrackerPeersFor(t *testing.T) {
	leechers := []netip.AddrPort{netip.MustParseAddrPort("198.18.3.22:7001"), netip.MustParseAddrPort("198.18.3.23:7002")}
	var mu sync.Mutex
	var asked []netip.AddrPort
	srv := httptest.NewServer(NewTracker(TrackerOptions{
		Peers: []netip.AddrPort{netip.MustParseAddrPort("198.18.3.2:6881")}, // overridden
		PeersFor: func(from netip.AddrPort) []netip.AddrPort {
			mu.Lock()
			asked = append(asked, from)
			mu.Unlock()
			if from.Port() == 7001 || from.Port() == 7002 {
				return nil
			}
			return leechers
		},
	}))
	defer srv.Close()
	ih := strings.Repeat("E", 20)
	if a := announce(t, srv, ih, "7001", "started"); len(a.peers()) != 0 {
		t.Errorf("a leecher's announce: peers %v, want none", a.peers())
	}
	if a := announce(t, srv, ih, "40000", "started"); len(a.peers()) != 2 || a.peers()[0] != leechers[0] || a.peers()[1] != leechers[1] {
		t.Errorf("the seeder's announce: peers %v, want the leechers %v", a.peers(), leechers)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	mu.Lock()
	defer mu.Unlock()
	if want := []netip.AddrPort{netip.AddrPortFrom(lo, 7001), netip.AddrPortFrom(lo, 40000)}; len(asked) != 2 || asked[0] != want[0] || asked[1] != want[1] {
		t.Errorf("PeersFor asked about %v, want %v", asked, want)
	}
}

func TestTrackerRefusesBadAnnounce(t *testing.T) {
	srv := httptest.NewServer(NewTracker(TrackerOptions{}))
	defer srv.Close()
	for _, q := range [][2]string{{"short", "1"}, {strings.Repeat("D", 20), "x"}, {strings.Repeat("D", 20), "70000"}} {
		if a := announce(t, srv, q[0], q[1], ""); a.Failure == "" {
			t.Errorf("info_hash %q port %q: %+v, want a failure reason", q[0], q[1], a)
		}
	}
	resp, err := srv.Client().Get(srv.URL + "/announce")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("empty announce: HTTP %d, want 200 with a failure reason", resp.StatusCode)
	}
}
