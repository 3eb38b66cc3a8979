package client

import (
	"errors"
	"fmt"

	"github.com/anacrolix/torrent/metainfo"
)

// Limits on an info dictionary. The engine (anacrolix v1.59.1) keeps piece
// lengths and chunk indexes in 32-bit types: a piece length of 2^40 became
// 0 chunks a piece and a division by zero that took the whole process down
// as soon as a peer unchoked us. Every torrent real clients make is far
// inside these limits; anything outside is refused before the engine sees
// it, wherever it comes from (file, RPC, magnet metadata, saved state).
const (
	// BlockSize is the unit peers request; every piece length is a
	// multiple of it (BEP 3 clients make powers of two from 16 KiB).
	BlockSize = 16 << 10
	// MaxPieceLength: libtorrent and mktorrent stop at 128 MiB or less.
	MaxPieceLength = 256 << 20
	// MaxTotalLength keeps the torrent's block count (length / 16 KiB)
	// well inside the engine's 32-bit request indexes.
	MaxTotalLength = 16 << 40
	// MaxFiles in one torrent (the largest public ones have ~10^5).
	MaxFiles = 1 << 17
	// MaxPathDepth is the most directory levels a file path may have.
	MaxPathDepth = 64
	// MaxNameBytes for a torrent name or one path component (NAME_MAX).
	MaxNameBytes = 255
)

// ErrRefused is matched (errors.Is) by every error of ValidateInfo.
var ErrRefused = errors.New("torrent refused")

// InfoError says which field of an info dictionary is outside which limit.
type InfoError struct {
	Field  string // as in the info dictionary: "piece length", "pieces", "files"
	Reason string // what is wrong, with the value and the limit
}

func (e *InfoError) Error() string {
	return fmt.Sprintf("torrent refused: info field %q: %s", e.Field, e.Reason)
}

func (e *InfoError) Is(target error) bool { return target == ErrRefused }

func refuse(field, format string, args ...any) error {
	return &InfoError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidateInfo checks an info dictionary against the limits above before it
// reaches the engine. It never panics, whatever info holds (it is fuzzed).
// File names with ".." or absolute paths are not its business: storage keeps
// every file inside the download directory.
func ValidateInfo(info *metainfo.Info) error {
	if info == nil {
		return refuse("info", "missing")
	}
	pl := info.PieceLength
	switch {
	case pl <= 0:
		return refuse("piece length", "%d: must be positive", pl)
	case pl > MaxPieceLength:
		return refuse("piece length", "%d is above the limit of %d (256 MiB)", pl, MaxPieceLength)
	case pl%BlockSize != 0:
		return refuse("piece length", "%d is not a multiple of %d (16 KiB)", pl, BlockSize)
	}
	if n := len(info.Name); n > MaxNameBytes {
		return refuse("name", "%d bytes long, above the limit of %d", n, MaxNameBytes)
	}
	if len(info.Files) > 0 && info.Length != 0 {
		return refuse("length", "given together with \"files\"")
	}
	if n := len(info.Files); n > MaxFiles {
		return refuse("files", "%d files, above the limit of %d", n, MaxFiles)
	}
	var total int64
	if len(info.Files) == 0 {
		total = info.Length
		if total < 0 || total > MaxTotalLength {
			return refuse("length", "%d is outside 0..%d (16 TiB)", total, int64(MaxTotalLength))
		}
	}
	for i, f := range info.Files {
		if f.Length < 0 || f.Length > MaxTotalLength-total {
			return refuse("files", "file %d: length %d makes the total exceed %d (16 TiB) or is negative", i, f.Length, int64(MaxTotalLength))
		}
		total += f.Length
		if err := checkPath(i, f.Path); err != nil {
			return err
		}
		if len(f.PathUtf8) > 0 {
			if err := checkPath(i, f.PathUtf8); err != nil {
				return err
			}
		}
	}
	if total == 0 {
		return refuse("length", "the torrent holds no data")
	}
	if len(info.Pieces)%20 != 0 {
		return refuse("pieces", "%d bytes, not a whole number of 20-byte SHA-1 hashes", len(info.Pieces))
	}
	want := (total + pl - 1) / pl
	if got := int64(len(info.Pieces) / 20); got != want {
		return refuse("pieces", "%d piece hashes, but %d bytes in pieces of %d need %d", got, total, pl, want)
	}
	if info.HasV2() {
		// BEP 52 hybrids: the v2 file tree must describe the same pieces,
		// since the engine counts pieces from it.
		files, depthErr := 0, error(nil)
		var v2total int64
		info.FileTree.Walk(nil, func(path []string, ft *metainfo.FileTree) {
			if depthErr != nil {
				return
			}
			files++
			switch {
			case files > MaxFiles:
				depthErr = refuse("file tree", "more than %d files", MaxFiles)
			case len(path) > MaxPathDepth:
				depthErr = refuse("file tree", "a path %d levels deep, above the limit of %d", len(path), MaxPathDepth)
			case ft.File.PiecesRoot != "" && len(ft.File.PiecesRoot) != 32:
				// anacrolix panics on any other length.
				depthErr = refuse("file tree", "a \"pieces root\" of %d bytes, not 32", len(ft.File.PiecesRoot))
			case ft.File.Length < 0 || ft.File.Length > MaxTotalLength-v2total:
				depthErr = refuse("file tree", "file length %d makes the total exceed %d (16 TiB) or is negative", ft.File.Length, int64(MaxTotalLength))
			}
			v2total += max(ft.File.Length, 0)
		})
		if depthErr != nil {
			return depthErr
		}
		if got := info.NumPieces(); int64(got) != want {
			return refuse("file tree", "describes %d pieces, the v1 fields %d", got, want)
		}
	}
	return nil
}

func checkPath(i int, path []string) error {
	if len(path) == 0 {
		return refuse("files", "file %d has an empty path", i)
	}
	if len(path) > MaxPathDepth {
		return refuse("files", "file %d: path %d levels deep, above the limit of %d", i, len(path), MaxPathDepth)
	}
	for _, c := range path {
		if len(c) > MaxNameBytes {
			return refuse("files", "file %d: a path component of %d bytes, above the limit of %d", i, len(c), MaxNameBytes)
		}
	}
	return nil
}
