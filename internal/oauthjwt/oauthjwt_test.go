package oauthjwt

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/walletd/wallet/internal/wallet"
)

const iss = "https://wallet.test"

func key(t *testing.T, kid string, b byte) Key {
	t.Helper()
	seed := make([]byte, 32)
	seed[0] = b
	k, err := KeyFromSeed(kid, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func tokens(t *testing.T, issuer, audience string, keys ...Key) *Tokens {
	t.Helper()
	tk, err := New(keys, issuer, audience)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func claims(now time.Time) wallet.AccessClaims {
	return wallet.AccessClaims{Subject: "user-1", ClientID: "client_1", Scope: wallet.Scopes(wallet.ScopeWalletRead),
		JTI: "jti-1", FamilyID: "fam-1", IssuedAt: now, Expires: now.Add(15 * time.Minute)}
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestSignVerify(t *testing.T) {
	now := time.Now()
	tk := tokens(t, iss, iss, key(t, "k1", 1))
	raw, err := tk.Sign(claims(now))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tk.Verify(raw, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Subject != "user-1" || got.ClientID != "client_1" || got.Scope != wallet.Scopes(wallet.ScopeWalletRead) ||
		got.JTI != "jti-1" || got.FamilyID != "fam-1" || got.Issuer != iss || !got.Expires.Equal(now.Add(15*time.Minute).Truncate(time.Second)) {
		t.Errorf("claims %+v", got)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(tk.JWKS(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != "k1" ||
		set.Keys[0]["alg"] != "EdDSA" || set.Keys[0]["d"] != nil {
		t.Errorf("JWKS %s (%v): one public key, no private part", tk.JWKS(), err)
	}
}

// TestHostileTokens: every token below is refused.
func TestHostileTokens(t *testing.T) {
	now := time.Now()
	k1 := key(t, "k1", 1)
	tk := tokens(t, iss, iss, k1)
	good, err := tk.Sign(claims(now))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])

	pub := k1.Private.Public().(ed25519.PublicKey)
	hsHeader := b64(map[string]string{"alg": "HS256", "kid": "k1", "typ": "at+jwt"})
	mac := hmac.New(sha256.New, pub)
	mac.Write([]byte(hsHeader + "." + parts[1]))
	hs256 := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	signWith := func(k Key, typ string, c wallet.AccessClaims, issuer, aud string) string {
		opts := &jose.SignerOptions{}
		if typ != "" {
			opts = opts.WithType(jose.ContentType(typ))
		}
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}}, opts)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: issuer, Subject: c.Subject, Audience: jwt.Audience{aud}, ID: c.JTI,
			IssuedAt: jwt.NewNumericDate(c.IssuedAt), Expiry: jwt.NewNumericDate(c.Expires)}).
			Claims(map[string]any{"client_id": c.ClientID, "scope": c.Scope.String()}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	tampered := strings.Replace(string(payload), `"scope":"wallet:read"`, `"scope":"admin"`, 1)
	expired := claims(now.Add(-time.Hour))

	for name, raw := range map[string]string{
		"alg none":                  b64(map[string]string{"alg": "none", "kid": "k1", "typ": "at+jwt"}) + "." + parts[1] + ".",
		"HS256 with the public key": hs256,
		"unknown kid":               signWith(key(t, "k2", 2), "at+jwt", claims(now), iss, iss),
		"known kid, other key":      signWith(Key{ID: "k1", Private: key(t, "x", 3).Private}, "at+jwt", claims(now), iss, iss),
		"expired":                   signWith(k1, "at+jwt", expired, iss, iss),
		"another issuer":            signWith(k1, "at+jwt", claims(now), "https://evil.test", iss),
		"another audience":          signWith(k1, "at+jwt", claims(now), iss, "https://other-api.test"),
		"typ JWT":                   signWith(k1, "JWT", claims(now), iss, iss),
		"no typ":                    signWith(k1, "", claims(now), iss, iss),
		"tampered payload":          parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2],
		"signature cut":             parts[0] + "." + parts[1] + ".",
		"oversized":                 good + strings.Repeat("A", MaxTokenLen),
		"garbage":                   "a.b.c",
		"two signatures (JSON)":     `{"payload":"` + parts[1] + `","signatures":[]}`,
	} {
		if _, err := tk.Verify(raw, now); err != ErrInvalid {
			t.Errorf("%s: verified (%v)", name, err)
		}
	}
	if tampered == string(payload) {
		t.Fatal("the tampering changed nothing")
	}
	if _, err := tk.Verify(good, now); err != nil {
		t.Fatalf("the good token: %v", err)
	}
	if _, err := tk.Verify(signWith(k1, "at+jwt", claims(now), iss, iss), now); err != nil {
		t.Fatalf("the hostile tokens' maker, made honest: %v", err)
	}
}

// TestKeyRotation: a token signed with the old key verifies while the old
// key is listed after the new one, and not once it is removed.
func TestKeyRotation(t *testing.T) {
	now := time.Now()
	old, next := key(t, "2026-11", 1), key(t, "2026-12", 2)
	raw, err := tokens(t, iss, iss, old).Sign(claims(now))
	if err != nil {
		t.Fatal(err)
	}
	rotated := tokens(t, iss, iss, next, old)
	if _, err := rotated.Verify(raw, now); err != nil {
		t.Errorf("old token during the rotation: %v", err)
	}
	fresh, _ := rotated.Sign(claims(now))
	if h, _ := base64.RawURLEncoding.DecodeString(strings.Split(fresh, ".")[0]); !strings.Contains(string(h), `"kid":"2026-12"`) {
		t.Errorf("new tokens are signed with the first key: header %s", h)
	}
	if _, err := tokens(t, iss, iss, next).Verify(raw, now); err != ErrInvalid {
		t.Errorf("old token after its key was removed: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	seed := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	keys, err := ParseKeys("a=" + seed + ", b=" + seed + "=")
	if err != nil || len(keys) != 2 || keys[0].ID != "a" || keys[1].ID != "b" {
		t.Errorf("ParseKeys: %v %v", keys, err)
	}
	for _, bad := range []string{"", "a", "a=" + seed + ",a=" + seed, "a=short", "=" + seed, "a=!!!"} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

// BenchmarkVerify is a token's first use: the Ed25519 check and the
// claims. BenchmarkVerifyAgain is every later use of it.
func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	seed := make([]byte, 32)
	k, _ := KeyFromSeed("k1", seed)
	tk, _ := New([]Key{k}, iss, iss)
	raws := make([]string, 1000)
	for i := range raws {
		c := claims(now)
		c.JTI = fmt.Sprint(i)
		raws[i], _ = tk.Sign(c)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tk.verify(raws[i%len(raws)], now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyAgain(b *testing.B) {
	now := time.Now()
	k, _ := KeyFromSeed("k1", make([]byte, 32))
	tk, _ := New([]Key{k}, iss, iss)
	raw, _ := tk.Sign(claims(now))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := tk.Verify(raw, now); err != nil {
			b.Fatal(err)
		}
	}
}
