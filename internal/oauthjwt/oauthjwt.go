// Package oauthjwt signs and verifies the service's OAuth access tokens:
// JWTs (RFC 9068, "typ": "at+jwt") signed with Ed25519 through go-jose,
// with the key id in the header. Verification needs no database or Redis:
// the public keys are in process, the algorithm is pinned to EdDSA
// whatever the token's header says, and typ, iss, aud, exp and nbf are
// checked.
package oauthjwt

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/walletd/wallet/internal/wallet"
)

// tokenType is the typ header of an access token (RFC 9068 §2.1).
const tokenType = "at+jwt"

// MaxTokenLen bounds what Verify parses: the service's tokens are about
// 500 bytes.
const MaxTokenLen = 4096

// leeway is the clock skew tolerated on exp, nbf and iat.
const leeway = 30 * time.Second

// Key is one signing key.
type Key struct {
	ID      string
	Private ed25519.PrivateKey
}

// KeyFromSeed makes a Key from a 32-byte Ed25519 seed.
func KeyFromSeed(kid string, seed []byte) (Key, error) {
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("key %q: an Ed25519 seed is %d bytes, not %d", kid, ed25519.SeedSize, len(seed))
	}
	return Key{ID: kid, Private: ed25519.NewKeyFromSeed(seed)}, nil
}

// ParseKeys parses OAUTH_SIGNING_KEYS: comma-separated kid=seed pairs,
// the seed 32 bytes in base64url (padding optional). The first key signs;
// all of them verify and are published, so a rotation lists the new key
// first and keeps the old one until the tokens it signed have expired.
func ParseKeys(text string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for _, part := range strings.Split(text, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		kid, enc, ok := strings.Cut(part, "=")
		if !ok || kid == "" || len(kid) > 64 || strings.ContainsAny(kid, " \"\\") {
			return nil, errors.New("each key is kid=base64url-seed")
		}
		if seen[kid] {
			return nil, fmt.Errorf("key id %q appears twice", kid)
		}
		seen[kid] = true
		seed, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
		if err != nil {
			return nil, fmt.Errorf("key %q: the seed is not base64url", kid)
		}
		k, err := KeyFromSeed(kid, seed)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key given")
	}
	return keys, nil
}

// Tokens signs with the first key and verifies with any.
type Tokens struct {
	issuer, audience string
	signer           jose.Signer
	public           map[string]ed25519.PublicKey
	jwks             []byte

	// verified remembers tokens whose signature and claims checked out,
	// by their whole text, so a client's next request with the same
	// token costs a map read instead of an Ed25519 verification (the
	// times are still checked on every use, the revocations by the
	// caller). At most maxVerified entries; when full, expired ones go
	// first, then any.
	mu       sync.Mutex
	verified map[string]wallet.AccessClaims
}

// maxVerified bounds the cache of verified tokens (about 1 KiB each).
const maxVerified = 50000

// New returns Tokens for the keys (the first signs) with the issuer and
// audience every token carries and must carry.
func New(keys []Key, issuer, audience string) (*Tokens, error) {
	if len(keys) == 0 {
		return nil, errors.New("oauthjwt: no signing key")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: keys[0].Private, KeyID: keys[0].ID}},
		(&jose.SignerOptions{}).WithType(tokenType))
	if err != nil {
		return nil, fmt.Errorf("oauthjwt: %w", err)
	}
	t := &Tokens{issuer: issuer, audience: audience, signer: signer, public: map[string]ed25519.PublicKey{},
		verified: map[string]wallet.AccessClaims{}}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		pub := k.Private.Public().(ed25519.PublicKey)
		t.public[k.ID] = pub
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: pub, KeyID: k.ID, Algorithm: string(jose.EdDSA), Use: "sig"})
	}
	if t.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("oauthjwt: %w", err)
	}
	return t, nil
}

// JWKS is the public key set (RFC 7517), as JSON.
func (t *Tokens) JWKS() []byte { return t.jwks }

// extra are the claims beside the registered ones.
type extra struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	SID      string `json:"sid,omitempty"`
}

// Sign signs an access token with c's claims (its issuer and audience are
// the Tokens').
func (t *Tokens) Sign(c wallet.AccessClaims) (string, error) {
	std := jwt.Claims{
		Issuer: t.issuer, Subject: c.Subject, Audience: jwt.Audience{t.audience}, ID: c.JTI,
		IssuedAt: jwt.NewNumericDate(c.IssuedAt), NotBefore: jwt.NewNumericDate(c.IssuedAt), Expiry: jwt.NewNumericDate(c.Expires),
	}
	raw, err := jwt.Signed(t.signer).Claims(std).Claims(extra{ClientID: c.ClientID, Scope: c.Scope.String(), SID: c.FamilyID}).Serialize()
	if err != nil {
		return "", fmt.Errorf("oauthjwt: sign: %w", err)
	}
	return raw, nil
}

// ErrInvalid is every verification failure: the caller answers 401
// without saying which check failed.
var ErrInvalid = errors.New("invalid access token")

// Looks reports whether raw has a JWT's shape (three dot-separated
// parts), as opposed to the service's opaque tokens.
func Looks(raw string) bool { return strings.Count(raw, ".") == 2 }

// Verify checks raw's signature, header and claims at now.
func (t *Tokens) Verify(raw string, now time.Time) (wallet.AccessClaims, error) {
	if len(raw) > MaxTokenLen {
		return wallet.AccessClaims{}, ErrInvalid
	}
	t.mu.Lock()
	c, ok := t.verified[raw]
	t.mu.Unlock()
	if ok {
		if !inTime(c, now) {
			return wallet.AccessClaims{}, ErrInvalid
		}
		return c, nil
	}
	c, err := t.verify(raw, now)
	if err != nil {
		return c, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.verified) >= maxVerified {
		for k, v := range t.verified {
			if !inTime(v, now) {
				delete(t.verified, k)
			}
		}
		for k := range t.verified {
			if len(t.verified) < maxVerified*9/10 {
				break
			}
			delete(t.verified, k)
		}
	}
	t.verified[raw] = c
	return c, nil
}

// inTime is the time check of a verified token: not expired, not before
// its issue (both with the leeway).
func inTime(c wallet.AccessClaims, now time.Time) bool {
	return now.Before(c.Expires.Add(leeway)) && !now.Before(c.IssuedAt.Add(-leeway))
}

func (t *Tokens) verify(raw string, now time.Time) (wallet.AccessClaims, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil || len(tok.Headers) != 1 {
		return wallet.AccessClaims{}, ErrInvalid
	}
	h := tok.Headers[0]
	pub, ok := t.public[h.KeyID]
	if !ok || h.Algorithm != string(jose.EdDSA) {
		return wallet.AccessClaims{}, ErrInvalid
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, tokenType) && !strings.EqualFold(typ, "application/"+tokenType) {
		return wallet.AccessClaims{}, ErrInvalid
	}
	var std jwt.Claims
	var ex extra
	if err := tok.Claims(pub, &std, &ex); err != nil {
		return wallet.AccessClaims{}, ErrInvalid
	}
	if std.Expiry == nil || std.IssuedAt == nil || std.ID == "" || std.Subject == "" || ex.ClientID == "" {
		return wallet.AccessClaims{}, ErrInvalid
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: t.issuer, AnyAudience: jwt.Audience{t.audience}, Time: now}, leeway); err != nil {
		return wallet.AccessClaims{}, ErrInvalid
	}
	scope, ok := wallet.ParseScopes(ex.Scope)
	if !ok {
		return wallet.AccessClaims{}, ErrInvalid
	}
	return wallet.AccessClaims{
		Issuer: std.Issuer, Subject: std.Subject, Audience: t.audience, ClientID: ex.ClientID, Scope: scope,
		JTI: std.ID, FamilyID: ex.SID, IssuedAt: std.IssuedAt.Time(), Expires: std.Expiry.Time(),
	}, nil
}
