package httpapi

import (
	"encoding/json"
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

// FuzzDecodeOperation feeds arbitrary bodies to the operation decoder and
// the amount parser, as the two operation endpoints do. Whatever the
// input, it must not panic, must refuse only with the documented codes,
// and must accept only positive amounts within the maximum whose text
// formats back to the same value.
func FuzzDecodeOperation(f *testing.F) {
	for _, seed := range []string{
		`{"wallet_id":"01a210a3-acdc-7437-91c2-ac3023ba8324","amount":"115.60","details":"x"}`,
		`{"wallet_id":"w","amount":115.6}`,
		`{"wallet_id":"w","amount":1e3}`,
		`{"wallet_id":"w","amount":"NaN"}`,
		`{"wallet_id":"w","amount":-0.0}`,
		`{"wallet_id":"w","amount":null,"details":null}`,
		`{"wallet_id":1,"amount":true}`,
		`{"wallet_id":"w","amount":"1","extra":1}`,
		`{"wallet_id":"w","amount":"1"} {}`,
		`[]`, `null`, ``, `{`, `{"amount":"\u0031.5"}`,
		`{"amount":99999999999999999999999999}`,
	} {
		f.Add([]byte(seed))
	}
	rub := wallet.Currency{Code: "RUB", Digits: 2}
	const max = wallet.Amount(100000000)
	f.Fuzz(func(t *testing.T, body []byte) {
		var b operationBody
		if err := decodeJSON(body, &b); err != nil {
			if code := wallet.ErrorCode(err); code != wallet.EInvalidRequest {
				t.Fatalf("decode refused with %q, want %q", code, wallet.EInvalidRequest)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("decoder accepted invalid JSON %q", body)
		}
		a, err := rub.ParseJSONAmount(b.Amount, max)
		if err != nil {
			if code := wallet.ErrorCode(err); code != wallet.EInvalidAmount {
				t.Fatalf("amount refused with %q, want %q", code, wallet.EInvalidAmount)
			}
			return
		}
		if a <= 0 || a > max {
			t.Fatalf("accepted amount %d out of range (0, %d]", a, max)
		}
		back, err := rub.ParseAmount(rub.Format(a), max)
		if err != nil || back != a {
			t.Fatalf("amount %d formats as %q which parses to %d, %v", a, rub.Format(a), back, err)
		}
	})
}

// FuzzDecodeSignup checks the signup and login decoders never panic and
// refuse only with invalid_request.
func FuzzDecodeSignup(f *testing.F) {
	for _, seed := range []string{
		`{"name":"Ann","email":"ann@example.org","password":"correct horse"}`,
		`{"name":["x"],"email":1}`, `{"name":"\u0000"}`, `{"email":"a@b","password":"p","x":1}`, `"str"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var s signupBody
		if err := decodeJSON(body, &s); err != nil && wallet.ErrorCode(err) != wallet.EInvalidRequest {
			t.Fatalf("signup decode refused with %q", wallet.ErrorCode(err))
		}
		var l loginBody
		if err := decodeJSON(body, &l); err != nil && wallet.ErrorCode(err) != wallet.EInvalidRequest {
			t.Fatalf("login decode refused with %q", wallet.ErrorCode(err))
		}
	})
}
