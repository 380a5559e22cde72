package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/ledger"
	"github.com/walletd/wallet/internal/wallet"
)

func (s *Server) routesNotifications(api fiber.Router) {
	if s.notes == nil {
		return
	}
	api.Get("/notifications", s.need(wallet.ScopeWalletRead), s.listNotifications)
	api.Post("/notifications/read", s.need(wallet.ScopeWalletRead), s.requireJSON, s.markRead)
	api.Get("/events", s.need(wallet.ScopeWalletRead), s.events)
}

type notificationJSON = ledger.NotificationView

func (s *Server) notificationJSON(n wallet.Notification) notificationJSON {
	return ledger.ViewNotification(n, s.cur)
}

func (s *Server) listNotifications(c *fiber.Ctx) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return s.writeError(c, err)
	}
	unread := false
	switch c.Query("unread") {
	case "", "false":
	case "true":
		unread = true
	default:
		return s.writeError(c, wallet.Errorf(wallet.EInvalidRequest, "unread must be true or false"))
	}
	ns, count, err := s.notes.Feed(c.UserContext(), caller(c).User.ID, before, unread, limit+1)
	if err != nil {
		return s.writeError(c, err)
	}
	ns, next := trimPage(ns, limit, func(n wallet.Notification) string { return n.ID })
	out := make([]notificationJSON, len(ns))
	for i, n := range ns {
		out[i] = s.notificationJSON(n)
	}
	return c.JSON(fiber.Map{"notifications": out, "unread_count": count, "next_cursor": next})
}

type readBody struct {
	IDs []string `json:"ids"`
	All bool     `json:"all"`
}

func (s *Server) markRead(c *fiber.Ctx) error {
	var b readBody
	if err := decodeJSON(c.Body(), &b); err != nil {
		return s.writeError(c, err)
	}
	if err := s.notes.MarkRead(c.UserContext(), caller(c).User.ID, b.IDs, b.All); err != nil {
		return s.writeError(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// heartbeat is how often an idle event stream gets a comment line.
const heartbeat = 15 * time.Second

// events streams the caller's new notifications as Server-Sent Events:
// "id:" the notification id, "event:" its type, "data:" the notification
// as the feed shows it; Last-Event-ID resumes after that one. Wake-ups
// come through Redis pub/sub to whichever API process holds the stream;
// the stream also reads Postgres every two seconds, so nothing waits on
// a lost wake-up for longer.
func (s *Server) events(c *fiber.Ctx) error {
	p := caller(c)
	keys := []string{ledger.WakeUser(p.User.ID)}
	if p.WalletID != "" {
		keys = append(keys, ledger.WakeWallet(p.WalletID))
	}
	f, err := s.notes.Follow(c.UserContext(), p.User.ID, c.Get("Last-Event-ID"), keys...)
	if err != nil {
		return s.writeError(c, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := s.streams.add(p.User.ID, cancel)
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no")
	conn := c.Context().Conn()
	// fasthttp runs the writer at once, in a goroutine of its own; it
	// returns when the client has gone (a write fails), the server shuts
	// down, or a newer stream of the account ends this one.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer done()
		defer f.Stop()
		defer cancel()
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		flush := func() bool {
			// The server's write timeout is set once per answer; a stream
			// extends it at each write.
			_ = conn.SetWriteDeadline(time.Now().Add(heartbeat + 10*time.Second))
			return w.Flush() == nil
		}
		fmt.Fprint(w, "retry: 2000\n\n")
		if !flush() {
			return
		}
		for {
			ns, err := f.Next(ctx, heartbeat)
			if err != nil {
				return // shutting down, or the database is away: the client reconnects
			}
			if len(ns) == 0 {
				fmt.Fprint(w, ": heartbeat\n\n")
			}
			for _, n := range ns {
				data, _ := json.Marshal(s.notificationJSON(n))
				fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", n.ID, n.Type, data)
			}
			if !flush() {
				return
			}
		}
	})
	return nil
}
