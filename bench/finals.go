package main

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"sync/atomic"
	"time"
)

// Reading final states happens after a phase, never during it: polling
// each operation while the load runs would add load of its own and skew
// what is measured. Accept-to-final comes from the service's own
// timestamps (created_at to completed_at), so reading late costs nothing
// in accuracy.

// pageSize is the largest page the wallet listing gives.
const pageSize = 100

// readFinals fills in the final state of every operation of l: it waits
// (at most limit) for the newest ones to be final, reads the rest from
// the recipients' wallet listings, a hundred to a request, or one by one
// where a listing would be long, and long-polls any still pending.
func readFinals(ctx context.Context, c *client, pop *population, l *phaseLoad, limit time.Duration, conc int, u *ui) {
	deadline := time.Now().Add(limit)
	waitForNewest(ctx, c, pop, l.Ops, deadline, conc)

	index := make(map[string]int, len(l.Ops))
	for i, op := range l.Ops {
		index[op.ID] = i
	}
	list, get := readPlan(l.Ops, len(pop.Users))
	b := u.bar(int64(len(l.Ops)), "reading final states")
	var failed atomic.Int64
	wallets := make([]int32, 0, len(list))
	for w := range list {
		wallets = append(wallets, w)
	}
	_ = forEach(ctx, len(wallets), conc, func(ctx context.Context, i int) error {
		w := wallets[i]
		if err := readListing(ctx, c, pop.Users[w].Auth, w, l, index, list[w]); err != nil {
			failed.Add(1)
		}
		b.add(list[w])
		return nil
	})
	readByID(ctx, c, pop, l.Ops, get, "", conc, time.Time{}, &failed, b)
	b.finish()

	// Long-poll what is still pending, until the deadline; this also
	// reads any operation a listing did not show (none should be missing).
	for ctx.Err() == nil && time.Now().Before(deadline) {
		var pending []int
		for i := range l.Ops {
			if !l.Ops[i].final() {
				pending = append(pending, i)
			}
		}
		if len(pending) == 0 {
			break
		}
		u.logf("%d operations still pending, waiting for them", len(pending))
		readByID(ctx, c, pop, l.Ops, pending, "?wait=10", conc, deadline, &failed, &bar{})
	}
	if n := failed.Load(); n > 0 {
		u.warnf("%d reads of final states failed", n)
	}
}

// waitForNewest long-polls the most recently accepted operations until
// they are final: the queue is roughly first in, first out, so by then
// nearly all are, and the listings read final states rather than pending
// ones.
func waitForNewest(ctx context.Context, c *client, pop *population, ops []opRecord, deadline time.Time, conc int) {
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(ops[b].Due+ops[b].Accept, ops[a].Due+ops[a].Accept) })
	order = order[:min(len(order), conc)]
	_ = forEach(ctx, len(order), conc, func(ctx context.Context, i int) error {
		r := ops[order[i]]
		op := operation{ID: r.ID, Status: r.Status}
		_ = waitFinal(ctx, c, pop.Users[r.To].Auth, &op, time.Until(deadline))
		return nil
	})
}

// readPlan decides, for each recipient wallet, whether to read its
// operations from its listing or one by one: a listing pages through
// every operation the wallet took part in (sent ones too), which for a
// hot wallet is far more than the few it received. It returns the wallets
// to list with how many of their received operations to find, and the
// operations to read by id.
func readPlan(ops []opRecord, users int) (list map[int32]int, get []int) {
	parties := make([]int, users) // operations each wallet took part in
	received := make(map[int32][]int)
	for i, op := range ops {
		if op.From >= 0 {
			parties[op.From]++
		}
		parties[op.To]++
		received[op.To] = append(received[op.To], i)
	}
	list = map[int32]int{}
	for w, idx := range received {
		if pages := (parties[w] + pageSize - 1) / pageSize; pages <= len(idx) {
			list[w] = len(idx)
		} else {
			get = append(get, idx...)
		}
	}
	slices.Sort(get)
	return list, get
}

// readListing pages through wallet w's operations, newest first, and
// records the final state of those it received in this phase, until all
// want of them are found or the listing reaches operations older than the
// phase.
func readListing(ctx context.Context, c *client, auth string, w int32, l *phaseLoad, index map[string]int, want int) error {
	cursor, found := "", 0
	oldest := l.Start.Add(-time.Minute)
	for found < want {
		path := "/api/wallet/operations?limit=100"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		var page struct {
			Operations []operation `json:"operations"`
			NextCursor *string     `json:"next_cursor"`
		}
		err := withRetry(ctx, func() error {
			_, err := c.do(ctx, request{Method: http.MethodGet, Path: path, Auth: auth}, &page)
			return err
		})
		if err != nil {
			return err
		}
		for _, op := range page.Operations {
			if i, ok := index[op.ID]; ok && l.Ops[i].To == w {
				setFinal(&l.Ops[i], op)
				found++
			}
		}
		n := len(page.Operations)
		if page.NextCursor == nil || n == 0 || page.Operations[n-1].CreatedAt.Before(oldest) {
			return nil
		}
		cursor = *page.NextCursor
	}
	return nil
}

// readByID reads the given operations one by one, as their recipients,
// until the deadline if one is given.
func readByID(ctx context.Context, c *client, pop *population, ops []opRecord, which []int, query string, conc int,
	deadline time.Time, failed *atomic.Int64, b *bar) {
	_ = forEach(ctx, len(which), conc, func(ctx context.Context, k int) error {
		if !deadline.IsZero() && time.Now().After(deadline) {
			return nil
		}
		r := &ops[which[k]]
		var op operation
		err := withRetry(ctx, func() error {
			_, err := c.do(ctx, request{Method: http.MethodGet, Path: "/api/operations/" + r.ID + query, Auth: pop.Users[r.To].Auth}, &op)
			return err
		})
		if err != nil {
			failed.Add(1)
		} else {
			setFinal(r, op)
		}
		b.add(1)
		return nil
	})
}

// setFinal copies what the service says of an operation into its record.
func setFinal(r *opRecord, op operation) {
	r.Status, r.FailureCode, r.CreatedAt = op.Status, op.FailureCode, op.CreatedAt
	if op.CompletedAt != nil {
		r.CompletedAt = *op.CompletedAt
	}
}
