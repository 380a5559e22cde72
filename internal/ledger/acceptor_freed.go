package ledger

import "strings"

// A worker announces each commit after it released the commit's locks
// (the results channel), naming the wallets it freed (WakeWallet). The
// acceptor's requests that wait for one of those wallets try their locks
// again at once instead of at their next jittered retry. On a hot wallet
// every group waits for the one before it to commit, and that retry was
// about a tenth of each lock cycle. An announcement that is lost or late
// only leaves the retry to the timer.

// freedBuffer is how many announcements wait for the acceptor's loop;
// past it they are dropped, and the timer retries.
const freedBuffer = 64

// WalletsFreed tells the acceptor that a commit announced keys (those of
// the results channel). It never blocks, and does nothing in a process
// without an acceptor.
func (s *Service) WalletsFreed(keys []string) {
	a := s.acceptor
	if a == nil {
		return
	}
	select {
	case a.freed <- keys:
	default:
	}
}

// freesAny reports whether keys name a wallet that a waiting request
// needs.
func freesAny(waiting []*pendingAccept, keys []string) bool {
	if len(waiting) == 0 {
		return false
	}
	freed := make(map[string]bool, len(keys))
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, walletKeyPrefix); ok {
			freed[id] = true
		}
	}
	for _, p := range waiting {
		for _, w := range p.wallets {
			if freed[w] {
				return true
			}
		}
	}
	return false
}
