package httpapi

import "github.com/gofiber/fiber/v2"

// bodyCap refuses a body over bodyLimit with 413 payload_too_large once
// it has been read whole (fasthttp reads up to drainLimit), and closes
// the connection after the answer.
func bodyCap(c *fiber.Ctx) error {
	if len(c.Request().Body()) > bodyLimit { // as sent: c.Body() would inflate a compressed one
		c.Context().SetConnectionClose()
		return fiber.ErrRequestEntityTooLarge
	}
	return c.Next()
}
