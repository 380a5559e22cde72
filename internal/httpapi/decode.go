package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// decodeJSON decodes a request body strictly: one JSON object, no unknown
// fields, numbers kept as text, nothing after it.
func decodeJSON(body []byte, dst any) error {
	if trimmed := bytes.TrimSpace(body); json.Valid(trimmed) && trimmed[0] != '{' {
		return wallet.Errorf(wallet.EInvalidRequest, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return wallet.Errorf(wallet.EInvalidRequest, "%s", describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return wallet.Errorf(wallet.EInvalidRequest, "request body must hold one JSON object")
	}
	return nil
}

func describeJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.Is(err, io.EOF):
		return "request body is empty"
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("field %q has the wrong type", typeErr.Field)
		}
		return "request body must be a JSON object"
	case errors.As(err, &syntaxErr):
		return "request body is not valid JSON"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "request body is not valid JSON"
}

// operationBody is the body of both operation endpoints. Amount is raw so
// that it is parsed exactly from its text.
type operationBody struct {
	WalletID *string         `json:"wallet_id"`
	Amount   json.RawMessage `json:"amount"`
	Details  *string         `json:"details"`
}

// preferWait parses RFC 7240 "Prefer: wait=N", capped at 30 seconds.
func preferWait(header string) (time.Duration, bool) {
	for _, pref := range strings.FieldsFunc(header, func(r rune) bool { return r == ',' || r == ';' }) {
		name, value, ok := strings.Cut(strings.TrimSpace(pref), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
			continue
		}
		return waitSeconds(strings.Trim(strings.TrimSpace(value), `"`))
	}
	return 0, false
}

// waitSeconds parses a whole number of seconds to wait, capped at 30
// before any arithmetic so that no value can overflow.
func waitSeconds(text string) (time.Duration, bool) {
	n, err := strconv.Atoi(text)
	if err != nil || n < 0 {
		return 0, false
	}
	return time.Duration(min(n, int(maxWait/time.Second))) * time.Second, true
}

// idempotencyKey reads the Idempotency-Key header: 1 to 255 printable
// ASCII characters when present.
func idempotencyKey(c *fiber.Ctx) (string, error) {
	raw := c.Request().Header.Peek("Idempotency-Key")
	if raw == nil {
		return "", nil
	}
	k := string(raw)
	if len(k) < 1 || len(k) > 255 {
		return "", wallet.Errorf(wallet.EInvalidIdemKey, "Idempotency-Key must be 1 to 255 printable characters")
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", wallet.Errorf(wallet.EInvalidIdemKey, "Idempotency-Key must be 1 to 255 printable characters")
		}
	}
	return k, nil
}
