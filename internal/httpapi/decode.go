package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// decodeJSON decodes a request body strictly, with the encoding/json/v2
// prototype: one JSON object; member names exactly as the contract spells
// them (a name that differs only in case is unknown) and each at most once
// (so {"amount":"0.01","Amount":"50"} cannot smuggle a second amount);
// no unknown members; valid UTF-8 only (never rewritten to U+FFFD);
// numbers kept as their text; nothing after the object. Bodies decode
// into structs only.
func decodeJSON(body []byte, dst any) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return wallet.Errorf(wallet.EInvalidRequest, "request body is empty")
	}
	if trimmed[0] != '{' {
		if jsontext.Value(trimmed).IsValid() {
			return wallet.Errorf(wallet.EInvalidRequest, "request body must be a JSON object")
		}
		return wallet.Errorf(wallet.EInvalidRequest, "request body is not valid JSON")
	}
	if err := json.Unmarshal(body, dst, json.RejectUnknownMembers(true)); err != nil {
		return wallet.Errorf(wallet.EInvalidRequest, "%s", describeJSONError(err))
	}
	return nil
}

// describeJSONError says what is wrong with a body in words fit for the
// caller, naming the member where there is one.
func describeJSONError(err error) string {
	var semErr *json.SemanticError
	var synErr *jsontext.SyntacticError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "request body is not valid JSON: it ends too early"
	case errors.As(err, &synErr):
		name := strings.TrimPrefix(string(synErr.JSONPointer), "/")
		switch {
		case errors.Is(synErr.Err, jsontext.ErrDuplicateName):
			return fmt.Sprintf("member %q appears more than once", name)
		case strings.Contains(synErr.Err.Error(), "invalid UTF-8"):
			return "request body is not valid UTF-8"
		case strings.Contains(synErr.Err.Error(), "after top-level value"):
			return "request body must hold one JSON object"
		}
		return "request body is not valid JSON"
	case errors.As(err, &semErr):
		name := strings.TrimPrefix(string(semErr.JSONPointer), "/")
		if errors.Is(semErr.Err, json.ErrUnknownName) {
			return fmt.Sprintf("unknown field %q (names are case-sensitive)", name)
		}
		if name != "" {
			return fmt.Sprintf("field %q has the wrong type", name)
		}
		return "request body must be a JSON object"
	}
	return "request body is not valid JSON"
}

// operationBody is the body of both operation endpoints. Amount is raw so
// that it is parsed exactly from its text.
type operationBody struct {
	WalletID *string        `json:"wallet_id"`
	Amount   jsontext.Value `json:"amount"`
	Details  *string        `json:"details"`
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
// ASCII characters when present, and present at most once (two keys
// name no one request).
func idempotencyKey(c *fiber.Ctx) (string, error) {
	all := c.Request().Header.PeekAll("Idempotency-Key")
	switch len(all) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", wallet.Errorf(wallet.EInvalidIdemKey, "send one Idempotency-Key header, not %d", len(all))
	}
	return checkIdempotencyKey(string(all[0]))
}

// checkIdempotencyKey checks a key's text, from a header or a form.
func checkIdempotencyKey(k string) (string, error) {
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
