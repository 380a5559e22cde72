package wallet

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Amount is money in integer minor units of a Currency (kopecks for RUB).
// It is never a float anywhere in the service.
type Amount int64

// Currency is the deployment's currency: an ISO 4217 code and the number of
// minor digits its amounts carry.
type Currency struct {
	Code   string
	Digits int
}

// minorDigits lists the ISO 4217 currencies the service knows.
var minorDigits = map[string]int{
	"RUB": 2, "USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CNY": 2, "KZT": 2,
	"BYN": 2, "UAH": 2, "TRY": 2, "INR": 2, "AED": 2, "CAD": 2, "AUD": 2,
	"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0,
	"KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3,
}

// LookupCurrency returns the Currency for an ISO 4217 code.
func LookupCurrency(code string) (Currency, error) {
	d, ok := minorDigits[code]
	if !ok {
		return Currency{}, Errorf(EInvalidRequest, "unknown currency %q", code)
	}
	return Currency{Code: code, Digits: d}, nil
}

// maxDigits bounds the digits parsed before any arithmetic, so no input can
// overflow int64 (which holds 18 full decimal digits).
const maxDigits = 18

// ParseAmount parses decimal text such as "115.6" or "115.60" exactly into
// minor units. It accepts only plain positive decimals: no sign, no
// exponent, no spaces, no leading zeros, at most c.Digits fraction digits,
// and nothing above max (when max > 0). Every rejection is EInvalidAmount.
func (c Currency) ParseAmount(text string, max Amount) (Amount, error) {
	bad := func(why string) (Amount, error) {
		return 0, Errorf(EInvalidAmount, "amount %s", why)
	}
	if text == "" {
		return bad("is empty")
	}
	if len(text) > 64 {
		return bad("is too long")
	}
	intPart, frac, hasDot := strings.Cut(text, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && !allDigits(frac)) {
		return bad("must be a plain decimal number such as \"115.60\"")
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return bad("must not have leading zeros")
	}
	if hasDot && len(frac) == 0 {
		return bad("must have digits after the decimal point")
	}
	if len(frac) > c.Digits {
		return bad("has more than " + strconv.Itoa(c.Digits) + " fraction digits for " + c.Code)
	}
	if len(intPart)+c.Digits > maxDigits {
		return bad("is too large")
	}
	digits := intPart + frac + strings.Repeat("0", c.Digits-len(frac))
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return bad("is too large")
	}
	if n == 0 {
		return bad("must be greater than zero")
	}
	if max > 0 && Amount(n) > max {
		return bad("is above the maximum of " + c.Format(max))
	}
	return Amount(n), nil
}

// ParseJSONAmount parses an amount as it arrived in JSON: a string or a
// number, taken from its text, never through a binary float.
func (c Currency) ParseJSONAmount(raw []byte, max Amount) (Amount, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, Errorf(EInvalidAmount, "amount is required")
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, Errorf(EInvalidAmount, "amount is not a valid string")
		}
		return c.ParseAmount(s, max)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return c.ParseAmount(string(raw), max)
	default:
		return 0, Errorf(EInvalidAmount, "amount must be a decimal string or number")
	}
}

// Format renders a in the currency's exact decimal form: "115.60", "-5.00".
func (c Currency) Format(a Amount) string {
	neg := a < 0
	var u uint64
	if neg {
		u = uint64(-(a + 1)) + 1 // safe for math.MinInt64
	} else {
		u = uint64(a)
	}
	s := strconv.FormatUint(u, 10)
	if c.Digits > 0 {
		if len(s) <= c.Digits {
			s = strings.Repeat("0", c.Digits-len(s)+1) + s
		}
		s = s[:len(s)-c.Digits] + "." + s[len(s)-c.Digits:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// AddChecked returns a+b, or false if the sum overflows int64.
func AddChecked(a, b Amount) (Amount, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
