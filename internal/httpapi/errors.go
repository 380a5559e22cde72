package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// HTTP-only error codes, for failures that never reach the domain.
const (
	ePayloadTooLarge      = "payload_too_large"
	eUnsupportedMediaType = "unsupported_media_type"
	eNotFound             = "not_found"
	eMethodNotAllowed     = "method_not_allowed"
	eCSRF                 = "csrf_failed"
	eHeadersTooLarge      = "request_too_large"
)

// statusOf maps each error code to its HTTP status: the one table.
var statusOf = map[string]int{
	wallet.EInvalidRequest:       http.StatusBadRequest,
	wallet.EInvalidAmount:        http.StatusBadRequest,
	wallet.EInvalidEmail:         http.StatusBadRequest,
	wallet.EInvalidName:          http.StatusBadRequest,
	wallet.EInvalidDetails:       http.StatusBadRequest,
	wallet.EInvalidCursor:        http.StatusBadRequest,
	wallet.EInvalidLimit:         http.StatusBadRequest,
	wallet.EInvalidWalletID:      http.StatusBadRequest,
	wallet.EInvalidIdemKey:       http.StatusBadRequest,
	wallet.EWeakPassword:         http.StatusBadRequest,
	wallet.EEmailTaken:           http.StatusConflict,
	wallet.EInvalidCredentials:   http.StatusUnauthorized,
	wallet.ETooManyAttempts:      http.StatusTooManyRequests,
	wallet.EUnauthorized:         http.StatusUnauthorized,
	wallet.EForbidden:            http.StatusForbidden,
	wallet.EInsufficientScope:    http.StatusForbidden,
	wallet.EWalletNotFound:       http.StatusNotFound,
	wallet.EOperationNotFound:    http.StatusNotFound,
	wallet.EUserNotFound:         http.StatusNotFound,
	wallet.ESameWallet:           http.StatusUnprocessableEntity,
	wallet.EInsufficientFunds:    http.StatusUnprocessableEntity,
	wallet.EWalletBusy:           http.StatusConflict,
	wallet.EIdempotencyKeyReused: http.StatusUnprocessableEntity,
	wallet.ERequestInProgress:    http.StatusConflict,
	wallet.ECurrencyMismatch:     http.StatusUnprocessableEntity,
	wallet.EUnavailable:          http.StatusServiceUnavailable,
	wallet.EInternal:             http.StatusInternalServerError,

	wallet.EAccountDisabled:          http.StatusForbidden,
	wallet.EBankNotFound:             http.StatusNotFound,
	wallet.EInvalidExpiry:            http.StatusBadRequest,
	wallet.EHoldNotFound:             http.StatusNotFound,
	wallet.EHoldNotActive:            http.StatusConflict,
	wallet.ECaptureExceedsHold:       http.StatusUnprocessableEntity,
	wallet.EPaymentRequestNotFound:   http.StatusNotFound,
	wallet.EPaymentRequestNotOpen:    http.StatusConflict,
	wallet.ETooManyRequests:          http.StatusTooManyRequests,
	wallet.EWithdrawalNotFound:       http.StatusNotFound,
	wallet.EWithdrawalNotCancellable: http.StatusConflict,
	wallet.EWithdrawalNotPending:     http.StatusConflict,
	wallet.EWithdrawalClosed:         http.StatusConflict,
	wallet.EHoldNotExpired:           http.StatusConflict,
	wallet.EHoldBusy:                 http.StatusConflict,
	wallet.EInvalidURL:               http.StatusBadRequest,
	wallet.EInvalidEventType:         http.StatusBadRequest,
	wallet.EWebhookNotFound:          http.StatusNotFound,
	wallet.EDeliveryNotFound:         http.StatusNotFound,
	ePayloadTooLarge:                 http.StatusRequestEntityTooLarge,
	eUnsupportedMediaType:            http.StatusUnsupportedMediaType,
	eNotFound:                        http.StatusNotFound,
	eMethodNotAllowed:                http.StatusMethodNotAllowed,
	eCSRF:                            http.StatusForbidden,
	eHeadersTooLarge:                 http.StatusRequestHeaderFieldsTooLarge,
}

// statusFor is the HTTP status of an error code, 500 for one the table
// lacks.
func statusFor(code string) int {
	if status, ok := statusOf[code]; ok {
		return status
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers with {"error": {"code", "message"}} and the status of
// the code. Internal errors are logged and shown only as "internal error".
func (s *Server) writeError(c *fiber.Ctx, err error) error {
	code, msg := publicError(err)
	status := statusFor(code)
	// Fiber's own errors (a body or headers too large, a malformed
	// request) keep their 4xx status.
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code, msg, status = fiberCode(fe.Code), fe.Message, fe.Code
		if status < 400 || status > 599 {
			status = http.StatusInternalServerError
		}
	}
	if status >= 500 {
		s.log.Error("request failed", slog.String("method", c.Method()), slog.String("path", c.Path()),
			slog.Any("error", err))
	}
	switch code {
	case wallet.EUnauthorized, wallet.EInvalidCredentials:
		c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="wallet", charset="UTF-8", Bearer realm="wallet"`)
	}
	setRetryAfter(c, code, err)
	return c.Status(status).JSON(errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// publicError is the code and caller-safe message of err; an internal
// error that is Postgres or Redis out of reach is EUnavailable.
func publicError(err error) (code, msg string) {
	code, msg = wallet.ErrorCode(err), wallet.ErrorMessage(err)
	if code == wallet.EInternal && dependencyDown(err) {
		code, msg = wallet.EUnavailable, "the database or Redis cannot be reached; retry shortly"
	}
	return code, msg
}

// setRetryAfter says when to try again for the errors that are worth a
// retry: the rest of a rate limit's window, else one second.
func setRetryAfter(c *fiber.Ctx, code string, err error) {
	switch code {
	case wallet.EWalletBusy, wallet.ERequestInProgress, wallet.EUnavailable, wallet.ETooManyAttempts:
		secs := int64(1)
		if d := wallet.RetryAfterOf(err); d > 0 {
			secs = int64((d + time.Second - 1) / time.Second)
		}
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(secs, 10))
	}
}

func fiberCode(status int) string {
	switch status {
	case fiber.StatusRequestEntityTooLarge:
		return ePayloadTooLarge
	case fiber.StatusNotFound:
		return eNotFound
	case fiber.StatusMethodNotAllowed:
		return eMethodNotAllowed
	case fiber.StatusUnsupportedMediaType:
		return eUnsupportedMediaType
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return eHeadersTooLarge
	}
	if status >= 400 && status < 500 {
		return wallet.EInvalidRequest
	}
	return wallet.EInternal
}
