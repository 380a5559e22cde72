package postgres

// The delivery statements and their transactions' start, for their plan
// test.
var DeliveryTxBegin = deliveryTx.BeginQuery

const (
	ClaimDeliveriesSQL = claimDeliveriesSQL
	RecordAttemptsSQL  = recordAttemptsSQL
	DueDeliveriesSQL   = dueDeliveriesSQL
)
