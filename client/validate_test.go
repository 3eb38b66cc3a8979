package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/anacrolix/torrent/metainfo"
)

func TestValidateInfo(t *testing.T) {
	hashes := func(n int) []byte { return make([]byte, 20*n) }
	single := func(length, pl int64, pieces int) metainfo.Info {
		return metainfo.Info{Name: "x", Length: length, PieceLength: pl, Pieces: hashes(pieces)}
	}
	files := func(n int, depth int) metainfo.Info {
		info := metainfo.Info{Name: "d", PieceLength: 16 << 10}
		path := make([]string, depth)
		for i := range path {
			path[i] = "p"
		}
		for range n {
			info.Files = append(info.Files, metainfo.FileInfo{Length: 1, Path: path})
		}
		info.Pieces = hashes(int((int64(n) + info.PieceLength - 1) / info.PieceLength))
		return info
	}
	for _, tc := range []struct {
		name  string
		info  metainfo.Info
		field string // "" = accepted; else the field the error names
		limit string // what the error must say about the limit
	}{
		{"ordinary", single(5000, 16<<10, 1), "", ""},
		{"several pieces", single(3<<20+1, 1<<20, 4), "", ""},
		{"largest piece length", single(1, MaxPieceLength, 1), "", ""},
		{"issue 18: piece length 2^40", single(5000, 1<<40, 1), "piece length", "268435456"},
		{"piece length zero", single(5000, 0, 1), "piece length", "positive"},
		{"piece length negative", single(5000, -16384, 1), "piece length", "positive"},
		{"piece length above 256 MiB", single(5000, MaxPieceLength*2, 1), "piece length", "268435456"},
		{"piece length not a multiple of 16 KiB", single(5000, 16<<10+1, 1), "piece length", "16384"},
		{"too few piece hashes", single(3<<20, 1<<20, 2), "pieces", "need 3"},
		{"too many piece hashes", single(1<<20, 1<<20, 2), "pieces", "need 1"},
		{"torn hash", metainfo.Info{Name: "x", Length: 1, PieceLength: 16 << 10, Pieces: make([]byte, 21)}, "pieces", "20-byte"},
		{"no data", single(0, 16<<10, 0), "length", "no data"},
		{"negative length", single(-1, 16<<10, 0), "length", "0.."},
		{"length above 16 TiB", single(MaxTotalLength+1, MaxPieceLength, 65537), "length", "17592186044416"},
		{"name too long", metainfo.Info{Name: strings.Repeat("n", 256), Length: 1, PieceLength: 16 << 10, Pieces: hashes(1)}, "name", "255"},
		{"many files", files(1000, 1), "", ""},
		{"too many files", files(MaxFiles+1, 1), "files", "131072"},
		{"deep path", files(1, MaxPathDepth), "", ""},
		{"too deep a path", files(1, MaxPathDepth+1), "files", "64"},
		{"empty path", metainfo.Info{Name: "d", PieceLength: 16 << 10, Pieces: hashes(1), Files: []metainfo.FileInfo{{Length: 1}}}, "files", "empty path"},
		{"path component too long", metainfo.Info{Name: "d", PieceLength: 16 << 10, Pieces: hashes(1), Files: []metainfo.FileInfo{{Length: 1, Path: []string{strings.Repeat("c", 256)}}}}, "files", "255"},
		{"negative file length", metainfo.Info{Name: "d", PieceLength: 16 << 10, Pieces: hashes(1), Files: []metainfo.FileInfo{{Length: 2, Path: []string{"a"}}, {Length: -1, Path: []string{"b"}}}}, "files", "negative"},
		{"file lengths overflowing int64", metainfo.Info{Name: "d", PieceLength: 16 << 10, Pieces: hashes(1), Files: []metainfo.FileInfo{{Length: 1 << 62, Path: []string{"a"}}, {Length: 1 << 62, Path: []string{"b"}}}}, "files", "17592186044416"},
		{"length and files", metainfo.Info{Name: "d", Length: 1, PieceLength: 16 << 10, Pieces: hashes(1), Files: []metainfo.FileInfo{{Length: 1, Path: []string{"a"}}}}, "length", "files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateInfo(&tc.info)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ie *InfoError
			if !errors.As(err, &ie) || !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want an *InfoError", err)
			}
			if ie.Field != tc.field || !strings.Contains(err.Error(), tc.limit) {
				t.Errorf("err = %v; want field %q and %q in the message", err, tc.field, tc.limit)
			}
		})
	}
}

func TestValidateInfoNil(t *testing.T) {
	if err := ValidateInfo(nil); !errors.Is(err, ErrRefused) {
		t.Errorf("ValidateInfo(nil) = %v", err)
	}
}
