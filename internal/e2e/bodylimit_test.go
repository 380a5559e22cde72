package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOversizedBodyClosesCleanly: a body over the 64 KiB limit (up to
// 1 MiB) is read to its end before the 413, so a client that sends it
// whole, as most do before reading, gets the answer instead of a reset
// connection; then the server closes the connection.
func TestOversizedBodyClosesCleanly(t *testing.T) {
	t.Parallel()
	e := StartEnv(t, 0)
	addr := strings.TrimPrefix(e.BaseURL, "http://")
	for _, size := range []int{64<<10 + 1, 300 << 10, 1<<20 - 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			body := `{"name":"` + strings.Repeat("a", size-len(`{"name":""}`)) + `"}`
			head := fmt.Sprintf("POST /api/signup HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
			if _, err := io.WriteString(conn, head+body); err != nil {
				t.Fatalf("sending a %d-byte body: %v (the server stopped reading it)", len(body), err)
			}
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			var got struct {
				Error struct{ Code string } `json:"error"`
			}
			err = json.NewDecoder(resp.Body).Decode(&got)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge || err != nil || got.Error.Code != "payload_too_large" {
				t.Fatalf("answer %d, code %q, %v; want 413 payload_too_large", resp.StatusCode, got.Error.Code, err)
			}
			if !resp.Close {
				t.Errorf("the 413 does not say Connection: close")
			}
			if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("after the 413: read %d bytes, %v; want the server's close (EOF)", n, err)
			}
		})
	}
}
