package ledger

import "testing"

// TestFreesAny: a release makes the acceptor try again only when it frees
// a wallet that a waiting request needs.
func TestFreesAny(t *testing.T) {
	waiting := []*pendingAccept{{wallets: []string{"a", "b"}}, {wallets: []string{"c"}}}
	tests := []struct {
		name    string
		waiting []*pendingAccept
		freed   []string
		want    bool
	}{
		{"a payer's wallet", waiting, []string{"a"}, true},
		{"a payee's wallet", waiting, []string{"x", "b"}, true},
		{"another request's wallet", waiting, []string{"x", "c"}, true},
		{"other wallets only", waiting, []string{"x", "y"}, false},
		{"nothing waits", nil, []string{"a"}, false},
		{"nothing freed", waiting, nil, false},
	}
	for _, tt := range tests {
		if got := freesAny(tt.waiting, tt.freed); got != tt.want {
			t.Errorf("%s: freesAny(%v) = %v, want %v", tt.name, tt.freed, got, tt.want)
		}
	}
}
