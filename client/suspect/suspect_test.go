package suspect

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestNames runs the naming tricks seen on public trackers, and the
// ordinary torrents that must stay quiet.
func TestNames(t *testing.T) {
	const mib = 1 << 20
	type want map[string]Code // path: code; every other file unflagged
	for _, tc := range []struct {
		name    string
		torrent string
		files   []File
		want    want
		reason  map[string]string // path: a part of the reason
	}{
		{
			name:    "double extension in a film",
			torrent: "Movie.2026.1080p.WEB-DL.x264-GRP",
			files: []File{
				{"Movie.2026.1080p.WEB-DL.x264-GRP/Movie.2026.1080p.mkv.exe", 2 * mib},
				{"Movie.2026.1080p.WEB-DL.x264-GRP/Sample/sample.mkv", 30 * mib},
				{"Movie.2026.1080p.WEB-DL.x264-GRP/Movie.nfo", 4000},
				{"Movie.2026.1080p.WEB-DL.x264-GRP/Subs/English.srt", 90000},
				{"Movie.2026.1080p.WEB-DL.x264-GRP/cover.jpg", 200000},
			},
			want:   want{"Movie.2026.1080p.WEB-DL.x264-GRP/Movie.2026.1080p.mkv.exe": CodeDoubleExtension},
			reason: map[string]string{"Movie.2026.1080p.WEB-DL.x264-GRP/Movie.2026.1080p.mkv.exe": "a Windows program (.exe) made to look like a video (.mkv)"},
		},
		{
			name:    "double extensions hiding screen savers and shortcuts",
			torrent: "Show S01E02",
			files: []File{
				{"Show S01E02/video.mp4.scr", mib},
				{"Show S01E02/clip.avi.lnk", 2000},
				{"Show S01E02/poster.jpg.js", 2000},
				{"Show S01E02/episode.mkv", 700 * mib},
			},
			want: want{"Show S01E02/video.mp4.scr": CodeDoubleExtension, "Show S01E02/clip.avi.lnk": CodeDoubleExtension,
				"Show S01E02/poster.jpg.js": CodeDoubleExtension},
		},
		{
			name:    "padding pushes the extension out of sight; case; trailing dots",
			torrent: "stuff",
			files: []File{
				{"stuff/clip.mp4                    .scr", mib},
				{"stuff/film.mkv_-_.exe", mib},
				{"stuff/Movie.MKV.ExE", mib},
				{"stuff/movie.avi.exe. . .", mib},
				{"stuff/notes.txt", 100},
			},
			want: want{"stuff/clip.mp4                    .scr": CodeDoubleExtension, "stuff/film.mkv_-_.exe": CodeDoubleExtension,
				"stuff/Movie.MKV.ExE": CodeDoubleExtension, "stuff/movie.avi.exe. . .": CodeDoubleExtension},
			reason: map[string]string{"stuff/movie.avi.exe. . .": "Windows drops"},
		},
		{
			name:    "right-to-left override",
			torrent: "film",
			files: []File{
				{"film/film\u202Evkm.exe", mib},
				{"film/cool\u202Egpj.scr", mib},
				{"film/plain\u200F.txt", 10},
				{"film/a\u202Eb/readme.txt", 10},
			},
			want: want{"film/film\u202Evkm.exe": CodeBidi, "film/cool\u202Egpj.scr": CodeBidi,
				"film/plain\u200F.txt": CodeBidi, "film/a\u202Eb/readme.txt": CodeBidi},
			reason: map[string]string{"film/film\u202Evkm.exe": `shown as "filmexe.mkv", it is a Windows program (.exe)`,
				"film/cool\u202Egpj.scr": `"coolrcs.jpg"`, "film/a\u202Eb/readme.txt": "a folder"},
		},
		{
			name:    "programs of every system in a video torrent",
			torrent: "Film.2025.720p.BluRay",
			files: []File{
				{"Film.2025.720p.BluRay/film.mkv", 900 * mib},
				{"Film.2025.720p.BluRay/a.pif", 1}, {"Film.2025.720p.BluRay/b.com", 1}, {"Film.2025.720p.BluRay/c.cpl", 1},
				{"Film.2025.720p.BluRay/d.hta", 1}, {"Film.2025.720p.BluRay/e.wsf", 1}, {"Film.2025.720p.BluRay/f.ps1", 1},
				{"Film.2025.720p.BluRay/g.vbe", 1}, {"Film.2025.720p.BluRay/h.jse", 1}, {"Film.2025.720p.BluRay/i.reg", 1},
				{"Film.2025.720p.BluRay/j.apk", 1}, {"Film.2025.720p.BluRay/k.dmg", 1}, {"Film.2025.720p.BluRay/l.pkg", 1},
				{"Film.2025.720p.BluRay/m.deb", 1}, {"Film.2025.720p.BluRay/n.sh", 1}, {"Film.2025.720p.BluRay/o.run", 1},
				{"Film.2025.720p.BluRay/p.AppImage", 1}, {"Film.2025.720p.BluRay/q.desktop", 1}, {"Film.2025.720p.BluRay/r.msi", 1},
				{"Film.2025.720p.BluRay/s.jar", 1}, {"Film.2025.720p.BluRay/t.bat", 1}, {"Film.2025.720p.BluRay/u.cmd", 1},
				{"Film.2025.720p.BluRay/v.vbs", 1}, {"Film.2025.720p.BluRay/w.url", 1},
				{"Film.2025.720p.BluRay/Player.app/Contents/MacOS/Player", 1},
				{"Film.2025.720p.BluRay/Subs/en.srt", 1}, {"Film.2025.720p.BluRay/film.nfo", 1},
			},
			want: want{
				"Film.2025.720p.BluRay/a.pif": CodeShortcut, "Film.2025.720p.BluRay/b.com": CodeExecutable,
				"Film.2025.720p.BluRay/c.cpl": CodeExecutable, "Film.2025.720p.BluRay/d.hta": CodeExecutable,
				"Film.2025.720p.BluRay/e.wsf": CodeExecutable, "Film.2025.720p.BluRay/f.ps1": CodeExecutable,
				"Film.2025.720p.BluRay/g.vbe": CodeExecutable, "Film.2025.720p.BluRay/h.jse": CodeExecutable,
				"Film.2025.720p.BluRay/i.reg": CodeExecutable, "Film.2025.720p.BluRay/j.apk": CodeExecutable,
				"Film.2025.720p.BluRay/k.dmg": CodeExecutable, "Film.2025.720p.BluRay/l.pkg": CodeExecutable,
				"Film.2025.720p.BluRay/m.deb": CodeExecutable, "Film.2025.720p.BluRay/n.sh": CodeExecutable,
				"Film.2025.720p.BluRay/o.run": CodeExecutable, "Film.2025.720p.BluRay/p.AppImage": CodeExecutable,
				"Film.2025.720p.BluRay/q.desktop": CodeExecutable, "Film.2025.720p.BluRay/r.msi": CodeExecutable,
				"Film.2025.720p.BluRay/s.jar": CodeExecutable, "Film.2025.720p.BluRay/t.bat": CodeExecutable,
				"Film.2025.720p.BluRay/u.cmd": CodeExecutable, "Film.2025.720p.BluRay/v.vbs": CodeExecutable,
				"Film.2025.720p.BluRay/w.url":                            CodeExecutable,
				"Film.2025.720p.BluRay/Player.app/Contents/MacOS/Player": CodeExecutable,
			},
			reason: map[string]string{"Film.2025.720p.BluRay/o.run": "a Linux program (.run) in a video torrent"},
		},
		{
			name:    "software: programs are normal, tricks are not",
			torrent: "GIMP 2.10.38",
			files: []File{
				{"GIMP 2.10.38/gimp-2.10.38-setup.exe", 300 * mib},
				{"GIMP 2.10.38/readme.txt", 3000},
				{"GIMP 2.10.38/Visit website.url", 100},
				{"GIMP 2.10.38/install.sh", 1000},
				{"GIMP 2.10.38/gimp.desktop", 300},
				{"GIMP 2.10.38/tutorial.mp4", 20 * mib},
				{"GIMP 2.10.38/Start GIMP.lnk", 1000},
				{"GIMP 2.10.38/Movie.2026.1080p.WEB-DL.exe", 1000},
			},
			want: want{"GIMP 2.10.38/Start GIMP.lnk": CodeShortcut, "GIMP 2.10.38/Movie.2026.1080p.WEB-DL.exe": CodeNamedLikeMedia},
		},
		{
			name:    "a game with cutscenes stays quiet",
			torrent: "Some Game-CODEX",
			files: []File{
				{"Some Game-CODEX/setup.exe", 5 * mib}, {"Some Game-CODEX/data1.bin", 4000 * mib},
				{"Some Game-CODEX/intro.mp4", 300 * mib}, {"Some Game-CODEX/codex.nfo", 3000},
			},
		},
		{
			name:    "media by its bytes: an unmarked name, mostly video",
			torrent: "Holiday clips",
			files:   []File{{"Holiday clips/big.mp4", 1000 * mib}, {"Holiday clips/player.exe", mib}},
			want:    want{"Holiday clips/player.exe": CodeExecutable},
		},
		{
			name:    "largest file an archive, a codec archive, a password file",
			torrent: "Movie.2026.2160p.BluRay.x265",
			files: []File{
				{"Movie.2026.2160p.BluRay.x265/Movie.2026.2160p.zip", 3000 * mib},
				{"Movie.2026.2160p.BluRay.x265/Codec.zip", mib},
				{"Movie.2026.2160p.BluRay.x265/PASSWORD.txt", 50},
				{"Movie.2026.2160p.BluRay.x265/readme.txt", 50},
			},
			want: want{"Movie.2026.2160p.BluRay.x265/Movie.2026.2160p.zip": CodeNotMedia,
				"Movie.2026.2160p.BluRay.x265/Codec.zip":    CodeInstallerName,
				"Movie.2026.2160p.BluRay.x265/PASSWORD.txt": CodePasswordFile},
			reason: map[string]string{"Movie.2026.2160p.BluRay.x265/Movie.2026.2160p.zip": "named as a video release (2160p) but its largest file is an archive (.zip)"},
		},
		{
			name:    "scene RAR sets are the usual packing",
			torrent: "Movie.2026.1080p.BluRay.x264-GRP",
			files: []File{
				{"Movie.2026.1080p.BluRay.x264-GRP/grp-movie.rar", 50 * mib},
				{"Movie.2026.1080p.BluRay.x264-GRP/grp-movie.r00", 50 * mib},
				{"Movie.2026.1080p.BluRay.x264-GRP/grp-movie.r01", 50 * mib},
				{"Movie.2026.1080p.BluRay.x264-GRP/grp-movie.nfo", 3000},
				{"Movie.2026.1080p.BluRay.x264-GRP/grp-movie.sfv", 300},
			},
		},
		{
			name:    "partN.rar sets too",
			torrent: "Show.S02E05.720p.HDTV",
			files: []File{
				{"Show.S02E05.720p.HDTV/show.part01.rar", 100 * mib},
				{"Show.S02E05.720p.HDTV/show.part02.rar", 100 * mib},
			},
		},
		{
			name:    "music with a program",
			torrent: "Artist - Album (2020) [FLAC 24bit]",
			files: []File{
				{"Artist - Album (2020) [FLAC 24bit]/01 - Intro.flac", 30 * mib},
				{"Artist - Album (2020) [FLAC 24bit]/cover.jpg", mib},
				{"Artist - Album (2020) [FLAC 24bit]/album.exe", mib},
			},
			want:   want{"Artist - Album (2020) [FLAC 24bit]/album.exe": CodeExecutable},
			reason: map[string]string{"Artist - Album (2020) [FLAC 24bit]/album.exe": "in a music torrent"},
		},
		{
			name:    "disk images and ordinary downloads",
			torrent: "Movie 1080p BluRay",
			files:   []File{{"Movie 1080p BluRay/Movie.iso", 40000 * mib}, {"Movie 1080p BluRay/Movie.nfo", 100}},
		},
		{name: "an operating system image", torrent: "ubuntu-24.04-desktop-amd64.iso", files: []File{{"ubuntu-24.04-desktop-amd64.iso", 5000 * mib}}},
		{name: "a source tarball", torrent: "linux-6.9.tar.xz", files: []File{{"linux-6.9.tar.xz", 137 * mib}}},
		{
			name:    "a single file named as a video is a media torrent",
			torrent: "Movie.2026.mkv",
			files:   []File{{"Movie.2026.mkv", 900 * mib}},
		},
		{
			name:    "padding files are not files",
			torrent: "Movie.2026.1080p",
			files:   []File{{"Movie.2026.1080p/movie.mkv", 900 * mib}, {"Movie.2026.1080p/.pad/1234", 1234}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Names(tc.torrent, tc.files)
			flagged := map[string]Finding{}
			for _, f := range got {
				p := tc.files[f.File].Path
				if _, dup := flagged[p]; dup {
					t.Errorf("%q flagged twice", p)
				}
				flagged[p] = f
			}
			for _, f := range tc.files {
				g, ok := flagged[f.Path]
				w := tc.want[f.Path]
				switch {
				case w == "" && ok:
					t.Errorf("%q flagged %s (%s), want nothing", f.Path, g.Code, g.Reason)
				case w != "" && !ok:
					t.Errorf("%q not flagged, want %s", f.Path, w)
				case w != "" && g.Code != w:
					t.Errorf("%q flagged %s (%s), want %s", f.Path, g.Code, g.Reason, w)
				}
				if part := tc.reason[f.Path]; part != "" && !strings.Contains(g.Reason, part) {
					t.Errorf("%q: reason %q lacks %q", f.Path, g.Reason, part)
				}
			}
		})
	}
}

func TestMedia(t *testing.T) {
	for name, want := range map[string]bool{
		"Movie.2026.1080p.WEB-DL.x264-GRP":  true,
		"Show.S01E02.HDTV":                  true,
		"Show s3e12":                        true,
		"Film (2020) [2160p HDR10+ HEVC]":   true,
		"Artist - Album [FLAC]":             true,
		"Artist - Album (320kbps)":          true,
		"Artist - Discography":              true,
		"Clip.webm":                         true,
		"GIMP 2.10.38":                      false,
		"MP3 Converter Pro 5.2":             false,
		"Some Game-CODEX":                   false,
		"ubuntu-24.04-desktop-amd64.iso":    false,
		"Photoshop 1080 templates":          false,
		"x2640 firmware":                    false,
		"Remuxer Tool 1.0 (remuxes videos)": false,
	} {
		if got := Media(name, []File{{name + "/a.bin", 10}}); got != want {
			t.Errorf("Media(%q) = %v, want %v", name, got, want)
		}
	}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// tinyPE is a DOS header pointing at a PE signature, as the smallest
// Windows programs begin.
func tinyPE() []byte {
	b := make([]byte, 256)
	copy(b, "MZ")
	b[0x3c] = 0x80
	copy(b[0x80:], "PE\x00\x00\x4c\x01")
	return b
}

// rar5 builds a RAR 5 archive's first headers: each is (type, flags,
// body, extra area).
func rar5(headers ...[]any) []byte {
	vint := func(v int) []byte {
		var out []byte
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				out = append(out, c|0x80)
				continue
			}
			return append(out, c)
		}
	}
	b := []byte("Rar!\x1a\x07\x01\x00")
	for _, h := range headers {
		typ, flags, body, extra := h[0].(int), h[1].(int), h[2].([]byte), h[3].([]byte)
		data := append(vint(typ), vint(flags)...)
		if flags&1 != 0 {
			data = append(data, vint(len(extra))...)
		}
		if flags&2 != 0 {
			data = append(data, vint(1000)...)
		}
		data = append(append(data, body...), extra...)
		b = append(append(append(b, 0, 0, 0, 0), vint(len(data))...), data...)
	}
	return b
}

func TestHead(t *testing.T) {
	// zip -P secret enc.zip codec.txt (Info-ZIP 3.0): its first 32 bytes.
	encZip := mustHex("504b0304 0a000900 0000aea3 835d2030 3a361200 00000600 00000900 1c00636f")
	plainZip := mustHex("504b0304 0a000000 0000aea3 835d2030 3a360600 00000600 00000900 1c00636f")
	// RAR 4: the marker, a main header, a file header (flags 0x8004:
	// long block, LHD_PASSWORD).
	rar4 := func(mainFlags, fileFlags uint16) []byte {
		b := []byte("Rar!\x1a\x07\x00")
		b = append(b, 0, 0, 0x73, byte(mainFlags), byte(mainFlags>>8), 13, 0, 0, 0, 0, 0, 0, 0)
		return append(b, 0, 0, 0x74, byte(fileFlags), byte(fileFlags>>8), 40, 0)
	}
	mainHdr := []any{1, 0, []byte{0}, []byte(nil)}
	fileBody := []byte{0, 5, 0, 0, 0, 0, 0, 1, 'a'} // flags, size, attrs, compression, host OS, name
	ts := make([]byte, 400)
	ts[0], ts[188] = 0x47, 0x47
	for _, tc := range []struct {
		path  string
		head  []byte
		media bool
		want  Code // "" = no finding
		part  string
	}{
		{"film.mkv", tinyPE(), false, CodeContent, "named as a video (.mkv) but its content is a Windows program"},
		{"sample.mkv", []byte("\x7fELF\x02\x01\x01\x00\x00\x00"), false, CodeContent, "Linux program (ELF)"},
		{"clip.mp4", mustHex("cffaedfe0c000001"), false, CodeContent, "Mach-O"},
		{"clip.mp4", mustHex("cafebabe00000002"), false, CodeContent, "Java"},
		{"clip.avi", []byte("#!/bin/sh\nrm -rf ~\n"), false, CodeContent, "script"},
		{"clip.avi", []byte("#! /usr/bin/env python3\n"), false, CodeContent, "script"},
		{"sample.mkv", plainZip, false, CodeContent, "a ZIP archive"},
		{"song.mp3", []byte("Rar!\x1a\x07\x00zzzzzzzzzz"), false, CodeContent, "RAR"},
		{"poster.jpg", mustHex("4c000000 01140200 00000000 c0000000 00000046"), false, CodeContent, "shortcut"},
		{"film.mkv", mustHex("d0cf11e0a1b11ae1 0000000000000000"), false, CodeContent, "installer"},
		{"subs/en.srt", tinyPE(), false, CodeContent, "Windows program"},
		{"Movie.nfo", []byte("\x7fELF"), false, CodeContent, "ELF"},
		{"book.pdf", tinyPE(), false, CodeContent, "a document (.pdf)"},
		{"Codec.zip", tinyPE(), false, CodeContent, "named as an archive (.zip) but its content is a Windows program"},
		{"Codec.zip", encZip, true, CodeEncrypted, "ZIP archive protected by a password"},
		{"movie.rar", rar4(0, 0x8004), true, CodeEncrypted, "RAR"},
		{"movie.rar", rar4(0x0080, 0), true, CodeEncrypted, "RAR"},
		{"movie.rar", rar5([]any{4, 0, []byte{0, 0}, []byte(nil)}), true, CodeEncrypted, "RAR"},
		{"movie.rar", rar5(mainHdr, []any{2, 3, fileBody, []byte{2, 1}}), true, CodeEncrypted, "RAR"},

		// What things are.
		{"film.mkv", []byte("\x1a\x45\xdf\xa3\x93\x42\x82\x88matroska"), false, "", ""},
		{"film.webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm"), false, "", ""},
		{"film.mp4", []byte("\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"), false, "", ""},
		{"film.mov", []byte("\x00\x00\x00\x14ftypqt  "), false, "", ""},
		{"film.avi", []byte("RIFF\x00\x10\x00\x00AVI LIST"), false, "", ""},
		{"film.ts", ts, false, "", ""},
		{"film.wmv", mustHex("3026b2758e66cf11a6d900aa0062ce6c"), false, "", ""},
		{"film.mpg", mustHex("000001ba44000400"), false, "", ""},
		{"song.mp3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), false, "", ""},
		{"song.mp3", mustHex("fffb9064"), false, "", ""},
		{"song.flac", []byte("fLaC\x00\x00\x00\x22"), false, "", ""},
		{"song.ogg", []byte("OggS\x00\x02"), false, "", ""},
		{"song.wav", []byte("RIFF\x24\x08\x00\x00WAVEfmt "), false, "", ""},
		{"cover.jpg", mustHex("ffd8ffe000104a464946"), false, "", ""},
		{"cover.png", []byte("\x89PNG\r\n\x1a\n\x00\x00"), false, "", ""},
		{"subs/en.srt", []byte("1\n00:00:01,000 --> 00:00:04,000\nHello\n"), false, "", ""},
		{"readme.txt", []byte("#!/bin/sh is how scripts begin\n"), false, "", ""}, // a text about scripts: harmless
		{"readme.txt", []byte("MZ was the DOS signature, Mark Zbikowski's initials.\n"), false, "", ""},
		{"book.pdf", []byte("%PDF-1.7\n"), false, "", ""},
		{"book.epub", plainZip, false, "", ""},
		{"doc.doc", mustHex("d0cf11e0a1b11ae1"), false, "", ""},
		{"Codec.zip", encZip, false, "", ""}, // not a media torrent
		{"Codec.zip", plainZip, true, "", ""},
		{"movie.rar", rar4(0, 0x8000), true, "", ""},
		{"movie.rar", rar5(mainHdr, []any{2, 3, fileBody, []byte{2, 2}}), true, "", ""},
		{"setup.exe", tinyPE(), false, "", ""},                  // says what it is
		{"data.bin", []byte("\x7fELF"), false, "", ""},          // claims nothing
		{"film.mkv", []byte("\x00\x01\x02\x03"), false, "", ""}, // unknown: left alone
		{"film.mkv", nil, false, "", ""},
	} {
		f, ok := Head(tc.path, tc.head, tc.media)
		switch {
		case tc.want == "" && ok:
			t.Errorf("Head(%s, %x) = %s (%s), want nothing", tc.path, tc.head[:min(len(tc.head), 16)], f.Code, f.Reason)
		case tc.want != "" && (!ok || f.Code != tc.want):
			t.Errorf("Head(%s, %x) = %v %q, want %s", tc.path, tc.head[:min(len(tc.head), 16)], ok, f.Reason, tc.want)
		case ok && !strings.Contains(f.Reason, tc.part):
			t.Errorf("Head(%s): reason %q lacks %q", tc.path, f.Reason, tc.part)
		}
	}
}

func TestCheckable(t *testing.T) {
	for p, want := range map[string]bool{
		"a/film.mkv": true, "a/song.flac": true, "a/en.srt": true, "a/x.nfo": true, "a/b.pdf": true, "a/c.zip": true, "a/cover.jpg": true,
		"a/setup.exe": false, "a/data.bin": false, "a/disk.iso": false, "a/.pad/12": false, "a/X.app/Contents/Info.plist": false,
	} {
		if got := Checkable(p); got != want {
			t.Errorf("Checkable(%q) = %v, want %v", p, got, want)
		}
	}
}

// FuzzHead: any bytes under any name are judged without panicking.
func FuzzHead(f *testing.F) {
	f.Add("movie.rar", []byte("Rar!\x1a\x07\x01\x00\x00\x00\x00\x00\xff\xff\xff\xff\x0f"))
	f.Add("movie.rar", []byte("Rar!\x1a\x07\x00\x00\x00\x73\x00\x00\xff\xff"))
	f.Add("film.mkv", tinyPE())
	f.Fuzz(func(t *testing.T, p string, head []byte) {
		Head(p, head, true)
		Names(p, []File{{p, int64(len(head))}})
	})
}
