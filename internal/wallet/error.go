package wallet

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each is a stable, snake_case string that the API returns in
// {"error": {"code": ...}} and that the boundaries map to statuses or retry
// decisions in one table each.
const (
	EInvalidRequest     = "invalid_request"
	EInvalidAmount      = "invalid_amount"
	EInvalidEmail       = "invalid_email"
	EInvalidName        = "invalid_name"
	EInvalidDetails     = "invalid_details"
	EInvalidCursor      = "invalid_cursor"
	EInvalidLimit       = "invalid_limit"
	EInvalidWalletID    = "invalid_wallet_id"
	EInvalidIdemKey     = "invalid_idempotency_key"
	EWeakPassword       = "weak_password"
	EEmailTaken         = "email_taken"
	EInvalidCredentials = "invalid_credentials"
	ETooManyAttempts    = "too_many_attempts"
	EUnauthorized       = "unauthorized"
	// EInsufficientScope: an OAuth access token without the scope the
	// request needs (API-OAUTH.md).
	EInsufficientScope    = "insufficient_scope"
	EForbidden            = "forbidden"
	EWalletNotFound       = "wallet_not_found"
	EOperationNotFound    = "operation_not_found"
	EUserNotFound         = "user_not_found"
	ESameWallet           = "same_wallet"
	EInsufficientFunds    = "insufficient_funds"
	EWalletBusy           = "wallet_busy"
	EIdempotencyKeyReused = "idempotency_key_reused"
	ERequestInProgress    = "request_in_progress"
	ECurrencyMismatch     = "currency_mismatch"
	EUnavailable          = "unavailable"
	EInternal             = "internal"

	// Payment systems, holds, payment requests, withdrawals.
	EAccountDisabled          = "account_disabled"
	EBankNotFound             = "bank_not_found"
	EInvalidExpiry            = "invalid_expiry"
	EHoldNotFound             = "hold_not_found"
	EHoldNotActive            = "hold_not_active"
	ECaptureExceedsHold       = "capture_exceeds_hold"
	EPaymentRequestNotFound   = "payment_request_not_found"
	EPaymentRequestNotOpen    = "payment_request_not_open"
	ETooManyRequests          = "too_many_requests"
	EWithdrawalNotFound       = "withdrawal_not_found"
	EWithdrawalNotCancellable = "withdrawal_not_cancellable"
	EWithdrawalNotPending     = "withdrawal_not_pending"
	EWithdrawalClosed         = "withdrawal_closed"

	// Webhooks (API-EVENTS.md).
	EInvalidURL       = "invalid_url"
	EInvalidEventType = "invalid_event_type"
	EWebhookNotFound  = "webhook_not_found"

	// Failure codes of a hold_expire that must wait: the hold's time has
	// not come, or a capture or void accepted before it has not committed.
	// The service tries the expiry again.
	EHoldNotExpired = "hold_not_expired"
	EHoldBusy       = "hold_busy"
)

// Error is the one error type of the service: a code from the list above
// and a message that is safe to show to the caller.
type Error struct {
	Code    string
	Message string
	// RetryAfter, when set, says how long the caller should wait before
	// trying again (a rate limit's remaining window).
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// RetryAfterOf returns the RetryAfter of the first *Error in err's chain.
func RetryAfterOf(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal
// for any other error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err: the *Error's own,
// or a generic text that reveals nothing of an internal failure.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
