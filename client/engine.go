package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/types/infohash"
	"github.com/wgtorrent/wgtorrent/client/filestore"
	"golang.org/x/time/rate"
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
	// ListenPort for incoming peers (TCP, and UDP for the DHT); 0 = random.
	ListenPort int
	DHT        bool
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

	dirs sync.Map // metainfo.Hash -> download dir; read by storage under anacrolix's lock
	// limiters: metainfo.Hash -> *torrentLimiter; read by the handshake
	// callback under anacrolix's lock, so not behind e.mu.
	limiters sync.Map
	conns    peerConns
	redial   *redialer

	trackerMu  sync.Mutex
	trackers   map[string]trackerSeen // by URL host
	scrapes    scrapes
	scrapeWake chan struct{}

	mu       sync.Mutex
	closed   bool
	torrents map[metainfo.Hash]*entry
	subs     map[chan struct{}]struct{}
	limits   [2]int64
	seedDef  SeedDefaults

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type trackerSeen struct {
	at  time.Time
	err string
}

// entry is one torrent; fields other than t and id are guarded by Engine.mu.
type entry struct {
	id       TorrentID
	ih       metainfo.Hash
	t        *torrent.Torrent
	rec      record
	err      string
	checking bool
	// doneUnsaved: rec.DoneAt was noted by a Stats call; the sampler
	// saves it.
	doneUnsaved bool

	sampled           bool
	lastActive        time.Time // data last moved (zero: not since start)
	lastRead, lastOut int64
	lastAt            time.Time
	down, up          float64
}

// New starts the engine. Every socket it will ever open is described in the
// package documentation. ctx only bounds start-up (DHT bootstrap lookups).
func New(ctx context.Context, o Options) (_ *Engine, err error) {
	if o.DataDir == "" {
		return nil, errors.New("client: Options.DataDir is required")
	}
	if o.DownloadDir == "" {
		o.DownloadDir = filepath.Join(o.DataDir, "downloads")
	}
	if _, err := ParseEncryption(string(o.Encryption)); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
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
		o:        o,
		log:      log,
		face:     face,
		st:       recordStore{dir: savedDir},
		torrents: map[metainfo.Hash]*entry{},
		subs:     map[chan struct{}]struct{}{},
		trackers: map[string]trackerSeen{},
		down:     rate.NewLimiter(rate.Inf, 0),
		up:       rate.NewLimiter(rate.Inf, 0),

		scrapeWake: make(chan struct{}, 1),
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.redial = newRedialer(e.wantsPeers, e.dialAgain)
	e.conns.ended = e.redial.ended
	e.files, err = filestore.Open(filestore.Options{
		StateDir: o.DataDir,
		TorrentDir: func(_ *metainfo.Info, ih metainfo.Hash) string {
			if d, ok := e.dirs.Load(ih); ok {
				return d.(string)
			}
			return o.DownloadDir
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
		Logger: log.With("part", "storage"),
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
	e.wg.Add(2)
	go e.sampler()
	go e.scraper()
	if o.DHT {
		e.wg.Add(1)
		go e.dhtLoop()
	}
	log.Info("engine started", "listen", e.cl.ListenAddrs(), "interface", o.Binding.Interface,
		"dht", o.DHT, "saved_torrents", len(e.torrents))
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

// Close stops the engine: peers are disconnected, state is saved, every
// socket is closed. Safe to call twice.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var errs []error
	for _, en := range e.torrents {
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

// ListenPort is the port peers can reach us on (inside the tunnel).
func (e *Engine) ListenPort() int { return e.cl.LocalPort() }

// Add adds the torrent of src; a SourceFile is read here, as the engine's
// user.
func (e *Engine) Add(_ context.Context, src Source, opts AddOptions) (TorrentID, error) {
	src, err := src.Load()
	if err != nil {
		return "", err
	}
	if src.spec == nil {
		return "", errors.New("client: empty source: make one with ParseSource or ParseMetainfo")
	}
	rec := e.newRecord(src.spec.InfoHash, opts)
	rec.Magnet = src.magnet
	return e.add(src.torrentSpec(), rec, src.mi, opts.Peers, false)
}

func (e *Engine) newRecord(ih metainfo.Hash, opts AddOptions) record {
	dir := opts.DownloadDir
	if dir == "" {
		dir = e.o.DownloadDir
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	r := record{
		InfoHash:    ih.HexString(),
		DownloadDir: dir,
		Paused:      opts.Paused,
		Sequential:  opts.Sequential,
		SeedGoal:    opts.SeedGoal,
		AddedAt:     time.Now().Truncate(time.Second),
	}
	for _, p := range opts.Peers {
		r.Peers = append(r.Peers, p.String())
	}
	return r
}

// add puts a torrent into the engine and saves its record and mi, the
// .torrent (nil for a magnet until its info arrives), unless restored: then
// both are on disk as they are (rewriting them cost a seedbox 2 synced
// writes a torrent on every start, with the engine locked).
func (e *Engine) add(spec *torrent.TorrentSpec, rec record, mi []byte, peers []netip.AddrPort, restored bool) (TorrentID, error) {
	ih := spec.InfoHash
	id := TorrentID(ih.HexString())
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", ErrClosed
	}
	if _, ok := e.torrents[ih]; ok {
		return id, &DuplicateError{ID: id}
	}
	dirErr := CheckWritableDir(rec.DownloadDir)
	if dirErr != nil {
		rec.Paused = true
	}
	e.dirs.Store(ih, rec.DownloadDir)
	lim := newTorrentLimiter()
	lim.set(rec.MaxDownloadRate, rec.MaxUploadRate)
	e.limiters.Store(ih, lim)
	spec.DisallowDataDownload = rec.Paused
	spec.DisallowDataUpload = rec.Paused
	if rec.Paused {
		// A paused torrent keeps no connections at all.
		spec.PeerAddrs = nil
	}
	t, _, err := e.cl.AddTorrentSpec(spec)
	if err != nil {
		e.dirs.Delete(ih)
		e.limiters.Delete(ih)
		return "", fmt.Errorf("client: add torrent %s: %w", id, err)
	}
	en := &entry{id: id, ih: ih, t: t, rec: rec}
	if dirErr != nil {
		en.err = dirErr.Error()
	}
	if rec.Refused != "" {
		en.err = rec.Refused
	}
	if rec.Paused {
		t.SetMaxEstablishedConns(0)
	}
	t.SetOnWriteChunkError(func(err error) { e.onWriteError(en, err) })
	if len(peers) > 0 && !rec.Paused {
		t.AddPeers(peerInfos(peers))
	}
	e.torrents[ih] = en
	if mi != nil && !restored {
		if err := e.st.saveMetainfo(rec.InfoHash, mi); err != nil {
			e.log.Error("saving metainfo", "torrent", id, "err", err)
		}
	}
	if !restored {
		if err := e.st.saveRecord(rec); err != nil {
			e.log.Error("saving torrent state", "torrent", id, "err", err)
		}
	}
	e.wg.Add(1)
	go e.whenInfo(en, mi == nil)
	e.notifyLocked()
	e.scrapeSoon()
	e.log.Info("torrent added", "torrent", id, "name", t.Name(), "dir", rec.DownloadDir, "paused", rec.Paused)
	return id, nil
}

func peerInfos(peers []netip.AddrPort) []torrent.PeerInfo {
	out := make([]torrent.PeerInfo, 0, len(peers))
	for _, p := range peers {
		out = append(out, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(p), Source: torrent.PeerSourceDirect, Trusted: true})
	}
	return out
}

// wantsPeers says whether torrent ih is running and still lacks data: the
// redialer's test before it dials a peer again.
func (e *Engine) wantsPeers(ih metainfo.Hash) bool {
	e.mu.Lock()
	en, ok := e.torrents[ih]
	run := ok && !e.closed && !en.rec.Paused && en.err == ""
	e.mu.Unlock()
	// anacrolix's lock: never under e.mu.
	return run && (en.t.Info() == nil || en.t.BytesMissing() > 0)
}

// dialAgain hands a peer we were connected to back to the engine.
func (e *Engine) dialAgain(ih metainfo.Hash, ap netip.AddrPort) {
	e.mu.Lock()
	en, ok := e.torrents[ih]
	e.mu.Unlock()
	if ok {
		en.t.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(ap), Source: torrent.PeerSourceDirect}})
	}
}

// CheckWritableDir creates dir if needed and proves it takes a file, so a
// bad directory is refused up front instead of failing at the first write.
func CheckWritableDir(dir string) error {
	// 0755: media servers and *arr tools often read downloads as another user.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("directory %q cannot be created: %w", dir, err)
	}
	f, err := os.CreateTemp(dir, ".wgtorrent-write-test-*")
	if err != nil {
		return fmt.Errorf("directory %q is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// whenInfo waits for the info dictionary, then saves the metainfo (for a
// magnet) and starts downloading with the recorded file priorities.
func (e *Engine) whenInfo(en *entry, saveMeta bool) {
	defer e.wg.Done()
	select {
	case <-en.t.GotInfo():
	case <-en.t.Closed():
		return
	case <-e.ctx.Done():
		return
	}
	if saveMeta {
		mi := en.t.Metainfo()
		var buf bytes.Buffer
		if err := mi.Write(&buf); err != nil {
			e.log.Error("encoding metainfo", "torrent", en.id, "err", err)
		} else if err := e.st.saveMetainfo(string(en.id), buf.Bytes()); err != nil {
			e.log.Error("saving metainfo", "torrent", en.id, "err", err)
		}
	}
	e.mu.Lock()
	prios := en.rec.FilePriorities
	e.mu.Unlock()
	for i, f := range en.t.Files() {
		f.SetPriority(piecePriority(prios[i]))
	}
	e.notify()
}

// capPeerRequests keeps our outstanding requests below what the peer
// advertised (reqq). Transmission rejects the request that would fill its
// queue (it allows reqq-1), and anacrolix v1.59.1 answers a reject by
// requesting nothing more from that peer until it is unchoked again, which
// Transmission never does: the download stalled after ~16 MiB.
// TestDownloadTorrentFile exercises it against a real Transmission seeder.
func capPeerRequests(_ *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	if m.Reqq > 1 {
		m.Reqq = max(1, m.Reqq*9/10)
	}
}

func piecePriority(p Priority) torrent.PiecePriority {
	switch p {
	case PriorityOff:
		return torrent.PiecePriorityNone
	case PriorityHigh:
		return torrent.PiecePriorityHigh
	default:
		return torrent.PiecePriorityNormal
	}
}

// onWriteError runs when storage fails (unwritable directory, ENOSPC): the
// torrent is paused with the error shown, instead of anacrolix's default of
// silently disabling download.
func (e *Engine) onWriteError(en *entry, err error) {
	msg := fmt.Sprintf("writing data to %s failed: %v", en.rec.DownloadDir, err)
	if errors.Is(err, errNoSpace) {
		msg = fmt.Sprintf("disk full writing to %s: %v", en.rec.DownloadDir, err)
	}
	e.log.Error("torrent stopped by storage error", "torrent", en.id, "err", err)
	e.mu.Lock()
	first := en.err == ""
	en.err = msg
	e.mu.Unlock()
	if first {
		e.pause(en)
	}
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

// Remove drops a torrent; with deleteData its files are deleted too.
func (e *Engine) Remove(id TorrentID, deleteData bool) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	var info *metainfo.Info
	if en.t.Info() != nil {
		info = en.t.Info()
	}
	en.t.Drop()
	e.mu.Lock()
	delete(e.torrents, en.ih)
	dir := en.rec.DownloadDir
	e.notifyLocked()
	e.mu.Unlock()
	e.dirs.Delete(en.ih)
	e.limiters.Delete(en.ih)
	e.scrapes.forget(en.ih)
	errs := []error{e.st.remove(string(id)), e.files.Forget(en.ih)}
	if deleteData && info != nil {
		errs = append(errs, deleteTorrentData(dir, info))
	}
	e.log.Info("torrent removed", "torrent", id, "data_deleted", deleteData)
	return errors.Join(errs...)
}

// deleteTorrentData removes exactly the files the torrent owns, then the
// directories it created if they are empty.
func deleteTorrentData(dir string, info *metainfo.Info) error {
	var errs []error
	dirs := map[string]struct{}{}
	for _, fi := range info.UpvertedFiles() {
		parts := append([]string{}, fi.BestPath()...)
		if info.IsDir() {
			parts = append([]string{info.BestName()}, parts...)
		} else {
			parts = []string{info.BestName()}
		}
		p := filepath.Join(append([]string{dir}, parts...)...)
		if rel, err := filepath.Rel(dir, p); err != nil || strings.HasPrefix(rel, "..") {
			continue // never outside the download directory
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("client: delete %q: %w", p, err))
		}
		for d := filepath.Dir(p); d != dir && len(d) > len(dir); d = filepath.Dir(d) {
			dirs[d] = struct{}{}
		}
	}
	// Deepest first, so parents empty out.
	for len(dirs) > 0 {
		deepest := ""
		for d := range dirs {
			if len(d) > len(deepest) {
				deepest = d
			}
		}
		delete(dirs, deepest)
		os.Remove(deepest) // fails harmlessly if not empty
	}
	return errors.Join(errs...)
}

// Pause stops all transfer for a torrent: no data requested or sent, and
// every peer connection closed (anacrolix has no pause of its own).
// Trackers keep being announced to at their interval.
func (e *Engine) Pause(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	e.pause(en)
	return nil
}

func (e *Engine) pause(en *entry) {
	en.t.DisallowDataDownload()
	en.t.DisallowDataUpload()
	en.t.SetMaxEstablishedConns(0)
	if _, err := e.updateRecord(en, func(r *record) { r.Paused = true }); err != nil {
		e.log.Error("saving torrent state", "torrent", en.id, "err", err)
	}
	e.notify()
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

// Resume undoes Pause and clears a storage error (it comes back if the
// cause is still there).
func (e *Engine) Resume(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	// The directory must take writes again, and verified pieces a write
	// error kept in memory must now reach it.
	err = CheckWritableDir(en.rec.DownloadDir)
	if err == nil {
		err = e.files.Retry(en.ih)
	}
	if err != nil {
		e.mu.Lock()
		en.err = err.Error()
		e.mu.Unlock()
		return fmt.Errorf("client: resume %s: %w", id, err)
	}
	rec, err := e.updateRecord(en, func(r *record) {
		en.err = ""
		r.Paused = false
		r.Refused = "" // a magnet's metadata is fetched and checked again
	})
	if err != nil {
		e.log.Error("saving torrent state", "torrent", en.id, "err", err)
	}
	en.t.SetMaxEstablishedConns(torrent.NewDefaultClientConfig().EstablishedConnsPerTorrent)
	en.t.AllowDataUpload()
	en.t.AllowDataDownload()
	var peers []netip.AddrPort
	for _, p := range rec.Peers {
		if ap, err := netip.ParseAddrPort(p); err == nil {
			peers = append(peers, ap)
		}
	}
	if len(peers) > 0 {
		en.t.AddPeers(peerInfos(peers))
	}
	e.notify()
	return nil
}

// Verify re-hashes all data in the background (state "checking").
func (e *Engine) Verify(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	if en.t.Info() == nil {
		return fmt.Errorf("client: verify %s: metadata not known yet", id)
	}
	e.mu.Lock()
	if en.checking {
		e.mu.Unlock()
		return nil
	}
	en.checking = true
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		err := en.t.VerifyDataContext(e.ctx)
		e.mu.Lock()
		en.checking = false
		e.mu.Unlock()
		if err != nil && e.ctx.Err() == nil {
			e.log.Warn("verify failed", "torrent", id, "err", err)
		}
		e.notify()
	}()
	return nil
}

// Reannounce asks the DHT for peers and announces us there now, and asks
// the trackers for fresh counts. anacrolix v1.59.1 has no way to force an
// HTTP/UDP tracker announce; those announce on their own interval (at least
// every minute while peers are wanted).
func (e *Engine) Reannounce(id TorrentID) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	e.scrapes.expire(en.ih)
	e.scrapeSoon()
	for _, s := range e.cl.DhtServers() {
		_, stop, err := en.t.AnnounceToDht(s)
		if err != nil {
			return fmt.Errorf("client: reannounce %s to DHT: %w", id, err)
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			select {
			case <-time.After(time.Minute):
			case <-e.ctx.Done():
			}
			stop()
		}()
	}
	return nil
}

// SetLocation moves a torrent's data (move) or re-points it (!move) to dir.
// The torrent leaves the engine while its files move, so nothing writes to
// them meanwhile; its state (counters, settings) is kept.
func (e *Engine) SetLocation(id TorrentID, dir string, move bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("client: set location of %s: %w", id, err)
	}
	en, err := e.get(id)
	if err != nil {
		return err
	}
	info := en.t.Info()
	if move && info == nil {
		return fmt.Errorf("client: move %s: metadata not known yet", id)
	}
	if err := CheckWritableDir(dir); err != nil {
		return fmt.Errorf("client: set location of %s: %s", id, err)
	}
	e.mu.Lock()
	e.foldCounters(en)
	rec := en.rec
	delete(e.torrents, en.ih)
	e.mu.Unlock()
	en.t.Drop()
	e.dirs.Delete(en.ih)

	var moveErr error
	if move && rec.DownloadDir != dir {
		moveErr = moveTree(filepath.Join(rec.DownloadDir, info.BestName()), filepath.Join(dir, info.BestName()))
	}
	if moveErr == nil {
		rec.DownloadDir = dir
	}
	mi, err := e.st.metainfo(rec.InfoHash)
	if err != nil {
		return fmt.Errorf("client: re-add %s after moving: %w", id, err)
	}
	src, err := e.savedSpec(rec, mi)
	if err == nil {
		_, err = e.add(src, rec, mi, nil, false)
	}
	if err != nil {
		return errors.Join(moveErr, fmt.Errorf("client: re-add %s after moving: %w", id, err))
	}
	if moveErr != nil {
		return fmt.Errorf("client: move %s to %s: %w (the torrent stays in %s)", id, dir, moveErr, rec.DownloadDir)
	}
	if !move && info != nil {
		return e.Verify(id)
	}
	return nil
}

// moveTree renames from to to, copying when they are on different file
// systems. A missing source (nothing downloaded yet) is not an error.
func moveTree(from, to string) error {
	if _, err := os.Lstat(from); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%s already exists", to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	err := os.Rename(from, to)
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if fi, serr := os.Stat(from); serr == nil && !fi.IsDir() {
		err = copyFile(from, to)
	} else {
		err = os.CopyFS(to, os.DirFS(from))
	}
	if err != nil {
		os.RemoveAll(to)
		return err
	}
	return os.RemoveAll(from)
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// SetTorrentRateLimits limits one torrent, in bytes/s (0 = no limit of its
// own; the global limits still apply). Kept across restarts.
func (e *Engine) SetTorrentRateLimits(id TorrentID, down, up int64) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	if l, ok := e.limiters.Load(en.ih); ok {
		l.(*torrentLimiter).set(down, up)
		if l.(*torrentLimiter).limited() {
			for _, pc := range en.t.PeerConns() {
				if isUTP(pc) {
					pc.Close() // see PeerConnAdded in config
				}
			}
		}
	}
	_, err = e.updateRecord(en, func(r *record) {
		r.MaxDownloadRate, r.MaxUploadRate = max(down, 0), max(up, 0)
	})
	e.notify()
	return err
}

// SetSeedGoal sets when the torrent stops seeding (kept across restarts).
func (e *Engine) SetSeedGoal(id TorrentID, g SeedGoal) error {
	if err := g.Check(); err != nil {
		return err
	}
	en, err := e.get(id)
	if err != nil {
		return err
	}
	_, err = e.updateRecord(en, func(r *record) { r.SeedGoal = g })
	e.notify()
	return err
}

// SetSeedDefaults sets the goal of the torrents that follow the default.
func (e *Engine) SetSeedDefaults(d SeedDefaults) {
	e.mu.Lock()
	e.seedDef = d
	e.mu.Unlock()
}

// SeedDefaults is what SetSeedDefaults set.
func (e *Engine) SeedDefaults() SeedDefaults {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seedDef
}

// stopAtGoal stops a torrent that reached its seeding goal and marks it
// finished.
func (e *Engine) stopAtGoal(en *entry, ratio float64) {
	en.t.DisallowDataDownload()
	en.t.DisallowDataUpload()
	en.t.SetMaxEstablishedConns(0)
	if _, err := e.updateRecord(en, func(r *record) { r.Paused, r.Finished = true, true }); err != nil {
		e.log.Error("saving torrent state", "torrent", en.id, "err", err)
	}
	e.log.Info("seeding goal reached, torrent stopped", "torrent", en.id, "ratio", ratio)
	e.notify()
}

// SetSequential turns in-order downloading on or off (kept across restarts).
func (e *Engine) SetSequential(id TorrentID, on bool) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	_, err = e.updateRecord(en, func(r *record) { r.Sequential = on })
	e.notify()
	return err
}

// SetFilePriority sets the priority of file index (as in Files).
func (e *Engine) SetFilePriority(id TorrentID, index int, prio Priority) error {
	en, err := e.get(id)
	if err != nil {
		return err
	}
	if en.t.Info() == nil {
		return fmt.Errorf("client: set file priority on %s: metadata not known yet", id)
	}
	files := en.t.Files()
	if index < 0 || index >= len(files) {
		return fmt.Errorf("client: set file priority on %s: no file %d (it has %d)", id, index, len(files))
	}
	files[index].SetPriority(piecePriority(prio))
	_, err = e.updateRecord(en, func(r *record) {
		if r.FilePriorities == nil {
			r.FilePriorities = map[int]Priority{}
		}
		r.FilePriorities[index] = prio
		if prio == PriorityNormal {
			delete(r.FilePriorities, index)
		}
	})
	return err
}

// restore re-adds the torrents saved in DataDir.
func (e *Engine) restore() {
	recs, metas, errs := e.st.load()
	for _, err := range errs {
		e.log.Warn("saved torrent skipped", "err", err)
	}
	skipped := 0
	for i, r := range recs {
		if len(e.o.RestoreOnly) > 0 && !slices.Contains(e.o.RestoreOnly, TorrentID(r.InfoHash)) {
			skipped++
			continue
		}
		spec, err := e.savedSpec(r, metas[i])
		if err != nil {
			e.log.Warn("saved torrent skipped", "torrent", r.InfoHash, "err", err)
			continue
		}
		var peers []netip.AddrPort
		for _, p := range r.Peers {
			if ap, err := netip.ParseAddrPort(p); err == nil {
				peers = append(peers, ap)
			}
		}
		if _, err := e.add(spec, r, metas[i], peers, true); err != nil {
			e.log.Warn("saved torrent not restored", "torrent", r.InfoHash, "err", err)
		}
	}
	if skipped > 0 {
		e.log.Info("saved torrents left alone: not among those asked for", "count", skipped)
	}
}

// savedSpec rebuilds a torrent from what was saved: its metainfo, or the
// magnet link while the metadata was not known yet.
func (e *Engine) savedSpec(r record, mi []byte) (*torrent.TorrentSpec, error) {
	var spec *torrent.TorrentSpec
	var err error
	switch {
	case mi != nil:
		spec, err = parseMetainfo(mi)
	case r.Magnet != "":
		spec, err = torrent.TorrentSpecFromMagnetUri(r.Magnet)
	default:
		err = errors.New("neither metainfo nor magnet saved")
	}
	if err == nil && spec.InfoHash.HexString() != r.InfoHash {
		err = fmt.Errorf("saved metainfo has info hash %s", spec.InfoHash.HexString())
	}
	return spec, err
}

func ratio(up, length, down int64) float64 {
	base := max(length, down)
	if base <= 0 {
		return 0
	}
	return math.Round(float64(up)/float64(base)*1000) / 1000
}

var errNoSpace = syscall.ENOSPC
