package tokens

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/chatstore/chatstore/chat"
)

// Counter counts the tokens of a conversation and of the tools offered with
// it, as Haystack's TokenCounter protocol does. Count never fails, and is
// safe for concurrent use.
type Counter interface {
	Count(msgs []chat.Message, tools []Tool) int
}

// Haystack's defaults.
const (
	DefaultCharsPerToken  = 4.0
	DefaultTokensPerImage = 85
	DefaultTokensPerFile  = 1000
)

// NoCharge in Options.TokensPerImage or TokensPerFile charges nothing
// (Haystack's 0, which here means the default).
const NoCharge = -1

// ErrInvalidOptions is wrapped by the errors of NewApproximate and
// NewTiktoken.
var ErrInvalidOptions = errors.New("invalid options")

// Options configure a counter. A nil *Options means Haystack's defaults.
type Options struct {
	// Encoding is Tiktoken's encoding: "" means O200kBase; Cl100kBase is
	// the other. Approximate ignores it.
	Encoding string
	// CharsPerToken is Approximate's characters (code points) per token:
	// 0 means DefaultCharsPerToken, and it must not be negative. Tiktoken
	// ignores it.
	CharsPerToken float64
	// TokensPerImage and TokensPerFile are added for each image and file:
	// 0 means DefaultTokensPerImage and DefaultTokensPerFile, NoCharge
	// means nothing. Other negative numbers are an error.
	TokensPerImage int
	TokensPerFile  int
}

// withDefaults returns a copy of o with defaults filled in.
func (o *Options) withDefaults() (Options, error) {
	var out Options
	if o != nil {
		out = *o
	}
	if out.Encoding == "" {
		out.Encoding = O200kBase
	}
	switch {
	case out.CharsPerToken == 0:
		out.CharsPerToken = DefaultCharsPerToken
	case !(out.CharsPerToken > 0): // NaN too
		return out, fmt.Errorf("tokens: %w: CharsPerToken must be greater than 0, got %v", ErrInvalidOptions, out.CharsPerToken)
	}
	var err error
	if out.TokensPerImage, err = charge("TokensPerImage", out.TokensPerImage, DefaultTokensPerImage); err != nil {
		return out, err
	}
	if out.TokensPerFile, err = charge("TokensPerFile", out.TokensPerFile, DefaultTokensPerFile); err != nil {
		return out, err
	}
	return out, nil
}

func charge(name string, n, def int) (int, error) {
	switch {
	case n == 0:
		return def, nil
	case n == NoCharge:
		return 0, nil
	case n < 0:
		return 0, fmt.Errorf("tokens: %w: %s must not be negative (NoCharge is %d), got %d", ErrInvalidOptions, name, NoCharge, n)
	}
	return n, nil
}

// flat is the charge for the images and files of msgs.
func flat(msgs []chat.Message, perImage, perFile int) int {
	images, files := attachments(msgs)
	return images*perImage + files*perFile
}

// Approximate is Haystack's ApproximateTokenCounter: the code points of
// the rendered text divided by a number of characters per token, plus a
// flat amount per image and per file.
type Approximate struct {
	charsPerToken     float64
	perImage, perFile int
}

var _ Counter = (*Approximate)(nil)

// NewApproximate returns an Approximate counter.
func NewApproximate(o *Options) (*Approximate, error) {
	opts, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Approximate{charsPerToken: opts.CharsPerToken, perImage: opts.TokensPerImage, perFile: opts.TokensPerFile}, nil
}

// Count returns int(len(text) / CharsPerToken) plus the flat charges, where
// text is Render(msgs, tools) and len counts code points as Python's len
// does; 0 when there are neither messages nor tools.
func (a *Approximate) Count(msgs []chat.Message, tools []Tool) int {
	if len(msgs) == 0 && len(tools) == 0 {
		return 0
	}
	n := utf8.RuneCount(appendRender(nil, msgs, tools))
	// Python's int() truncates the float quotient, as the conversion does.
	// The bound, which only an absurdly small CharsPerToken reaches, keeps
	// the conversion defined, on 32-bit platforms too.
	q := min(float64(n)/a.charsPerToken, math.MaxInt32)
	return int(q) + flat(msgs, a.perImage, a.perFile)
}

// Tiktoken is Haystack's TiktokenCounter: the number of tiktoken tokens of
// the rendered text, plus a flat amount per image and per file.
type Tiktoken struct {
	enc               *encoding
	perImage, perFile int
}

var _ Counter = (*Tiktoken)(nil)

// NewTiktoken returns a Tiktoken counter. The first counter of an encoding
// loads its vocabulary (Haystack's warm_up, done here rather than on the
// first count), which the process then keeps: about 100 ms and 8 MB for
// o200k_base.
func NewTiktoken(o *Options) (*Tiktoken, error) {
	opts, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	enc, err := load(opts.Encoding)
	if err != nil {
		return nil, err
	}
	return &Tiktoken{enc: enc, perImage: opts.TokensPerImage, perFile: opts.TokensPerFile}, nil
}

// Encoding returns the name of the counter's encoding.
func (t *Tiktoken) Encoding() string { return t.enc.name }

// Count returns the number of tokens of Render(msgs, tools) plus the flat
// charges; 0 when there are neither messages nor tools. Text spelling a
// special token, such as <|endoftext|>, counts as the ordinary text it is,
// where Haystack's count raises.
func (t *Tiktoken) Count(msgs []chat.Message, tools []Tool) int {
	if len(msgs) == 0 && len(tools) == 0 {
		return 0
	}
	return t.enc.count(string(appendRender(nil, msgs, tools))) + flat(msgs, t.perImage, t.perFile)
}
