//go:build linux

package netlab

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

func TestMakeTorrent(t *testing.T) {
	dir := t.TempDir()
	files := []ContentFile{{Path: "a.bin", Size: 300<<10 + 1}, {Path: "sub/b.bin", Size: 7}}
	st, err := MakeTorrent(dir, TorrentSpec{Name: "content", Files: files, Announce: "http://198.18.3.2:6969/announce"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Root != filepath.Join(dir, "seed") || st.File != filepath.Join(dir, "content.torrent") || st.Size != 300<<10+8 {
		t.Errorf("torrent %+v", st)
	}
	for _, f := range files {
		fi, err := os.Stat(filepath.Join(st.Root, st.Name, f.Path))
		if err != nil || fi.Size() != f.Size {
			t.Errorf("%s: %v, %v bytes, want %d", f.Path, err, fi, f.Size)
		}
	}
	mi, err := metainfo.LoadFromFile(st.File)
	if err != nil {
		t.Fatal(err)
	}
	info := infoOf(t, mi)
	if mi.HashInfoBytes().HexString() != st.InfoHash || mi.Announce != "http://198.18.3.2:6969/announce" {
		t.Errorf("metainfo: info hash %s, announce %q; want %s", mi.HashInfoBytes().HexString(), mi.Announce, st.InfoHash)
	}
	if info.Name != "content" || info.PieceLength != DefaultPieceLength || len(info.Files) != 2 || info.TotalLength() != st.Size || info.NumPieces() != 2 {
		t.Errorf("info: name %q, piece length %d, %d files, %d bytes, %d pieces", info.Name, info.PieceLength, len(info.Files), info.TotalLength(), info.NumPieces())
	}
	// Hashed again, the content gives the same info hash: the info holds
	// nothing but the data's layout and pieces.
	again, err := BuildTorrent(filepath.Join(st.Root, st.Name), mi.Announce, 0)
	if err != nil {
		t.Fatal(err)
	}
	if again.HashInfoBytes() != mi.HashInfoBytes() {
		t.Error("the same content hashed again gives another info hash")
	}
}

func TestBuildTorrentSingleFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteContent(dir, []ContentFile{{Path: "one.bin", Size: 64 << 10}}); err != nil {
		t.Fatal(err)
	}
	mi, err := BuildTorrent(filepath.Join(dir, "one.bin"), "", 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	info := infoOf(t, mi)
	if mi.Announce != "" || info.Name != "one.bin" || len(info.Files) != 0 || info.Length != 64<<10 || info.NumPieces() != 4 {
		t.Errorf("announce %q, info %q: %d files, %d bytes, %d pieces", mi.Announce, info.Name, len(info.Files), info.Length, info.NumPieces())
	}
}

func infoOf(t *testing.T, mi *metainfo.MetaInfo) metainfo.Info {
	t.Helper()
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	return info
}
