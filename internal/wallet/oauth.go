package wallet

import (
	"context"
	"strings"
	"time"
)

// Scope is one OAuth 2.0 scope: what a token lets its bearer do.
type Scope uint8

// The scopes (API-OAUTH.md). A set of them is a Scopes.
const (
	ScopeWalletRead     Scope = 1 << iota // wallet, operations, holds, requests, withdrawals
	ScopeWalletTransfer                   // create operations, act on holds, requests, withdrawals
	ScopeBankDeposit                      // a payment system's deposits and withdrawal handling
	ScopeAdmin                            // the admin endpoints
)

// Scopes is a set of scopes.
type Scopes uint8

var scopeNames = []struct {
	s    Scope
	name string
}{
	{ScopeWalletRead, "wallet:read"},
	{ScopeWalletTransfer, "wallet:transfer"},
	{ScopeBankDeposit, "bank:deposit"},
	{ScopeAdmin, "admin"},
}

// Has reports whether the set holds s.
func (ss Scopes) Has(s Scope) bool { return ss&Scopes(s) != 0 }

// Contains reports whether every scope of o is in the set.
func (ss Scopes) Contains(o Scopes) bool { return ss&o == o }

// String is the space-separated list (RFC 6749 §3.3), in a fixed order.
func (ss Scopes) String() string {
	var parts []string
	for _, n := range scopeNames {
		if ss.Has(n.s) {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, " ")
}

// String is the scope's name.
func (s Scope) String() string { return Scopes(s).String() }

// ParseScopes parses a space-separated scope list; ok is false when it
// names a scope that does not exist (or is not one line of names).
func ParseScopes(text string) (Scopes, bool) {
	var ss Scopes
	if len(text) > 200 {
		return 0, false
	}
	for _, part := range strings.Split(text, " ") {
		if part == "" {
			continue
		}
		found := false
		for _, n := range scopeNames {
			if n.name == part {
				ss |= Scopes(n.s)
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return ss, true
}

// RoleScopes are every scope a role may hold: a session, HTTP Basic and
// the opaque tokens carry all of them, and no token of the role is ever
// granted more.
func RoleScopes(r Role) Scopes {
	switch r {
	case RoleUser:
		return Scopes(ScopeWalletRead | ScopeWalletTransfer)
	case RoleBank:
		return Scopes(ScopeWalletRead | ScopeBankDeposit)
	case RoleAdmin:
		return Scopes(ScopeWalletRead | ScopeAdmin)
	}
	return 0
}

// ClientType is an OAuth client's type (RFC 6749 §2.1).
type ClientType string

// Client types: a public client (a browser or native app) cannot keep a
// secret and proves itself with PKCE alone; a confidential one has a
// secret.
const (
	ClientPublic       ClientType = "public"
	ClientConfidential ClientType = "confidential"
)

// OAuthClient is a registered client. A payment system is a confidential
// client too, without a row of its own: its client id is its bank id and
// its secret its password (BankClient says which kind this is).
type OAuthClient struct {
	ID           string
	Name         string
	Type         ClientType
	RedirectURIs []string
	// SecretHash is the SHA-256 of a confidential client's secret (a
	// 256-bit random value, so a fast hash is enough).
	SecretHash []byte
	CreatedAt  time.Time
	// BankClient: the client is a payment system (ID is its bank id).
	BankClient bool
}

// AuthCode is an authorization code as stored: only its hash.
type AuthCode struct {
	Hash        []byte
	ClientID    string
	UserID      string
	RedirectURI string
	Scope       Scopes
	// Challenge is the PKCE S256 code challenge.
	Challenge string
	CreatedAt time.Time
	ExpiresAt time.Time
	// FamilyID is the family its redemption started, once redeemed.
	FamilyID string
}

// TokenFamily is one sign-in through OAuth: the refresh tokens that rotate
// from it and the access tokens they mint. It lives REFRESH_TOKEN_TTL from
// the sign-in, and ends at once when revoked.
type TokenFamily struct {
	ID        string
	ClientID  string
	UserID    string
	Scope     Scopes
	CreatedAt time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// Rotation is the outcome of presenting a refresh token.
type Rotation struct {
	Family TokenFamily
	// Found: the token exists. Reused: it had been used before, and the
	// family is now revoked.
	Found, Reused bool
}

// Revocation is an access token stopped before its expiry: by its jti, or
// all of a family's by the family id.
type Revocation struct {
	JTI       string
	FamilyID  string
	ExpiresAt time.Time
}

// AccessClaims are an access token's claims (RFC 9068).
type AccessClaims struct {
	Issuer   string
	Subject  string
	Audience string
	ClientID string
	Scope    Scopes
	JTI      string
	// FamilyID is the token family (the "sid" claim); empty for a client
	// credentials token.
	FamilyID string
	IssuedAt time.Time
	Expires  time.Time
}

// OAuthStore keeps clients, codes, token families and refresh tokens, and
// the revocations of access tokens, in Postgres.
type OAuthStore interface {
	CreateClient(ctx context.Context, c OAuthClient) (OAuthClient, error)
	Client(ctx context.Context, id string) (OAuthClient, error)
	Clients(ctx context.Context) ([]OAuthClient, error)
	SaveCode(ctx context.Context, code AuthCode) error
	// RedeemCode marks a code used at now and returns it; found is false
	// for an unknown code; reused is true when it had been used before,
	// and then the family its first use started is revoked (its access
	// tokens until revokeUntil).
	RedeemCode(ctx context.Context, hash []byte, now, revokeUntil time.Time) (code AuthCode, found, reused bool, err error)
	// CreateFamily starts a family with its first refresh token's hash;
	// codeHash, when set, is the code it was redeemed from (a reuse of
	// that code revokes the family, even one noticed before this call).
	CreateFamily(ctx context.Context, f TokenFamily, refreshHash, codeHash []byte) error
	// RotateRefresh uses a refresh token once: marks it used and stores
	// next as the family's new token, or, if it was used before, revokes
	// the family. At most one of any number of concurrent uses succeeds.
	RotateRefresh(ctx context.Context, hash, next []byte, now, revokeUntil time.Time) (Rotation, error)
	// RefreshFamily returns the family of an unused refresh token (found
	// is false for a used or unknown one).
	RefreshFamily(ctx context.Context, hash []byte) (TokenFamily, bool, error)
	// RevokeFamily ends a family: its refresh tokens at once, and its
	// access tokens, remembered as a revocation until revokeUntil.
	RevokeFamily(ctx context.Context, familyID string, now, revokeUntil time.Time) error
	// RevokeAccess remembers an access token's jti until it expires.
	RevokeAccess(ctx context.Context, r Revocation) error
	// Revocations lists the revocations still in force at now, for the
	// copy in Redis that requests read.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
	// PruneOAuth deletes up to limit each of the codes, revocations and
	// families that ended before before.
	PruneOAuth(ctx context.Context, before time.Time, limit int) (int, error)
	// SigningSeed returns the development signing key, making it once.
	SigningSeed(ctx context.Context, kid string, seed []byte) ([]byte, error)
}
