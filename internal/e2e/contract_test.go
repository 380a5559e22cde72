package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/walletd/wallet/internal/openapi"
)

// The OpenAPI document (internal/openapi) holds the tests to the service
// and the service to the document: every request a test client sends
// and every answer it gets is checked against it, and a test ends with an
// error for each mismatch.
//
//   - An answer must be one the document gives for that route and status
//     (status, headers, body schema).
//   - A request the document refuses must be refused by the service (a
//     4xx): the hostile tests send such requests on purpose.
//   - A route the document lacks must be unknown to the service too (404
//     or 405): an endpoint missing from the document fails the tests.
//
// The web pages (HTML forms) and the asynqmon dashboard are outside it.

var contractDoc = sync.OnceValues(func() (routers.Router, error) {
	// The consent page is HTML: its body is checked as a string.
	openapi3filter.RegisterBodyDecoder("text/html", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
	doc, err := openapi.Load()
	if err != nil {
		return nil, err
	}
	// Match on path alone: the processes listen on random ports.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	return gorillamux.NewRouter(doc)
})

// inContract reports whether a path is the document's to describe.
func inContract(p string) bool {
	for _, prefix := range []string{"/api/", "/oauth/", "/.well-known/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	switch p {
	case "/healthz", "/readyz", "/metrics", "/openapi.json":
		return true
	}
	return false
}

// contractCheck collects one test's mismatches.
type contractCheck struct {
	t          *testing.T
	mu         sync.Mutex
	violations []string
}

func newContractCheck(t *testing.T) *contractCheck {
	c := &contractCheck{t: t}
	if _, err := contractDoc(); err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	t.Cleanup(c.report)
	return c
}

func (c *contractCheck) add(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.violations = append(c.violations, fmt.Sprintf(format, args...))
}

func (c *contractCheck) report() {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]bool{}
	n := 0
	for _, v := range c.violations {
		if seen[v] {
			continue
		}
		seen[v] = true
		if n++; n <= 20 {
			c.t.Errorf("OpenAPI: %s", v)
		}
	}
	if n > 20 {
		c.t.Errorf("OpenAPI: %d more mismatches", n-20)
	}
}

// transport wraps next so that every exchange is checked.
func (c *contractCheck) transport(next http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		var body []byte
		if req.Body != nil {
			b, err := io.ReadAll(req.Body)
			req.Body.Close()
			if err != nil {
				return nil, err
			}
			body = b
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		resp, err := next.RoundTrip(req)
		if err != nil || !inContract(req.URL.Path) {
			return resp, err
		}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			return resp, nil // a stream: its answer is its first line
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(raw))
		if err != nil {
			return resp, nil
		}
		c.check(req, body, resp, raw)
		return resp, nil
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (c *contractCheck) check(req *http.Request, body []byte, resp *http.Response, raw []byte) {
	router, _ := contractDoc()
	what := fmt.Sprintf("%s %s -> %d", req.Method, req.URL.Path, resp.StatusCode)
	probe := req.Clone(context.Background())
	probe.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(probe)
	if err != nil {
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
			c.add("%s: the service serves a route the document lacks", what)
		}
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && resp.StatusCode < 400 {
		c.add("%s: the document refuses this request (%s), the service took it", what, short(err))
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(raw)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		c.add("%s: the answer is not the document's: %s (body %.300s)", what, short(err), raw)
	}
}

func short(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}
