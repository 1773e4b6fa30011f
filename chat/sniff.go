package chat

import (
	"bytes"
	"encoding/binary"
)

// MIME sniffing that reproduces filetype 1.2.0 (the Python library Haystack's
// ImageContent and FileContent use to guess a MIME type from decoded bytes).
//
// filetype.guess looks at the first 8192 bytes and returns the first type, in
// the order of filetype.types.TYPES, whose matcher accepts them. The table
// below lists the same matchers in the same order (IMAGE, AUDIO, VIDEO, FONT,
// DOCUMENT, ARCHIVE, APPLICATION) with the same MIME strings. The length
// guards ("len(b) > N") mirror the Python ones even where they are stricter
// than the signature itself, because they change the result for short input.

// sniffLimit is how many leading bytes guessMIME looks at (filetype reads 8192).
const sniffLimit = 8192

// guessMIME returns the MIME type filetype.guess would return for data, or "" when it returns None.
func guessMIME(data []byte) string {
	if len(data) == 0 {
		return ""
	}
	if len(data) > sniffLimit {
		data = data[:sniffLimit]
	}
	for i := range sniffMatchers {
		if sniffMatchers[i].match(data) {
			return sniffMatchers[i].mime
		}
	}
	return ""
}

// sniffMatcher is one filetype matcher: its MIME type and its test.
type sniffMatcher struct {
	mime  string
	match func(b []byte) bool
}

// Search patterns, kept as package variables so that bytes.Index does not
// allocate on every call.
var (
	zipLocalHeader = []byte("PK\x03\x04")
	mkvDocType     = []byte("\x42\x82\x88matroska")
	webmDocType    = []byte("\x42\x82\x84webm")
	docWordMarker  = []byte("\x00\x0A\x00\x00\x00MSWordDoc\x00\x10\x00\x00\x00Word.Document.8\x00\xF49\xB2q")
	xlsCalcMarker  = []byte("\xE2\x00\x00\x00\x5C\x00\x70\x00\x04\x00\x00Calc")
)

const (
	oleHeader   = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
	pngHeader   = "\x89PNG"
	ebmlHeader  = "\x1A\x45\xDF\xA3"
	mimeDocx    = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	mimeXlsx    = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	mimePptx    = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
	mimeOdt     = "application/vnd.oasis.opendocument.text"
	mimeOds     = "application/vnd.oasis.opendocument.spreadsheet"
	mimeOdp     = "application/vnd.oasis.opendocument.presentation"
	mimeDicom   = "application/dicom"
	mimeFontSfn = "application/font-sfnt"
	mimeWoff    = "application/font-woff"
)

// sniffMatchers is filetype.types.TYPES in order.
var sniffMatchers = [...]sniffMatcher{
	// IMAGE
	{"image/vnd.dwg", func(b []byte) bool { return sniffAt(b, 0, "AC10") }},
	{"image/x-xcf", func(b []byte) bool { return sniffAt(b, 0, "gimp xcf v") }},
	{"image/jpeg", func(b []byte) bool { return len(b) > 2 && sniffAt(b, 0, "\xFF\xD8\xFF") }},
	{"image/jpx", func(b []byte) bool {
		return len(b) > 50 && sniffAt(b, 0, "\x00\x00\x00\x0C") && sniffAt(b, 16, "ftypjp2 ")
	}},
	{"image/apng", isAPNG},
	{"image/png", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, pngHeader) }},
	{"image/gif", func(b []byte) bool { return len(b) > 2 && sniffAt(b, 0, "GIF") }},
	{"image/webp", func(b []byte) bool {
		return len(b) > 13 && sniffAt(b, 0, "RIFF") && sniffAt(b, 8, "WEBPVP")
	}},
	{"image/tiff", func(b []byte) bool { return len(b) > 9 && isTIFFHeader(b) && !sniffAt(b, 8, "CR") }},
	{"image/x-canon-cr2", func(b []byte) bool { return len(b) > 9 && isTIFFHeader(b) && sniffAt(b, 8, "CR") }},
	{"image/bmp", func(b []byte) bool { return len(b) > 1 && sniffAt(b, 0, "BM") }},
	{"image/vnd.ms-photo", func(b []byte) bool { return len(b) > 2 && sniffAt(b, 0, "II\xBC") }},
	{"image/vnd.adobe.photoshop", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "8BPS") }},
	{"image/x-icon", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "\x00\x00\x01\x00") }},
	{"image/heic", func(b []byte) bool { return isHEIFBrand(b, "heic") }},
	{mimeDicom, func(b []byte) bool { return len(b) > 128+4 && sniffAt(b, 128, "DICM") }},
	{"image/avif", func(b []byte) bool { return isHEIFBrand(b, "avif") }},

	// AUDIO
	{"audio/aac", func(b []byte) bool { return sniffAt(b, 0, "\xFF\xF1") || sniffAt(b, 0, "\xFF\xF9") }},
	{"audio/midi", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "MThd") }},
	{"audio/mpeg", func(b []byte) bool {
		return len(b) > 2 && (sniffAt(b, 0, "ID3") || sniffAt(b, 0, "\xFF\xF2") ||
			sniffAt(b, 0, "\xFF\xF3") || sniffAt(b, 0, "\xFF\xFB"))
	}},
	{"audio/mp4", func(b []byte) bool { return len(b) > 10 && (sniffAt(b, 4, "ftypM4A") || sniffAt(b, 0, "M4A ")) }},
	{"audio/ogg", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "OggS") }},
	{"audio/x-flac", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "fLaC") }},
	{"audio/x-wav", func(b []byte) bool { return len(b) > 11 && sniffAt(b, 0, "RIFF") && sniffAt(b, 8, "WAVE") }},
	{"audio/amr", func(b []byte) bool { return len(b) > 11 && sniffAt(b, 0, "#!AMR\n") }},
	{"audio/x-aiff", func(b []byte) bool { return len(b) > 11 && sniffAt(b, 0, "FORM") && sniffAt(b, 8, "AIFF") }},

	// VIDEO
	// filetype looks for "ftyp3gp" at offset 0 (not 4); reproduced as is.
	{"video/3gpp", func(b []byte) bool { return sniffAt(b, 0, "ftyp3gp") }},
	{"video/mp4", isMP4},
	{"video/x-m4v", func(b []byte) bool { return len(b) > 10 && sniffAt(b, 0, "\x00\x00\x00\x1CftypM4V") }},
	{"video/x-matroska", func(b []byte) bool { return sniffAt(b, 0, ebmlHeader) && bytes.Contains(b, mkvDocType) }},
	{"video/quicktime", func(b []byte) bool {
		_, ok := isoBMFF(b)
		return ok && sniffAt(b, 8, "qt  ")
	}},
	{"video/x-msvideo", func(b []byte) bool { return len(b) > 11 && sniffAt(b, 0, "RIFF") && sniffAt(b, 8, "AVI ") }},
	{"video/x-ms-wmv", func(b []byte) bool {
		return len(b) > 9 && sniffAt(b, 0, "\x30\x26\xB2\x75\x8E\x66\xCF\x11\xA6\xD9")
	}},
	{"video/mpeg", func(b []byte) bool {
		return len(b) > 3 && sniffAt(b, 0, "\x00\x00\x01") && b[3] >= 0xB0 && b[3] <= 0xBF
	}},
	{"video/webm", func(b []byte) bool { return sniffAt(b, 0, ebmlHeader) && bytes.Contains(b, webmDocType) }},
	{"video/x-flv", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "FLV\x01") }},

	// FONT
	{mimeWoff, func(b []byte) bool { return len(b) > 7 && sniffAt(b, 0, "wOFF") && isWOFFFlavor(b) }},
	{mimeWoff, func(b []byte) bool { return len(b) > 7 && sniffAt(b, 0, "wOF2") && isWOFFFlavor(b) }},
	{mimeFontSfn, func(b []byte) bool { return len(b) > 4 && sniffAt(b, 0, "\x00\x01\x00\x00\x00") }},
	{mimeFontSfn, func(b []byte) bool { return len(b) > 4 && sniffAt(b, 0, "OTTO\x00") }},

	// DOCUMENT
	{"application/msword", isDoc},
	{mimeDocx, func(b []byte) bool { return isOOXML(b, "word/") }},
	{mimeOdt, func(b []byte) bool { return isOpenDocument(b, mimeOdt) }},
	{"application/vnd.ms-excel", isXls},
	{mimeXlsx, func(b []byte) bool { return isOOXML(b, "xl/") }},
	{mimeOds, func(b []byte) bool { return isOpenDocument(b, mimeOds) }},
	{"application/vnd.ms-powerpoint", isPpt},
	{mimePptx, func(b []byte) bool { return isOOXML(b, "ppt/") }},
	{mimeOdp, func(b []byte) bool { return isOpenDocument(b, mimeOdp) }},

	// ARCHIVE
	{"application/x-brotli", func(b []byte) bool { return sniffAt(b, 0, "\xCE\xB2\xCF\x81") }},
	{"application/x-rpm", func(b []byte) bool { return sniffAt(b, 0, "\xED\xAB\xEE\xDB") }},
	// archive.Dcm sits here in TYPES, but it compares the 3-byte slice
	// buf[128:131] with a 4-byte signature and so never matches; it is left out.
	{"application/epub+zip", func(b []byte) bool {
		return len(b) > 57 && sniffAt(b, 0, "PK\x03\x04") && sniffAt(b, 30, "mimetypeapplication/epub+zip")
	}},
	{"application/zip", func(b []byte) bool {
		return len(b) > 3 && b[0] == 'P' && b[1] == 'K' &&
			(b[2] == 0x3 || b[2] == 0x5 || b[2] == 0x7) &&
			(b[3] == 0x4 || b[3] == 0x6 || b[3] == 0x8)
	}},
	{"application/x-tar", func(b []byte) bool { return len(b) > 261 && sniffAt(b, 257, "ustar") }},
	{"application/x-rar-compressed", func(b []byte) bool {
		return len(b) > 6 && sniffAt(b, 0, "Rar!\x1A\x07") && (b[6] == 0x0 || b[6] == 0x1)
	}},
	{"application/gzip", func(b []byte) bool { return len(b) > 2 && sniffAt(b, 0, "\x1F\x8B\x08") }},
	{"application/x-bzip2", func(b []byte) bool { return len(b) > 2 && sniffAt(b, 0, "BZh") }},
	{"application/x-7z-compressed", func(b []byte) bool { return len(b) > 5 && sniffAt(b, 0, "7z\xBC\xAF\x27\x1C") }},
	{"application/pdf", func(b []byte) bool {
		if len(b) > 3 && sniffAt(b, 0, "\xEF\xBB\xBF") { // UTF-8 BOM is skipped
			b = b[3:]
		}
		return len(b) > 3 && sniffAt(b, 0, "%PDF")
	}},
	{"application/x-msdownload", func(b []byte) bool { return len(b) > 1 && sniffAt(b, 0, "MZ") }},
	{"application/x-shockwave-flash", func(b []byte) bool {
		return len(b) > 2 && (b[0] == 'C' || b[0] == 'F') && sniffAt(b, 1, "WS")
	}},
	{"application/rtf", func(b []byte) bool { return len(b) > 4 && sniffAt(b, 0, "{\\rtf") }},
	{"application/x-nintendo-nes-rom", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "NES\x1A") }},
	{"application/x-google-chrome-extension", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "Cr24") }},
	{"application/vnd.ms-cab-compressed", func(b []byte) bool {
		return len(b) > 3 && (sniffAt(b, 0, "MSCF") || sniffAt(b, 0, "ISc("))
	}},
	{"application/octet-stream", func(b []byte) bool { // EOT
		return len(b) > 35 && sniffAt(b, 34, "LP") &&
			(sniffAt(b, 8, "\x02\x00\x01") || sniffAt(b, 8, "\x01\x00\x00") || sniffAt(b, 8, "\x02\x00\x02"))
	}},
	{"application/postscript", func(b []byte) bool { return len(b) > 1 && sniffAt(b, 0, "%!") }},
	{"application/x-xz", func(b []byte) bool { return len(b) > 5 && sniffAt(b, 0, "\xFD7zXZ\x00") }},
	{"application/x-sqlite3", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "SQLi") }},
	{"application/x-deb", func(b []byte) bool { return len(b) > 20 && sniffAt(b, 0, "!<arch>\ndebian-binary") }},
	{"application/x-unix-archive", func(b []byte) bool { return len(b) > 6 && sniffAt(b, 0, "!<arch>") }},
	{"application/x-compress", func(b []byte) bool {
		return len(b) > 1 && (sniffAt(b, 0, "\x1F\xA0") || sniffAt(b, 0, "\x1F\x9D"))
	}},
	{"application/x-lzop", func(b []byte) bool { return len(b) > 7 && sniffAt(b, 0, "\x89LZO\x00\x0D\x0A\x1A") }},
	{"application/x-lzip", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "LZIP") }},
	{"application/x-executable", func(b []byte) bool { return len(b) > 52 && sniffAt(b, 0, "\x7FELF") }},
	{"application/x-lz4", func(b []byte) bool { return len(b) > 3 && sniffAt(b, 0, "\x04\x22\x4D\x18") }},
	{"application/zstd", isZstd},

	// APPLICATION
	{"application/wasm", func(b []byte) bool { return sniffAt(b, 0, "\x00asm\x01\x00\x00\x00") }},
}

// sniffAt reports whether b holds sig at offset off; it is false when b is too short.
func sniffAt(b []byte, off int, sig string) bool {
	if off < 0 || off > len(b) || len(b)-off < len(sig) {
		return false
	}
	return string(b[off:off+len(sig)]) == sig // no allocation: compiler-optimised comparison
}

// isTIFFHeader reports a little- or big-endian TIFF header ("II*\0" or "MM\0*").
func isTIFFHeader(b []byte) bool {
	return sniffAt(b, 0, "II\x2A\x00") || sniffAt(b, 0, "MM\x00\x2A")
}

// isWOFFFlavor checks the sfnt flavour field shared by WOFF and WOFF2.
func isWOFFFlavor(b []byte) bool {
	return sniffAt(b, 4, "\x00\x01\x00\x00") || sniffAt(b, 4, "OTTO") || sniffAt(b, 4, "true")
}

// isAPNG walks the PNG chunks and reports whether acTL comes before IDAT/IEND.
func isAPNG(b []byte) bool {
	if len(b) <= 8 || !sniffAt(b, 0, "\x89PNG\x0D\x0A\x1A\x0A") {
		return false
	}
	i := 8
	for len(b) > i {
		// Python reads the length from buf[i:i+4], which may be shorter.
		var n uint64
		for _, c := range b[i:min(i+4, len(b))] {
			n = n<<8 | uint64(c)
		}
		i += 4
		switch {
		case sniffAt(b, i, "IDAT"), sniffAt(b, i, "IEND"):
			return false
		case sniffAt(b, i, "acTL"):
			return true
		}
		i += 4
		if n >= uint64(len(b)) { // the next chunk would start past the end
			return false
		}
		i += int(n) + 4
	}
	return false
}

// isoBMFF mirrors IsoBmff._is_isobmff and returns the ftyp box length.
func isoBMFF(b []byte) (int, bool) {
	if len(b) < 16 || !sniffAt(b, 4, "ftyp") {
		return 0, false
	}
	size := binary.BigEndian.Uint32(b[0:4])
	if uint64(len(b)) < uint64(size) {
		return 0, false
	}
	return int(size), true
}

// hasCompatibleBrand reports whether brand is among the ftyp compatible brands
// as filetype reads them: 4-byte groups at 16, 20, ... below the box length
// (the last group may run past the box end, but not past b).
func hasCompatibleBrand(b []byte, boxLen int, brand string) bool {
	for i := 16; i < boxLen; i += 4 {
		if sniffAt(b, i, brand) {
			return true
		}
	}
	return false
}

// isHEIFBrand is the HEIC/AVIF rule: major brand, or mif1/msf1 plus a compatible brand.
func isHEIFBrand(b []byte, brand string) bool {
	boxLen, ok := isoBMFF(b)
	if !ok {
		return false
	}
	if sniffAt(b, 8, brand) {
		return true
	}
	return (sniffAt(b, 8, "mif1") || sniffAt(b, 8, "msf1")) && hasCompatibleBrand(b, boxLen, brand)
}

func isMP4(b []byte) bool {
	boxLen, ok := isoBMFF(b)
	if !ok {
		return false
	}
	for _, brand := range [...]string{"mp41", "mp42", "isom"} {
		if sniffAt(b, 8, brand) || hasCompatibleBrand(b, boxLen, brand) {
			return true
		}
	}
	return false
}

func isDoc(b []byte) bool {
	if len(b) <= 515 || !sniffAt(b, 0, oleHeader) {
		return false
	}
	if sniffAt(b, 512, "\xEC\xA5\xC1\x00") {
		return true
	}
	return len(b) > 2142 && bytes.Contains(b[2075:2142], docWordMarker)
}

func isXls(b []byte) bool {
	if len(b) <= 520 || !sniffAt(b, 0, oleHeader) {
		return false
	}
	if sniffAt(b, 512, "\xFD\xFF\xFF\xFF") && (b[518] == 0x00 || b[518] == 0x02) {
		return true
	}
	if sniffAt(b, 512, "\x09\x08\x10\x00\x00\x06\x05\x00") {
		return true
	}
	return len(b) > 2095 && bytes.Contains(b[1568:2095], xlsCalcMarker)
}

func isPpt(b []byte) bool {
	if len(b) <= 524 || !sniffAt(b, 0, oleHeader) {
		return false
	}
	switch {
	case sniffAt(b, 512, "\xA0\x46\x1D\xF0"),
		sniffAt(b, 512, "\x00\x6E\x1E\xF0"),
		sniffAt(b, 512, "\x0F\x00\xE8\x03"),
		sniffAt(b, 512, "\xFD\xFF\xFF\xFF") && sniffAt(b, 522, "\x00\x00"):
		return true
	}
	return len(b) > 2096 && sniffAt(b, 2072, "\x00\xB9\x29\xE8\x11\x00\x00\x00MS PowerPoint 97")
}

// searchZipHeader mirrors ZippedDocumentBase.search_signature: the index of the
// first "PK\x03\x04" lying wholly in b[start:start+rangeNum], or -1.
func searchZipHeader(b []byte, start, rangeNum int) int {
	end := min(start+rangeNum, len(b))
	if start < 0 || start >= end {
		return -1
	}
	i := bytes.Index(b[start:end], zipLocalHeader)
	if i < 0 {
		return -1
	}
	return start + i
}

// isOpenDocument mirrors OpenDocument.match: a zip whose first entry is the
// "mimetype" file starting with mime.
func isOpenDocument(b []byte, mime string) bool {
	return sniffAt(b, 0, "PK\x03\x04") && sniffAt(b, 0x1E, "mimetype") && sniffAt(b, 0x26, mime)
}

// isOOXML mirrors OfficeOpenXml.match for the type whose part folder is dir
// ("word/", "xl/" or "ppt/"): the first zip entry, or one of the next four
// entry headers, has a file name starting with dir.
func isOOXML(b []byte, dir string) bool {
	if !sniffAt(b, 0, "PK\x03\x04") {
		return false
	}
	if sniffAt(b, 0x1E, dir) {
		return true
	}
	if !sniffAt(b, 0x1E, "[Content_Types].xml") && !sniffAt(b, 0x1E, "_rels/.rels") && !sniffAt(b, 0x1E, "docProps") {
		return false
	}
	idx := 0
	for range 4 {
		idx = searchZipHeader(b, idx+4, 6000)
		if idx == -1 {
			return false
		}
		if sniffAt(b, idx+30, dir) {
			return true
		}
	}
	return false
}

// isZstd mirrors Zstd.match: a Zstandard frame, possibly after skippable
// frames. filetype recurses once per skippable frame; this loops instead.
func isZstd(b []byte) bool {
	for {
		if len(b) > 3 && b[0] >= 0x22 && b[0] <= 0x28 && sniffAt(b, 1, "\xB5\x2F\xFD") {
			return true
		}
		if len(b) < 8 {
			return false
		}
		if binary.LittleEndian.Uint32(b[0:4])&0xFFFFFFF0 != 0x184D2A50 {
			return false
		}
		userDataLen := uint64(binary.LittleEndian.Uint32(b[4:8]))
		if uint64(len(b)) < 8+userDataLen {
			return false
		}
		b = b[8+userDataLen:]
	}
}
