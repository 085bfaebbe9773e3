package rpcapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/drover/drover/internal/listen"
)

// Credential is one token a master accepts and who holds it.
type Credential struct {
	// Name says whose token it is ("ci", "crawler-fleet"); it shows in
	// refusals, logs and GET /api/v1/whoami, never the token. 1 to 64
	// letters, digits and ._@- characters.
	Name string
	// Role is what the token may do.
	Role Role
	// Token is the secret itself. It must not be empty nor start or end
	// with white space (a request's token is read trimmed).
	Token string
}

// Identity is who made a request: the name and role of the token it
// carried. A master without tokens treats every request as an admin's
// with no name.
type Identity struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// LegacyTokenName is the name of the single token of a master's conf
// (token, token_file, DROVER_TOKEN), an admin token.
const LegacyTokenName = "token"

var credentialName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// Keyring is a set of tokens with their identities. It is immutable; an
// Auth holds the current one. Its zero value, and nil, hold no token:
// every request passes, as an admin's.
type Keyring struct {
	ids      []Identity
	digests  [][sha256.Size]byte
	byDigest map[[sha256.Size]byte]int
}

// NewKeyring checks creds and returns their keyring. An unknown role, a
// bad name, an empty token, two credentials with the same name or the
// same token are errors naming the credentials by their place (counted
// from 1) and name, never by their token.
func NewKeyring(creds []Credential) (*Keyring, error) {
	k := &Keyring{byDigest: make(map[[sha256.Size]byte]int, len(creds))}
	names := make(map[string]int, len(creds))
	for i, c := range creds {
		n := i + 1
		switch {
		case !credentialName.MatchString(c.Name):
			return nil, fmt.Errorf("rpcapi: token %d: name %q: want 1 to 64 letters, digits or ._@- characters", n, c.Name)
		case !c.Role.Valid():
			return nil, fmt.Errorf("rpcapi: token %d (%s): unknown role %q (want admin, client, worker or read)", n, c.Name, c.Role)
		case c.Token == "":
			return nil, fmt.Errorf("rpcapi: token %d (%s): empty token", n, c.Name)
		case strings.TrimSpace(c.Token) != c.Token:
			return nil, fmt.Errorf("rpcapi: token %d (%s): the token starts or ends with white space", n, c.Name)
		case strings.ContainsFunc(c.Token, unicode.IsControl):
			return nil, fmt.Errorf("rpcapi: token %d (%s): a control character, which no HTTP header can carry", n, c.Name)
		}
		if j, ok := names[c.Name]; ok {
			return nil, fmt.Errorf("rpcapi: tokens %d and %d have the same name %q", j, n, c.Name)
		}
		names[c.Name] = n
		if j := k.add(c); j >= 0 {
			return nil, fmt.Errorf("rpcapi: tokens %d (%s) and %d (%s) are the same token", j+1, creds[j].Name, n, c.Name)
		}
	}
	return k, nil
}

// add adds c unchecked; it returns the index of a credential with the
// same token instead, or -1.
func (k *Keyring) add(c Credential) int {
	d := sha256.Sum256([]byte(c.Token))
	if j, ok := k.byDigest[d]; ok {
		return j
	}
	k.byDigest[d] = len(k.ids)
	k.ids = append(k.ids, Identity{Name: c.Name, Role: c.Role})
	k.digests = append(k.digests, d)
	return -1
}

// SingleToken returns the keyring of one admin token named
// LegacyTokenName, or an empty keyring when token is "".
func SingleToken(token string) *Keyring {
	k := &Keyring{byDigest: make(map[[sha256.Size]byte]int, 1)}
	if token != "" {
		k.add(Credential{Name: LegacyTokenName, Role: RoleAdmin, Token: token})
	}
	return k
}

// Len returns the number of tokens.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.ids)
}

// Count returns the number of tokens of each role.
func (k *Keyring) Count() map[Role]int {
	n := make(map[Role]int)
	if k != nil {
		for _, id := range k.ids {
			n[id.Role]++
		}
	}
	return n
}

// Lookup returns the identity of token. It compares the token's SHA-256
// digest with every token's, in constant time and without stopping at a
// match, so how long it takes says nothing about which tokens exist, how
// long they are, or which one matched. An empty keyring accepts anything
// as an admin with no name.
func (k *Keyring) Lookup(token string) (Identity, bool) {
	if k.Len() == 0 {
		return Identity{Role: RoleAdmin}, true
	}
	d := sha256.Sum256([]byte(token))
	found := -1
	for i := range k.digests {
		eq := subtle.ConstantTimeCompare(d[:], k.digests[i][:])
		found = subtle.ConstantTimeSelect(eq, i, found)
	}
	if found < 0 {
		return Identity{}, false
	}
	return k.ids[found], true
}

// Auth is the tokens a listener accepts, which can be replaced while it
// serves (a master reloads its tokens file on SIGHUP). It is safe for
// concurrent use.
type Auth struct {
	k atomic.Pointer[Keyring]
}

// NewAuth returns an Auth that accepts the tokens of k (nil: none, so
// every request passes).
func NewAuth(k *Keyring) *Auth {
	a := new(Auth)
	a.Set(k)
	return a
}

// Set replaces the tokens. A request checked after Set returns is checked
// against k, and so is every later call on a gob connection that
// authenticated before (see Authorize).
func (a *Auth) Set(k *Keyring) {
	if k == nil {
		k = &Keyring{}
	}
	a.k.Store(k)
}

// Keyring returns the current tokens.
func (a *Auth) Keyring() *Keyring { return a.k.Load() }

// Open reports whether no token is required.
func (a *Auth) Open() bool { return a.Keyring().Len() == 0 }

type authKey struct{}

// authInfo is what a request's context carries once Auth checked it.
type authInfo struct {
	auth   *Auth
	token  string
	digest [sha256.Size]byte
}

// Identify checks the token r carries (see TokenOf). It returns the
// identity and r with a context that carries it (see IdentityFrom,
// TokenFrom), or false when the token is missing or unknown.
func (a *Auth) Identify(r *http.Request) (*http.Request, Identity, bool) {
	tok := TokenOf(r)
	id, ok := a.Keyring().Lookup(tok)
	if !ok {
		return r, Identity{}, false
	}
	info := &authInfo{auth: a, token: tok, digest: sha256.Sum256([]byte(tok))}
	return r.WithContext(context.WithValue(r.Context(), authKey{}, info)), id, true
}

// Require wraps h so that every request must carry one of a's tokens (see
// TokenOf); others get 401 with a text body. A request that passes marks
// its connection authenticated (Authenticate) and reaches h with its
// identity in its context, for Authorize and IdentityFrom.
func (a *Auth) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r, _, ok := a.Identify(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="drover"`)
			http.Error(w, "drover: missing or wrong token", http.StatusUnauthorized)
			return
		}
		if !listen.Authenticate(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// IdentityFrom returns the identity of the token that ctx's request
// carried, as the Auth that checked it knows it now: a token removed
// since is ErrUnauthorized, a token whose role changed has its new role.
// A context that went through no Auth is an admin's with no name.
func IdentityFrom(ctx context.Context) (Identity, error) {
	info, ok := ctx.Value(authKey{}).(*authInfo)
	if !ok {
		return Identity{Role: RoleAdmin}, nil
	}
	k := info.auth.Keyring()
	if k.Len() == 0 {
		return Identity{Role: RoleAdmin}, nil
	}
	i, ok := k.byDigest[info.digest]
	if !ok {
		return Identity{}, fmt.Errorf("%w: the token of this connection is no longer accepted (the master's tokens changed)", ErrUnauthorized)
	}
	return k.ids[i], nil
}

// TokenFrom returns the token that ctx's request carried ("" for none),
// and false when the context went through no Auth.
func TokenFrom(ctx context.Context) (string, bool) {
	info, ok := ctx.Value(authKey{}).(*authInfo)
	if !ok {
		return "", false
	}
	return info.token, true
}
