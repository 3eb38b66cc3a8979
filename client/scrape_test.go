package client

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// fakeCounts is what the fake trackers say of every torrent.
const fakeSeeders, fakeLeechers = 7, 3

// httpTracker answers announces with no peers and scrapes with fakeCounts.
func httpTracker(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/announce":
			b, _ := bencode.Marshal(map[string]any{"interval": 1800, "peers": ""})
			w.Write(b)
		case "/scrape":
			// Decoded as opentracker does: "+" is a plus, not a space.
			files := map[string]any{}
			for _, kv := range strings.Split(r.URL.RawQuery, "&") {
				v, ok := strings.CutPrefix(kv, "info_hash=")
				if ih, err := url.PathUnescape(v); ok && err == nil {
					files[ih] = map[string]int{"complete": fakeSeeders, "incomplete": fakeLeechers, "downloaded": 1}
				}
			}
			b, _ := bencode.Marshal(map[string]any{"files": files})
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/announce"
}

// udpTracker speaks just enough of BEP 15: connect, announce (no peers)
// and scrape (fakeCounts).
func udpTracker(t *testing.T) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 16 {
				continue
			}
			action, tx := binary.BigEndian.Uint32(buf[8:]), binary.BigEndian.Uint32(buf[12:])
			var out bytes.Buffer
			binary.Write(&out, binary.BigEndian, []uint32{action, tx})
			switch action {
			case 0: // connect
				binary.Write(&out, binary.BigEndian, uint64(0x1234))
			case 1: // announce: interval, leechers, seeders, no peers
				binary.Write(&out, binary.BigEndian, []uint32{1800, 0, 0})
			case 2: // scrape: 20 bytes per info hash after the header
				for i := 16; i+20 <= n; i += 20 {
					binary.Write(&out, binary.BigEndian, []uint32{fakeSeeders, 1, fakeLeechers})
				}
			}
			pc.WriteTo(out.Bytes(), from)
		}
	}()
	return "udp://" + pc.LocalAddr().String() + "/announce"
}

func withTracker(t *testing.T, mi []byte, announce string) []byte {
	t.Helper()
	m, err := metainfo.Load(bytes.NewReader(mi))
	if err != nil {
		t.Fatal(err)
	}
	m.Announce = announce
	var b bytes.Buffer
	if err := m.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestTrackersShowScrapedCounts(t *testing.T) {
	// Only the wake-up on add may bring the counts in time.
	old := [2]time.Duration{scrapeFirst, scrapeSettle}
	scrapeFirst, scrapeSettle = time.Hour, 10*time.Millisecond
	t.Cleanup(func() { scrapeFirst, scrapeSettle = old[0], old[1] })

	for name, tracker := range map[string]func(*testing.T) string{"http": httpTracker, "udp": udpTracker} {
		t.Run(name, func(t *testing.T) {
			announce := tracker(t)
			mi := withTracker(t, makeContent(t, t.TempDir(), "payload"), announce)
			e := newEngine(t, Options{DataDir: t.TempDir(), DownloadDir: t.TempDir()})
			id, err := addMetainfo(e, mi, AddOptions{Paused: false})
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			var trs []Tracker
			for time.Now().Before(deadline) {
				if trs, err = e.Trackers(id); err != nil {
					t.Fatal(err)
				}
				if len(trs) == 1 && !trs[0].LastScrape.IsZero() {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if len(trs) != 1 || trs[0].Seeders != fakeSeeders || trs[0].Leechers != fakeLeechers {
				t.Fatalf("trackers = %+v, want %s with %d seeders and %d leechers", trs, announce, fakeSeeders, fakeLeechers)
			}
			// Reannounce asks again at once.
			first := trs[0].LastScrape
			if err := e.Reannounce(id); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if trs, _ = e.Trackers(id); trs[0].LastScrape.After(first) {
					return
				}
			}
			t.Fatalf("no new scrape after Reannounce: %+v", trs)
		})
	}
}

func TestScrapeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://t.example/announce":            "http://t.example/scrape",
		"http://t.example/x/announce.php?pk=1": "http://t.example/x/scrape.php?pk=1",
		"https://t.example/passkey/announce":   "https://t.example/passkey/scrape",
		"http://t.example/a":                   "",
	} {
		u, _ := url.Parse(in)
		got, err := scrapeURL(u)
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "does not support scraping") {
				t.Errorf("%s: %v, %v; want no scrape URL", in, got, err)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("%s: %v, %v; want %s", in, got, err, want)
		}
	}
}

// TestScrapeHashWithSpace: an info hash holding a 0x20 byte (one in 13)
// is scraped right by a tracker that reads "+" as a plus, as opentracker
// does: url.Values.Encode writes a space as "+".
func TestScrapeHashWithSpace(t *testing.T) {
	e := newEngine(t, Options{DataDir: t.TempDir()})
	u, err := url.Parse(httpTracker(t))
	if err != nil {
		t.Fatal(err)
	}
	ihs := []metainfo.Hash{{0x20, '+', 0x20}, {1, 2, 3}}
	res, err := e.scrapeHTTP(context.Background(), u, ihs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Seeders != fakeSeeders || r.Leechers != fakeLeechers {
			t.Errorf("info hash %x: seeders %d leechers %d, want %d and %d", ihs[i], r.Seeders, r.Leechers, fakeSeeders, fakeLeechers)
		}
	}
}
