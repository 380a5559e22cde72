package httpapi

import (
	"errors"
	"html/template"
	"strings"
	"testing"

	"github.com/walletd/wallet/internal/wallet"
)

func TestFormKeyBase(t *testing.T) {
	key := strings.Repeat("ab", 16)
	for in, want := range map[string]string{key: key, key + "-c-01a2": key, key + "-x": key} {
		if got, ok := formKeyBase(in); !ok || got != want {
			t.Errorf("formKeyBase(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "short", strings.Repeat("zz", 16), "-" + key, strings.Repeat("ab", 17)} {
		if _, ok := formKeyBase(bad); ok {
			t.Errorf("formKeyBase(%q) took it for a page's key", bad)
		}
	}
}

func TestFormFailureFields(t *testing.T) {
	f := formFields{"amount": "1.234", "password": "secret pw", "csrf_token": "t", "wallet_id": "w", "other": "x"}
	ff, code, status := newFailure("transfer", []string{"wallet_id", "amount", "password"}, f,
		wallet.Errorf(wallet.EInvalidAmount, "amount has too many decimals"))
	if code != wallet.EInvalidAmount || status != 400 || ff.Field != "amount" || ff.Message != "amount has too many decimals" {
		t.Errorf("newFailure = %+v %s %d", ff, code, status)
	}
	if ff.Values["amount"] != "1.234" || ff.Values["wallet_id"] != "w" {
		t.Errorf("what was typed is not kept: %v", ff.Values)
	}
	for _, k := range []string{"password", "csrf_token", "other"} {
		if _, kept := ff.Values[k]; kept {
			t.Errorf("%s echoed back: %v", k, ff.Values)
		}
	}
	// A handler names the field where the code cannot.
	ff, _, _ = newFailure("client", []string{"type", "redirect_uris"}, formFields{},
		atField("type", wallet.Errorf(wallet.EInvalidRequest, "type must be public or confidential")))
	if ff.Field != "type" {
		t.Errorf("atField: field %q", ff.Field)
	}
	// A code about a field the form lacks: about the form.
	ff, _, _ = newFailure("void", nil, formFields{}, wallet.Errorf(wallet.EInsufficientFunds, "insufficient funds"))
	if ff.Field != "" {
		t.Errorf("a field the form lacks: %q", ff.Field)
	}
	if _, _, status := newFailure("x", nil, nil, errors.New("boom")); status != 500 {
		t.Errorf("an internal error: %d", status)
	}
}

func TestInputEscapes(t *testing.T) {
	input := formFuncs["input"].(func(pageData, string, string, string, ...string) template.HTML)
	hostile := `"><script>x</script>`
	d := pageData{Failed: &formFailure{Form: "f", Field: "amount", Message: hostile, Values: formFields{"amount": hostile}}}
	out := string(input(d, "f", "amount", "Amount <b>", "id=cap-1", "required", "placeholder=a\"b"))
	for _, raw := range []string{"<script>", `"><`, "<b>", `a"b`} {
		if strings.Contains(out, raw) {
			t.Errorf("input renders %q raw: %s", raw, out)
		}
	}
	for _, want := range []string{`id="cap-1"`, `for="cap-1"`, `aria-invalid="true"`, `aria-describedby="f-amount-error"`, `required`} {
		if !strings.Contains(out, want) {
			t.Errorf("input lacks %s: %s", want, out)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("an attribute name with a space was taken")
		}
	}()
	input(pageData{}, "f", "x", "X", "data x=1")
}
