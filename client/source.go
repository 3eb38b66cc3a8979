package client

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
)

// SourceKind says what a Source is.
type SourceKind uint8

const (
	// SourceMagnet is a magnet link or a bare info hash (given as a magnet
	// link without trackers).
	SourceMagnet SourceKind = iota + 1
	// SourceFile is the path of a .torrent file not read yet: Load reads
	// it, and Engine.Add does so as the engine's user.
	SourceFile
	// SourceMetainfo is the contents of a .torrent file.
	SourceMetainfo
)

// MaxTorrentFileSize bounds what Load reads: a .torrent of a few TiB in
// small pieces is tens of MiB; a path such as /dev/zero must not exhaust
// memory.
const MaxTorrentFileSize = 64 << 20

// Source is something to download. ParseSource decides what a string the
// user typed is, once, for every front end (TUI, RPC, headless flags and the
// fake engine of their tests); ParseMetainfo takes a .torrent's bytes.
type Source struct {
	kind   SourceKind
	spec   *torrent.TorrentSpec // nil for SourceFile
	magnet string               // SourceMagnet: as given, or built from the hash
	path   string               // SourceFile, and SourceMetainfo read by Load
	mi     []byte               // SourceMetainfo
	length int64                // SourceMetainfo: the torrent's size
}

// InputError is input the user has to fix. Reason reads on its own (a
// dialog shows it); Error adds the package, once.
type InputError struct {
	Reason string
	Err    error // the parser's words, if any
}

func (e *InputError) Error() string {
	if e.Err != nil {
		return "client: " + e.Reason + ": " + e.Err.Error()
	}
	return "client: " + e.Reason
}

func (e *InputError) Unwrap() error { return e.Err }

func inputErr(err error, format string, a ...any) error {
	return &InputError{Reason: fmt.Sprintf(format, a...), Err: err}
}

// ParseSource tells what s is: a magnet link, an info hash (40 hex or 32
// base32 digits) or else the path of a .torrent file. Magnets and hashes are
// checked in full; a path is not opened (Load does that).
func ParseSource(s string) (Source, error) {
	s = strings.TrimSpace(s)
	lower := strings.ToLower(s)
	switch {
	case s == "":
		return Source{}, inputErr(nil, "enter a magnet link, an info hash or the path of a .torrent file")
	case strings.HasPrefix(lower, "magnet:"):
		return parseMagnet(s)
	case isInfoHash(s):
		if len(s) == 40 {
			s = lower
		}
		return parseMagnet("magnet:?xt=urn:btih:" + s)
	}
	return Source{kind: SourceFile, path: s}, nil
}

// ParseMetainfo checks the bytes of a .torrent file, including the limits
// ValidateInfo sets, before anything is stored.
func ParseMetainfo(b []byte) (Source, error) {
	spec, length, err := parseMetainfo(b)
	if err != nil {
		return Source{}, err
	}
	return Source{kind: SourceMetainfo, spec: spec, mi: b, length: length}, nil
}

// Load reads a SourceFile's file (a regular file of at most
// MaxTorrentFileSize bytes) and returns it as a SourceMetainfo; other
// kinds come back as they are.
func (s Source) Load() (Source, error) {
	if s.kind != SourceFile {
		return s, nil
	}
	b, err := ReadTorrentFile(s.path, MaxTorrentFileSize)
	if err != nil {
		return Source{}, err
	}
	spec, length, err := parseMetainfo(b)
	if err != nil {
		var in *InputError
		if errors.As(err, &in) {
			in.Reason = fmt.Sprintf("torrent file %q: %s", s.path, in.Reason)
		}
		return Source{}, err
	}
	return Source{kind: SourceMetainfo, spec: spec, mi: b, path: s.path, length: length}, nil
}

// ReadTorrentFile reads the .torrent at path: a regular file of at most
// limit bytes (a FIFO, a device or a directory is refused without
// blocking on it). Its errors never quote what the file holds.
func ReadTorrentFile(path string, limit int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO nobody writes to would wait for ever;
	// for a regular file it changes nothing.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, inputErr(nil, "%q is not a magnet link, an info hash, or an existing .torrent file", path)
	case err != nil:
		return nil, fmt.Errorf("client: read torrent file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("client: read torrent file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		what := "not a regular file"
		if fi.IsDir() {
			what = "a directory"
		}
		return nil, inputErr(nil, "%q is %s; give a .torrent file", path, what)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("client: read torrent file: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, inputErr(nil, "%q is larger than %d bytes: not a .torrent file wgtorrent takes", path, limit)
	}
	return b, nil
}

// Kind is what the source is.
func (s Source) Kind() SourceKind { return s.kind }

// ID is the torrent's ID, or "" for a SourceFile not loaded yet.
func (s Source) ID() TorrentID {
	if s.spec == nil {
		return ""
	}
	return TorrentID(s.spec.InfoHash.HexString())
}

// Name is the magnet's display name or the .torrent's name ("" if none).
func (s Source) Name() string {
	if s.spec == nil {
		return ""
	}
	return s.spec.DisplayName
}

// Length is a SourceMetainfo's size in bytes (0 for others: a magnet's is
// unknown until its info arrives).
func (s Source) Length() int64 { return s.length }

// Path is the file a SourceFile names, or the one a SourceMetainfo was
// loaded from ("" otherwise).
func (s Source) Path() string { return s.path }

// Metainfo is a SourceMetainfo's bytes.
func (s Source) Metainfo() []byte { return s.mi }

// String is the magnet link, the path, or the ID, for logs.
func (s Source) String() string {
	switch {
	case s.magnet != "":
		return s.magnet
	case s.path != "":
		return s.path
	}
	return string(s.ID())
}

// torrentSpec is a copy for one AddTorrentSpec: add changes fields of it.
func (s Source) torrentSpec() *torrent.TorrentSpec {
	spec := *s.spec
	return &spec
}

// isInfoHash: 40 hex or 32 base32 digits, the two forms of xt=urn:btih.
func isInfoHash(s string) bool {
	switch len(s) {
	case 40:
		_, err := hex.DecodeString(s)
		return err == nil
	case 32:
		_, err := base32.StdEncoding.DecodeString(strings.ToUpper(s))
		return err == nil
	}
	return false
}

func parseMagnet(uri string) (Source, error) {
	if !strings.HasPrefix(strings.ToLower(uri), "magnet:?") {
		return Source{}, inputErr(nil, "a magnet link starts with magnet:?")
	}
	q, err := url.ParseQuery(uri[len("magnet:?"):])
	if err != nil {
		return Source{}, inputErr(err, "magnet link is not well formed")
	}
	found := false
	for _, xt := range q["xt"] {
		if len(xt) < 9 || !strings.EqualFold(xt[:9], "urn:btih:") {
			continue
		}
		h := xt[9:]
		if !isInfoHash(h) {
			return Source{}, inputErr(nil, "magnet link: info hash %q must be 40 hex or 32 base32 digits", h)
		}
		// anacrolix reads "urn:btih:" in lower case and base32 in upper
		// case only; links in other cases are common.
		if xt[:9] != "urn:btih:" {
			uri = strings.Replace(uri, xt[:9], "urn:btih:", 1)
		}
		if len(h) == 32 && h != strings.ToUpper(h) {
			uri = strings.Replace(uri, h, strings.ToUpper(h), 1)
		}
		found = true
	}
	if !found {
		return Source{}, inputErr(nil, "magnet link has no BitTorrent v1 info hash (xt=urn:btih:…)")
	}
	spec, err := torrent.TorrentSpecFromMagnetUri(uri)
	if err != nil {
		return Source{}, inputErr(err, "bad magnet link")
	}
	if spec.InfoHash.IsZero() {
		return Source{}, inputErr(nil, "magnet link has no BitTorrent v1 info hash (xt=urn:btih:…)")
	}
	return Source{kind: SourceMagnet, spec: spec, magnet: uri}, nil
}

// parseMetainfo checks a .torrent and returns its spec and size.
func parseMetainfo(b []byte) (*torrent.TorrentSpec, int64, error) {
	mi, err := metainfo.Load(bytes.NewReader(b))
	if err != nil {
		return nil, 0, inputErr(err, "not a valid .torrent file")
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, 0, inputErr(err, "not a valid .torrent file")
	}
	if err := ValidateInfo(&info); err != nil {
		return nil, 0, &InputError{Reason: "refused .torrent file", Err: err}
	}
	spec, err := torrent.TorrentSpecFromMetaInfoErr(mi)
	if err != nil {
		return nil, 0, inputErr(err, "not a valid .torrent file")
	}
	if spec.InfoHash.IsZero() {
		return nil, 0, inputErr(nil, ".torrent file has no BitTorrent v1 info hash (v2-only torrents are not supported)")
	}
	return spec, info.TotalLength(), nil
}
