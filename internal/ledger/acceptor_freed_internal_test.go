package ledger

import "testing"

// TestFreesAny: an announcement makes the acceptor try again only when it
// names, as a wallet, one that a waiting request needs.
func TestFreesAny(t *testing.T) {
	waiting := []*pendingAccept{{wallets: []string{"a", "b"}}, {wallets: []string{"c"}}}
	tests := []struct {
		name    string
		waiting []*pendingAccept
		keys    []string
		want    bool
	}{
		{"a payer's wallet", waiting, []string{"op1", WakeWallet("a")}, true},
		{"a payee's wallet", waiting, []string{WakeWallet("b")}, true},
		{"another request's wallet", waiting, []string{WakeWallet("x"), WakeWallet("c")}, true},
		{"other wallets only", waiting, []string{WakeWallet("x"), WakeWallet("y")}, false},
		{"the id as an operation, not a wallet", waiting, []string{"a", "b", "c"}, false},
		{"the id as a user", waiting, []string{WakeUser("a")}, false},
		{"nothing waits", nil, []string{WakeWallet("a")}, false},
		{"an empty announcement", waiting, nil, false},
	}
	for _, tt := range tests {
		if got := freesAny(tt.waiting, tt.keys); got != tt.want {
			t.Errorf("%s: freesAny(%v) = %v, want %v", tt.name, tt.keys, got, tt.want)
		}
	}
}
