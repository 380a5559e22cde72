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
}

func startSink() (*sink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{URL: "http://" + l.Addr().String() + "/hook"}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *sink) stop() { _ = s.srv.Close() }

// registerWebhook registers the sink for a user.
func registerWebhook(ctx context.Context, c *client, auth, url string) error {
	body, _ := json.Marshal(map[string]string{"url": url})
	return withRetry(ctx, func() error {
		_, err := c.do(ctx, request{Method: http.MethodPost, Path: "/api/webhooks", Auth: auth, Body: body}, nil)
		return err
	})
}
