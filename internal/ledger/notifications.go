package ledger

import (
	"context"
	"time"

	"github.com/walletd/wallet/internal/wallet"
)

// Notifications are the in-app feed and the live updates (API-EVENTS.md),
// read from the outbox that the worker's commits write.
type Notifications struct {
	Store wallet.NotificationStore
	// Wake tells a follower that new notifications may be there for a
	// wallet or a user: a wake-up, not the data, so a lost one only
	// delays until the next poll.
	Wake Waker
	Now  func() time.Time
}

// Waker is the wake-up side of the results pub/sub (internal/redisstore).
type Waker interface {
	Watch(key string) (<-chan struct{}, func())
}

// WakeWallet and WakeUser are the wake-up keys a commit announces for the
// wallets and creators of the operations it made final.
func WakeWallet(id string) string { return "w:" + id }

// WakeUser is the wake-up key of a user.
func WakeUser(id string) string { return "u:" + id }

// MaxReadIDs bounds the ids of one mark-read request.
const MaxReadIDs = 100

// Feed is a page of the user's notifications, newest first, and the
// unread count.
func (n *Notifications) Feed(ctx context.Context, userID, before string, unread bool, limit int) ([]wallet.Notification, int, error) {
	ns, err := n.Store.Notifications(ctx, userID, before, unread, limit)
	if err != nil {
		return nil, 0, err
	}
	count, err := n.Store.UnreadCount(ctx, userID)
	return ns, count, err
}

// MarkRead marks some of the user's notifications, or all, read.
func (n *Notifications) MarkRead(ctx context.Context, userID string, ids []string, all bool) error {
	if all == (len(ids) > 0) {
		return wallet.Errorf(wallet.EInvalidRequest, `give either "ids" (1 to %d) or "all": true`, MaxReadIDs)
	}
	if len(ids) > MaxReadIDs {
		return wallet.Errorf(wallet.EInvalidRequest, "at most %d ids at once", MaxReadIDs)
	}
	return n.Store.MarkRead(ctx, userID, ids, all, n.now())
}

func (n *Notifications) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

// Follower follows one user's notifications in order, for live updates.
type Follower struct {
	n        *Notifications
	userID   string
	cursor   string
	wake     []<-chan struct{}
	unwatch  []func()
	interval time.Duration
}

// followPoll is how often a follower reads even without a wake-up (a
// wake-up lost with a Redis failover or flush costs at most this).
const followPoll = 2 * time.Second

// Follow starts following the user's notifications after the one id
// (Last-Event-ID); an id that is not the user's, or none, starts from
// now. keys are the wake-up keys (the user's and its wallet's). Stop the
// follower when done.
func (n *Notifications) Follow(ctx context.Context, userID, after string, keys ...string) (*Follower, error) {
	f := &Follower{n: n, userID: userID, interval: followPoll}
	for _, k := range keys {
		c, stop := n.Wake.Watch(k)
		f.wake, f.unwatch = append(f.wake, c), append(f.unwatch, stop)
	}
	if after != "" {
		if _, found, err := n.Store.NotificationsAfter(ctx, userID, after, 1); err != nil {
			f.Stop()
			return nil, err
		} else if found {
			f.cursor = after
			return f, nil
		}
	}
	latest, err := n.Store.LatestNotification(ctx, userID)
	if err != nil {
		f.Stop()
		return nil, err
	}
	f.cursor = latest
	return f, nil
}

// Stop ends the follower's wake-ups.
func (f *Follower) Stop() {
	for _, u := range f.unwatch {
		u()
	}
}

// Next returns the notifications after the cursor (oldest first), waiting
// for a wake-up, the poll interval, or until d has passed (then none).
func (f *Follower) Next(ctx context.Context, d time.Duration) ([]wallet.Notification, error) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		ns, err := f.read(ctx)
		if err != nil || len(ns) > 0 {
			return ns, err
		}
		poll := time.NewTimer(f.interval)
		select {
		case <-ctx.Done():
			poll.Stop()
			return nil, ctx.Err()
		case <-deadline.C:
			poll.Stop()
			return nil, nil
		case <-poll.C:
		case <-f.wakeC(0):
		case <-f.wakeC(1):
		}
		poll.Stop()
	}
}

func (f *Follower) wakeC(i int) <-chan struct{} {
	if i < len(f.wake) {
		return f.wake[i]
	}
	return nil
}

func (f *Follower) read(ctx context.Context) ([]wallet.Notification, error) {
	ns, _, err := f.n.Store.NotificationsAfter(ctx, f.userID, f.cursor, 100)
	if err != nil || len(ns) == 0 {
		return nil, err
	}
	f.cursor = ns[len(ns)-1].ID
	return ns, nil
}
