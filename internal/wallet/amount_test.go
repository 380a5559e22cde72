package wallet_test

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

var (
	rub = wallet.Currency{Code: "RUB", Digits: 2}
	jpy = wallet.Currency{Code: "JPY", Digits: 0}
	kwd = wallet.Currency{Code: "KWD", Digits: 3}
)

// testMax is MAX_AMOUNT's default, 1,000,000.00 RUB.
const testMax wallet.Amount = 100_000_000

func TestParseJSONAmount(t *testing.T) {
	t.Parallel()
	seventy := strings.Repeat("1234567890", 7)
	tests := []struct {
		name string
		raw  string
		cur  wallet.Currency
		max  wallet.Amount // 0 means no maximum
		want wallet.Amount // 0 means the input must be rejected
	}{
		// Accepted.
		{name: "string one fraction digit", raw: `"115.6"`, want: 11560},
		{name: "number two fraction digits", raw: `115.60`, want: 11560},
		{name: "number one fraction digit", raw: `115.6`, want: 11560},
		{name: "string smallest unit", raw: `"0.01"`, want: 1},
		{name: "number integer", raw: `1`, want: 100},
		{name: "string integer", raw: `"1"`, want: 100},
		{name: "number below one", raw: `0.5`, want: 50},
		{name: "exactly the maximum", raw: `"1000000.00"`, want: testMax},
		{name: "number exactly the maximum", raw: `1000000`, want: testMax},
		{name: "whitespace around the JSON value", raw: " \t\"7.05\"\n", want: 705},
		{name: "JSON escape inside the string", raw: `"\u0031.5"`, want: 150},
		{name: "no maximum: largest that fits", raw: `"9999999999999999.99"`, max: -1, want: 999_999_999_999_999_999},
		{name: "JPY has no fraction", raw: `"999999999999999999"`, cur: jpy, max: -1, want: 999_999_999_999_999_999},
		{name: "KWD three digits", raw: `"1.234"`, cur: kwd, want: 1234},
		{name: "KWD short fraction", raw: `0.5`, cur: kwd, want: 500},

		// Rejected: zero and negative.
		{name: "number zero", raw: `0`},
		{name: "string zero", raw: `"0"`},
		{name: "number zero with fraction", raw: `0.00`},
		{name: "string zero with fraction", raw: `"0.00"`},
		{name: "number minus one", raw: `-1`},
		{name: "string minus one", raw: `"-1"`},
		{name: "negative zero", raw: `-0`},
		{name: "negative cent", raw: `-0.01`},
		{name: "double minus", raw: `"--1"`},
		{name: "plus sign string", raw: `"+1"`},
		{name: "plus sign number", raw: `+1`},

		// Rejected: not plain decimals.
		{name: "exponent number", raw: `1e3`},
		{name: "exponent upper string", raw: `"1E3"`},
		{name: "exponent upper number", raw: `1E3`},
		{name: "negative exponent", raw: `1e-2`},
		{name: "exponent zero", raw: `1e0`},
		{name: "NaN string", raw: `"NaN"`},
		{name: "NaN bare", raw: `NaN`},
		{name: "Infinity string", raw: `"Infinity"`},
		{name: "Infinity bare", raw: `Infinity`},
		{name: "minus Infinity", raw: `-Infinity`},
		{name: "inf short", raw: `"inf"`},
		{name: "too many fraction digits string", raw: `"1.001"`},
		{name: "too many fraction digits number", raw: `1.001`},
		{name: "trailing zero beyond the digits", raw: `"1.000"`},
		{name: "trailing dot string", raw: `"1."`},
		{name: "trailing dot number", raw: `1.`},
		{name: "leading dot string", raw: `".5"`},
		{name: "leading dot number", raw: `.5`},
		{name: "leading zero string", raw: `"01"`},
		{name: "leading zero number", raw: `01`},
		{name: "leading zeros before dot", raw: `"00.5"`},
		{name: "leading space", raw: `" 1"`},
		{name: "trailing space", raw: `"1 "`},
		{name: "tab inside", raw: `"\t1"`},
		{name: "newline inside", raw: `"1\n"`},
		{name: "NUL inside", raw: `"1\u0000"`},
		{name: "decimal comma", raw: `"1,5"`},
		{name: "digit separator", raw: `"1_000"`},
		{name: "thousands comma", raw: `"1,000.00"`},
		{name: "hex string", raw: `"0x10"`},
		{name: "hex number", raw: `0x10`},
		{name: "Arabic-Indic digits", raw: `"١٢"`},
		{name: "fullwidth digit", raw: `"１"`},
		{name: "two dots", raw: `"1.5.5"`},
		{name: "double dot", raw: `"1..5"`},
		{name: "dot only", raw: `"."`},
		{name: "letters after number", raw: `12abc`},
		{name: "two numbers", raw: `1 2`},
		{name: "currency sign", raw: `"₽1"`},
		{name: "currency code", raw: `"1 RUB"`},
		{name: "JPY fraction", raw: `"1.0"`, cur: jpy},
		{name: "KWD four digits", raw: `"1.2345"`, cur: kwd},

		// Rejected: too large.
		{name: "twenty nines string", raw: `"99999999999999999999"`, max: -1},
		{name: "twenty nines number", raw: `99999999999999999999`, max: -1},
		{name: "1e400", raw: `1e400`, max: -1},
		{name: "70 digits number", raw: seventy, max: -1},
		{name: "70 digits string", raw: `"` + seventy + `"`, max: -1},
		{name: "70 digits fraction", raw: `"0.` + seventy + `"`, max: -1},
		{name: "long string", raw: `"` + strings.Repeat("1", 100) + `.00"`, max: -1},
		{name: "max int64 units", raw: `"9223372036854775807"`, max: -1},
		{name: "max int64 as money", raw: `"92233720368547758.07"`, max: -1},
		{name: "no maximum: one digit too many", raw: `"99999999999999999.99"`, max: -1},
		{name: "JPY nineteen digits", raw: `"9999999999999999999"`, cur: jpy, max: -1},
		{name: "above the maximum by a cent", raw: `"1000000.01"`},
		{name: "above the maximum number", raw: `1000001`},
		{name: "far above the maximum", raw: `"5000000000"`},

		// Rejected: not an amount at all.
		{name: "true", raw: `true`},
		{name: "false", raw: `false`},
		{name: "null", raw: `null`},
		{name: "object", raw: `{}`},
		{name: "object with amount", raw: `{"amount":"1"}`},
		{name: "empty array", raw: `[]`},
		{name: "array", raw: `[1]`},
		{name: "empty string", raw: `""`},
		{name: "empty raw", raw: ``},
		{name: "whitespace raw", raw: " \n\t"},
		{name: "quoted quotes", raw: `"\"1\""`},
		{name: "single quotes", raw: `'1'`},
		{name: "garbage after string", raw: `"1"x`},
		{name: "unterminated string", raw: `"1`},
		{name: "lone quote", raw: `"`},
		{name: "invalid UTF-8", raw: "\"1\xff\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cur := tt.cur
			if cur.Code == "" {
				cur = rub
			}
			max := tt.max
			switch max {
			case 0:
				max = testMax
			case -1:
				max = 0
			}
			got, err := cur.ParseJSONAmount(json.RawMessage(tt.raw), max)
			if tt.want == 0 {
				if err == nil {
					t.Fatalf("ParseJSONAmount(%q) = %d, want an %s error", tt.raw, got, wallet.EInvalidAmount)
				}
				if code := wallet.ErrorCode(err); code != wallet.EInvalidAmount {
					t.Fatalf("ParseJSONAmount(%q) error code = %q (%v), want %q", tt.raw, code, err, wallet.EInvalidAmount)
				}
				if got != 0 {
					t.Fatalf("ParseJSONAmount(%q) returned %d with its error, want 0", tt.raw, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseJSONAmount(%q) error: %v", tt.raw, err)
			}
			if got != tt.want {
				t.Fatalf("ParseJSONAmount(%q) = %d, want %d", tt.raw, got, tt.want)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cur  wallet.Currency
		in   wallet.Amount
		want string
	}{
		{rub, 11560, "115.60"},
		{rub, 5, "0.05"},
		{rub, 1, "0.01"},
		{rub, 10, "0.10"},
		{rub, 100, "1.00"},
		{rub, 0, "0.00"},
		{rub, -1, "-0.01"},
		{rub, -500, "-5.00"},
		{rub, math.MaxInt64, "92233720368547758.07"},
		{rub, math.MinInt64, "-92233720368547758.08"},
		{jpy, 0, "0"},
		{jpy, 7, "7"},
		{jpy, 1500, "1500"},
		{jpy, -7, "-7"},
		{kwd, 0, "0.000"},
		{kwd, 5, "0.005"},
		{kwd, 1234, "1.234"},
		{kwd, 1000, "1.000"},
		{kwd, -1234, "-1.234"},
	}
	for _, tt := range tests {
		if got := tt.cur.Format(tt.in); got != tt.want {
			t.Errorf("%s.Format(%d) = %q, want %q", tt.cur.Code, tt.in, got, tt.want)
		}
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	t.Parallel()
	values := []wallet.Amount{1, 5, 9, 10, 99, 100, 101, 11560, 100_000_000, 123_456_789_012, 999_999_999_999_999_999}
	for _, cur := range []wallet.Currency{rub, jpy, kwd} {
		for _, v := range values {
			text := cur.Format(v)
			got, err := cur.ParseAmount(text, 0)
			if err != nil {
				t.Errorf("%s: ParseAmount(Format(%d) = %q) error: %v", cur.Code, v, text, err)
				continue
			}
			if got != v {
				t.Errorf("%s: ParseAmount(Format(%d) = %q) = %d", cur.Code, v, text, got)
			}
			// A JSON string carrying the same text parses the same way.
			if got, err := cur.ParseJSONAmount(json.RawMessage(`"`+text+`"`), 0); err != nil || got != v {
				t.Errorf("%s: ParseJSONAmount(%q) = %d, %v; want %d", cur.Code, text, got, err, v)
			}
		}
	}
}

func TestLookupCurrency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code   string
		digits int
		ok     bool
	}{
		{"RUB", 2, true},
		{"JPY", 0, true},
		{"KWD", 3, true},
		{"rub", 0, false},
		{"XXX", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		c, err := wallet.LookupCurrency(tt.code)
		if !tt.ok {
			if wallet.ErrorCode(err) != wallet.EInvalidRequest {
				t.Errorf("LookupCurrency(%q) = %+v, %v; want %s", tt.code, c, err, wallet.EInvalidRequest)
			}
			continue
		}
		if err != nil || c.Code != tt.code || c.Digits != tt.digits {
			t.Errorf("LookupCurrency(%q) = %+v, %v; want digits %d", tt.code, c, err, tt.digits)
		}
	}
}

// plainDecimal is what an accepted amount's text must look like for a
// two-digit currency.
var plainDecimal = regexp.MustCompile(`^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$`)

func FuzzParseJSONAmount(f *testing.F) {
	for _, seed := range []string{
		`"115.6"`, `115.60`, `"0.01"`, `1`, `0`, `"0"`, `0.00`, `-1`, `"-1"`, `1e3`, `"1E3"`,
		`"NaN"`, `"Infinity"`, `"1.001"`, `"1."`, `".5"`, `"01"`, `" 1"`, `"1 "`, `"+1"`,
		`"1,5"`, `"0x10"`, `"١٢"`, `"99999999999999999999"`, `1e400`, `"1000000.00"`,
		`"1000000.01"`, `true`, `false`, `null`, `{}`, `[]`, `""`, ``, `"\u0031"`, `"1"x`,
		`9223372036854775807`, `"9999999999999999.99"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := rub.ParseJSONAmount(raw, testMax)
		if err != nil {
			if code := wallet.ErrorCode(err); code != wallet.EInvalidAmount {
				t.Fatalf("ParseJSONAmount(%q) error code %q (%v), want %q", raw, code, err, wallet.EInvalidAmount)
			}
			if got != 0 {
				t.Fatalf("ParseJSONAmount(%q) returned %d with an error", raw, got)
			}
			return
		}
		if got <= 0 || got > testMax {
			t.Fatalf("ParseJSONAmount(%q) = %d, outside (0, %d]", raw, got, testMax)
		}
		text := rub.Format(got)
		back, err := rub.ParseAmount(text, testMax)
		if err != nil || back != got {
			t.Fatalf("ParseAmount(Format(%d) = %q) = %d, %v", got, text, back, err)
		}

		// An independent oracle: the accepted text is a plain decimal whose
		// exact value, in kopecks, is what the parser returned.
		trimmed := bytes.TrimSpace(raw)
		s := string(trimmed)
		isString := len(trimmed) > 0 && trimmed[0] == '"'
		if isString {
			if err := json.Unmarshal(trimmed, &s); err != nil {
				t.Fatalf("ParseJSONAmount accepted %q, which is not a JSON string", raw)
			}
		}
		if !plainDecimal.MatchString(s) {
			t.Fatalf("ParseJSONAmount accepted %q (text %q), which is not a plain decimal", raw, s)
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("big.Rat cannot read %q", s)
		}
		r.Mul(r, big.NewRat(100, 1))
		if !r.IsInt() || r.Num().Cmp(big.NewInt(int64(got))) != 0 {
			t.Fatalf("ParseJSONAmount(%q) = %d, but the text is worth %s kopecks", raw, got, r.RatString())
		}
		// A number and the same text as a string mean the same amount.
		if !isString {
			quoted, _ := json.Marshal(s)
			if again, err := rub.ParseJSONAmount(quoted, testMax); err != nil || again != got {
				t.Fatalf("ParseJSONAmount(%s) = %d, %v; the number %s gave %d", quoted, again, err, s, got)
			}
		}
	})
}
