package ledger

import (
	"context"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/walletd/wallet/internal/wallet"
)

// oneUser is Accounts with one known user.
type oneUser struct {
	Accounts
	u wallet.User
}

func (a oneUser) UserByEmail(_ context.Context, email string) (wallet.User, error) {
	if strings.EqualFold(email, a.u.Email) {
		return a.u, nil
	}
	return wallet.User{}, wallet.Errorf(wallet.EUserNotFound, "user not found")
}

// A failed sign-in must not tell whether the email exists: every path
// does exactly one password comparison against a hash of the configured
// cost, so they take the same time. Counting comparisons holds that
// whatever the machine's speed, where timing the answers would not.
func TestAuthenticateComparesOnce(t *testing.T) {
	t.Parallel()
	const cost = 5
	s := &Service{BcryptCost: cost}
	hash, err := s.HashPassword("the right password")
	if err != nil {
		t.Fatal(err)
	}
	s.Accounts = oneUser{u: wallet.User{ID: "u1", Email: "ann@example.com", PasswordHash: hash}}
	var mu sync.Mutex
	var costs []int
	s.compareHook = func(h []byte) {
		c, err := bcrypt.Cost(h)
		if err != nil {
			c = -1
		}
		mu.Lock()
		costs = append(costs, c)
		mu.Unlock()
	}
	tests := []struct {
		name, email, password string
		ok                    bool
	}{
		{"right password", "ann@example.com", "the right password", true},
		{"wrong password", "ann@example.com", "a wrong password", false},
		{"unknown email", "bob@example.com", "a wrong password", false},
		{"email not an address", "not an email", "a wrong password", false},
		{"email with a control character", "ann\x00@example.com", "a wrong password", false},
		{"password too long", "ann@example.com", strings.Repeat("p", MaxPasswordLen+1), false},
	}
	for _, tt := range tests {
		costs = nil
		_, err := s.Authenticate(context.Background(), tt.email, tt.password)
		if (err == nil) != tt.ok {
			t.Errorf("%s: Authenticate: %v", tt.name, err)
		}
		if !tt.ok && wallet.ErrorCode(err) != wallet.EInvalidCredentials {
			t.Errorf("%s: Authenticate: %v, want %s", tt.name, err, wallet.EInvalidCredentials)
		}
		if len(costs) != 1 || costs[0] != cost {
			t.Errorf("%s: compared against hashes of cost %v, want exactly one of cost %d", tt.name, costs, cost)
		}
	}
}
