package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/tracker/udp"
)

// anacrolix v1.59.1 keeps what trackers answer to its announces to itself,
// so seeders and leechers come from scrapes of our own (BEP 48 over HTTP,
// BEP 15 over UDP), through the tunnel like every other tracker request.
// Each tracker is asked about all its torrents at once, every
// scrapeInterval; a torrent just added is asked about scrapeSettle later
// (its first announce goes first, torrents added together share a request).
var (
	scrapeFirst    = 10 * time.Second
	scrapeSettle   = 2 * time.Second
	scrapeTick     = time.Minute
	scrapeInterval = 30 * time.Minute
)

// scrapeSoon has the scraper look for due torrents shortly.
func (e *Engine) scrapeSoon() {
	select {
	case e.scrapeWake <- struct{}{}:
	default:
	}
}

// maxScrapeBatch is the most info hashes one UDP scrape may carry (BEP 15:
// about 74 fit a packet); HTTP trackers take the same.
const maxScrapeBatch = 64

// trackerKey is one tracker URL for one torrent.
type trackerKey struct {
	url string
	ih  metainfo.Hash
}

// forgetTorrent drops ih's entries from m: all of them, or those whose
// URL gone says.
func forgetTorrent[V any](m map[trackerKey]V, ih metainfo.Hash, gone func(url string) bool) {
	for k := range m {
		if k.ih == ih && (gone == nil || gone(k.url)) {
			delete(m, k)
		}
	}
}

type scrapeResult struct {
	at                            time.Time
	seeders, leechers, downloaded int
	err                           string
	stale                         bool // asked for again (Reannounce)
}

type scrapes struct {
	mu sync.Mutex
	m  map[trackerKey]scrapeResult
}

func (s *scrapes) get(u string, ih metainfo.Hash) (scrapeResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[trackerKey{u, ih}]
	return r, ok
}

func (s *scrapes) put(u string, ih metainfo.Hash, r scrapeResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[trackerKey]scrapeResult{}
	}
	s.m[trackerKey{u, ih}] = r
}

// expire makes a torrent's counts due for a scrape, keeping them shown
// until then.
func (s *scrapes) expire(ih metainfo.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.m {
		if k.ih == ih {
			r.stale = true
			s.m[k] = r
		}
	}
}

// forget drops what is known of a removed torrent.
func (s *scrapes) forget(ih metainfo.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	forgetTorrent(s.m, ih, nil)
}

func (e *Engine) scraper() {
	defer e.wg.Done()
	t := time.NewTimer(scrapeFirst)
	defer t.Stop()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-t.C:
		case <-e.scrapeWake:
			select {
			case <-e.ctx.Done():
				return
			case <-time.After(scrapeSettle):
			}
		}
		e.scrapeDue(e.ctx, time.Now())
		t.Reset(scrapeTick)
	}
}

// scrapeDue asks every tracker about its torrents not asked about for
// scrapeInterval (paused torrents are left alone: they do not announce).
func (e *Engine) scrapeDue(ctx context.Context, now time.Time) {
	e.mu.Lock()
	var ens []*entry
	for _, en := range e.torrents {
		if !en.rec.Paused {
			ens = append(ens, en)
		}
	}
	e.mu.Unlock()
	due := map[string][]metainfo.Hash{}
	for _, en := range ens {
		mi := en.t.Metainfo()
		for _, tier := range mi.UpvertedAnnounceList() {
			for _, u := range tier {
				if r, ok := e.scrapes.get(u, en.ih); !ok || r.stale || now.Sub(r.at) >= scrapeInterval {
					due[u] = append(due[u], en.ih)
				}
			}
		}
	}
	for u, ihs := range due {
		for len(ihs) > 0 {
			batch := ihs[:min(len(ihs), maxScrapeBatch)]
			ihs = ihs[len(batch):]
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			res, err := e.scrape(ctx, u, batch)
			cancel()
			for i, ih := range batch {
				r := scrapeResult{at: now, seeders: -1, leechers: -1, downloaded: -1}
				if err != nil {
					r.err = err.Error()
				} else if i < len(res) {
					r.seeders, r.leechers, r.downloaded = int(res[i].Seeders), int(res[i].Leechers), int(res[i].Completed)
				}
				e.scrapes.put(u, ih, r)
			}
			if err != nil {
				e.log.Debug("tracker scrape failed", "tracker", hostOf(u), "err", err)
			}
		}
	}
}

// scrape asks one tracker about ihs; the results are in the same order.
func (e *Engine) scrape(ctx context.Context, rawURL string, ihs []metainfo.Hash) ([]udp.ScrapeInfohashResult, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		return e.scrapeHTTP(ctx, u, ihs)
	case "udp", "udp4", "udp6":
		return e.scrapeUDP(ctx, u, ihs)
	}
	return nil, fmt.Errorf("scrape %s: scheme %q not supported", hostOf(rawURL), u.Scheme)
}

// ScrapeURL is the scrape URL of an announce URL (BEP 48): "" for a
// tracker that does not scrape over HTTP; a UDP tracker's own URL.
func ScrapeURL(announce string) string {
	u, err := url.Parse(announce)
	if err != nil {
		return ""
	}
	switch u.Scheme {
	case "udp", "udp4", "udp6":
		return announce
	}
	s, err := scrapeURL(u)
	if err != nil {
		return ""
	}
	return s.String()
}

// scrapeURL is the announce URL with its last "announce" turned into
// "scrape" (BEP 48); trackers without one do not scrape.
func scrapeURL(u *url.URL) (*url.URL, error) {
	i := strings.LastIndex(u.Path, "/")
	if i < 0 || !strings.HasPrefix(u.Path[i+1:], "announce") {
		return nil, fmt.Errorf("scrape %s: tracker does not support scraping (path %q)", u.Host, u.Path)
	}
	s := *u
	s.Path = u.Path[:i+1] + "scrape" + strings.TrimPrefix(u.Path[i+1:], "announce")
	s.RawPath = ""
	return &s, nil
}

func (e *Engine) scrapeHTTP(ctx context.Context, u *url.URL, ihs []metainfo.Hash) ([]udp.ScrapeInfohashResult, error) {
	su, err := scrapeURL(u)
	if err != nil {
		return nil, err
	}
	q := su.Query()
	for _, ih := range ihs {
		q.Add("info_hash", string(ih[:]))
	}
	// Encode writes a space as "+", which trackers such as opentracker
	// read as a plus: a hash with a 0x20 byte would be another hash.
	su.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, su.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", UserAgent)
	hc := e.trackerHTTP()
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u.Host, stripURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %s", u.Host, resp.Status)
	}
	var body struct {
		Files map[string]udp.ScrapeInfohashResult `bencode:"files"`
	}
	if err := bencode.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u.Host, err)
	}
	out := make([]udp.ScrapeInfohashResult, len(ihs))
	for i, ih := range ihs {
		r, ok := body.Files[string(ih[:])]
		if !ok {
			r = udp.ScrapeInfohashResult{Seeders: -1, Leechers: -1, Completed: -1}
		}
		out[i] = r
	}
	return out, nil
}

func (e *Engine) scrapeUDP(ctx context.Context, u *url.URL, ihs []metainfo.Hash) ([]udp.ScrapeInfohashResult, error) {
	cc, err := e.udpTracker(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u.Host, err)
	}
	defer cc.Close()
	hs := make([]udp.InfoHash, len(ihs))
	for i, ih := range ihs {
		hs[i] = udp.InfoHash(ih)
	}
	res, err := cc.Client.Scrape(ctx, hs)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", u.Host, err)
	}
	return res, nil
}
