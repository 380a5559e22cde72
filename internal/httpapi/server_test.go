package httpapi

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// The API keeps request values past their request (caches, metric labels,
// the acceptor's queue), so Fiber must copy them out of the buffers that
// fasthttp reuses for the next request on a connection. This test serves
// the API's Fiber configuration on a real socket, sends two requests on
// one kept-alive connection, and checks that what the handler kept of the
// first one did not turn into the second (issue 8).
func TestRequestValuesOutliveTheirRequest(t *testing.T) {
	t.Parallel()
	s := &Server{}
	var mu sync.Mutex
	var kept [][]string
	app := fiber.New(s.fiberConfig())
	app.All("/v/:id", func(c *fiber.Ctx) error {
		mu.Lock()
		kept = append(kept, []string{c.Method(), c.Params("id"), c.Get("X-Value"), c.FormValue("v"), c.Path(), c.Cookies("k")})
		mu.Unlock()
		return c.SendStatus(fiber.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	send := func(method, id, value string) {
		body := "v=" + value
		fmt.Fprintf(conn, "%s /v/%s HTTP/1.1\r\nHost: x\r\nX-Value: %s\r\nCookie: k=%s\r\n"+
			"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
			method, id, value, value, len(body), body)
		resp, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s /v/%s: %d", method, id, resp.StatusCode)
		}
	}
	send("POST", "aaaaaaaa", "first-value")
	send("GET", "bbbbbbbbbbbb", "second-value-longer")

	mu.Lock()
	defer mu.Unlock()
	want := [][]string{
		{"POST", "aaaaaaaa", "first-value", "first-value", "/v/aaaaaaaa", "first-value"},
		{"GET", "bbbbbbbbbbbb", "second-value-longer", "second-value-longer", "/v/bbbbbbbbbbbb", "second-value-longer"},
	}
	for i := range want {
		if got := strings.Join(kept[i], " "); got != strings.Join(want[i], " ") {
			t.Errorf("request %d: kept %q, want %q (a kept value changed with the next request)", i+1, kept[i], want[i])
		}
	}
}
