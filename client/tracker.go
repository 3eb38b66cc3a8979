package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/tracker"
	"github.com/anacrolix/torrent/tracker/udp"
)

// Tracker requests (announce, scrape) over the tunnel's sockets. HTTPS
// trackers are verified against the system's roots (SSL_CERT_FILE and
// SSL_CERT_DIR add others), not skipped as anacrolix's client does. Errors
// name the tracker's host, never its URL: a private tracker's passkey is
// in the URL, and the errors reach logs.

// maxTrackerBody bounds what a tracker's answer may take in memory.
const maxTrackerBody = 1 << 20

// maxTrackerPeers bounds the peers taken from one answer.
const maxTrackerPeers = 1000

// TrackerHost names a tracker without what its URL may hide (a passkey in
// the path or query): scheme://host:port, the port implied by the scheme
// when the URL has none (Transmission's trackerStats "host").
func TrackerHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if port == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + net.JoinHostPort(u.Hostname(), port)
}

// trackerHTTP is the client for HTTP(S) trackers: the tunnel's dialer, no
// proxy from the environment, no cookie jar, verified certificates.
func (e *Engine) trackerHTTP() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         e.face.DialContext,
			Proxy:               nil,
			TLSHandshakeTimeout: 15 * time.Second,
			DisableKeepAlives:   true,
		},
		// A redirect may only stay on the same scheme and host: a tracker
		// moved elsewhere does not get the passkey sent on by us.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.URL.Scheme != via[0].URL.Scheme || req.URL.Host != via[0].URL.Host {
				return errors.New("redirected elsewhere")
			}
			return nil
		},
	}
}

// announce sends one announce to the tracker at rawURL.
func (e *Engine) announce(ctx context.Context, rawURL string, req tracker.AnnounceRequest, trackerID string) (annResult, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return annResult{}, fmt.Errorf("bad tracker URL: %w", stripURL(err))
	}
	switch u.Scheme {
	case "http", "https":
		return e.announceHTTP(ctx, u, req, trackerID)
	case "udp", "udp4", "udp6":
		return e.announceUDP(ctx, u, req)
	}
	return annResult{}, fmt.Errorf("scheme %q not supported", u.Scheme)
}

// announceURL adds BEP 3's announce parameters after the URL's own (some
// private trackers want their passkey first).
func announceURL(u *url.URL, req tracker.AnnounceRequest, trackerID string, ip4, ip6 netip.Addr) string {
	q := url.Values{}
	q.Set("info_hash", string(req.InfoHash[:]))
	q.Set("peer_id", string(req.PeerId[:]))
	q.Set("port", strconv.Itoa(int(req.Port)))
	q.Set("uploaded", strconv.FormatInt(req.Uploaded, 10))
	q.Set("downloaded", strconv.FormatInt(req.Downloaded, 10))
	left := req.Left
	if left < 0 { // not known before a magnet's metadata
		left = 1<<63 - 1
	}
	q.Set("left", strconv.FormatInt(left, 10))
	if req.Event != tracker.None {
		q.Set("event", req.Event.String())
	}
	q.Set("compact", "1")
	q.Set("numwant", strconv.Itoa(int(req.NumWant)))
	q.Set("key", strconv.FormatUint(uint64(uint32(req.Key)), 16))
	q.Set("supportcrypto", "1")
	if trackerID != "" {
		q.Set("trackerid", trackerID)
	}
	if ip4.IsValid() {
		q.Set("ipv4", ip4.String())
	}
	if ip6.IsValid() {
		q.Set("ipv6", ip6.String())
	}
	// Encode writes a space as "+", which trackers read as a plus.
	qs := strings.ReplaceAll(q.Encode(), "+", "%20")
	a := *u
	if a.RawQuery != "" {
		a.RawQuery += "&" + qs
	} else {
		a.RawQuery = qs
	}
	return a.String()
}

func (e *Engine) announceHTTP(ctx context.Context, u *url.URL, req tracker.AnnounceRequest, trackerID string) (annResult, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet,
		announceURL(u, req, trackerID, e.o.PublicIPv4, e.o.PublicIPv6), nil)
	if err != nil {
		return annResult{}, stripURL(err)
	}
	hr.Header.Set("User-Agent", UserAgent)
	hc := e.trackerHTTP()
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(hr)
	if err != nil {
		return annResult{}, stripURL(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTrackerBody))
	if err != nil {
		return annResult{}, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// Trackers often explain a refusal in a bencoded body.
		var r refusal
		if _, err := parseHTTPAnnounce(body); errors.As(err, &r) {
			return annResult{}, r
		}
		return annResult{}, fmt.Errorf("HTTP %s", resp.Status)
	}
	return parseHTTPAnnounce(body)
}

// parseHTTPAnnounce reads a tracker's bencoded answer (BEP 3, compact
// peers of BEP 23, peers6 of BEP 7). A failure reason is the error, as the
// tracker wrote it.
func parseHTTPAnnounce(body []byte) (annResult, error) {
	var m map[string]any
	if err := bencode.Unmarshal(body, &m); err != nil {
		var trailing bencode.ErrUnusedTrailingBytes
		if !errors.As(err, &trailing) {
			return annResult{}, fmt.Errorf("not a tracker answer: %w", err)
		}
	}
	str := func(k string) string { s, _ := m[k].(string); return s }
	num := func(k string) (int64, bool) { n, ok := m[k].(int64); return n, ok }
	if r := str("failure reason"); r != "" {
		return annResult{}, refusal(clean(r))
	}
	res := annResult{seeders: -1, leechers: -1, warning: clean(str("warning message")), trackerID: str("tracker id")}
	if n, ok := num("interval"); ok && n > 0 {
		res.interval = time.Duration(min(n, 1<<31)) * time.Second
	}
	if n, ok := num("min interval"); ok && n > 0 {
		res.minInterval = time.Duration(min(n, 1<<31)) * time.Second
	}
	if n, ok := num("complete"); ok && n >= 0 {
		res.seeders = int(min(n, 1<<31))
	}
	if n, ok := num("incomplete"); ok && n >= 0 {
		res.leechers = int(min(n, 1<<31))
	}
	switch p := m["peers"].(type) {
	case string:
		res.peers = compactPeers(p, 4)
	case []any:
		for _, d := range p {
			dm, _ := d.(map[string]any)
			ip, _ := dm["ip"].(string)
			port, _ := dm["port"].(int64)
			a, err := netip.ParseAddr(ip)
			if err == nil && port > 0 && port < 1<<16 && len(res.peers) < maxTrackerPeers {
				res.peers = append(res.peers, netip.AddrPortFrom(a.Unmap(), uint16(port)))
			}
		}
	}
	if p, ok := m["peers6"].(string); ok {
		res.peers = append(res.peers, compactPeers(p, 16)...)
	}
	if len(res.peers) > maxTrackerPeers {
		res.peers = res.peers[:maxTrackerPeers]
	}
	return res, nil
}

// compactPeers reads address+port records of an IP size of n bytes.
func compactPeers(s string, n int) []netip.AddrPort {
	var out []netip.AddrPort
	for i := 0; i+n+2 <= len(s) && len(out) < maxTrackerPeers; i += n + 2 {
		a, _ := netip.AddrFromSlice([]byte(s[i : i+n]))
		port := uint16(s[i+n])<<8 | uint16(s[i+n+1])
		out = append(out, netip.AddrPortFrom(a.Unmap(), port))
	}
	return out
}

// clean keeps a tracker's text printable and short: it reaches terminals.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.TrimSpace(s)
}

// refusal is a tracker's failure reason, in its own words.
type refusal string

func (r refusal) Error() string { return string(r) }

// stripURL drops the URL net/http puts in its errors (it may hold a
// passkey), keeping the cause.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return errors.New("timed out")
		}
		return ue.Err
	}
	return err
}

// udpTracker opens a BEP 15 client to u's host, resolved through the tunnel.
func (e *Engine) udpTracker(ctx context.Context, u *url.URL) (*udp.ConnClient, error) {
	ips, err := e.face.lookupTrackerIP(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no address of the tunnel's families", u.Hostname())
	}
	port := u.Port()
	if port == "" {
		return nil, errors.New("the URL has no port")
	}
	return udp.NewConnClient(udp.NewConnClientOpts{
		Network:      "udp",
		Host:         net.JoinHostPort(ips[0].String(), port),
		ListenPacket: e.face.ListenPacket,
	})
}

func (e *Engine) announceUDP(ctx context.Context, u *url.URL, req tracker.AnnounceRequest) (annResult, error) {
	cc, err := e.udpTracker(ctx, u)
	if err != nil {
		return annResult{}, err
	}
	defer cc.Close()
	if req.Left < 0 {
		req.Left = 1<<63 - 1
	}
	if ip := e.o.PublicIPv4; ip.IsValid() {
		b := ip.As4()
		req.IPAddress = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	h, peers, err := cc.Announce(ctx, req, udp.Options{RequestUri: u.RequestURI()})
	if err != nil {
		var er udp.ErrorResponse
		if errors.As(err, &er) {
			return annResult{}, refusal(clean(er.Message))
		}
		if ctx.Err() != nil {
			return annResult{}, errors.New("timed out")
		}
		return annResult{}, err
	}
	res := annResult{
		interval: time.Duration(h.Interval) * time.Second,
		seeders:  int(h.Seeders), leechers: int(h.Leechers),
	}
	for _, na := range peers.NodeAddrs() {
		if len(res.peers) == maxTrackerPeers {
			break
		}
		if a, ok := netip.AddrFromSlice(na.IP); ok {
			res.peers = append(res.peers, netip.AddrPortFrom(a.Unmap(), uint16(na.Port)))
		}
	}
	return res, nil
}
