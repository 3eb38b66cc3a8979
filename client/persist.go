package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/wgtorrent/wgtorrent/internal/atomicfile"
)

// record is what DataDir/torrents/<infohash>.json keeps about a torrent so a
// restart brings it back with its settings. The metainfo itself, once known,
// is in <infohash>.torrent next to it.
type record struct {
	InfoHash       string           `json:"info_hash"`
	Magnet         string           `json:"magnet,omitempty"`
	DownloadDir    string           `json:"download_dir"`
	Paused         bool             `json:"paused,omitempty"`
	Sequential     bool             `json:"sequential,omitempty"`
	AddedAt        time.Time        `json:"added_at"`
	DoneAt         time.Time        `json:"done_at,omitzero"`
	FilePriorities map[int]Priority `json:"file_priorities,omitempty"`
	Peers          []string         `json:"peers,omitempty"`
	// Trackers, once edited (SetTrackers), replace the announce list of
	// the metainfo or magnet; TrackersEdited tells an emptied list from
	// one never edited.
	Trackers       [][]string `json:"trackers,omitempty"`
	TrackersEdited bool       `json:"trackers_edited,omitempty"`
	// SeedGoal is when the torrent stops seeding; Finished, that the
	// engine stopped it there (Transmission's isFinished). A resumed
	// torrent keeps Finished, so it is not stopped twice for one goal.
	SeedGoal SeedGoal `json:"seed_goal,omitzero"`
	Finished bool     `json:"finished,omitempty"`
	// Per-torrent limits in bytes/s; 0 = none.
	MaxDownloadRate int64 `json:"max_download_rate,omitempty"`
	MaxUploadRate   int64 `json:"max_upload_rate,omitempty"`
	// Totals of earlier sessions; the running session's counters are added.
	Downloaded int64 `json:"downloaded,omitempty"`
	Uploaded   int64 `json:"uploaded,omitempty"`
	// Refused says why the metadata a magnet brought was refused
	// (ValidateInfo); the torrent stays paused with it as its error.
	Refused string `json:"refused,omitempty"`
	// Renames are the names given to files and folders (RenamePath).
	Renames map[string]string `json:"renames,omitempty"`
	// Suspect: what the first bytes of its files showed and what the
	// engine did about suspicious files (suspicious.go).
	Suspect suspectRecord `json:"suspect,omitzero"`
}

// recordStore is the directory of saved torrents: a record and, once known, the
// metainfo of each.
type recordStore struct{ dir string }

func (s recordStore) recordPath(ih string) string   { return filepath.Join(s.dir, ih+".json") }
func (s recordStore) metainfoPath(ih string) string { return filepath.Join(s.dir, ih+".torrent") }

func (s recordStore) saveRecord(r record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("client: encode state of %s: %w", r.InfoHash, err)
	}
	return writeFileAtomic(s.recordPath(r.InfoHash), b)
}

func (s recordStore) saveMetainfo(ih string, b []byte) error {
	return writeFileAtomic(s.metainfoPath(ih), b)
}

// metainfo returns the saved .torrent of ih, or nil if only a magnet is known.
func (s recordStore) metainfo(ih string) ([]byte, error) {
	b, err := os.ReadFile(s.metainfoPath(ih))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (s recordStore) remove(ih string) error {
	var errs []error
	for _, p := range []string{s.recordPath(ih), s.metainfoPath(ih)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("client: remove saved torrent: %w", err))
		}
	}
	return errors.Join(errs...)
}

// load returns every saved record with its metainfo bytes (nil for a magnet
// whose info never arrived). Broken files are reported, not fatal.
func (s recordStore) load() (recs []record, metas [][]byte, errs []error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, []error{fmt.Errorf("client: read saved torrents: %w", err)}
	}
	for _, de := range ents {
		name := de.Name()
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("client: read saved torrent %s: %w", name, err))
			continue
		}
		var r record
		if err := json.Unmarshal(b, &r); err != nil {
			errs = append(errs, fmt.Errorf("client: saved torrent %s is corrupt: %w", name, err))
			continue
		}
		if r.InfoHash+".json" != name {
			errs = append(errs, fmt.Errorf("client: saved torrent %s holds info hash %q, not its name's", name, r.InfoHash))
			continue
		}
		mi, err := os.ReadFile(s.metainfoPath(r.InfoHash))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("client: read saved metainfo of %s: %w", r.InfoHash, err))
		}
		recs = append(recs, r)
		metas = append(metas, mi)
	}
	return recs, metas, errs
}

func writeFileAtomic(path string, b []byte) error {
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("client: save %s: %w", path, err)
	}
	return nil
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
		spec, _, err = parseMetainfo(mi)
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
