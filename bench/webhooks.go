package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// With -webhooks every user registers a webhook endpoint for all its
// events, served by a sink in the bench process that answers 204: the
// run then measures the money path with the outbox's deliveries flowing.
// The started service gets WEBHOOK_ALLOW_PRIVATE=true for the sink's
// loopback address.

// sink is the webhook endpoint of the run.
type sink struct {
	srv      *http.Server
	URL      string
	received atomic.Int64
	last     atomic.Int64 // unix nanoseconds of the latest delivery
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{URL: "http://" + l.Addr().String() + "/hook"}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.received.Add(1)
		s.last.Store(time.Now().UnixNano())
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) stop() { _ = s.srv.Close() }

// drain waits, after the load, for the deliveries to stop arriving (none
// for quiet), at most limit; it returns how long after end the last one
// came.
func (s *sink) drain(ctx context.Context, end time.Time, quiet, limit time.Duration) time.Duration {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		if time.Since(time.Unix(0, s.last.Load())) >= quiet {
			break
		}
	}
	return max(0, time.Unix(0, s.last.Load()).Sub(end))
}

// registerWebhook registers the sink for a user.
func registerWebhook(ctx context.Context, c *client, auth, url string) error {
	body, _ := json.Marshal(map[string]string{"url": url})
	return withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodPost, Path: "/api/webhooks", Auth: auth, Body: body}, nil)
		return err
	})
}
