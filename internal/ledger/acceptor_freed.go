package ledger

import "github.com/walletd/wallet/internal/wallet"

// A group's locks are released as soon as its operations are stored
// (storeGroup), and the acceptor's requests that wait for one of those
// wallets try their locks again at once instead of at their next
// jittered retry. On a hot wallet each group waits for the one before it
// to be stored, and that retry was about a third of each lock cycle.

// freedBuffer is how many releases wait for the acceptor's loop; past
// it they are dropped, and the timer retries.
const freedBuffer = 64

// walletsFreed tells the acceptor that the locks of these wallets were
// released. It never blocks, and does nothing without an acceptor.
func (s *Service) walletsFreed(held map[string]wallet.Lock) {
	a := s.acceptor
	if a == nil || len(held) == 0 {
		return
	}
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	select {
	case a.freed <- ids:
	default:
	}
}

// freesAny reports whether a waiting request needs one of the wallets
// freed.
func freesAny(waiting []*pendingAccept, freed []string) bool {
	for _, p := range waiting {
		for _, w := range p.wallets {
			for _, f := range freed {
				if w == f {
					return true
				}
			}
		}
	}
	return false
}
