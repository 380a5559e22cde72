package httpapi

import (
	"encoding/base64"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// Lists page newest first by id (UUIDv7, so creation order): a page asks
// for limit+1 rows after the cursor, and the cursor of the next page is
// the last id shown, opaque to clients.

// pageParams reads ?limit= (1 to 100, default 50) and ?cursor=.
func pageParams(c *fiber.Ctx) (before string, limit int, err error) {
	limit = defaultPage
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxPage {
			return "", 0, wallet.Errorf(wallet.EInvalidLimit, "limit must be 1 to %d", maxPage)
		}
		limit = n
	}
	before, err = decodeCursor(c.Query("cursor"))
	return before, limit, err
}

// decodeCursor is the id a cursor stands for ("" for none).
func decodeCursor(cur string) (string, error) {
	if cur == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(cur)
	id, ok := wallet.CanonicalID(string(raw))
	if err != nil || !ok {
		return "", wallet.Errorf(wallet.EInvalidCursor, "cursor is not one this API gave out")
	}
	return id, nil
}

// trimPage cuts rows (limit+1 asked) to the page and returns the next
// page's cursor, nil on the last page.
func trimPage[T any](rows []T, limit int, id func(T) string) ([]T, *string) {
	if len(rows) <= limit {
		return rows, nil
	}
	rows = rows[:limit]
	cur := base64.RawURLEncoding.EncodeToString([]byte(id(rows[limit-1])))
	return rows, &cur
}

// statusParam reads ?status=, which must be one of the resource's
// statuses when given.
func statusParam(c *fiber.Ctx, known ...string) (string, error) {
	st := c.Query("status")
	if st == "" {
		return "", nil
	}
	for _, k := range known {
		if st == k {
			return st, nil
		}
	}
	return "", wallet.Errorf(wallet.EInvalidRequest, "status must be one of %v", known)
}
