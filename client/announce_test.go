package client

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/tracker"
)

// run steps one (tracker, torrent) pair through the announcer's schedule.
type annRun struct {
	t   *testing.T
	s   annState
	tor annTorrent
	now time.Time
	hun bool
}

func newAnnRun(t *testing.T) *annRun {
	r := &annRun{t: t, now: time.Unix(1_000_000, 0), tor: annTorrent{running: true}}
	r.tor.hungry = func() bool { return r.hun }
	return r
}

// expect checks what is due now, and answers it with res or err.
func (r *annRun) expect(want tracker.AnnounceEvent, res annResult, err error) {
	r.t.Helper()
	ev, due := r.s.due(r.tor, r.now)
	if !due || ev != want {
		r.t.Fatalf("at +%v: due=%v %v, want %v", r.now.Sub(time.Unix(1_000_000, 0)), due, ev, want)
	}
	r.s.busy = true
	if _, due := r.s.due(r.tor, r.now); due {
		r.t.Fatal("due again while in flight")
	}
	r.s.finish(ev, r.tor.done, r.hun, res, err, r.now)
}

func (r *annRun) expectNone() {
	r.t.Helper()
	if ev, due := r.s.due(r.tor, r.now); due {
		r.t.Fatalf("at +%v: %v due, want nothing", r.now.Sub(time.Unix(1_000_000, 0)), ev)
	}
}

func (r *annRun) wait(d time.Duration) { r.now = r.now.Add(d) }

func peersN(n int) []netip.AddrPort {
	return make([]netip.AddrPort, n)
}

func TestAnnounceSchedule(t *testing.T) {
	ok := annResult{interval: 30 * time.Minute, minInterval: 15 * time.Minute, peers: peersN(3)}

	t.Run("started, then the interval", func(t *testing.T) {
		r := newAnnRun(t)
		r.expect(tracker.Started, ok, nil)
		r.wait(29 * time.Minute)
		r.expectNone()
		r.wait(time.Minute)
		r.expect(tracker.None, ok, nil)
	})

	t.Run("completed once, when done while started", func(t *testing.T) {
		r := newAnnRun(t)
		r.expect(tracker.Started, ok, nil)
		r.tor.done = true
		r.wait(time.Second)
		r.expect(tracker.Completed, ok, nil)
		r.wait(time.Second)
		r.expectNone()
	})

	t.Run("no completed for a torrent done at start", func(t *testing.T) {
		r := newAnnRun(t)
		r.tor.done = true
		r.expect(tracker.Started, ok, nil)
		r.wait(time.Minute)
		r.expectNone()
	})

	t.Run("paused: stopped once, resumed: started at once", func(t *testing.T) {
		r := newAnnRun(t)
		r.expect(tracker.Started, ok, nil)
		r.tor.running = false
		r.expect(tracker.Stopped, annResult{}, nil)
		r.wait(time.Hour)
		r.expectNone()
		r.tor.running = true
		r.expect(tracker.Started, ok, nil) // no min interval between sessions
	})

	t.Run("a failed stopped is not retried", func(t *testing.T) {
		r := newAnnRun(t)
		r.expect(tracker.Started, ok, nil)
		r.tor.running = false
		r.expect(tracker.Stopped, annResult{}, errors.New("timed out"))
		r.wait(time.Hour)
		r.expectNone()
	})

	t.Run("failures back off", func(t *testing.T) {
		r := newAnnRun(t)
		refused := refusal("Requested download is not authorized for use with this tracker.")
		r.expect(tracker.Started, annResult{}, refused)
		if r.s.lastErr != string(refused) {
			t.Fatalf("lastErr %q", r.s.lastErr)
		}
		for _, d := range announceRetry[:3] {
			r.wait(d - time.Second)
			r.expectNone()
			r.wait(time.Second)
			r.expect(tracker.Started, annResult{}, refused)
		}
		r.wait(announceRetry[3])
		r.expect(tracker.Started, ok, nil)
		if r.s.lastErr != "" || r.s.fails != 0 {
			t.Fatalf("after success: %+v", r.s)
		}
	})

	t.Run("hungry: the swarm is asked again soon", func(t *testing.T) {
		r := newAnnRun(t)
		r.hun = true
		empty := annResult{interval: 30 * time.Minute, minInterval: 15 * time.Minute}
		r.expect(tracker.Started, empty, nil)
		r.wait(hungryRetry[0])
		r.expect(tracker.None, empty, nil)
		r.wait(hungryRetry[1] - time.Second)
		r.expectNone()
		r.wait(time.Second)
		r.expect(tracker.None, ok, nil) // the seeder is there now
		r.hun = false                   // and connected
		r.wait(10 * time.Minute)
		r.expectNone()
	})

	t.Run("hungry only while wanting", func(t *testing.T) {
		r := newAnnRun(t)
		r.expect(tracker.Started, annResult{interval: 30 * time.Minute}, nil)
		r.wait(10 * time.Minute)
		r.expectNone()
	})

	t.Run("the hungry ladder ends at the interval", func(t *testing.T) {
		r := newAnnRun(t)
		r.hun = true
		empty := annResult{interval: 30 * time.Minute}
		r.expect(tracker.Started, empty, nil)
		for _, d := range hungryRetry {
			r.wait(d)
			r.expect(tracker.None, empty, nil)
		}
		r.wait(29 * time.Minute)
		r.expectNone()
		r.wait(time.Minute)
		r.expect(tracker.None, empty, nil)
	})

	t.Run("a tracker asking for a tiny interval gets a minute", func(t *testing.T) {
		r := newAnnRun(t)
		r.expect(tracker.Started, annResult{interval: time.Second, peers: peersN(1)}, nil)
		r.wait(59 * time.Second)
		r.expectNone()
		r.wait(time.Second)
		r.expect(tracker.None, ok, nil)
	})
}

func TestReannounceHonoursMinInterval(t *testing.T) {
	a := newAnnouncer()
	k := trackerKey{url: "http://t/announce"}
	now := time.Unix(1_000_000, 0)
	s := a.get(k, 0)
	tor := annTorrent{running: true, hungry: func() bool { return false }}
	s.finish(tracker.Started, false, false, annResult{interval: 30 * time.Minute, minInterval: 5 * time.Minute}, nil, now)

	a.now(k.ih, now.Add(time.Minute))
	if _, due := s.due(tor, now.Add(time.Minute)); due {
		t.Fatal("reannounce went out inside the tracker's min interval")
	}
	if _, due := s.due(tor, now.Add(5*time.Minute)); !due {
		t.Fatal("reannounce not due once the min interval passed")
	}
	a.now(k.ih, now.Add(10*time.Minute))
	if ev, due := s.due(tor, now.Add(10*time.Minute)); !due || ev != tracker.None {
		t.Fatalf("reannounce after the min interval: %v %v", ev, due)
	}
}

func TestParseHTTPAnnounce(t *testing.T) {
	enc := func(m map[string]any) []byte {
		b, err := bencode.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	compact := string([]byte{10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80})
	v6 := string(append(netip.MustParseAddr("fd00::1").AsSlice(), 0x1a, 0xe1))
	res, err := parseHTTPAnnounce(enc(map[string]any{
		"interval": 1800, "min interval": 900, "complete": 4, "incomplete": 2,
		"peers": compact, "peers6": v6, "warning message": "slow\x1b[2J down", "tracker id": "abc",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:6881", "10.0.0.2:80", "[fd00::1]:6881"}
	if got := addrStrings(res.peers); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("peers %v, want %v", got, want)
	}
	if res.interval != 30*time.Minute || res.minInterval != 15*time.Minute || res.seeders != 4 || res.leechers != 2 || res.trackerID != "abc" {
		t.Errorf("got %+v", res)
	}
	if strings.ContainsRune(res.warning, 0x1b) {
		t.Errorf("warning keeps a control character: %q", res.warning)
	}

	res, err = parseHTTPAnnounce(enc(map[string]any{"interval": 60, "peers": []any{
		map[string]any{"ip": "10.0.0.3", "port": 6881}, "not a dict", map[string]any{"ip": "nope", "port": 1},
		map[string]any{"ip": "10.0.0.4", "port": 70000},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := addrStrings(res.peers); len(got) != 1 || got[0] != "10.0.0.3:6881" || res.seeders != -1 {
		t.Errorf("dictionary peers: %v, seeders %d", got, res.seeders)
	}

	_, err = parseHTTPAnnounce(enc(map[string]any{"failure reason": "Requested download is not authorized for use with this tracker."}))
	var r refusal
	if !errors.As(err, &r) || string(r) != "Requested download is not authorized for use with this tracker." {
		t.Errorf("failure reason: %v", err)
	}
	if _, err := parseHTTPAnnounce([]byte("<html>")); err == nil || errors.As(err, &r) {
		t.Errorf("HTML page: %v", err)
	}
}

func addrStrings(aps []netip.AddrPort) []string {
	var out []string
	for _, a := range aps {
		out = append(out, a.String())
	}
	return out
}

func TestAnnounceURLKeepsPasskeyFirst(t *testing.T) {
	u, _ := url.Parse("https://t.example/announce.php?passkey=SECRET")
	got := announceURL(u, tracker.AnnounceRequest{Port: 6881, Left: -1, Event: tracker.Started, NumWant: 200}, "", netip.Addr{}, netip.Addr{})
	if !strings.HasPrefix(got, "https://t.example/announce.php?passkey=SECRET&") {
		t.Errorf("URL %s", got)
	}
	for _, p := range []string{"event=started", "port=6881", "numwant=200", "left=9223372036854775807", "compact=1"} {
		if !strings.Contains(got, p) {
			t.Errorf("URL %s lacks %s", got, p)
		}
	}
}

func TestStripURLHidesPasskey(t *testing.T) {
	err := stripURL(&url.Error{Op: "Get", URL: "https://t.example/a?passkey=SECRET", Err: errors.New("x509: certificate signed by unknown authority")})
	if strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("stripped: %v", err)
	}
}

// TestTrackersShowAnnounceResults: what a tracker answers is what Trackers
// shows, and its peers reach the engine.
func TestTrackersShowAnnounceResults(t *testing.T) {
	// The peer the tracker hands out: the engine must dial it.
	peer, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	dialed := make(chan struct{}, 16)
	go func() {
		for {
			c, err := peer.Accept()
			if err != nil {
				return
			}
			c.Close()
			dialed <- struct{}{}
		}
	}()
	port := peer.Addr().(*net.TCPAddr).Port
	seen := make(chan url.Values, 16)
	answer := func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.Query()
		var m map[string]any
		switch r.URL.Query().Get("passkey") {
		case "good":
			m = map[string]any{"interval": 1800, "complete": 1, "incomplete": 0,
				"peers": string([]byte{127, 0, 0, 1, byte(port >> 8), byte(port)})}
		default:
			m = map[string]any{"failure reason": "Requested download is not authorized for use with this tracker."}
		}
		b, _ := bencode.Marshal(m)
		w.Write(b)
	}
	srv := httptest.NewServer(http.HandlerFunc(answer))
	t.Cleanup(srv.Close)
	tls := httptest.NewTLSServer(http.HandlerFunc(answer))
	t.Cleanup(tls.Close)

	cases := []struct {
		name, url  string
		status     TrackerStatus
		err        string
		peers      int
		wantParams bool
	}{
		{"working", srv.URL + "/announce?passkey=good", TrackerWorking, "", 1, true},
		{"refused", srv.URL + "/announce?passkey=bad", TrackerFailed, "Requested download is not authorized for use with this tracker.", 0, true},
		// The test server's certificate is from no authority the system
		// trusts: the passkey must not be sent.
		{"unknown CA", tls.URL + "/announce?passkey=good", TrackerFailed, "certificate", 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for len(seen) > 0 { // the last case's "stopped"
				<-seen
			}
			mi := withTracker(t, makeContent(t, t.TempDir(), "payload"), c.url)
			e := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
			id, err := addMetainfo(e, mi, AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tr := waitTracker(t, e, id, func(tr Tracker) bool { return !tr.LastAnnounce.IsZero() })
			if tr.Status != c.status || !strings.Contains(tr.Err, c.err) || tr.Peers != c.peers {
				t.Fatalf("tracker %+v; want status %q, error with %q, %d peers", tr, c.status, c.err, c.peers)
			}
			if strings.Contains(tr.Err, "passkey") {
				t.Errorf("error shows the URL: %q", tr.Err)
			}
			if c.status == TrackerWorking && tr.NextAnnounce.Sub(tr.LastAnnounce) < 29*time.Minute {
				t.Errorf("next announce %v after the last, want the tracker's 30 min", tr.NextAnnounce.Sub(tr.LastAnnounce))
			}
			if c.peers > 0 {
				select {
				case <-dialed:
				case <-time.After(15 * time.Second):
					t.Fatal("the engine never dialed the peer the tracker gave")
				}
			}
			if !c.wantParams {
				select {
				case q := <-seen:
					t.Fatalf("the tracker got an announce over an unverified connection: %v", q)
				default:
				}
				return
			}
			q := <-seen
			if q.Get("event") != "started" || q.Get("info_hash") == "" || q.Get("port") == "0" {
				t.Errorf("first announce %v", q)
			}
			if c.status != TrackerWorking {
				return
			}
			// Closing says goodbye to the trackers told "started".
			e.Close()
			select {
			case q := <-seen:
				if q.Get("event") != "stopped" {
					t.Errorf("at close: %v", q)
				}
			default:
				t.Error("Close did not announce stopped")
			}
		})
	}
}

// waitTracker waits for the torrent's one tracker to satisfy ok, on the
// engine's change notifications.
func waitTracker(t *testing.T, e *Engine, id TorrentID, ok func(Tracker) bool) Tracker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ch := e.Subscribe(ctx)
	for {
		trs, err := e.Trackers(id)
		if err != nil {
			t.Fatal(err)
		}
		if len(trs) == 1 && ok(trs[0]) {
			return trs[0]
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("tracker never got there: %+v", trs)
		}
	}
}

// TestSetTrackers: an edited announce list is announced to at once, the
// tracker dropped is told "stopped", and the edit outlives a restart.
func TestSetTrackers(t *testing.T) {
	events := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		events <- r.URL.Path + " " + r.URL.Query().Get("event")
		b, _ := bencode.Marshal(map[string]any{"interval": 1800, "peers": ""})
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	next := func() string {
		select {
		case e := <-events:
			return e
		case <-time.After(15 * time.Second):
			return "nothing"
		}
	}
	mi := withTracker(t, makeContent(t, t.TempDir(), "payload"), srv.URL+"/old")
	dataDir := t.TempDir()
	e := newEngine(t, Options{DataDir: dataDir, DownloadDir: t.TempDir()})
	id, err := addMetainfo(e, mi, AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "/old started" {
		t.Fatalf("first announce %q", got)
	}
	if err := e.SetTrackers(id, [][]string{{srv.URL + "/new"}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{next(): true, next(): true}
	if !got["/old stopped"] || !got["/new started"] {
		t.Errorf("after the edit: %v, want /old stopped and /new started", got)
	}
	if err := e.SetTrackers(id, [][]string{{"ftp://x/"}}); err == nil {
		t.Error("an ftp:// tracker was taken")
	}
	e.Close()
	again := newEngine(t, Options{DataDir: dataDir, DownloadDir: t.TempDir()})
	trs, err := again.Trackers(id)
	if err != nil || len(trs) != 1 || trs[0].URL != srv.URL+"/new" {
		t.Errorf("after a restart: %+v %v", trs, err)
	}
}

// TestCloseOfflineSaysNoGoodbye: when the tunnel died with the daemon's
// main process, the engine saves its state and goes without announcing
// "stopped" (nothing could arrive; a new daemon may be starting).
func TestCloseOfflineSaysNoGoodbye(t *testing.T) {
	seen := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.URL.Query().Get("event")
		b, _ := bencode.Marshal(map[string]any{"interval": 1800, "peers": ""})
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	data := t.TempDir()
	o := Options{DataDir: data, DownloadDir: t.TempDir()}
	e := newEngine(t, o)
	id, err := addMetainfo(e, withTracker(t, makeContent(t, t.TempDir(), "payload"), srv.URL+"/announce"), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitTracker(t, e, id, func(tr Tracker) bool { return !tr.LastAnnounce.IsZero() })
	if ev := <-seen; ev != "started" {
		t.Fatalf("first announce %q, want started", ev)
	}
	if err := e.CloseOffline(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-seen:
		t.Errorf("announced %q after CloseOffline", ev)
	default:
	}
	// Its state was saved all the same.
	e2 := newEngine(t, o)
	if _, err := e2.Get(id); err != nil {
		t.Errorf("after CloseOffline and a restart: %v", err)
	}
}
