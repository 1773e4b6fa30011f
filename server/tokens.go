package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/plural"
)

// ErrTokens is wrapped by every error reading a tokens file.
var ErrTokens = errors.New("invalid tokens file")

// MaxTenantLen is the longest tenant name, in bytes. A tenant's histories are
// stored under "tenant:TENANT:" + history id, so the tenant name takes room
// from the store's history id limit.
const MaxTenantLen = 64

// tenantNamespace starts the stored id of every tenant's history. A server
// without tokens refuses ids that start with it, so that no history written
// while tokens were off can become a tenant's once they are on.
const tenantNamespace = "tenant:"

// Tenant is who a request acts for.
type Tenant struct {
	// Name is the tenant's name from the tokens file; "" when the server has
	// no tokens file, and then histories are stored under their own ids.
	Name string
	// ReadOnly tenants may read but not write or delete.
	ReadOnly bool
}

// prefix is what the tenant's history ids are stored under. ':' cannot occur
// in a tenant name, so the first ':' after the namespace always ends the
// tenant and two tenants' histories never share a stored id.
func (t Tenant) prefix() string {
	if t.Name == "" {
		return ""
	}
	return tenantNamespace + t.Name + ":"
}

// Tokens maps bearer tokens to tenants. Only SHA-256 digests of the tokens
// are kept, and a lookup compares the digest of the presented token with
// every known digest in constant time, so neither the comparison nor its
// early exit tells an attacker how much of a guess was right.
type Tokens struct {
	entries []tokenEntry
	// ttls are the default times to live of the tenants whose lines give
	// one (ttl=), applied to their histories with SetDefaultTTL.
	ttls map[string]time.Duration
}

type tokenEntry struct {
	digest [sha256.Size]byte
	tenant Tenant
}

// MinTokenLen is the shortest token accepted in a tokens file.
const MinTokenLen = 16

// ParseTokens reads a tokens file: one "TENANT TOKEN" pair per line,
// followed by optional fields in any order, each at most once:
// "read-only", for a token that may read but not write or delete, and
// "ttl=DURATION" (chatstore.ParseTTL: 30d, 24h, 90m, or none), the default
// time to live of the tenant's histories that have none of their own. A
// tenant's ttl may be given on any of its lines; lines that give it twice
// must agree. '#' starts a comment; blank lines are ignored. Tenant names
// are 1 to MaxTenantLen bytes of ASCII letters, digits, '.', '_' and '-'.
// A tenant may have several tokens (for rotation); a token may appear only
// once.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{ttls: map[string]time.Duration{}}
	seen := map[[sha256.Size]byte]int{}
	ttlLine := map[string]int{} // tenant → the line that gave its ttl
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) < 2 || len(fields) > 4 {
			return nil, fmt.Errorf("server: %w: line %d: want \"TENANT TOKEN\", optionally followed by \"read-only\" and \"ttl=DURATION\", got %s", ErrTokens, line, plural.Count(len(fields), "field", "fields"))
		}
		name, token := fields[0], fields[1]
		if err := checkTenant(name); err != nil {
			return nil, fmt.Errorf("server: %w: line %d: %v", ErrTokens, line, err)
		}
		if len(token) < MinTokenLen {
			return nil, fmt.Errorf("server: %w: line %d: token of tenant %q is %s; at least %d are required", ErrTokens, line, name, plural.Count(len(token), "byte", "bytes"), MinTokenLen)
		}
		e := tokenEntry{digest: sha256.Sum256([]byte(token)), tenant: Tenant{Name: name}}
		hasTTL := false
		for i, f := range fields[2:] {
			field := i + 3
			switch v, isTTL := strings.CutPrefix(f, "ttl="); {
			case f == "read-only" && !e.tenant.ReadOnly:
				e.tenant.ReadOnly = true
			case isTTL && !hasTTL:
				hasTTL = true
				ttl, err := chatstore.ParseTTL(v)
				if err != nil {
					return nil, fmt.Errorf("server: %w: line %d: field %d: %s", ErrTokens, line, field, strings.TrimPrefix(err.Error(), "chatstore: "))
				}
				if prev, ok := ttlLine[name]; ok && t.ttls[name] != ttl {
					return nil, fmt.Errorf("server: %w: line %d: tenant %q has ttl=%s here and ttl=%s on line %d; a tenant has one default time to live", ErrTokens, line, name, chatstore.FormatTTL(ttl), chatstore.FormatTTL(t.ttls[name]), prev)
				}
				t.ttls[name], ttlLine[name] = ttl, line
			case f == "read-only" || isTTL:
				return nil, fmt.Errorf("server: %w: line %d: field %d: %q is given twice", ErrTokens, line, field, strings.SplitAfter(f, "=")[0])
			default:
				return nil, fmt.Errorf("server: %w: line %d: field %d must be \"read-only\" or \"ttl=DURATION\" (such as ttl=30d), got %.80q", ErrTokens, line, field, f)
			}
		}
		// The token is never quoted back: it is a secret, and a line number
		// is enough to find it.
		if prev, dup := seen[e.digest]; dup {
			return nil, fmt.Errorf("server: %w: line %d: the token of line %d appears again", ErrTokens, line, prev)
		}
		seen[e.digest] = line
		t.entries = append(t.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("server: %w: %w", ErrTokens, err)
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("server: %w: no tokens; an empty tokens file would lock every client out", ErrTokens)
	}
	return t, nil
}

// LoadTokens reads a tokens file from disk (see ParseTokens).
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("server: %w: %w", ErrTokens, err)
	}
	defer f.Close()
	t, err := ParseTokens(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Lookup returns the tenant a token belongs to.
func (t *Tokens) Lookup(token string) (Tenant, bool) {
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(d[:], t.entries[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Tenant{}, false
	}
	return t.entries[found].tenant, true
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// TTL is the default time to live the tokens file gives the tenant's
// histories (its ttl= field); 0 for none.
func (t *Tokens) TTL(tenant string) time.Duration { return t.ttls[tenant] }

func checkTenant(name string) error {
	if name == "" || len(name) > MaxTenantLen {
		return fmt.Errorf("tenant name must be 1 to %d bytes, got %d", MaxTenantLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("tenant name %q may hold only ASCII letters, digits, '.', '_' and '-'", name)
		}
	}
	return nil
}
