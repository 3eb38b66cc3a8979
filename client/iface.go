package client

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Controller is what front ends (TUI, Transmission-RPC daemon, headless CLI)
// need from the engine. *Engine implements it; tests of front ends can use a
// fake.
type Controller interface {
	// Add adds the torrent of src (ParseSource, ParseMetainfo).
	Add(ctx context.Context, src Source, opts AddOptions) (TorrentID, error)
	Remove(id TorrentID, deleteData bool) error
	Pause(id TorrentID) error
	Resume(id TorrentID) error
	Verify(id TorrentID) error
	Reannounce(id TorrentID) error

	List() []Stats
	Get(id TorrentID) (Stats, error)
	Files(id TorrentID) ([]File, error)
	Peers(id TorrentID) ([]Peer, error)
	Trackers(id TorrentID) ([]Tracker, error)
	Pieces(id TorrentID) (Pieces, error)

	SetFilePriority(id TorrentID, index int, prio Priority) error
	SetSequential(id TorrentID, on bool) error
	// SetTrackers replaces the announce list (tiers of URLs, CheckTrackers).
	SetTrackers(id TorrentID, tiers [][]string) error
	// SetLocation points the torrent at dir; with move its data is moved
	// there first, without it the data is verified where it now points.
	SetLocation(id TorrentID, dir string, move bool) error
	// RenamePath renames a file or folder (path as Files shows it) to
	// name, on disk too; the root renames the torrent.
	RenamePath(id TorrentID, path, name string) error
	SetRateLimits(down, up int64)
	RateLimits() (down, up int64)
	// SetTorrentRateLimits limits one torrent (bytes/s, 0 = none of its own).
	SetTorrentRateLimits(id TorrentID, down, up int64) error
	// SetSeedGoal sets when the torrent stops seeding; the engine stops
	// it there (Stats.Finished). SetSeedDefaults sets the goal of those
	// that follow the default.
	SetSeedGoal(id TorrentID, g SeedGoal) error
	SetSeedDefaults(d SeedDefaults)

	// Subscribe returns a channel that receives a value (coalesced, never
	// blocking the engine) whenever stats may have changed: about once a
	// second, and on add/remove/pause/resume. Closed when ctx ends or the
	// engine closes.
	Subscribe(ctx context.Context) <-chan struct{}
	WaitComplete(ctx context.Context, id TorrentID) error
	Close() error
}

var _ Controller = (*Engine)(nil)

// TorrentID is the v1 info hash in lower-case hex (40 digits).
type TorrentID string

// State is a torrent's coarse state, for display and RPC status mapping.
type State string

const (
	StateMetadata    State = "metadata"    // waiting for the info dictionary (magnet)
	StateChecking    State = "checking"    // hashing pieces
	StateDownloading State = "downloading" // transferring
	StateStalled     State = "stalled"     // incomplete, no peers sending
	StateSeeding     State = "seeding"     // complete
	StatePaused      State = "paused"
	StateError       State = "error" // see Stats.Error; also paused
)

// Stats is a snapshot of one torrent.
type Stats struct {
	ID             TorrentID
	Name           string
	State          State
	Error          string
	BytesCompleted int64 // verified bytes on disk
	BytesUnchecked int64 // received, not yet verified (see Have)
	Length         int64 // 0 until the info is known
	DownloadRate   int64 // bytes/s, smoothed over a few seconds
	UploadRate     int64 // bytes/s, smoothed over a few seconds
	PeersConnected int
	PeersKnown     int
	Seeders        int   // connected peers that have everything
	Leechers       int   // connected peers that do not
	Downloaded     int64 // useful payload received, over all sessions
	Uploaded       int64 // payload sent, over all sessions
	AddedAt        time.Time
	DoneAt         time.Time // zero until complete
	DownloadDir    string
	Ratio          float64       // Uploaded / Length (or / Downloaded when larger); 0 when unknown
	ETA            time.Duration // -1 when unknown or not downloading
	Sequential     bool
	// Per-torrent limits in bytes/s (0 = none of its own).
	DownloadLimit, UploadLimit int64
	SeedGoal                   SeedGoal
	// Finished: the engine stopped the torrent at its seeding goal.
	Finished bool
	// LastActive is when data last moved (zero: not since the engine
	// started).
	LastActive time.Time
	// TorrentFile is the engine's copy of the .torrent ("" until the info
	// is known).
	TorrentFile string
	// Warnings are its files that are not what their names say (package
	// suspect): by name once the info is known, by their first bytes as
	// those are verified. Nil: none found.
	Warnings []Warning
	// Held says why the engine paused the torrent (Options.Suspicious
	// SuspectPause); "" when it did not. Resume clears it.
	Held string
}

// Priority of a file. The zero value is PriorityNormal.
type Priority int

const (
	PriorityOff    Priority = -1 // do not download
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

func (p Priority) String() string {
	switch p {
	case PriorityOff:
		return "off"
	case PriorityHigh:
		return "high"
	default:
		return "normal"
	}
}

// File is one file of a torrent; Path is relative to the download directory
// and includes the torrent's directory for multi-file torrents.
type File struct {
	Index          int
	Path           string
	Length         int64
	BytesCompleted int64
	Priority       Priority
}

// Peer is one connected peer.
type Peer struct {
	Addr     netip.AddrPort
	Client   string  // client name from the extended handshake, or the peer ID prefix
	Flags    string  // how we found it: I incoming, Tr tracker, Hg/Ha DHT, X PEX, M given directly
	Network  string  // tcp4, tcp6
	DownRate int64   // bytes/s we receive from it
	UpRate   int64   // bytes/s we send to it
	Progress float64 // 0..1, the share of pieces it has
}

// Tracker is one announce URL and what it last answered.
type Tracker struct {
	URL    string
	Tier   int
	Status TrackerStatus
	// LastAnnounce is when the last announce ended (zero: none yet); Err
	// why it failed: the tracker's own words, or why it was not reached.
	LastAnnounce time.Time
	Err          string
	Warning      string    // the tracker's warning message, if any
	Peers        int       // peers in the last answer
	NextAnnounce time.Time // zero: none scheduled (paused, or not used)
	// Seeders and Leechers from the last scrape, else from the last
	// announce; Downloaded from the last scrape; -1: unknown.
	Seeders, Leechers, Downloaded int
	LastScrape                    time.Time // zero: no scrape yet
	ScrapeErr                     string
}

// TrackerStatus says where a tracker stands, from what it answered.
type TrackerStatus string

const (
	TrackerNotContacted TrackerStatus = "not contacted"
	TrackerAnnouncing   TrackerStatus = "announcing" // in flight
	TrackerWorking      TrackerStatus = "working"    // the last announce was answered
	TrackerFailed       TrackerStatus = "error"      // the last announce failed: Err
	TrackerIdle         TrackerStatus = "paused"     // not announced to while the torrent is stopped
	// TrackerNotUsed: a WebTorrent tracker (wss://); WebRTC would reveal
	// local addresses, so it is never contacted.
	TrackerNotUsed TrackerStatus = "not used"
)

// Have is what progress shows: every byte received, verified or not (as
// Transmission's percentDone); BytesCompleted alone moves a piece at a time.
func (s Stats) Have() int64 { return s.BytesCompleted + s.BytesUnchecked }

// Pieces is a bitmap of verified pieces, BitTorrent bitfield order (piece 0
// is the high bit of byte 0).
type Pieces struct {
	Count    int
	Complete int
	Bitmap   []byte
}

// Has reports whether piece i is verified.
func (p Pieces) Has(i int) bool {
	if i < 0 || i >= p.Count {
		return false
	}
	return p.Bitmap[i/8]&(0x80>>(i%8)) != 0
}

// AddOptions tune one Add.
type AddOptions struct {
	DownloadDir string // "" = Options.DownloadDir
	Paused      bool
	Sequential  bool // prefer pieces in order (for streaming); best effort
	// Peers to contact directly, in addition to trackers/DHT (tests, the
	// lab, magnet x.pe).
	Peers    []netip.AddrPort
	SeedGoal SeedGoal // when it stops seeding
}

var (
	// ErrDuplicate is matched (errors.Is) by the *DuplicateError Add returns
	// when the torrent is already in the engine.
	ErrDuplicate = errors.New("client: torrent already added")
	// ErrNotFound is returned for an unknown TorrentID.
	ErrNotFound = errors.New("client: no such torrent")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("client: engine closed")
)

// DuplicateError carries the ID of the torrent that is already there.
type DuplicateError struct{ ID TorrentID }

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("client: torrent %s already added", e.ID)
}

func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }
