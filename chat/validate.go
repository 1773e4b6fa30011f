package chat

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/chatstore/chatstore/internal/plural"
)

// imageMIMETypes is the set of MIME types Haystack accepts for an image
// (PIL's registry plus image/jpg). It is kept exactly, odd members included
// (application/pdf, video/mpeg), because an image Haystack accepts must not be
// refused here, nor the reverse.
var imageMIMETypes = map[string]bool{
	"image/bmp": true, "image/x-pcx": true, "application/postscript": true,
	"image/gif": true, "image/png": true, "image/jp2": true, "image/icns": true,
	"image/x-icon": true, "image/jpeg": true, "video/mpeg": true,
	"image/tiff": true, "image/mpo": true, "image/palm": true,
	"application/pdf": true, "image/x-portable-anymap": true,
	"image/vnd.adobe.photoshop": true, "image/sgi": true, "image/x-tga": true,
	"image/webp": true, "image/xbm": true, "image/xpm": true, "image/jpg": true,
}

// NewImage returns an image part validated as Haystack's ImageContent does:
// base64Image must be valid base64, and the MIME type, guessed from the bytes
// when mimeType is "", must be an image type. detail is "", "auto", "high" or
// "low".
func NewImage(base64Image, mimeType, detail string) (Image, error) {
	img := Image{Base64Image: base64Image, MimeType: mimeType, Detail: detail}
	if err := img.check(""); err != nil {
		return Image{}, err
	}
	return img, nil
}

// NewFile returns a file part validated as Haystack's FileContent does:
// base64Data must be valid base64; when mimeType is "" it is guessed from the
// bytes (and stays "" if the bytes are not recognised).
func NewFile(base64Data, mimeType, filename string) (File, error) {
	f := File{Base64Data: base64Data, MimeType: mimeType, Filename: filename}
	if err := f.check(""); err != nil {
		return File{}, err
	}
	return f, nil
}

// check validates img and fills in a guessed MIME type, like Haystack's
// ImageContent.__post_init__.
func (img *Image) check(path string) error {
	switch img.Detail {
	case "", "auto", "high", "low":
	default:
		return invalidf(joinPath(path, "detail"), "unknown detail %q; valid values are \"auto\", \"high\", \"low\" and null", img.Detail)
	}
	if img.SkipValidation {
		return nil
	}
	if err := checkBase64(img.Base64Image); err != nil {
		return invalidf(joinPath(path, "base64_image"), "%v", err)
	}
	if img.MimeType == "" {
		img.MimeType = guessMIME(decodePrefix(img.Base64Image))
	}
	if img.MimeType != "" && !imageMIMETypes[img.MimeType] {
		return invalidf(joinPath(path, "mime_type"), "%q is not a valid image MIME type (valid: image/png, image/jpeg, image/gif, image/webp and the other types Haystack lists)", img.MimeType)
	}
	return nil
}

// check validates f and fills in a guessed MIME type, like Haystack's
// FileContent.__post_init__.
func (f *File) check(path string) error {
	if f.SkipValidation {
		return nil
	}
	if err := checkBase64(f.Base64Data); err != nil {
		return invalidf(joinPath(path, "base64_data"), "%v", err)
	}
	if f.MimeType == "" {
		f.MimeType = guessMIME(decodePrefix(f.Base64Data))
	}
	return nil
}

// checkBase64 accepts exactly what Python's base64.b64decode(s,
// validate=True) accepts: the standard alphabet, then at most two '='. The
// padding rules are Python's, which are looser than Go's: data whose length
// is a multiple of four may carry stray '=', two leftover characters need
// "==" and three need at least one '='. A single leftover character is never
// valid. It does not allocate, so large images cost one pass.
func checkBase64(s string) error {
	data := strings.TrimRight(s, "=")
	if pads := len(s) - len(data); pads > 2 {
		return fmt.Errorf("not valid base64: more than two '=' at the end")
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return fmt.Errorf("not valid base64: character %q at offset %d is not in the standard base64 alphabet", c, i)
		}
	}
	pads := len(s) - len(data)
	switch len(data) % 4 {
	case 1:
		return fmt.Errorf("not valid base64: %s cannot be 1 more than a multiple of 4", plural.Count(len(data), "data character", "data characters"))
	case 2:
		if pads != 2 {
			return fmt.Errorf("not valid base64: incorrect padding (two trailing characters need \"==\")")
		}
	case 3:
		if pads == 0 {
			return fmt.Errorf("not valid base64: incorrect padding (three trailing characters need \"=\")")
		}
	}
	return nil
}

// decodePrefix decodes enough of a base64 string that checkBase64 accepted
// to sniff its type.
func decodePrefix(s string) []byte {
	data := strings.TrimRight(s, "=")
	if n := (sniffLimit + 2) / 3 * 4; len(data) > n {
		data = data[:n]
	}
	// Input checkBase64 accepted always decodes; on error out holds what
	// did, which is still the best thing to sniff.
	out, _ := base64.RawStdEncoding.DecodeString(data)
	return out
}

// Validate reports whether m is a message Haystack would accept and this
// package can encode: a known role, known non-nil parts, tool call results
// whose list parts are text, image or file, valid images (base64 data and an
// image MIME type) and files (base64 data) unless their validation is
// skipped, and valid image detail values. An image without a MIME type is
// checked with the type its bytes suggest, but m is not changed; NewImage and
// decoding fill the guess in.
func (m Message) Validate() error {
	if !m.Role.Valid() {
		return invalidf("role", "unknown role %q; valid roles are \"user\", \"system\", \"assistant\" and \"tool\"", string(m.Role))
	}
	for i, p := range m.Content {
		if err := validatePart(p, false); err != nil {
			return at("content", atIndex(i, err))
		}
	}
	return nil
}

func validatePart(p Part, inResult bool) error {
	switch p := p.(type) {
	case Text, ToolCall, Reasoning:
		if inResult {
			if _, ok := p.(Text); !ok {
				return invalidf("", "a tool call result list can only hold text, image and file parts, got %s", partName(p))
			}
		}
		return nil
	case ToolCallResult:
		if inResult {
			return invalidf("", "a tool call result list can only hold text, image and file parts, got %s", partName(p))
		}
		return at("tool_call_result", p.validate())
	case Image:
		return at("image", p.check(""))
	case File:
		return at("file", p.check(""))
	}
	return invalidf("", "%s is not a content part; valid parts are text, tool_call, tool_call_result, reasoning, image and file", partName(p))
}

func (r ToolCallResult) validate() error {
	for i, p := range r.Parts {
		if err := validatePart(p, true); err != nil {
			return at("result", atIndex(i, err))
		}
	}
	return nil
}
