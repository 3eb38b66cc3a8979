//go:build linux

package netlab

import (
	"bufio"
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
)

// Generated content and its .torrent, made in process: the demo must need
// nothing but the wgtorrent binary, so the tests and the benchmark make
// theirs the same way.

// ContentFile is one file of generated content.
type ContentFile struct {
	Path string // relative to the torrent's top directory
	Size int64
}

// TorrentSpec is the content MakeTorrent generates and its torrent.
type TorrentSpec struct {
	Name     string // the torrent's name, its top directory
	Files    []ContentFile
	Announce string // the tracker's announce URL; empty: none
	// PieceLength in bytes; 0: DefaultPieceLength.
	PieceLength int64
}

// DefaultPieceLength is Debian mktorrent's default, which the lab's
// torrents had when mktorrent made them.
const DefaultPieceLength = 256 << 10

// Torrent is random content on disk and its .torrent.
type Torrent struct {
	Root     string // parent directory of Name: the seeders' download dir
	Name     string // the torrent's name, its top directory
	Files    []ContentFile
	Size     int64
	File     string // the .torrent
	InfoHash string // v1, lower-case hex
}

// MakeTorrent writes spec's files of random bytes under dir/seed/Name and
// makes a multi-file torrent of them, dir/Name.torrent.
func MakeTorrent(dir string, spec TorrentSpec) (*Torrent, error) {
	st := &Torrent{Root: filepath.Join(dir, "seed"), Name: spec.Name, Files: spec.Files}
	top := filepath.Join(st.Root, spec.Name)
	var err error
	if st.Size, err = WriteContent(top, spec.Files); err != nil {
		return nil, err
	}
	mi, err := BuildTorrent(top, spec.Announce, spec.PieceLength)
	if err != nil {
		return nil, err
	}
	st.File = filepath.Join(dir, spec.Name+".torrent")
	f, err := os.Create(st.File)
	if err != nil {
		return nil, fmt.Errorf("netlab: torrent %s: %w", spec.Name, err)
	}
	err = mi.Write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("netlab: write %s: %w", st.File, err)
	}
	st.InfoHash = mi.HashInfoBytes().HexString()
	return st, nil
}

// BuildTorrent hashes the file or directory at path into a v1 torrent
// named after it, with pieceLength-byte pieces (0: DefaultPieceLength),
// announcing to announce unless it is empty.
func BuildTorrent(path, announce string, pieceLength int64) (*metainfo.MetaInfo, error) {
	if pieceLength == 0 {
		pieceLength = DefaultPieceLength
	}
	info := metainfo.Info{PieceLength: pieceLength}
	if err := info.BuildFromFilePath(path); err != nil {
		return nil, fmt.Errorf("netlab: hash %s: %w", path, err)
	}
	ib, err := bencode.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("netlab: encode the info of %s: %w", path, err)
	}
	return &metainfo.MetaInfo{
		InfoBytes:    ib,
		Announce:     announce,
		CreatedBy:    "wgtorrent lab",
		CreationDate: time.Now().Unix(),
	}, nil
}

// WriteContent writes files of random bytes under dir and returns their
// total size.
func WriteContent(dir string, files []ContentFile) (int64, error) {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	rng := rand.NewChaCha8(seed)
	buf := make([]byte, 64<<10)
	var size int64
	for _, f := range files {
		if err := writeRandomFile(filepath.Join(dir, f.Path), f.Size, rng, buf); err != nil {
			return 0, fmt.Errorf("netlab: generate %s: %w", f.Path, err)
		}
		size += f.Size
	}
	return size, nil
}

func writeRandomFile(p string, size int64, rng *rand.ChaCha8, buf []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	fh, err := os.Create(p)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(fh, 1<<20)
	for left := size; left > 0; {
		n := min(int64(len(buf)), left)
		_, _ = rng.Read(buf[:n]) // ChaCha8.Read never fails
		if _, err := w.Write(buf[:n]); err != nil {
			fh.Close()
			return err
		}
		left -= n
	}
	if err := w.Flush(); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
