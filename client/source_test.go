package client

import (
	"encoding/base32"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestParseSource(t *testing.T) {
	hexHash := strings.Repeat("ab", 20)
	raw, _ := hex.DecodeString(hexHash)
	b32 := base32.StdEncoding.EncodeToString(raw)
	dir := t.TempDir()
	tests := []struct {
		in   string
		kind SourceKind
		id   TorrentID
		name string
	}{
		{"magnet:?xt=urn:btih:" + hexHash + "&dn=Ubuntu", SourceMagnet, TorrentID(hexHash), "Ubuntu"},
		{"  MAGNET:?xt=URN:BTIH:" + strings.ToUpper(hexHash) + " ", SourceMagnet, TorrentID(hexHash), ""},
		{"magnet:?xt=urn:btih:" + b32, SourceMagnet, TorrentID(hexHash), ""},
		{"magnet:?xt=urn:btih:" + strings.ToLower(b32), SourceMagnet, TorrentID(hexHash), ""},
		{strings.ToUpper(hexHash), SourceMagnet, TorrentID(hexHash), ""},
		{strings.ToLower(b32), SourceMagnet, TorrentID(hexHash), ""},
		{filepath.Join(dir, "x.torrent"), SourceFile, "", ""},
		{"~/x.torrent", SourceFile, "", ""},
		{"MAGNET:?dn=a&xt=urn:btih:" + hexHash, SourceMagnet, TorrentID(hexHash), "a"},
	}
	for _, tc := range tests {
		src, err := ParseSource(tc.in)
		if err != nil {
			t.Errorf("ParseSource(%q) = %v", tc.in, err)
			continue
		}
		if src.Kind() != tc.kind || src.ID() != tc.id || src.Name() != tc.name {
			t.Errorf("ParseSource(%q) = kind %d id %q name %q, want %d %q %q", tc.in, src.Kind(), src.ID(), src.Name(), tc.kind, tc.id, tc.name)
		}
	}
}

func TestParseSourceErrors(t *testing.T) {
	hexHash := strings.Repeat("ab", 20)
	tests := []struct{ in, want string }{
		{"", "enter a magnet link"},
		{"magnet:xt=urn:btih:" + hexHash, "starts with magnet:?"},
		{"magnet:?dn=x", "no BitTorrent v1 info hash"},
		{"magnet:?xt=urn:btih:" + hexHash[:39], "must be 40 hex or 32 base32 digits"},
		{"magnet:?xt=urn:btih:%zz", "not well formed"},
		{"magnet:?xt=urn:btmh:1220abcd", "no BitTorrent v1 info hash"},
		{"magnet:?xt=urn:btih:" + strings.Repeat("g", 40), "must be 40 hex or 32 base32 digits"},
	}
	for _, tc := range tests {
		_, err := ParseSource(tc.in)
		var in *InputError
		if !errors.As(err, &in) || !strings.Contains(in.Reason, tc.want) {
			t.Errorf("ParseSource(%q) = %v, want an InputError saying %q", tc.in, err, tc.want)
			continue
		}
		if n := strings.Count(err.Error(), "client: "); n != 1 {
			t.Errorf("ParseSource(%q) = %q: the package named %d times", tc.in, err, n)
		}
	}
}

// TestLoadRefuses: what is not a .torrent file is said so, once, without
// reading more than a .torrent can be.
func TestLoadRefuses(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.torrent")
	if err := os.WriteFile(junk, []byte("not bencode"), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.torrent") // nobody writes: opening it must not block
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{fifo, "not a regular file"},
		{filepath.Join(dir, "missing.torrent"), "not a magnet link, an info hash, or an existing .torrent file"},
		{dir, "is a directory"},
		{"/dev/zero", "not a regular file"},
		{junk, `torrent file "` + junk + `": not a valid .torrent file`},
	}
	for _, tc := range tests {
		src, err := ParseSource(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Load()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want it to say %q", tc.path, err, tc.want)
		}
		if err != nil && strings.Count(err.Error(), "client: ") != 1 {
			t.Errorf("Load(%s) = %q: the package named more than once", tc.path, err)
		}
	}
}

// FuzzParseSource: whatever a magnet link holds, ParseSource accepts it
// with an info hash or refuses it saying why, once, and never panics.
func FuzzParseSource(f *testing.F) {
	f.Add("magnet:?xt=urn:btih:" + strings.Repeat("ab", 20))
	f.Add("magnet:?xt=urn:btih:%zz")
	f.Add("magnet:?xt=urn:btih:" + strings.Repeat("A", 32) + "&xt=urn:btih:" + strings.Repeat("b", 40))
	f.Fuzz(func(t *testing.T, s string) {
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "magnet:") {
			return // paths would touch the file system
		}
		src, err := ParseSource(s)
		var in *InputError
		switch {
		case err == nil && src.ID() == "":
			t.Errorf("accepted %q without an info hash", s)
		case err != nil && !errors.As(err, &in):
			t.Errorf("refused %q without an InputError: %v", s, err)
		}
	})
}
