package suspect

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// HeadSize is how much of a file's beginning Head needs: every signature
// it knows lies within it (tar's at 257, MPEG-TS's second sync byte at
// 188, a RAR's first file header).
const HeadSize = 512

// Type is what a file's first bytes are.
type Type struct {
	Kind Kind
	Name string // "a Linux program (ELF)"
	// Encrypted: a password-protected archive (ZIP, RAR).
	Encrypted bool
}

// Detect recognises a file by its first bytes (at most HeadSize are
// looked at). Kind is KindUnknown when no signature matches, text
// included.
func Detect(b []byte) Type {
	has := func(off int, sig string) bool {
		return len(b) >= off+len(sig) && string(b[off:off+len(sig)]) == sig
	}
	switch {
	// Programs.
	case has(0, "MZ") && dosHeader(b):
		return Type{Kind: KindProgram, Name: "a Windows program (PE/MZ)"}
	case has(0, "\x7fELF"):
		return Type{Kind: KindProgram, Name: "a Linux program (ELF)"}
	case has(0, "\xfe\xed\xfa\xce"), has(0, "\xfe\xed\xfa\xcf"), has(0, "\xce\xfa\xed\xfe"), has(0, "\xcf\xfa\xed\xfe"),
		has(0, "\xbe\xba\xfe\xca"), has(0, "\xca\xfe\xba\xbf"):
		return Type{Kind: KindProgram, Name: "a macOS program (Mach-O)"}
	case has(0, "\xca\xfe\xba\xbe"):
		// Fat Mach-O and Java classes share it.
		return Type{Kind: KindProgram, Name: "a macOS universal program or a Java class"}
	case shebang(b):
		return Type{Kind: KindScript, Name: "a script (#!)"}
	case batch(b):
		return Type{Kind: KindScript, Name: "a Windows batch script"}
	case has(0, "L\x00\x00\x00\x01\x14\x02\x00"):
		return Type{Kind: KindShortcut, Name: "a Windows shortcut (.lnk)"}
	case has(0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
		return Type{Kind: KindInstaller, Name: "a Windows installer or Office file (OLE)"}

	// Archives.
	case has(0, "PK\x03\x04"):
		return Type{Kind: KindArchive, Name: "a ZIP archive", Encrypted: len(b) >= 8 && b[6]&1 != 0}
	case has(0, "PK\x05\x06"), has(0, "PK\x07\x08"):
		return Type{Kind: KindArchive, Name: "a ZIP archive"}
	case has(0, "Rar!\x1a\x07\x00"):
		return Type{Kind: KindArchive, Name: "a RAR archive", Encrypted: rar4Encrypted(b)}
	case has(0, "Rar!\x1a\x07\x01\x00"):
		return Type{Kind: KindArchive, Name: "a RAR archive", Encrypted: rar5Encrypted(b)}
	case has(0, "7z\xbc\xaf\x27\x1c"):
		return Type{Kind: KindArchive, Name: "a 7-Zip archive"}
	case has(0, "\x1f\x8b"):
		return Type{Kind: KindArchive, Name: "a gzip archive"}
	case has(0, "BZh") && len(b) > 3 && b[3] >= '1' && b[3] <= '9':
		return Type{Kind: KindArchive, Name: "a bzip2 archive"}
	case has(0, "\xfd7zXZ\x00"):
		return Type{Kind: KindArchive, Name: "an xz archive"}
	case has(0, "\x28\xb5\x2f\xfd"):
		return Type{Kind: KindArchive, Name: "a zstd archive"}
	case has(0, "MSCF"):
		return Type{Kind: KindArchive, Name: "a Windows cabinet archive"}
	case has(257, "ustar"):
		return Type{Kind: KindArchive, Name: "a tar archive"}

	// Video.
	case has(0, "\x1a\x45\xdf\xa3"):
		return Type{Kind: KindVideo, Name: "Matroska/WebM"}
	case has(4, "ftyp"):
		if has(8, "heic") || has(8, "heix") || has(8, "mif1") || has(8, "avif") {
			return Type{Kind: KindImage, Name: "HEIF/AVIF"}
		}
		return Type{Kind: KindVideo, Name: "MP4/QuickTime"}
	case has(4, "moov"), has(4, "mdat"), has(4, "wide"), has(4, "free"):
		return Type{Kind: KindVideo, Name: "QuickTime"}
	case has(0, "RIFF") && has(8, "AVI "):
		return Type{Kind: KindVideo, Name: "AVI"}
	case has(0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
		return Type{Kind: KindVideo, Name: "ASF/WMV"}
	case has(0, "\x00\x00\x01\xba"), has(0, "\x00\x00\x01\xb3"):
		return Type{Kind: KindVideo, Name: "MPEG"}
	case has(0, "\x47") && has(188, "\x47"):
		return Type{Kind: KindVideo, Name: "MPEG-TS"}
	case has(4, "\x47") && has(196, "\x47"):
		return Type{Kind: KindVideo, Name: "MPEG-TS (M2TS)"}
	case has(0, "FLV\x01"):
		return Type{Kind: KindVideo, Name: "Flash video"}
	case has(0, ".RMF"):
		return Type{Kind: KindVideo, Name: "RealMedia"}
	case has(0, "OggS"):
		return Type{Kind: KindAudio, Name: "Ogg"}

	// Audio.
	case has(0, "ID3"):
		return Type{Kind: KindAudio, Name: "MP3 (ID3)"}
	case has(0, "fLaC"):
		return Type{Kind: KindAudio, Name: "FLAC"}
	case has(0, "RIFF") && has(8, "WAVE"):
		return Type{Kind: KindAudio, Name: "WAVE"}
	case has(0, "FORM") && (has(8, "AIFF") || has(8, "AIFC")):
		return Type{Kind: KindAudio, Name: "AIFF"}
	case has(0, "MAC "), has(0, "wvpk"), has(0, "DSD "), has(0, "#!AMR"), has(0, "MThd"):
		return Type{Kind: KindAudio, Name: "audio"}
	case len(b) >= 2 && b[0] == 0xff && b[1]&0xe0 == 0xe0 && b[1]&0x06 != 0 || len(b) >= 2 && b[0] == 0xff && (b[1] == 0xf1 || b[1] == 0xf9):
		// An MPEG audio frame (layer bits set) or an ADTS AAC frame.
		return Type{Kind: KindAudio, Name: "MPEG audio"}

	// Images and documents.
	case has(0, "\xff\xd8\xff"):
		return Type{Kind: KindImage, Name: "JPEG"}
	case has(0, "\x89PNG\r\n\x1a\n"):
		return Type{Kind: KindImage, Name: "PNG"}
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return Type{Kind: KindImage, Name: "GIF"}
	case has(0, "RIFF") && has(8, "WEBP"):
		return Type{Kind: KindImage, Name: "WebP"}
	case has(0, "II*\x00"), has(0, "MM\x00*"):
		return Type{Kind: KindImage, Name: "TIFF"}
	case has(0, "%PDF-"):
		return Type{Kind: KindDocument, Name: "PDF"}
	}
	return Type{}
}

// dosHeader: "MZ" followed by a binary DOS header, not a text that starts
// with "MZ": the header's 64 bytes hold zeros (a short head is given the
// benefit of the doubt only if it has one too).
func dosHeader(b []byte) bool {
	return bytes.IndexByte(b[:min(len(b), 64)], 0) >= 0
}

// shebang: "#!/..." or "#! /...", what Unix runs through an interpreter.
func shebang(b []byte) bool {
	return bytes.HasPrefix(b, []byte("#!/")) || bytes.HasPrefix(b, []byte("#! /"))
}

// batch: a Windows batch script's usual first line.
func batch(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	return len(b) >= 9 && bytes.EqualFold(b[:9], []byte("@echo off"))
}

// rar4Encrypted reads a RAR 4 archive's main header (encrypted headers,
// MHD_PASSWORD) and its first file header (LHD_PASSWORD).
func rar4Encrypted(b []byte) bool {
	const mark = 7
	if len(b) < mark+7 || b[mark+2] != 0x73 {
		return false
	}
	flags := binary.LittleEndian.Uint16(b[mark+3:])
	if flags&0x0080 != 0 {
		return true
	}
	next := mark + int(binary.LittleEndian.Uint16(b[mark+5:]))
	if len(b) < next+5 || b[next+2] != 0x74 {
		return false
	}
	return binary.LittleEndian.Uint16(b[next+3:])&0x0004 != 0
}

// rar5Encrypted reads a RAR 5 archive's first headers: an archive
// encryption header (type 4) means encrypted headers; a file header
// (type 2) with a file encryption record (type 1) in its extra area, an
// encrypted file.
func rar5Encrypted(b []byte) bool {
	p := 8
	for range 3 { // main header, maybe a comment or service header, the first file
		if p+4 > len(b) {
			return false
		}
		q := p + 4 // after the header's CRC32
		size, n := uvarint(b, q)
		if n == 0 {
			return false
		}
		start := q + n // the header's data: type onwards
		end := start + int(size)
		if size > HeadSize || end > len(b) {
			return false
		}
		typ, n1 := uvarint(b, start)
		flags, n2 := uvarint(b, start+n1)
		if n1 == 0 || n2 == 0 {
			return false
		}
		switch typ {
		case 4:
			return true
		case 2:
			if flags&0x01 == 0 {
				return false
			}
			extra, n3 := uvarint(b, start+n1+n2)
			if n3 == 0 || int(extra) > end-start {
				return false
			}
			for r := end - int(extra); r < end; {
				rsize, m := uvarint(b, r)
				if m == 0 || rsize == 0 {
					return false
				}
				rtype, m2 := uvarint(b, r+m)
				if m2 == 0 {
					return false
				}
				if rtype == 1 {
					return true
				}
				r += m + int(rsize)
			}
			return false
		}
		p = end
		if flags&0x02 != 0 { // a data area follows the header
			return false
		}
	}
	return false
}

// uvarint reads RAR 5's variable-length integer at b[i:]; n is 0 if it
// does not fit.
func uvarint(b []byte, i int) (v uint64, n int) {
	for shift := uint(0); i+n < len(b) && n < 10; shift += 7 {
		c := b[i+n]
		n++
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, n
		}
	}
	return 0, 0
}

// contradicts says whether content of kind got belies a name that claims
// kind claim.
func contradicts(claim, got Kind) bool {
	switch claim {
	case KindVideo, KindAudio, KindImage, KindSubtitle, KindText:
		return got == KindProgram || got == KindShortcut || got == KindInstaller || got == KindArchive ||
			(got == KindScript && claim != KindText && claim != KindSubtitle)
	case KindDocument:
		// EPUB and DOCX are ZIP, DOC is OLE: only programs belie them.
		return got == KindProgram || got == KindShortcut
	case KindArchive:
		return got == KindProgram || got == KindShortcut || got == KindInstaller
	}
	return false
}

// Checkable says whether Head has anything to say about a file of this
// path: its extension claims a kind that content can belie.
func Checkable(p string) bool {
	n := parse(p)
	return !n.pad && !n.bundle && contradicts(n.claim.kind, KindProgram)
}

// Head checks a file's first bytes (at most HeadSize of them, verified)
// against what its path claims. inMedia says whether the torrent is a
// media one (Media), where a password-protected archive is suspicious.
// The finding's File is -1: the caller knows which file it is.
func Head(p string, head []byte, inMedia bool) (Finding, bool) {
	n := parse(p)
	if n.pad || n.bundle || len(head) == 0 {
		return Finding{}, false
	}
	got := Detect(head[:min(len(head), HeadSize)])
	if contradicts(n.claim.kind, got.Kind) {
		return Finding{File: -1, Code: CodeContent,
			Reason: fmt.Sprintf("named as %s but its content is %s", n.extWhat(), got.Name)}, true
	}
	if inMedia && got.Kind == KindArchive && got.Encrypted {
		return Finding{File: -1, Code: CodeEncrypted,
			Reason: fmt.Sprintf("%s protected by a password in a media torrent: the usual lure to a site that serves malware", got.Name)}, true
	}
	return Finding{}, false
}
