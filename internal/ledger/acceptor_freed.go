package ledger

import (
	"maps"
	"slices"

	"github.com/walletd/wallet/internal/wallet"
)

// A group's locks are released as soon as its operations are stored
// (storeGroup), and the acceptor's requests that wait for one of those
// wallets try their locks again at once instead of at their next
// jittered retry (0.5-2 ms): on a hot wallet each group waits for the
// one before it to be stored, a cycle of a few milliseconds.

// freedBuffer is how many releases wait for the acceptor's loop; past
// it they are dropped, and the timer retries.
const freedBuffer = 64

// releaseGroup releases a group's locks and tells the acceptor, if this
// process runs one, which wallets they freed. The telling never blocks.
func (s *Service) releaseGroup(held map[string]wallet.Lock, why string) {
	s.release(lockList(held), why)
	a := s.acceptor
	if a == nil || len(held) == 0 {
		return
	}
	select {
	case a.freed <- slices.Collect(maps.Keys(held)):
	default:
	}
}

// freesAny reports whether a waiting request needs one of the wallets
// freed.
func freesAny(waiting []*pendingAccept, freed []string) bool {
	for _, p := range waiting {
		if slices.ContainsFunc(p.wallets, func(w string) bool { return slices.Contains(freed, w) }) {
			return true
		}
	}
	return false
}
