// Package suspect tells which files of a torrent are not what their names
// say: programs, scripts and shortcuts dressed as videos, and files whose
// first bytes contradict their extension. It is pure: it reads names and
// lengths (Names) and, once a file's first bytes are verified, at most
// HeadSize of them (Head). It never runs or opens anything as what it
// claims to be.
//
// # What is flagged
//
// By name, as soon as the metainfo is known (Names):
//   - rtl-override: a bidirectional control character (U+202E and kin) in
//     any part of a path. "film\u202Evkm.exe" displays as "filmexe.mkv";
//     no legitimate name needs one.
//   - double-extension: a program, script, installer or shortcut extension
//     after a media, text, document or archive one ("Movie.mkv.exe",
//     "clip.mp4    .scr"): Windows hides the last one. Trailing dots and
//     spaces, which Windows drops, are dropped first ("movie.mkv.exe.").
//     Extensions are compared without case (".ExE").
//   - shortcut: .lnk, .scf and .pif anywhere: they run a command when
//     opened, and a torrent has no use for one.
//   - named-like-media: a program whose own name carries video release
//     markers ("Movie.2026.1080p.WEB-DL.exe"), in any torrent.
//   - In a media torrent only: executable (any program, script, installer,
//     package or shortcut), installer-name (an archive named like a codec,
//     player or installer), password-file (a "password" file beside an
//     archive: the usual lure to a site that serves malware), not-media
//     (the largest file is an archive or a program).
//
// By content, as the pieces holding a file's first bytes are verified
// (Head):
//   - content: a file named as video, audio, image, subtitle, text or
//     document whose bytes are a program (PE "MZ", ELF, Mach-O, Java
//     class, a shebang script), a Windows shortcut or an OLE installer; for
//     media, images and text also an archive. An archive whose bytes are a
//     program.
//   - encrypted-archive: in a media torrent, a password-protected ZIP or
//     RAR (the flag is in their first header; 7z hides it at the end of
//     the file, so it is not seen).
//
// # Keeping false positives low
//
// A program is suspicious where it does not belong. A media torrent is one
// whose name carries release markers (720p, x264, HEVC, WEB-DL, BluRay,
// S01E02, FLAC, 320kbps...) or ends in a video or audio extension, or
// whose bytes are at least half video and audio files. A torrent that is
// none of these (software, games, operating system images) may hold
// programs: there only the tricks that are never legitimate are flagged
// (bidi overrides, double extensions, shortcuts, programs named like
// releases, content that contradicts its name). Subtitles, .nfo, .txt,
// samples and cover images are normal in media torrents. Multi-volume RAR
// sets (.rar with .r00, or .partN.rar) are the scene's usual packing of
// films and are not flagged by name; their first bytes are still checked.
// Content is flagged only when a signature of the wrong kind is
// recognised: an unknown container under a video name is left alone. Disk
// images (.iso, .img) are not flagged: Blu-ray and DVD images are common.
// BEP 47 padding files (".pad/N") are ignored.
package suspect

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Code names a rule; it is stable, for programs that read findings.
type Code string

const (
	CodeBidi            Code = "rtl-override"
	CodeDoubleExtension Code = "double-extension"
	CodeShortcut        Code = "shortcut"
	CodeNamedLikeMedia  Code = "named-like-media"
	CodeExecutable      Code = "executable"
	CodeInstallerName   Code = "installer-name"
	CodePasswordFile    Code = "password-file"
	CodeNotMedia        Code = "not-media"
	CodeContent         Code = "content"
	CodeEncrypted       Code = "encrypted-archive"
)

// File is one file of a torrent: its path as the metainfo has it, parts
// joined by "/" (for a multi-file torrent the torrent's name first).
type File struct {
	Path   string
	Length int64
}

// Finding is one suspicious file.
type Finding struct {
	File   int    `json:"file"` // index in the files given to Names; -1 from Head
	Code   Code   `json:"code"`
	Reason string `json:"reason"` // for people
}

// Kind is what a file is, by its extension (Claim) or its bytes (Detect).
type Kind uint8

const (
	KindUnknown Kind = iota
	KindVideo
	KindAudio
	KindImage
	KindSubtitle
	KindText
	KindDocument
	KindArchive
	KindDiskImage
	KindProgram   // native code: PE, ELF, Mach-O, Java, Android, macOS apps
	KindScript    // run by an interpreter: batch, VBScript, shell, PowerShell...
	KindInstaller // an installer or a package (MSI, .deb, .dmg...)
	KindShortcut  // runs a command or opens a location (.lnk, .url, .desktop)
)

// runs: opening the file may run code.
func (k Kind) runs() bool { return k >= KindProgram }

// Media is video or audio.
func (k Kind) Media() bool { return k == KindVideo || k == KindAudio }

// ext is what an extension claims.
type ext struct {
	kind Kind
	what string // "a Windows program": for reasons
}

var exts = map[string]ext{}

func init() {
	add := func(k Kind, what string, names ...string) {
		for _, n := range names {
			exts[n] = ext{k, what}
		}
	}
	add(KindVideo, "a video", "mkv", "mk3d", "webm", "mp4", "m4v", "mov", "avi", "wmv", "asf", "flv", "f4v",
		"mpg", "mpeg", "mpe", "m2v", "ts", "m2ts", "mts", "vob", "ogv", "rm", "rmvb", "3gp", "divx", "mxf")
	add(KindAudio, "an audio file", "mp3", "flac", "m4a", "m4b", "aac", "ogg", "oga", "opus", "wav", "aiff",
		"aif", "wma", "ape", "wv", "alac", "dsf", "dff", "mka", "mid", "midi", "ac3", "dts", "amr")
	add(KindImage, "an image", "jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff", "heic")
	add(KindSubtitle, "a subtitle", "srt", "ass", "ssa", "sub", "idx", "vtt", "sup")
	add(KindText, "a text file", "txt", "nfo", "sfv", "md5", "log", "cue", "m3u", "m3u8", "pls")
	add(KindDocument, "a document", "pdf", "epub", "mobi", "azw3", "doc", "docx", "rtf", "odt")
	add(KindArchive, "an archive", "zip", "rar", "7z", "tar", "gz", "tgz", "bz2", "xz", "zst", "cab", "cbz", "cbr")
	add(KindDiskImage, "a disk image", "iso", "img", "nrg", "mdf", "vhd", "vhdx")
	add(KindProgram, "a Windows program", "exe", "com", "cpl")
	add(KindProgram, "a Windows screen saver (a program)", "scr")
	add(KindProgram, "a Java program", "jar")
	add(KindProgram, "an Android app", "apk", "xapk")
	add(KindProgram, "a Linux program", "run", "appimage")
	add(KindProgram, "a Windows ClickOnce application", "application", "appref-ms")
	add(KindScript, "a Windows batch script", "bat", "cmd")
	add(KindScript, "a VBScript", "vbs", "vbe")
	add(KindScript, "a JScript", "js", "jse")
	add(KindScript, "a Windows Script file", "wsf", "wsh")
	add(KindScript, "an HTML application", "hta")
	add(KindScript, "a PowerShell script", "ps1", "psm1")
	add(KindScript, "a Windows registry file", "reg")
	add(KindScript, "a compiled HTML help file (runs scripts)", "chm")
	add(KindScript, "a management console file", "msc")
	add(KindScript, "a shell script", "sh", "bash")
	add(KindScript, "a macOS script", "command", "tool", "scpt")
	add(KindScript, "a Python script", "py", "pyw")
	add(KindInstaller, "a Windows installer", "msi", "msp", "msix", "appx", "appxbundle")
	add(KindInstaller, "a Linux package", "deb", "rpm", "snap")
	add(KindInstaller, "a macOS installer", "dmg", "pkg", "mpkg")
	add(KindShortcut, "a Windows shortcut", "lnk")
	add(KindShortcut, "a Windows program shortcut", "pif")
	add(KindShortcut, "an Explorer command file", "scf")
	add(KindShortcut, "an internet shortcut", "url", "webloc")
	add(KindShortcut, "a Linux launcher", "desktop")
}

// alwaysShortcut are shortcuts flagged in any torrent: they run a command
// and point at things on the machine of whoever made them.
var alwaysShortcut = map[string]bool{"lnk": true, "scf": true, "pif": true}

// partExt is a volume of a multi-volume RAR set (.r00 ... .r99, or a
// .partN.rar name).
var (
	partExt     = regexp.MustCompile(`^r\d\d$`)
	partRarName = regexp.MustCompile(`(?i)\.part\d+\.rar$`)
)

// Markers of media releases in a name, between separators.
var (
	videoMarker = boundary(`(?:480|576|720|1080|1440|2160|4320)[pi]|[xh]\.?26[45]|hevc|xvid|divx|blu-?ray|bdrip|brrip|bdremux|remux|` +
		`web-?dl|web-?rip|hdtv|dvdrip|dvdscr|hdrip|hdcam|camrip|telesync|hdr10\+?|s\d{1,2}e\d{1,3}`)
	audioMarker   = boundary(`flac|alac|\d{2,3} ?kbps|(?:16|24)-?bit|\d{2,3}(?:\.\d)? ?khz|discography`)
	installerLike = regexp.MustCompile(`(?i)codec|setup|install|player|keygen|crack|patch|activat|loader|unlock`)
	passwordLike  = regexp.MustCompile(`(?i)password|passwort|pwd`)
)

func boundary(alts string) *regexp.Regexp {
	return regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(` + alts + `)(?:$|[^a-z0-9])`)
}

// bidi are the Unicode bidirectional controls: embeddings, overrides,
// isolates and marks.
func bidi(r rune) bool {
	switch {
	case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
		return true
	}
	return r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// displayed is roughly how a bidi-aware file manager shows name: the runs
// after an override or isolate to the right read backwards, the controls
// themselves are invisible.
func displayed(name string) string {
	var out []rune
	var run []rune
	reversing := false
	flush := func() {
		slices.Reverse(run)
		out = append(out, run...)
		run = run[:0]
	}
	for _, r := range name {
		switch {
		case r == '\u202E' || r == '\u2067':
			flush()
			reversing = true
		case r == '\u202C' || r == '\u2069':
			if reversing {
				flush()
			}
			reversing = false
		case bidi(r):
		case reversing:
			run = append(run, r)
		default:
			out = append(out, r)
		}
	}
	if reversing {
		flush()
	}
	return string(out)
}

// name is what the rules look at of one file.
type name struct {
	base      string // the file's name, or its macOS app bundle's
	trimmed   string // base without bidi controls and trailing dots and spaces
	ext       string // of trimmed, lower case, without the dot
	prevExt   string // the extension before it, if any ("mkv" of "x.mkv.exe")
	stem      string // trimmed without ".ext"
	claim     ext
	bundle    bool // inside a macOS .app bundle
	hasBidi   bool
	bidiPart  string // the first part of the path with a bidi control
	trailing  bool   // trailing dots or spaces were dropped
	pad       bool   // a BEP 47 padding file
	multiPart bool   // a volume of a multi-volume RAR set (set by Names)
}

func parse(p string) name {
	parts := strings.Split(p, "/")
	var n name
	for i, part := range parts {
		if strings.IndexFunc(part, bidi) >= 0 && !n.hasBidi {
			n.hasBidi, n.bidiPart = true, part
		}
		if part == ".pad" && i < len(parts)-1 {
			n.pad = true
		}
		// A macOS app is a folder; what runs is somewhere inside it.
		if i < len(parts)-1 && strings.HasSuffix(strings.ToLower(strings.TrimRight(part, ". ")), ".app") && !n.bundle {
			n.bundle = true
			n.base = part
		}
	}
	if !n.bundle {
		n.base = parts[len(parts)-1]
	}
	clean := strings.Map(func(r rune) rune {
		if bidi(r) {
			return -1
		}
		return r
	}, n.base)
	n.trimmed = strings.TrimRightFunc(clean, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	n.trailing = n.trimmed != clean
	if i := strings.LastIndexByte(n.trimmed, '.'); i > 0 {
		n.ext = strings.ToLower(n.trimmed[i+1:])
		n.stem = n.trimmed[:i]
		if j := strings.LastIndexByte(n.stem, '.'); j >= 0 {
			// "clip.mp4    .scr", "film.mkv_-_.exe": padding that pushes
			// the real extension out of sight.
			n.prevExt = strings.ToLower(strings.TrimRightFunc(n.stem[j+1:], func(r rune) bool {
				return r == '_' || r == '-' || unicode.IsSpace(r)
			}))
		}
	} else {
		n.stem = n.trimmed
	}
	if n.bundle {
		n.claim = ext{KindProgram, "a macOS app"}
		n.ext = "app"
	} else {
		n.claim = exts[n.ext]
	}
	return n
}

// extWhat is "a Windows program (.exe)".
func (n name) extWhat() string { return fmt.Sprintf("%s (.%s)", n.claim.what, n.ext) }

// Claim is what a path's extension says the file is.
func Claim(p string) Kind { return parse(p).claim.kind }

// media says whether a torrent is a video or music release, and why.
type media struct {
	what   string // "video", "music"; "" when not media
	marker string // the name's release marker, if it was the name
}

func (m media) is() bool { return m.what != "" }

func (m media) torrent() string { return "a " + m.what + " torrent" }

func mediaOf(torrentName string, files []name, lengths []int64) media {
	if m := videoMarker.FindStringSubmatch(torrentName); m != nil {
		return media{"video", m[1]}
	}
	if m := audioMarker.FindStringSubmatch(torrentName); m != nil {
		return media{"music", m[1]}
	}
	if k := exts[extOf(torrentName)].kind; k.Media() {
		return media{map[Kind]string{KindVideo: "video", KindAudio: "music"}[k], "." + extOf(torrentName)}
	}
	var total, video, audio int64
	for i, n := range files {
		if n.pad {
			continue
		}
		total += lengths[i]
		switch n.claim.kind {
		case KindVideo:
			video += lengths[i]
		case KindAudio:
			audio += lengths[i]
		}
	}
	if total > 0 && 2*(video+audio) >= total {
		if video >= audio {
			return media{what: "video"}
		}
		return media{what: "music"}
	}
	return media{}
}

func extOf(s string) string {
	s = strings.TrimRight(s, ". ")
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		return strings.ToLower(s[i+1:])
	}
	return ""
}

// Media says whether a torrent counts as a video or music release (see the
// package comment), from its name and files.
func Media(torrentName string, files []File) bool {
	ns, ls := parseAll(files)
	return mediaOf(torrentName, ns, ls).is()
}

func parseAll(files []File) ([]name, []int64) {
	ns := make([]name, len(files))
	ls := make([]int64, len(files))
	for i, f := range files {
		ns[i], ls[i] = parse(f.Path), f.Length
	}
	// A multi-volume RAR set: a .rar with .r00 volumes, or .partN.rar
	// volumes.
	var rars, parts, partRars int
	for _, n := range ns {
		switch {
		case partRarName.MatchString(n.trimmed):
			partRars++
		case n.ext == "rar":
			rars++
		case partExt.MatchString(n.ext):
			parts++
		}
	}
	if (rars > 0 && parts > 0) || partRars > 1 {
		for i := range ns {
			if ns[i].ext == "rar" || partExt.MatchString(ns[i].ext) {
				ns[i].multiPart = true
			}
		}
	}
	return ns, ls
}

// Names classifies a torrent's files by name (torrentName is the
// metainfo's name). At most one finding a file, the strongest; in file
// order.
func Names(torrentName string, files []File) []Finding {
	ns, ls := parseAll(files)
	m := mediaOf(torrentName, ns, ls)
	hasArchive := slices.ContainsFunc(ns, func(n name) bool { return !n.pad && n.claim.kind == KindArchive })
	largest := -1
	for i, n := range ns {
		if !n.pad && (largest < 0 || ls[i] > ls[largest]) {
			largest = i
		}
	}
	var out []Finding
	for i, n := range ns {
		if n.pad {
			continue
		}
		if code, reason := judge(n, m, i == largest, hasArchive); code != "" {
			out = append(out, Finding{File: i, Code: code, Reason: reason})
		}
	}
	return out
}

// judge applies the name rules to one file, strongest first.
func judge(n name, m media, largest, hasArchive bool) (Code, string) {
	k := n.claim.kind
	if n.hasBidi {
		shown := displayed(n.bidiPart)
		if n.bidiPart != n.base {
			return CodeBidi, fmt.Sprintf("a folder of its path holds an invisible right-to-left override: shown as %q", shown)
		}
		if k != KindUnknown {
			return CodeBidi, fmt.Sprintf("its name hides its real extension with a right-to-left override: shown as %q, it is %s", shown, n.extWhat())
		}
		return CodeBidi, fmt.Sprintf("its name holds an invisible right-to-left override: shown as %q", shown)
	}
	prev := exts[n.prevExt].kind
	if k.runs() && prev != KindUnknown && !prev.runs() && prev != KindDiskImage {
		return CodeDoubleExtension, fmt.Sprintf("%s made to look like %s (.%s)%s", n.extWhat(), exts[n.prevExt].what, n.prevExt, trailingNote(n))
	}
	if k == KindShortcut && alwaysShortcut[n.ext] {
		return CodeShortcut, fmt.Sprintf("%s: it runs a command when opened%s", n.extWhat(), trailingNote(n))
	}
	if k.runs() {
		if mk := videoMarker.FindStringSubmatch(n.stem); mk != nil {
			return CodeNamedLikeMedia, fmt.Sprintf("%s named like a video release (%s)%s", n.extWhat(), mk[1], trailingNote(n))
		}
	}
	if !m.is() {
		return "", ""
	}
	switch {
	case k.runs():
		return CodeExecutable, fmt.Sprintf("%s in %s%s", n.extWhat(), m.torrent(), trailingNote(n))
	case k == KindArchive && installerLike.MatchString(n.stem):
		return CodeInstallerName, fmt.Sprintf("%s named like a codec or installer in %s: the usual trap", n.extWhat(), m.torrent())
	case hasArchive && k != KindArchive && passwordLike.MatchString(n.stem):
		return CodePasswordFile, fmt.Sprintf("a password file beside an archive in %s: the usual lure to a site that serves malware", m.torrent())
	case largest && m.marker != "" && k == KindArchive && !n.multiPart:
		return CodeNotMedia, fmt.Sprintf("the torrent is named as a %s release (%s) but its largest file is %s, not %s", m.what, m.marker, n.extWhat(), map[string]string{"video": "a video", "music": "audio"}[m.what])
	}
	return "", ""
}

func trailingNote(n name) string {
	if n.trailing {
		return "; the dots or spaces after the extension, which Windows drops, hide it"
	}
	return ""
}
