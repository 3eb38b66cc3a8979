package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/types/infohash"
	"golang.org/x/time/rate"

	"github.com/wgtorrent/wgtorrent/client/filestore"
	"github.com/wgtorrent/wgtorrent/internal/atomicfile"
)

// Identity the engine shows to peers and trackers.
const (
	PeerIDPrefix  = "-WG0001-"
	ClientVersion = "wgtorrent 0.1"
	UserAgent     = "wgtorrent/0.1"
)

// Binding says how the engine reaches the network: only through the tunnel.
type Binding struct {
	// Interface is the tunnel device; every socket gets SO_BINDTODEVICE to
	// it. "" only in tests on loopback.
	Interface string
	// IPv4 and IPv6 are the tunnel addresses: the engine listens on them
	// only, dials from them, and never uses a family whose address is
	// invalid.
	IPv4, IPv6 netip.Addr
	// DNS servers reached through the tunnel; the only resolvers used.
	// Empty: host names (trackers, DHT bootstrap) cannot be resolved.
	DNS []netip.Addr
	// NetNS, when set, is the private network namespace the tunnel lives
	// in: every socket of the engine is made inside it, where the tunnel is
	// the only way out.
	NetNS Namespace
}

// SetAddresses takes the first IPv4 and the first IPv6 address of the
// tunnel's prefixes (none of a family: that family unused).
func (b *Binding) SetAddresses(prefixes []netip.Prefix) {
	b.IPv4, b.IPv6 = netip.Addr{}, netip.Addr{}
	for _, p := range prefixes {
		switch a := p.Addr(); {
		case a.Is4() && !b.IPv4.IsValid():
			b.IPv4 = a
		case a.Is6() && !b.IPv6.IsValid():
			b.IPv6 = a
		}
	}
}

// Namespace runs a function on a thread inside a network namespace
// (internal/netns.NS).
type Namespace interface {
	Do(fn func() error) error
}

// Options configure New.
type Options struct {
	Binding Binding
	// DataDir keeps the piece-completion database and the saved torrents.
	DataDir string
	// DownloadDir is the default directory for torrent data.
	DownloadDir string
	// ListenPort for incoming peers (TCP, and UDP for the DHT); 0: the
	// port used last time with this DataDir (listenPortFile), else random.
	ListenPort int
	// NoListen: no listener at all, dial out only, until a VPN forwards a
	// port (Restartable.Relisten): a port the VPN does not forward must not
	// be advertised as reachable. ListenPort (random if 0) is then the port
	// to ask the gateway for, and the one announced meanwhile (trackers
	// refuse port 0).
	NoListen bool
	DHT      bool
	// UTP turns on anacrolix's own uTP socket, on ListenPort (UDP). Only
	// for a process that itself lives in the tunnel's private namespace
	// (the daemon's worker in namespace mode): anacrolix makes that socket
	// in the process's namespace, unbound, so anywhere else it could
	// leave outside the tunnel. The DHT then takes a port of its own.
	UTP bool
	// DHTBootstrap are host:port nodes, resolved through Binding.DNS. Empty
	// with DHT on: the DHT only learns nodes from peers and torrents.
	DHTBootstrap []string
	// Seed keeps uploading after a torrent is complete.
	Seed bool
	// Encryption policy with peers; "" is EncryptionTolerated.
	Encryption Encryption
	// Rate limits in bytes/s, 0 = unlimited; see SetRateLimits.
	MaxDownloadRate, MaxUploadRate int64
	// SeedDefaults: see SetSeedDefaults.
	SeedDefaults SeedDefaults
	// PublicIPv4/6 are the VPN exit addresses to advertise in handshakes and
	// announces, if known. Unset: nothing is advertised and peers/trackers
	// use the source address they see.
	PublicIPv4, PublicIPv6 netip.Addr
	// Suspicious is what to do with files that are not what their names
	// say (package suspect); "" is SuspectWarn.
	Suspicious SuspectPolicy
	// RestoreOnly, if not empty, restricts which saved torrents come back
	// at start: the others stay on disk, neither loaded nor announced. A
	// one-shot download works only on the torrents it was given.
	RestoreOnly []TorrentID
	Logger      *slog.Logger
}

// Engine is the BitTorrent engine bound to the tunnel. Safe for concurrent use.
type Engine struct {
	o     Options
	log   *slog.Logger
	face  *netFace
	cl    *torrent.Client
	st    recordStore
	files *filestore.Store
	down  *rate.Limiter
	up    *rate.Limiter

	sockets []io.Closer
	dhts    []*dht.Server

	bootMu    sync.Mutex
	bootstrap []netip.AddrPort // DHT nodes resolved through the tunnel

	dirs sync.Map // metainfo.Hash -> placement; read by storage under anacrolix's lock
	// limiters: metainfo.Hash -> *torrentLimiter; read by the handshake
	// callback under anacrolix's lock, so not behind e.mu.
	limiters sync.Map
	conns    peerConns
	redial   *redialer
	// connsAdded counts the connections anacrolix added, to any torrent;
	// sampledConns is its value at the sampler's last round (sampler only).
	connsAdded   atomic.Uint64
	sampledConns uint64

	ann        *announcer
	scrapes    scrapes
	scrapeWake chan struct{}

	// heads: metainfo.Hash -> *headWatch, read by filestore's OnVerified.
	heads sync.Map
	headq headQueue

	mu       sync.Mutex
	closed   bool
	torrents map[metainfo.Hash]*entry
	subs     map[chan struct{}]struct{}
	limits   [2]int64
	seedDef  SeedDefaults
	started  time.Time // what moved before is not known: idle time counts from here

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// entry is one torrent; fields other than t and id are guarded by Engine.mu.
type entry struct {
	id       TorrentID
	ih       metainfo.Hash
	t        *torrent.Torrent
	trackers [][]string // announce URLs by tier, as added
	rec      record
	err      string
	checking bool
	// doneUnsaved: rec.DoneAt was noted by a Stats call; the sampler
	// saves it.
	doneUnsaved bool

	sampled           bool
	lastActive        time.Time // data last moved (zero: not since start)
	lastIn            time.Time // data last received (zero: not since start)
	lastRead, lastOut int64
	lastAt            time.Time
	down, up          float64
	hadConns          bool   // at the last look
	torrentFile       string // metainfoPath, made once
	// flagged are its suspicious files (suspicious.go); replaced, never
	// changed in place.
	flagged []flagged
}

// metainfoPath is where the torrent's .torrent is kept. With e.mu.
func (en *entry) metainfoPath(st recordStore) string {
	if en.torrentFile == "" {
		en.torrentFile = st.metainfoPath(en.rec.InfoHash)
	}
	return en.torrentFile
}

// listenPortFile keeps the port last listened on in DataDir when none is
// given. A port that stays the same across restarts is one peers learned
// (PEX, DHT) and, since connections are dialled from it, the one a peer
// still holding our connection from before a crash sees again: its
// challenge ACK draws our reset and the redial gets in, where a new port
// is refused for minutes by peers that take one connection per address
// (Transmission).
const listenPortFile = "listen-port"

// New starts the engine. Every socket it will ever open is described in the
// package documentation. ctx only bounds start-up (DHT bootstrap lookups).
func New(ctx context.Context, o Options) (*Engine, error) {
	if o.ListenPort != 0 || o.NoListen || o.DataDir == "" {
		return start(ctx, o)
	}
	path := filepath.Join(o.DataDir, listenPortFile)
	last := 0
	if b, err := os.ReadFile(path); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && p > 0 && p < 1<<16 {
			last = p
		}
	}
	o.ListenPort = last
	e, err := start(ctx, o)
	if err != nil && last != 0 && errors.Is(err, syscall.EADDRINUSE) {
		o.ListenPort = 0
		e, err = start(ctx, o)
		if err == nil {
			e.log.Info("the port listened on last time is taken; listening on another", "was", last, "now", e.ListenPort())
		}
	}
	if err != nil {
		return nil, err
	}
	if p := e.ListenPort(); p != last {
		if werr := atomicfile.Write(path, fmt.Appendf(nil, "%d\n", p)); werr != nil {
			e.log.Warn("cannot keep the listen port for the next start", "path", path, "err", werr)
		}
	}
	return e, nil
}

func start(ctx context.Context, o Options) (_ *Engine, err error) {
	if o.DataDir == "" {
		return nil, errors.New("client: Options.DataDir is required")
	}
	if o.DownloadDir == "" {
		o.DownloadDir = filepath.Join(o.DataDir, "downloads")
	}
	if _, err := ParseEncryption(string(o.Encryption)); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if o.Suspicious, err = ParseSuspectPolicy(string(o.Suspicious)); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NoListen && o.ListenPort == 0 {
		o.ListenPort = 49152 + rand.IntN(65536-49152) // IANA's dynamic range
	}
	face, err := newNetFace(o.Binding)
	if err != nil {
		return nil, err
	}
	log := o.Logger.With("component", "client")
	if o.Binding.Interface == "" {
		log.Warn("sockets are not bound to a device; only for tests on loopback")
	}
	savedDir := filepath.Join(o.DataDir, "torrents")
	for _, d := range []string{o.DataDir, savedDir, o.DownloadDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("client: create directory %q: %w", d, err)
		}
	}
	e := &Engine{
		started:  time.Now(),
		o:        o,
		log:      log,
		face:     face,
		st:       recordStore{dir: savedDir},
		torrents: map[metainfo.Hash]*entry{},
		subs:     map[chan struct{}]struct{}{},
		ann:      newAnnouncer(),
		down:     rate.NewLimiter(rate.Inf, 0),
		up:       rate.NewLimiter(rate.Inf, 0),

		scrapeWake: make(chan struct{}, 1),
		headq:      headQueue{wake: make(chan struct{}, 1)},
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.redial = newRedialer(e.wantsPeers, e.dialAgain)
	e.conns.ended = e.redial.ended
	e.files, err = filestore.Open(filestore.Options{
		StateDir: o.DataDir,
		TorrentDir: func(_ *metainfo.Info, ih metainfo.Hash) string {
			if p, ok := e.dirs.Load(ih); ok {
				return p.(placement).dir
			}
			return o.DownloadDir
		},
		Rename: func(ih metainfo.Hash, parts []string) []string {
			if p, ok := e.dirs.Load(ih); ok {
				return p.(placement).renames.apply(parts)
			}
			return parts
		},
		// A verified piece that could not be written stops its torrent,
		// like a failed block write.
		OnWriteError: func(ih metainfo.Hash, err error) {
			e.mu.Lock()
			en, ok := e.torrents[ih]
			e.mu.Unlock()
			if ok {
				e.onWriteError(en, err)
			}
		},
		OnVerified: e.onVerified,
		Logger:     log.With("part", "storage"),
	})
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	defer func() {
		if err != nil {
			e.cancel()
			if e.cl != nil {
				e.cl.Close()
			}
			for _, s := range e.sockets {
				s.Close()
			}
			e.files.Close()
		}
	}()

	// DHT bootstrap nodes are resolved by dhtLoop, in the background: with
	// the tunnel's DNS unreachable, resolving them here held start-up ~10 s.
	cfg := e.config()
	e.cl, err = torrent.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("client: start engine: %w", err)
	}
	if err = e.attachNetwork(); err != nil {
		return nil, err
	}
	e.SetRateLimits(o.MaxDownloadRate, o.MaxUploadRate)
	e.SetSeedDefaults(o.SeedDefaults)
	e.restore()
	e.wg.Add(4)
	go e.sampler()
	go e.scraper()
	go e.announceLoop()
	go e.headChecker()
	if o.DHT {
		e.wg.Add(1)
		go e.dhtLoop()
	}
	log.Info("engine started", "listen", e.cl.ListenAddrs(), "interface", o.Binding.Interface,
		"dht", o.DHT, "suspicious", o.Suspicious, "saved_torrents", len(e.torrents))
	return e, nil
}

// config builds the anacrolix configuration: confine (confine.go) switches
// off every socket anacrolix would make and hands it ours; the rest is the
// engine's behaviour.
func (e *Engine) config() *torrent.ClientConfig {
	o := e.o
	cfg := torrent.NewDefaultClientConfig()
	e.confine(cfg)
	cfg.Slogger = slog.New(dropMessages{e.log.With("part", "anacrolix").Handler(), anacrolixNoise})
	// Every info dictionary passes ValidateInfo before the engine uses it:
	// storage is opened first thing once the info is known, from a
	// .torrent or from a magnet's metadata.
	cfg.DefaultStorage = checkedStorage{e.files, e.refuseInfo}
	// Metadata anacrolix refuses by its own checks never reaches storage.
	cfg.Callbacks.PeerConnReadExtensionMessage = append(cfg.Callbacks.PeerConnReadExtensionMessage,
		newMetadataWatch(e.refuseInfo).onExtension)
	cfg.Seed = o.Seed
	o.Encryption.apply(cfg)
	// A keepalive after 20 s without writing (anacrolix: a minute; BEP 3:
	// "generally two minutes"). A download stalled on a dead path writes
	// nothing else, and behind a VPN paths die silently: when the server's
	// exit address changes, its NAT state goes, and only a segment we send
	// draws the reset that closes the connection so that it is redialled.
	cfg.KeepAliveTimeout = 20 * time.Second

	// anacrolix v1.59.1 stops serving a connection after it has uploaded
	// twice MaxAllocPeerRequestDataPerConn (1 MiB by default): the
	// per-connection allocation accounting loses what it releases. Buffered
	// request data stays bounded by the peer's request queue, so the limit
	// is raised out of reach instead (TestSeedsPastAllocLimit).
	cfg.MaxAllocPeerRequestDataPerConn = 1 << 40
	cfg.Callbacks.ReadExtendedHandshake = capPeerRequests
	cfg.Callbacks.CompletedHandshake = func(pc *torrent.PeerConn, ih infohash.T) {
		l, _ := e.limiters.Load(metainfo.Hash(ih))
		lim, _ := l.(*torrentLimiter)
		if ap, out := e.conns.handshook(pc.RemoteAddr, lim); out {
			e.redial.connected(ap, metainfo.Hash(ih))
		}
	}
	// A torrent's own rate limits act on the connections we make
	// (limitedConn); anacrolix makes uTP's itself, out of their reach. So a
	// torrent with limits of its own keeps no uTP peer, rather than
	// exceed them (the global limits hold for every connection).
	cfg.Callbacks.PeerConnAdded = append(cfg.Callbacks.PeerConnAdded, func(pc *torrent.PeerConn) {
		e.connsAdded.Add(1)
		if !isUTP(pc) {
			return
		}
		if l, ok := e.limiters.Load(pc.Torrent().InfoHash()); ok && l.(*torrentLimiter).limited() {
			go pc.Close() // called under anacrolix's lock, which Close takes
		}
	})
	cfg.DownloadRateLimiter = e.down
	cfg.UploadRateLimiter = e.up
	// anacrolix's per-torrent announcer retries a failed announce at once:
	// with no DHT node known it logged 768,748 lines in 25 s. dhtLoop
	// announces instead.
	cfg.PeriodicallyAnnounceTorrentsToDht = false
	return cfg
}

// Close stops the engine: trackers are told, peers are disconnected,
// state is saved, every socket is closed. Safe to call twice.
func (e *Engine) Close() error { return e.close(true) }

// CloseOffline is Close when the tunnel is already gone (the process that
// held it died): nothing is sent, since nothing could arrive, and the
// state is saved at once instead of after trackers' timeouts.
func (e *Engine) CloseOffline() error { return e.close(false) }

func (e *Engine) close(goodbyes bool) error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var errs []error
	ens := make([]*entry, 0, len(e.torrents))
	for _, en := range e.torrents {
		ens = append(ens, en)
		// The sampler notes completion once a second: a download that
		// completes and exits at once would otherwise never save it.
		done, _ := wantedLeft(en.t, unwanted(&en.rec))
		done = noteDone(&en.rec, done, time.Now())
		changed := e.foldCounters(en) || done
		// Every other change was saved when it was made; rewriting the
		// records of idle torrents made a seedbox's shutdown a synced
		// write per torrent (Docker's stop timeout is 10 s).
		if !changed {
			continue
		}
		if err := e.st.saveRecord(en.rec); err != nil {
			errs = append(errs, err)
		}
	}
	for ch := range e.subs {
		close(ch)
		delete(e.subs, ch)
	}
	e.mu.Unlock()
	e.cancel()
	if stops := e.stopAnnounces(ens, nil); goodbyes {
		e.sendStopped(stops)
	}
	e.redial.close()
	e.cl.Close()
	for _, ds := range e.dhts {
		ds.Close()
	}
	for _, s := range e.sockets {
		s.Close()
	}
	e.wg.Wait()
	if err := e.files.Close(); err != nil {
		errs = append(errs, fmt.Errorf("client: close storage: %w", err))
	}
	return errors.Join(errs...)
}

// foldCounters moves this session's transfer counters into the record's
// totals (at Close and when moving) and says whether they changed. Called
// with e.mu held.
func (e *Engine) foldCounters(en *entry) bool {
	s := en.t.Stats()
	down, up := s.BytesReadUsefulData.Int64(), s.BytesWrittenData.Int64()
	en.rec.Downloaded += down
	en.rec.Uploaded += up
	return down != 0 || up != 0
}

// SetRateLimits sets client-wide limits in bytes/s; 0 = unlimited.
func (e *Engine) SetRateLimits(down, up int64) {
	setLimit(e.down, down)
	setLimit(e.up, up)
	e.mu.Lock()
	e.limits = [2]int64{max(down, 0), max(up, 0)}
	e.mu.Unlock()
}

// RateLimits returns the current limits (0 = unlimited).
func (e *Engine) RateLimits() (down, up int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.limits[0], e.limits[1]
}

// ListenPort is the port peers can reach us on (inside the tunnel); 0
// while not listening (Options.NoListen).
func (e *Engine) ListenPort() int { return e.cl.LocalPort() }

// ForwardPort is the port to have a VPN forward: the one listened on, or,
// not listening yet, the one that will be.
func (e *Engine) ForwardPort() int {
	if p := e.ListenPort(); p != 0 {
		return p
	}
	return e.o.ListenPort
}

func (e *Engine) get(id TorrentID) (*entry, error) {
	var ih metainfo.Hash
	if err := ih.FromHexString(string(id)); err != nil || len(id) != 40 {
		return nil, fmt.Errorf("client: %q is not a torrent ID (40 hex digits): %w", id, ErrNotFound)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	en, ok := e.torrents[ih]
	if !ok {
		return nil, fmt.Errorf("client: torrent %s: %w", id, ErrNotFound)
	}
	return en, nil
}

// updateRecord changes en's saved settings under e.mu and saves them; it
// returns the record as saved.
func (e *Engine) updateRecord(en *entry, change func(r *record)) (record, error) {
	e.mu.Lock()
	change(&en.rec)
	rec := en.rec
	e.mu.Unlock()
	if err := e.st.saveRecord(rec); err != nil {
		return rec, fmt.Errorf("client: save torrent %s: %w", en.id, err)
	}
	return rec, nil
}

func ratio(up, length, down int64) float64 {
	base := max(length, down)
	if base <= 0 {
		return 0
	}
	return math.Round(float64(up)/float64(base)*1000) / 1000
}

var errNoSpace = syscall.ENOSPC
