package rpc

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wgtorrent/wgtorrent/client"
	"github.com/wgtorrent/wgtorrent/internal/portfwd"
	"github.com/wgtorrent/wgtorrent/killswitch"
	"github.com/wgtorrent/wgtorrent/vpn"
)

// Health says whether the daemon is fit to serve: a recent tunnel handshake
// and an armed kill switch.
type Health interface {
	Healthy() (ok bool, reason string)
}

// DefaultMaxBody bounds a request body; a base64 .torrent of a very large
// multi-file torrent still fits.
const DefaultMaxBody = 10 << 20

// Options configure a Server.
type Options struct {
	// DataDir holds the RPC state file (ids, labels, seeding limits). ""
	// keeps it in memory: ids then change across restarts.
	DataDir string
	// DownloadDir is reported as the session's download-dir until a client
	// changes it with session-set.
	DownloadDir string
	// Username and Password turn on HTTP basic auth when either is set.
	Username, Password string
	// AllowedHosts are extra Host header names accepted when auth is off
	// (IP literals and "localhost" always are). "*.example.org" matches
	// subdomains.
	AllowedHosts []string
	// WebUI is a folder holding a Transmission web client (its
	// index.html), served at /transmission/web/ behind the same guard as
	// the RPC; "" serves none.
	WebUI string
	// Version is wgtorrent's version, shown after the Transmission version
	// that clients parse.
	Version string
	// ConfigDir is reported as config-dir (informational).
	ConfigDir string
	// PeerPort gives peer-port: where the engine listens now (a forwarded
	// port moves it); nil: 0.
	PeerPort func() int
	// PortForward, when set, is the forwarded port's state (ok false:
	// forwarding off), quoted by port-test.
	PortForward func() (st portfwd.State, ok bool)
	// DHT and UTP say whether the engine runs them (dht-enabled,
	// utp-enabled).
	DHT, UTP bool
	// Encryption is the engine's policy, reported as encryption ("": the
	// engine's default).
	Encryption client.Encryption
	// MaxBody bounds request bodies; 0 = DefaultMaxBody.
	MaxBody int64
	// Registry receives the metrics and is served on /metrics; nil = a
	// fresh registry with the Go and process collectors.
	Registry *prometheus.Registry
	// Tunnel, when set, feeds the tunnel metrics.
	Tunnel func() vpn.Status
	// KillSwitchDrops, when set, feeds the dropped-packets counter.
	KillSwitchDrops func() uint64
	// KillSwitch, when set, feeds the measured kill switch gauge (one
	// series a state) and the counters of restorations: times the
	// kill switch and the tunnel's routing were found missing or changed
	// under the running process and put back.
	KillSwitch func() (state killswitch.State, killSwitchRestores, routingRestores uint64)
	Logger     *slog.Logger
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
	// PeerUID says which user owns the socket with these ends (local,
	// remote: the caller's view); nil = ask the kernel.
	PeerUID func(local, remote net.Addr) (uint32, error)
	// WritableRoots are the folders download-dir and torrent-set-location
	// may name (symlinks resolved); DownloadDir is always one.
	WritableRoots []string
	// ReadableRoots are the folders a torrent-add "filename" path may
	// name (the watch folder, say); WritableRoots are readable too.
	ReadableRoots []string
}

// Server is a Transmission RPC server over a client.Controller.
type Server struct {
	engine    client.Controller
	health    Health
	o         Options
	log       *slog.Logger
	sessionID string
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	started   time.Time

	// mu serialises RPCs, as Transmission's single thread does, and guards
	// the store and what follows.
	mu         sync.Mutex
	st         *stateStore
	removed    []removal
	filesAdded int64
	// altWasScheduled is whether the alt-speed schedule covered the last
	// check: only a change of it turns the alt limits on or off.
	altWasScheduled bool
	sessionStats    sessionCounters
	// lastSave and saveTimer pace the state file's writes (saveLocked).
	lastSave  time.Time
	saveTimer *time.Timer
}

type removal struct {
	id int
	at time.Time
}

type sessionCounters struct {
	// base is each torrent's totals when this run first saw it (the
	// engine's count over all runs); gone, what torrents removed during
	// this run had transferred in it, so that totals do not go backwards.
	base             map[client.TorrentID][2]int64
	downGone, upGone int64
	// moved is this run's bytes (down, up), counted by every syncLocked,
	// which lists the torrents anyway: saving the state needs no list.
	moved [2]int64
}

// transmissionVersion is the Transmission release whose protocol we speak
// (rpcVersion); *arr tools need a version >= 2.40 in front.
const (
	transmissionVersion = "3.00"
	rpcVersion          = 16
)

// NewServer opens (or creates) the state in o.DataDir and builds a server.
func NewServer(engine client.Controller, health Health, o Options) (*Server, error) {
	if engine == nil {
		return nil, errors.New("rpc: nil engine")
	}
	st, err := openStore(o.DataDir)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.PeerUID == nil {
		o.PeerUID = socketUID
	}
	s := &Server{
		engine:       engine,
		health:       health,
		o:            o,
		log:          o.Logger,
		sessionID:    newSessionID(),
		st:           st,
		started:      o.Now(),
		sessionStats: sessionCounters{base: map[client.TorrentID][2]int64{}},
	}
	if err := s.registerMetrics(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	// What the torrents there now moved before this run is not this run's.
	for _, t := range engine.List() {
		s.sessionStats.base[t.ID] = [2]int64{t.Downloaded, t.Uploaded}
	}
	st.current = s.currentStatsLocked
	// Give every torrent the engine already has an id now, so that ids
	// follow the engine's order rather than the first client's query.
	s.syncLocked()
	// The engine enforces the seeding goals; the session's are its
	// defaults.
	engine.SetSeedDefaults(st.sess.seedDefaults())
	s.migrateSeedGoalsLocked()
	s.altWasScheduled = st.sess.altScheduled(o.Now())
	if st.sess.SpeedLimitDownEnabled || st.sess.SpeedLimitUpEnabled || st.sess.AltSpeedEnabled {
		// A limit set over RPC outlives a restart, as in Transmission.
		s.applyRateLimitsLocked()
	}
	s.mu.Unlock()
	return s, nil
}

func newSessionID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 48)
	rand.Read(b) // never fails (crypto/rand, Go >= 1.24)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// Handler serves /transmission/rpc, /healthz, /metrics and, with
// Options.WebUI, the web client at /transmission/web/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/transmission/rpc", s.serveRPC)
	mux.HandleFunc("/transmission/rpc/", s.serveRPC)
	mux.HandleFunc("/healthz", s.serveHealth)
	mux.Handle("/metrics", s.guard(s.metricsHandler()))
	if s.o.WebUI != "" {
		// The web client asks for ../rpc relative to its page, as from
		// Transmission itself.
		files := http.FileServer(noListing{http.Dir(s.o.WebUI)})
		mux.Handle("/transmission/web/", s.guard(http.StripPrefix("/transmission/web/", files)))
		toWeb := http.RedirectHandler("/transmission/web/", http.StatusFound)
		mux.Handle("/transmission/web", s.guard(toWeb))
		mux.Handle("/{$}", s.guard(toWeb))
	}
	mux.Handle("/", s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		msg := "wgtorrent serves no web interface unless started with --web-ui FOLDER; point a Transmission client (transmission-remote, Sonarr, Radarr, ...) at /transmission/rpc"
		if s.o.WebUI != "" {
			msg = "not found: the web interface is at /transmission/web/, the RPC at /transmission/rpc"
		}
		http.Error(w, msg, http.StatusNotFound)
	})))
	return mux
}

// noListing serves a folder's files but never lists a folder that has no
// index.html.
type noListing struct{ fs http.FileSystem }

func (n noListing) Open(name string) (http.File, error) {
	f, err := n.fs.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		idx, err := n.fs.Open(strings.TrimSuffix(name, "/") + "/index.html")
		if err != nil {
			f.Close()
			return nil, os.ErrNotExist
		}
		idx.Close()
	}
	return f, nil
}

// guard applies the Host whitelist and basic auth.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(w, r) {
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) hasAuth() bool { return s.o.Username != "" || s.o.Password != "" }

func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	if !s.hasAuth() {
		// Without a password, a web page could reach us through DNS
		// rebinding; it cannot choose the Host header, so check it.
		// With a password the page would need it anyway (Transmission
		// does the same).
		if !s.hostAllowed(r.Host) {
			http.Error(w, fmt.Sprintf("421: Misdirected Request\nHost %q is not allowed. Add it to the allowed RPC hosts or turn on RPC authentication.", r.Host), http.StatusMisdirectedRequest)
			return false
		}
		return s.localCallerAllowed(w, r)
	}
	u, p, ok := r.BasicAuth()
	userOK := subtle.ConstantTimeCompare([]byte(u), []byte(s.o.Username)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(p), []byte(s.o.Password)) == 1
	if !ok || !userOK || !passOK {
		w.Header().Set("WWW-Authenticate", `Basic realm="Transmission"`)
		http.Error(w, "401: Unauthorized", http.StatusUnauthorized)
		return false
	}
	return true
}

func (s *Server) hostAllowed(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	host = strings.ToLower(host)
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true // rebinding needs a name
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	for _, a := range s.o.AllowedHosts {
		a = strings.ToLower(strings.TrimSuffix(a, "."))
		if a == host || strings.HasPrefix(a, "*.") && strings.HasSuffix(host, a[1:]) {
			return true
		}
	}
	return false
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.health == nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "no health source\n")
		return
	}
	ok, reason := s.health.Healthy()
	if !ok {
		if reason == "" {
			reason = "unhealthy"
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, reason+"\n")
		return
	}
	io.WriteString(w, "ok\n")
}

const sessionHeader = "X-Transmission-Session-Id"

func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	w.Header().Set(sessionHeader, s.sessionID)
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(sessionHeader)), []byte(s.sessionID)) != 1 {
		// The CSRF guard of the protocol: clients retry with the header.
		w.Header().Set("Content-Type", "text/html; charset=ISO-8859-1")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "<h1>409: Conflict</h1><p>Your request had an invalid session-id header.</p><p><code>%s: %s</code></p>", sessionHeader, s.sessionID)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "405: Method Not Allowed: RPC requests are POSTed JSON", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("413: Request body larger than %d bytes", s.o.MaxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "400: cannot read request body", http.StatusBadRequest)
		return
	}
	resp := s.exec(r.Context(), body)
	out, err := json.Marshal(resp)
	if err != nil {
		s.log.Error("rpc: encode response", "err", err)
		out = []byte(`{"result":"internal error: cannot encode response","arguments":{}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	// Always a length, as Transmission sends: without it Go chunks answers
	// over 2 KiB, and transmission.el (Emacs) waits on them forever.
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.Write(out)
}
