package chat

// The expected MIME types in sniffCases were produced by the Python library
// filetype 1.2.0 (filetype.guess(sample).mime, or "" for None), run on exactly
// these samples; TestSniffSamplesDigest pins the samples that run saw. The
// tests themselves need no Python.

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
)

type sniffCase struct {
	name string
	data []byte
	want string
}

// sniffField is a string written at a fixed offset by sniffLayout.
type sniffField struct {
	off int
	s   string
}

// sniffLayout returns n zero bytes with every sniffField written in.
func sniffLayout(n int, fields ...sniffField) []byte {
	b := make([]byte, n)
	for _, f := range fields {
		copy(b[f.off:], f.s)
	}
	return b
}

// sniffPad concatenates parts and pads the result with zero bytes to n bytes.
func sniffPad(n int, parts ...string) []byte {
	s := strings.Join(parts, "")
	return sniffLayout(max(n, len(s)), sniffField{0, s})
}

// sniffRaw concatenates parts without padding.
func sniffRaw(parts ...string) []byte { return []byte(strings.Join(parts, "")) }

func sniffBE32(v uint32) string { return string(binary.BigEndian.AppendUint32(nil, v)) }
func sniffLE32(v uint32) string { return string(binary.LittleEndian.AppendUint32(nil, v)) }
func sniffLE16(v uint16) string { return string(binary.LittleEndian.AppendUint16(nil, v)) }

// sniffFtyp is an ISO-BMFF ftyp box.
func sniffFtyp(major string, compatible ...string) string {
	body := major + "\x00\x00\x02\x00" + strings.Join(compatible, "")
	return sniffBE32(uint32(8+len(body))) + "ftyp" + body
}

// sniffPNGChunk is a PNG chunk with a zero CRC.
func sniffPNGChunk(typ, data string) string {
	return sniffBE32(uint32(len(data))) + typ + data + "\x00\x00\x00\x00"
}

const sniffPNGSig = "\x89PNG\r\n\x1a\n"

// sniffZipEntry is a stored zip local file header followed by the file data.
func sniffZipEntry(name, data string) string {
	return "PK\x03\x04" + "\x14\x00" + "\x00\x00" + "\x00\x00" + "\x00\x00\x00\x00" +
		"\x00\x00\x00\x00" + sniffLE32(uint32(len(data))) + sniffLE32(uint32(len(data))) +
		sniffLE16(uint16(len(name))) + "\x00\x00" + name + data
}

func sniffCases() []sniffCase {
	ihdr := sniffPNGChunk("IHDR", "\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00")
	ebml := "\x1A\x45\xDF\xA3\xA3"
	dcmHeader := sniffField{128, "DICM"}
	ole := sniffField{0, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"}
	zip := func(entries ...string) []byte { return sniffPad(0, entries...) }
	return []sniffCase{
		// IMAGE
		{"dwg", sniffPad(32, "AC1032"), "image/vnd.dwg"},
		{"xcf", sniffPad(32, "gimp xcf v011\x00"), "image/x-xcf"},
		{"jpeg", sniffPad(32, "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00"), "image/jpeg"},
		{"jpeg 3 bytes", sniffRaw("\xFF\xD8\xFF"), "image/jpeg"},
		{"jpx", sniffPad(64, "\x00\x00\x00\x0CjP  \r\n\x87\n", "\x00\x00\x00\x14ftypjp2 "), "image/jpx"},
		{"jpx 50 bytes", sniffPad(50, "\x00\x00\x00\x0CjP  \r\n\x87\n", "\x00\x00\x00\x14ftypjp2 "), ""},
		{"apng", sniffRaw(sniffPNGSig, ihdr, sniffPNGChunk("acTL", "\x00\x00\x00\x01\x00\x00\x00\x00"), sniffPNGChunk("IDAT", "x")), "image/apng"},
		{"png", sniffRaw(sniffPNGSig, ihdr, sniffPNGChunk("IDAT", "x"), sniffPNGChunk("IEND", "")), "image/png"},
		{"png acTL after IDAT", sniffRaw(sniffPNGSig, ihdr, sniffPNGChunk("IDAT", "x"), sniffPNGChunk("acTL", "\x00\x00\x00\x01\x00\x00\x00\x00")), "image/png"},
		{"png huge chunk length", sniffRaw(sniffPNGSig, "\xFF\xFF\xFF\xFFIHDR", "\x00\x00\x00\x00acTL"), "image/png"},
		{"png signature only", sniffRaw(sniffPNGSig), "image/png"},
		{"png 4 bytes", sniffRaw("\x89PNG"), "image/png"},
		{"gif", sniffPad(32, "GIF89a\x01\x00\x01\x00"), "image/gif"},
		{"webp", sniffPad(32, "RIFF", sniffLE32(24), "WEBPVP8 "), "image/webp"},
		{"tiff little endian", sniffPad(32, "II*\x00\x08\x00\x00\x00"), "image/tiff"},
		{"tiff big endian", sniffPad(32, "MM\x00*\x00\x00\x00\x08"), "image/tiff"},
		{"cr2", sniffPad(32, "II*\x00\x10\x00\x00\x00CR\x02\x00"), "image/x-canon-cr2"},
		{"bmp", sniffPad(32, "BM", sniffLE32(32)), "image/bmp"},
		{"jxr", sniffPad(32, "II\xBC\x01"), "image/vnd.ms-photo"},
		{"psd", sniffPad(32, "8BPS\x00\x01"), "image/vnd.adobe.photoshop"},
		{"ico", sniffPad(32, "\x00\x00\x01\x00\x01\x00\x10\x10"), "image/x-icon"},
		{"heic major", sniffPad(64, sniffFtyp("heic", "mif1", "heic")), "image/heic"},
		{"heic compatible", sniffPad(64, sniffFtyp("mif1", "mif1", "heic")), "image/heic"},
		{"dicom", sniffLayout(256, dcmHeader), "application/dicom"},
		{"avif major", sniffPad(64, sniffFtyp("avif", "avif", "mif1", "miaf")), "image/avif"},
		{"avif compatible", sniffPad(64, sniffFtyp("msf1", "msf1", "avif")), "image/avif"},

		// AUDIO
		{"aac adts mpeg4", sniffPad(16, "\xFF\xF1\x50\x80"), "audio/aac"},
		{"aac adts mpeg2", sniffRaw("\xFF\xF9"), "audio/aac"},
		{"midi", sniffPad(32, "MThd\x00\x00\x00\x06\x00\x01"), "audio/midi"},
		{"mp3 id3", sniffPad(32, "ID3\x04\x00\x00"), "audio/mpeg"},
		{"mp3 frame fb", sniffPad(32, "\xFF\xFB\x90\x64"), "audio/mpeg"},
		{"mp3 frame f3", sniffPad(32, "\xFF\xF3\x90\x64"), "audio/mpeg"},
		{"mp3 frame f2", sniffPad(32, "\xFF\xF2\x90\x64"), "audio/mpeg"},
		{"m4a ftyp", sniffPad(64, sniffFtyp("M4A ", "M4A ", "mp42", "isom")), "audio/mp4"},
		{"m4a bare", sniffPad(16, "M4A "), "audio/mp4"},
		{"ogg", sniffPad(32, "OggS\x00\x02"), "audio/ogg"},
		{"flac", sniffPad(32, "fLaC\x00\x00\x00\x22"), "audio/x-flac"},
		{"wav", sniffPad(44, "RIFF", sniffLE32(36), "WAVEfmt "), "audio/x-wav"},
		{"amr", sniffPad(16, "#!AMR\n\x3C"), "audio/amr"},
		{"aiff", sniffPad(32, "FORM", sniffBE32(24), "AIFFCOMM"), "audio/x-aiff"},

		// VIDEO
		{"3gp as filetype expects", sniffPad(32, "ftyp3gp4"), "video/3gpp"},
		{"3gp real isom", sniffPad(64, sniffFtyp("3gp4", "isom", "3gp4")), "video/mp4"},
		{"3gp real no isom", sniffPad(64, sniffFtyp("3gp4", "3gp4", "3gp5")), ""},
		{"mp4 major", sniffPad(64, sniffFtyp("isom", "isom", "iso2", "avc1", "mp41")), "video/mp4"},
		{"mp4 compatible", sniffPad(64, sniffFtyp("avc1", "avc1", "mp42")), "video/mp4"},
		{"mp4 major mp42 no compatible", sniffPad(64, sniffFtyp("mp42")), "video/mp4"},
		{"m4v", sniffPad(64, sniffFtyp("M4V ", "M4V ", "M4A ", "M4VH")), "video/x-m4v"},
		{"m4v with mp42 brand", sniffPad(64, sniffFtyp("M4V ", "M4V ", "mp42", "isom")), "video/mp4"},
		{"mkv", sniffRaw(ebml, "\x42\x86\x81\x01\x42\x82\x88matroska\x42\x87\x81\x04"), "video/x-matroska"},
		{"mov", sniffPad(64, sniffFtyp("qt  ", "qt  ")), "video/quicktime"},
		{"avi", sniffPad(32, "RIFF", sniffLE32(24), "AVI LIST"), "video/x-msvideo"},
		{"wmv", sniffPad(32, "\x30\x26\xB2\x75\x8E\x66\xCF\x11\xA6\xD9\x00\xAA\x00\x62\xCE\x6C"), "video/x-ms-wmv"},
		{"mpeg ps", sniffPad(32, "\x00\x00\x01\xBA\x44"), "video/mpeg"},
		{"mpeg es", sniffPad(32, "\x00\x00\x01\xB3\x14"), "video/mpeg"},
		{"webm", sniffRaw(ebml, "\x42\x86\x81\x01\x42\x82\x84webm\x42\x87\x81\x04"), "video/webm"},
		{"flv", sniffPad(16, "FLV\x01\x05\x00\x00\x00\x09"), "video/x-flv"},

		// FONT
		{"woff truetype", sniffPad(48, "wOFF\x00\x01\x00\x00"), "application/font-woff"},
		{"woff cff", sniffPad(48, "wOFFOTTO"), "application/font-woff"},
		{"woff true", sniffPad(48, "wOFFtrue"), "application/font-woff"},
		{"woff2", sniffPad(48, "wOF2\x00\x01\x00\x00"), "application/font-woff"},
		{"woff2 cff", sniffPad(48, "wOF2OTTO"), "application/font-woff"},
		{"woff unknown flavor", sniffPad(48, "wOFFabcd"), ""},
		{"ttf", sniffPad(32, "\x00\x01\x00\x00\x00\x0F\x00\x80"), "application/font-sfnt"},
		{"otf", sniffPad(32, "OTTO\x00\x0B\x00\x80"), "application/font-sfnt"},

		// DOCUMENT
		{"doc", sniffLayout(1024, ole, sniffField{512, "\xEC\xA5\xC1\x00"}), "application/msword"},
		{"doc marker", sniffLayout(2200, ole, sniffField{2080, "\x00\x0A\x00\x00\x00MSWordDoc\x00\x10\x00\x00\x00Word.Document.8\x00\xF49\xB2q"}), "application/msword"},
		{"doc 516 bytes", sniffLayout(516, ole, sniffField{512, "\xEC\xA5\xC1\x00"}), "application/msword"},
		{"docx word first", zip(sniffZipEntry("word/document.xml", "<w/>")), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"docx content types first", zip(sniffZipEntry("[Content_Types].xml", "<Types/>"), sniffZipEntry("_rels/.rels", "<r/>"), sniffZipEntry("word/document.xml", "<w/>")), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"docx after xl entry", zip(sniffZipEntry("docProps/app.xml", "<a/>"), sniffZipEntry("xl/x.xml", "<x/>"), sniffZipEntry("word/document.xml", "<w/>")), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
		{"odt", zip(sniffZipEntry("mimetype", "application/vnd.oasis.opendocument.text"), sniffZipEntry("content.xml", "<c/>")), "application/vnd.oasis.opendocument.text"},
		{"odt template", zip(sniffZipEntry("mimetype", "application/vnd.oasis.opendocument.text-template")), "application/vnd.oasis.opendocument.text"},
		{"xls", sniffLayout(1024, ole, sniffField{512, "\xFD\xFF\xFF\xFF\x10\x00\x00"}), "application/vnd.ms-excel"},
		{"xls biff", sniffLayout(1024, ole, sniffField{512, "\x09\x08\x10\x00\x00\x06\x05\x00"}), "application/vnd.ms-excel"},
		{"xls calc marker", sniffLayout(2200, ole, sniffField{1600, "\xE2\x00\x00\x00\x5C\x00\x70\x00\x04\x00\x00Calc"}), "application/vnd.ms-excel"},
		{"xlsx", zip(sniffZipEntry("[Content_Types].xml", "<Types/>"), sniffZipEntry("_rels/.rels", "<r/>"), sniffZipEntry("xl/workbook.xml", "<wb/>")), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"xlsx xl first", zip(sniffZipEntry("xl/workbook.xml", "<wb/>")), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"ods", zip(sniffZipEntry("mimetype", "application/vnd.oasis.opendocument.spreadsheet")), "application/vnd.oasis.opendocument.spreadsheet"},
		{"ppt", sniffLayout(1024, ole, sniffField{512, "\xA0\x46\x1D\xF0"}), "application/vnd.ms-powerpoint"},
		{"ppt 006e", sniffLayout(1024, ole, sniffField{512, "\x00\x6E\x1E\xF0"}), "application/vnd.ms-powerpoint"},
		{"ppt 0f00", sniffLayout(1024, ole, sniffField{512, "\x0F\x00\xE8\x03"}), "application/vnd.ms-powerpoint"},
		{"ppt fdff", sniffLayout(1024, ole, sniffField{512, "\xFD\xFF\xFF\xFF\x0E\x00\x01"}), "application/vnd.ms-powerpoint"},
		{"ppt marker", sniffLayout(2200, ole, sniffField{2072, "\x00\xB9\x29\xE8\x11\x00\x00\x00MS PowerPoint 97"}), "application/vnd.ms-powerpoint"},
		{"pptx fourth entry", zip(sniffZipEntry("[Content_Types].xml", "<T/>"), sniffZipEntry("_rels/.rels", "<r/>"), sniffZipEntry("docProps/app.xml", "<a/>"), sniffZipEntry("docProps/core.xml", "<c/>"), sniffZipEntry("ppt/presentation.xml", "<p/>")), "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
		{"pptx too deep", zip(sniffZipEntry("[Content_Types].xml", "<T/>"), sniffZipEntry("_rels/.rels", "<r/>"), sniffZipEntry("docProps/app.xml", "<a/>"), sniffZipEntry("docProps/core.xml", "<c/>"), sniffZipEntry("docProps/x.xml", "<x/>"), sniffZipEntry("ppt/presentation.xml", "<p/>")), "application/zip"},
		{"odp", zip(sniffZipEntry("mimetype", "application/vnd.oasis.opendocument.presentation")), "application/vnd.oasis.opendocument.presentation"},
		{"ole unknown", sniffLayout(1024, ole), ""},

		// ARCHIVE
		{"brotli", sniffPad(16, "\xCE\xB2\xCF\x81"), "application/x-brotli"},
		{"rpm", sniffPad(96, "\xED\xAB\xEE\xDB\x03\x00"), "application/x-rpm"},
		{"epub", zip(sniffZipEntry("mimetype", "application/epub+zip"), sniffZipEntry("META-INF/container.xml", "<c/>")), "application/epub+zip"},
		{"zip", zip(sniffZipEntry("hello.txt", "hello")), "application/zip"},
		{"zip empty archive", sniffPad(22, "PK\x05\x06"), "application/zip"},
		{"zip spanned", sniffPad(22, "PK\x07\x08"), "application/zip"},
		{"tar", sniffLayout(1024, sniffField{0, "hello.txt"}, sniffField{257, "ustar\x0000"}), "application/x-tar"},
		{"rar4", sniffPad(16, "Rar!\x1A\x07\x00"), "application/x-rar-compressed"},
		{"rar5", sniffPad(16, "Rar!\x1A\x07\x01\x00"), "application/x-rar-compressed"},
		{"gzip", sniffPad(20, "\x1F\x8B\x08\x00"), "application/gzip"},
		{"bzip2", sniffPad(16, "BZh91AY&SY"), "application/x-bzip2"},
		{"7z", sniffPad(32, "7z\xBC\xAF\x27\x1C\x00\x04"), "application/x-7z-compressed"},
		{"pdf", sniffRaw("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n"), "application/pdf"},
		{"pdf with bom", sniffRaw("\xEF\xBB\xBF%PDF-1.4\n"), "application/pdf"},
		{"exe", sniffPad(64, "MZ\x90\x00\x03"), "application/x-msdownload"},
		{"swf uncompressed", sniffPad(16, "FWS\x0A"), "application/x-shockwave-flash"},
		{"swf compressed", sniffPad(16, "CWS\x0A"), "application/x-shockwave-flash"},
		{"rtf", sniffRaw("{\\rtf1\\ansi hello}"), "application/rtf"},
		{"nes", sniffPad(16, "NES\x1A\x02\x01"), "application/x-nintendo-nes-rom"},
		{"crx", sniffPad(16, "Cr24\x02\x00\x00\x00"), "application/x-google-chrome-extension"},
		{"cab", sniffPad(36, "MSCF\x00\x00\x00\x00"), "application/vnd.ms-cab-compressed"},
		{"cab installshield", sniffPad(36, "ISc(\x01\x00"), "application/vnd.ms-cab-compressed"},
		{"eot", sniffLayout(64, sniffField{8, "\x02\x00\x01"}, sniffField{34, "LP"}), "application/octet-stream"},
		{"eot v1", sniffLayout(64, sniffField{8, "\x01\x00\x00"}, sniffField{34, "LP"}), "application/octet-stream"},
		{"eot v2.2", sniffLayout(64, sniffField{8, "\x02\x00\x02"}, sniffField{34, "LP"}), "application/octet-stream"},
		{"postscript", sniffRaw("%!PS-Adobe-3.0\n"), "application/postscript"},
		{"xz", sniffPad(32, "\xFD7zXZ\x00\x00\x04"), "application/x-xz"},
		{"sqlite", sniffPad(100, "SQLite format 3\x00"), "application/x-sqlite3"},
		{"deb", sniffRaw("!<arch>\ndebian-binary   1342943816  0     0     100644  4         `\n2.0\n"), "application/x-deb"},
		{"ar", sniffRaw("!<arch>\nfoo.o/          0           0     0     644     4         `\n"), "application/x-unix-archive"},
		{"compress 9d", sniffPad(8, "\x1F\x9D\x90"), "application/x-compress"},
		{"compress a0", sniffPad(8, "\x1F\xA0"), "application/x-compress"},
		{"lzop", sniffPad(16, "\x89LZO\x00\r\n\x1A\n"), "application/x-lzop"},
		{"lzip", sniffPad(16, "LZIP\x01\x0C"), "application/x-lzip"},
		{"elf", sniffPad(64, "\x7FELF\x02\x01\x01"), "application/x-executable"},
		{"lz4", sniffPad(16, "\x04\x22\x4D\x18\x64\x40\xA7"), "application/x-lz4"},
		{"zstd", sniffPad(16, "\x28\xB5\x2F\xFD\x04\x58"), "application/zstd"},
		{"zstd old magic", sniffPad(16, "\x22\xB5\x2F\xFD"), "application/zstd"},
		{"zstd after skippable frames", sniffRaw("\x50\x2A\x4D\x18", sniffLE32(4), "abcd", "\x5F\x2A\x4D\x18", sniffLE32(0), "\x28\xB5\x2F\xFD\x04"), "application/zstd"},
		{"zstd skippable overrun", sniffRaw("\x50\x2A\x4D\x18", sniffLE32(0xFFFFFFFF), "abcd"), ""},
		{"zstd skippable only", sniffRaw("\x50\x2A\x4D\x18", sniffLE32(4), "abcd"), ""},

		// APPLICATION
		{"wasm", sniffPad(16, "\x00asm\x01\x00\x00\x00\x01"), "application/wasm"},

		// Negative and edge cases.
		{"nil", nil, ""},
		{"empty", []byte{}, ""},
		{"one byte", sniffRaw("\x89"), ""},
		{"one byte M", sniffRaw("M"), ""},
		{"text", sniffRaw("Hello, world! This is plain text, not a known format.\n"), ""},
		{"json", sniffRaw(`{"role": "user", "content": [{"text": "hi"}]}`), ""},
		{"zeros", make([]byte, 4096), ""},
		{"truncated png", sniffRaw("\x89PN"), ""},
		{"truncated jpeg", sniffRaw("\xFF\xD8"), ""},
		{"truncated gif", sniffRaw("GI"), ""},
		{"truncated gzip", sniffRaw("\x1F\x8B"), ""},
		{"truncated pdf", sniffRaw("%PD"), ""},
		{"truncated pdf after bom", sniffRaw("\xEF\xBB\xBF%PD"), ""},
		{"pdf after bom 7 bytes", sniffRaw("\xEF\xBB\xBF%PDF"), "application/pdf"},
		{"mp3 frame 2 bytes", sniffRaw("\xFF\xFB"), ""},
		{"bmp 2 bytes", sniffRaw("BM"), "image/bmp"},
		{"webp 13 bytes", sniffRaw("RIFF", sniffLE32(5), "WEBPV"), ""},
		{"webp 14 bytes", sniffRaw("RIFF", sniffLE32(6), "WEBPVP"), "image/webp"},
		{"riff unknown", sniffPad(32, "RIFF", sniffLE32(24), "ABCD"), ""},
		{"elf 52 bytes", sniffPad(52, "\x7FELF"), ""},
		{"elf 53 bytes", sniffPad(53, "\x7FELF"), "application/x-executable"},
		{"dicom 132 bytes", sniffLayout(132, dcmHeader), ""},
		{"dicom 133 bytes", sniffLayout(133, dcmHeader), "application/dicom"},
		{"tar 261 bytes", sniffLayout(261, sniffField{257, "usta"}), ""},
		{"tar 262 bytes", sniffLayout(262, sniffField{257, "ustar"}), "application/x-tar"},
		{"amr 11 bytes", sniffPad(11, "#!AMR\n"), ""},
		{"ftyp box longer than data", sniffPad(20, sniffBE32(64), "ftypisom\x00\x00\x02\x00isom"), ""},
		{"ftyp box of 256 bytes looks like ico", sniffPad(256, sniffBE32(256), "ftypisom\x00\x00\x02\x00isom"), "image/x-icon"},
		{"ftyp unknown brand", sniffPad(64, sniffFtyp("abcd", "efgh")), ""},
		{"ftyp brand past box end", sniffPad(64, sniffBE32(17), "ftypmif1\x00\x00\x00\x00heic"), "image/heic"},
		{"ftyp brand cut by data end", sniffRaw(sniffBE32(17), "ftypmif1\x00\x00\x00\x00hei"), ""},
		{"ebml without doctype", sniffPad(64, ebml), ""},
		{"ole short", sniffLayout(515, ole, sniffField{512, "\xEC\xA5\xC1"}), ""},
		{"zip local header only", sniffRaw("PK\x03\x04"), "application/zip"},
		{"zip 3 bytes", sniffRaw("PK\x03"), ""},
		{"ooxml entry after 6000 bytes", zip(sniffZipEntry("[Content_Types].xml", strings.Repeat("x", 6100)), sniffZipEntry("word/document.xml", "<w/>")), "application/zip"},
		{"webm doctype beyond 8192", append(sniffPad(9000, ebml), "\x42\x82\x84webm"...), ""},
		{"webm doctype across 8192", append(sniffPad(8190, ebml), "\x42\x82\x84webm"...), ""},
		{"webm doctype at end of 8192", append(sniffPad(8192-7, ebml), "\x42\x82\x84webm"...), "video/webm"},
		{"png magic after 8192", append(make([]byte, 8192), sniffPNGSig...), ""},
		{"many skippable zstd frames", sniffRaw(strings.Repeat("\x50\x2A\x4D\x18\x00\x00\x00\x00", 500), "\x28\xB5\x2F\xFD"), "application/zstd"},
	}
}

func TestGuessMIME(t *testing.T) {
	for _, tc := range sniffCases() {
		if got := guessMIME(tc.data); got != tc.want {
			t.Errorf("%s: guessMIME = %q, want %q (filetype 1.2.0)", tc.name, got, tc.want)
		}
	}
}

// sniffSamplesSHA256 is the SHA-256 of every sample (name, NUL, hex of data,
// newline) in sniffCases order, as fed to filetype 1.2.0 to produce the
// expectations. If a sample changes, rerun Python on it, update its expected
// MIME type from the Python output, and then update this digest.
const sniffSamplesSHA256 = "549b8d893c60799e81e2978ce8fd20bc60a3e6e59c70faa6923a03c86bafe50e"

func TestSniffSamplesDigest(t *testing.T) {
	h := sha256.New()
	for _, tc := range sniffCases() {
		h.Write([]byte(tc.name + "\x00" + hex.EncodeToString(tc.data) + "\n"))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sniffSamplesSHA256 {
		t.Fatalf("samples changed since their expectations were produced by filetype 1.2.0: digest %s, want %s", got, sniffSamplesSHA256)
	}
}

// TestSniffCoversEveryMatcher checks that every matcher in the table is the
// first match for at least one sample, so no filetype type goes untested.
func TestSniffCoversEveryMatcher(t *testing.T) {
	hit := make([]bool, len(sniffMatchers))
	for _, tc := range sniffCases() {
		data := tc.data
		if len(data) > sniffLimit {
			data = data[:sniffLimit]
		}
		if len(data) == 0 {
			continue
		}
		for i := range sniffMatchers {
			if sniffMatchers[i].match(data) {
				hit[i] = true
				break
			}
		}
	}
	for i, ok := range hit {
		if !ok {
			t.Errorf("matcher %d (%s) is never the first match of any sample", i, sniffMatchers[i].mime)
		}
	}
}

func TestSniffNoAllocs(t *testing.T) {
	cases := sniffCases()
	allocs := testing.AllocsPerRun(20, func() {
		for _, tc := range cases {
			_ = guessMIME(tc.data)
		}
	})
	if allocs != 0 {
		t.Errorf("guessMIME allocates %v times per run of all samples, want 0", allocs)
	}
}

func FuzzGuessMIME(f *testing.F) {
	for _, tc := range sniffCases() {
		f.Add(tc.data)
	}
	known := map[string]bool{"": true}
	for _, m := range sniffMatchers {
		known[m.mime] = true
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got := guessMIME(data); !known[got] {
			t.Fatalf("guessMIME returned unknown MIME type %q", got)
		}
	})
}
