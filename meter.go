package chatstore

import (
	"fmt"
	"strings"
	"sync"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
	"github.com/chatstore/chatstore/tokens"
)

// The tokenizers a store can count with (Options.Tokenizer, the URL
// parameter tokenizer=): Haystack's ApproximateTokenCounter with its
// defaults, and its TiktokenCounter with either encoding.
const (
	TokenizerApprox = "approx"
	TokenizerO200k  = tokens.O200kBase
	TokenizerCl100k = tokens.Cl100kBase
)

// Tokenizers lists the names Options.Tokenizer takes.
func Tokenizers() []string { return []string{TokenizerApprox, TokenizerO200k, TokenizerCl100k} }

// Meter measures messages for token budgets with one of Haystack's
// counters (see package tokens): each message once, when it is written
// (Cost), and any run of stored messages from their costs (Tokens). It is
// safe for concurrent use.
type Meter struct {
	name string
	c    tokens.Additive
}

// meters keeps one Meter per tokenizer for the process: a tiktoken
// vocabulary is loaded once.
var meters sync.Map // name → *Meter

// NewMeter returns the Meter of a tokenizer named as Options.Tokenizer
// names it ("" is TokenizerApprox); ErrInvalidOptions for another name.
func NewMeter(name string) (*Meter, error) {
	name = strings.ToLower(name)
	if name == "" {
		name = TokenizerApprox
	}
	if m, ok := meters.Load(name); ok {
		return m.(*Meter), nil
	}
	var (
		c   tokens.Additive
		err error
	)
	switch name {
	case TokenizerApprox:
		c, err = tokens.NewApproximate(nil)
	case TokenizerO200k, TokenizerCl100k:
		c, err = tokens.NewTiktoken(&tokens.Options{Encoding: name})
	default:
		return nil, fmt.Errorf("chatstore: %w: tokenizer %.50q: want one of %s", ErrInvalidOptions, name, strings.Join(Tokenizers(), ", "))
	}
	if err != nil {
		return nil, fmt.Errorf("chatstore: %w: tokenizer %s: %w", ErrInvalidOptions, name, err)
	}
	m, _ := meters.LoadOrStore(name, &Meter{name: name, c: c})
	return m.(*Meter), nil
}

// Name is the tokenizer's name, as Options.Tokenizer gives it.
func (m *Meter) Name() string { return m.name }

// Cost measures one message.
func (m *Meter) Cost(msg chat.Message) driver.Cost {
	text, flat := m.c.Measure(msg)
	return driver.Cost{Text: text, Flat: flat}
}

// Measure measures a stored message from its JSON: a driver.Measure.
func (m *Meter) Measure(js []byte) (driver.Cost, error) {
	msg, err := chat.Unmarshal(js)
	if err != nil {
		return driver.Cost{}, err
	}
	return m.Cost(msg), nil
}

// Tokens is the token count of n messages whose costs add up to c, as
// Haystack's counter counts them together: exactly for TokenizerApprox;
// for tiktoken, each message's tokens and one per "\n" that joins two (see
// tokens.Tiktoken.Total).
func (m *Meter) Tokens(c driver.Cost, n int64) int64 { return m.c.Total(c.Text, c.Flat, n) }

// Count is the counter's count of msgs and tools, as Haystack's counter
// gives it, for what a store does not hold (a context request's current
// messages, tool schemas).
func (m *Meter) Count(msgs []chat.Message, tools []tokens.Tool) int64 {
	return int64(m.c.Count(msgs, tools))
}
