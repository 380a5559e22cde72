package httpapi

import (
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// formFields is an HTML form as posted.
type formFields map[string]string

// readForm reads a posted HTML form strictly: an
// application/x-www-form-urlencoded body, each field at most once (so
// amount=0.01&amount=40 names no one amount), nothing taken from the
// query string, and valid UTF-8 only.
func readForm(c *fiber.Ctx) (formFields, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.Get(fiber.HeaderContentType), ";")[0]))
	if ct != fiber.MIMEApplicationForm {
		return nil, wallet.Errorf(eUnsupportedMediaType, "a form must be sent as application/x-www-form-urlencoded")
	}
	f := formFields{}
	var err error
	c.Request().PostArgs().VisitAll(func(k, v []byte) {
		key := string(k)
		if _, seen := f[key]; seen && err == nil {
			err = wallet.Errorf(wallet.EInvalidRequest, "the form field %q was sent more than once", key)
		}
		f[key] = string(v)
	})
	if err != nil {
		return nil, err
	}
	for k, v := range f {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, wallet.Errorf(wallet.EInvalidRequest, "the form is not valid UTF-8")
		}
	}
	return f, nil
}

// get returns a field's value, "" when absent.
func (f formFields) get(name string) string { return f[name] }
