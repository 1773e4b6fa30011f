package chatstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/chatstore/chatstore/driver"
)

// OpenFunc opens a driver for a URL whose scheme it registered. The URL no
// longer holds the store-wide parameters (skip_system_messages, last_k);
// every parameter left is the backend's, and one it does not know must be an
// error. opts has its defaults filled in.
type OpenFunc func(ctx context.Context, u *url.URL, opts *Options) (driver.Store, error)

var schemes registry

// Register makes a backend available to Open under a URL scheme. Backends
// call it from init; it panics if the scheme is taken.
func Register(scheme string, open OpenFunc) { schemes.add(scheme, open) }

// Schemes lists the registered URL schemes.
func Schemes() []string { return schemes.names() }

// Open opens a store by URL: "memory://", "sqlite:///path/to/file.db",
// "postgres://...", "redis://...". The backend must be linked in, usually by
// importing its package (blank imports are enough). The store-wide options
// can be given as URL query parameters, named as in Haystack:
// skip_system_messages=true|false, last_k=N|all, search=true|false and
// tokenizer=approx|o200k_base|cl100k_base;
// they override opts.
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := parseURL(rawURL, &o)
	if err != nil {
		return nil, err
	}
	open, ok := schemes.get(u.Scheme)
	if !ok {
		return nil, fmt.Errorf("chatstore: %w %q in %s (registered: %s; is the backend package imported?)", ErrUnknownScheme, u.Scheme, u.Redacted(), strings.Join(Schemes(), ", "))
	}
	drv, err := open(ctx, u, &o)
	if err != nil {
		return nil, err
	}
	st, err := newStore(drv, o)
	if err != nil {
		drv.Close()
		return nil, err
	}
	return st, nil
}

// ParseURL parses a store URL as Open does and returns it as the backend's
// opener receives it: with the store-wide parameters (skip_system_messages,
// last_k) checked and taken out. Tools that reach a store's database
// directly (chatstore bench --raw) read URLs with it and the backend's own
// parsing, so that a URL means there what it means to Open.
func ParseURL(rawURL string) (*url.URL, error) {
	return parseURL(rawURL, new(Options))
}

// parseURL parses a store URL and moves its store-wide parameters into o.
func parseURL(rawURL string, o *Options) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse quotes the input in its error; keep credentials out.
		return nil, fmt.Errorf("chatstore: %w: cannot parse the store URL: %s", ErrInvalidOptions, parseErrorDetail(rawURL, err))
	}
	if err := takeStoreParams(u, o); err != nil {
		return nil, err
	}
	return u, nil
}

// takeStoreParams moves the store-wide query parameters into o and removes
// them from u.
func takeStoreParams(u *url.URL, o *Options) error {
	q := u.Query()
	if vs, ok := q["skip_system_messages"]; ok {
		skip, err := strconv.ParseBool(vs[len(vs)-1])
		if err != nil || len(vs) > 1 {
			return fmt.Errorf("chatstore: %w: skip_system_messages=%q: want one of true or false", ErrInvalidOptions, strings.Join(vs, ","))
		}
		o.KeepSystemMessages = !skip
		q.Del("skip_system_messages")
	}
	if vs, ok := q["last_k"]; ok {
		k, err := ParseLastK(vs[len(vs)-1])
		if err != nil || len(vs) > 1 {
			return fmt.Errorf("chatstore: %w: last_k=%q: want a whole number of rounds ≥ 0 or \"all\", once", ErrInvalidLastK, strings.Join(vs, ","))
		}
		o.LastK = StoreLastK(k)
		q.Del("last_k")
	}
	if vs, ok := q["search"]; ok {
		on, err := strconv.ParseBool(vs[len(vs)-1])
		if err != nil || len(vs) > 1 {
			return fmt.Errorf("chatstore: %w: search=%q: want one of true or false", ErrInvalidOptions, strings.Join(vs, ","))
		}
		o.NoSearch = !on
		q.Del("search")
	}
	if vs, ok := q["tokenizer"]; ok {
		m, err := NewMeter(vs[len(vs)-1])
		if err != nil || len(vs) > 1 {
			return fmt.Errorf("chatstore: %w: tokenizer=%q: want one of %s, once", ErrInvalidOptions, strings.Join(vs, ","), strings.Join(Tokenizers(), ", "))
		}
		o.Tokenizer = m.Name()
		q.Del("tokenizer")
	}
	if vs, ok := q["ttl"]; ok {
		d, err := ParseTTL(vs[len(vs)-1])
		if err != nil || len(vs) > 1 {
			return fmt.Errorf("chatstore: %w: ttl=%q: want a duration such as 30d, 24h or 90m, or none, once", ErrInvalidOptions, strings.Join(vs, ","))
		}
		o.TTL = d
		q.Del("ttl")
	}
	u.RawQuery = q.Encode()
	return nil
}

// parseErrorDetail says why a URL did not parse, unless the URL may hold
// credentials: url.Parse's messages quote pieces of the input, and a password
// with a '#' or '/' in it ends up in the "host" or "port" they quote.
func parseErrorDetail(rawURL string, err error) string {
	if strings.Contains(rawURL, "@") {
		return "it may contain credentials, so the details are withheld; check that special characters in the user name and password are percent-encoded"
	}
	if ue, ok := err.(*url.Error); ok {
		return ue.Err.Error()
	}
	return err.Error()
}
