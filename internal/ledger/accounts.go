package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/walletd/wallet/internal/wallet"
)

// Password limits. bcrypt reads only 72 bytes, so passwords are first
// reduced with SHA-256; the upper bound only keeps requests small.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
	MaxNameLen     = 100
	MaxEmailLen    = 254
)

func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// compareDummy spends the time of a password check against a hash of the
// configured cost, so a failed sign-in takes as long whether or not the
// account exists.
func (s *Service) compareDummy(password string) {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a real password"), s.BcryptCost)
	})
	_ = s.compare(s.dummyHash, prehash(password))
}

// compare checks a password against a hash; tests count its calls.
func (s *Service) compare(hash, password []byte) error {
	if s.compareHook != nil {
		s.compareHook(hash)
	}
	return bcrypt.CompareHashAndPassword(hash, password)
}

// HashPassword hashes a password for storage.
func (s *Service) HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword(prehash(password), s.BcryptCost)
	return string(h), err
}

// NormalizeEmail checks an email address and returns it lower-cased.
func NormalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > MaxEmailLen || !strings.Contains(email, "@") {
		return "", wallet.Errorf(wallet.EInvalidEmail, "email must be a plain address such as ann@example.com")
	}
	return strings.ToLower(email), nil
}

// CheckName checks a display name: 1 to 100 printable characters.
func CheckName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen || hasControl(name) {
		return "", wallet.Errorf(wallet.EInvalidName, "name must be 1 to %d printable characters", MaxNameLen)
	}
	return name, nil
}

// hasControl reports control characters, line and paragraph separators,
// and the bidirectional controls that can disguise a name or a note.
// Joiners stay allowed: emoji need them.
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			return true
		}
	}
	return false
}

// CheckPassword enforces the password rules.
func CheckPassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return wallet.Errorf(wallet.EWeakPassword, "password must be at least %d characters", MinPasswordLen)
	}
	if len(password) > MaxPasswordLen {
		return wallet.Errorf(wallet.EWeakPassword, "password must be at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// Signup creates a user and its wallet in the deployment's currency.
// Returns EInvalidName, EInvalidEmail, EWeakPassword, EEmailTaken.
func (s *Service) Signup(ctx context.Context, name, email, password string) (wallet.User, wallet.Wallet, error) {
	name, err := CheckName(name)
	if err != nil {
		return wallet.User{}, wallet.Wallet{}, err
	}
	email, err = NormalizeEmail(email)
	if err != nil {
		return wallet.User{}, wallet.Wallet{}, err
	}
	if err := CheckPassword(password); err != nil {
		return wallet.User{}, wallet.Wallet{}, err
	}
	hash, err := s.HashPassword(password)
	if err != nil {
		return wallet.User{}, wallet.Wallet{}, err
	}
	return s.Accounts.CreateUser(ctx, wallet.User{Name: name, Email: email, PasswordHash: hash, Role: wallet.RoleUser}, s.Currency.Code)
}

// Authenticate checks an email and password. Every failure is
// EInvalidCredentials, whether or not the email exists.
func (s *Service) Authenticate(ctx context.Context, email, password string) (wallet.User, error) {
	bad := wallet.Errorf(wallet.EInvalidCredentials, "email or password is incorrect")
	email = strings.TrimSpace(email)
	if len(password) > MaxPasswordLen || len(email) > MaxEmailLen || !utf8.ValidString(email) || hasControl(email) {
		s.compareDummy(password)
		return wallet.User{}, bad
	}
	u, err := s.Accounts.UserByEmail(ctx, email)
	if wallet.ErrorCode(err) == wallet.EUserNotFound {
		s.compareDummy(password)
		return wallet.User{}, bad
	}
	if err != nil {
		return wallet.User{}, err
	}
	if s.compare([]byte(u.PasswordHash), prehash(password)) != nil {
		return wallet.User{}, bad
	}
	return u, nil
}

// EnsureAccount makes sure a bank or admin account exists with this email
// and password (and, for a bank, its settlement account). Many processes
// may call it at once.
func (s *Service) EnsureAccount(ctx context.Context, role wallet.Role, name, email, password string) (wallet.User, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return wallet.User{}, err
	}
	for range 3 {
		u, err := s.Accounts.UserByEmail(ctx, email)
		if wallet.ErrorCode(err) == wallet.EUserNotFound {
			hash, err := s.HashPassword(password)
			if err != nil {
				return wallet.User{}, err
			}
			u, _, err = s.Accounts.CreateUser(ctx, wallet.User{Name: name, Email: email, PasswordHash: hash, Role: role}, s.Currency.Code)
			if wallet.ErrorCode(err) == wallet.EEmailTaken {
				continue // another process created it; read it again
			}
			return u, err
		}
		if err != nil {
			return wallet.User{}, err
		}
		if u.Role != role {
			return wallet.User{}, errors.New("ledger: " + email + " exists with role " + string(u.Role) + ", not " + string(role))
		}
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), prehash(password)) != nil {
			hash, err := s.HashPassword(password)
			if err != nil {
				return wallet.User{}, err
			}
			if err := s.Accounts.SetPasswordHash(ctx, u.ID, hash); err != nil {
				return wallet.User{}, err
			}
		}
		return u, nil
	}
	return wallet.User{}, errors.New("ledger: could not create account " + email)
}
