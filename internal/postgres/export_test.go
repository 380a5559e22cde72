package postgres

// The delivery statements and their transactions' start, for their plan
// test.
var DeliveryTxBegin = deliveryTx.BeginQuery

const (
	ClaimDeliveriesSQL = claimDeliveriesSQL
	RecordAttemptsSQL  = recordAttemptsSQL
	DueDeliveriesSQL   = dueDeliveriesSQL
)

// SetRelayFewUsers sets how many users with endpoints the relay reads the
// notifications of one by one (0: it reads every notification).
func (s *Store) SetRelayFewUsers(n int) { s.relayFewUsers = &n }
