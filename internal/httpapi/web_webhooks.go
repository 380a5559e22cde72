package httpapi

import (
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/wallet"
)

// The webhooks page: a user's or a payment system's endpoints (add one,
// with the events it wants, and see its signing secret once; remove
// one), and each endpoint's delivery log with a retry button; the same
// use cases as the API.

func (s *Server) routesWebhooksPage() {
	s.app.Get("/webhooks", pageHeaders, s.showPage(webhooksPage))
	s.app.Post("/webhooks", pageHeaders, s.checkOrigin, s.addWebhookForm)
	s.app.Post("/webhooks/:id/delete", pageHeaders, s.checkOrigin, s.deleteWebhookForm)
	s.app.Get("/webhooks/:id", pageHeaders, s.deliveriesPage)
	s.app.Post("/webhooks/:id/deliveries/:delivery_id/retry", pageHeaders, s.checkOrigin, s.retryDeliveryForm)
}

// webhookRow is an endpoint in the page's list; deliveryRow one of its
// deliveries.
type (
	webhookRow struct {
		ID, URL, Events, Since string
	}
	deliveryRow struct {
		ID, When, Type, EventID, Status, Answer, Next string
		Attempts                                      int
	}
)

var (
	webhooksPage        = webPage{path: "/webhooks", fill: (*Server).fillWebhooks}
	errWebhookNotFound  = wallet.Errorf(wallet.EWebhookNotFound, "webhook not found")
	errWebhooksOff      = wallet.Errorf(wallet.EForbidden, "webhooks are off in this deployment")
	errWebhooksForUsers = wallet.Errorf(wallet.EForbidden, "webhooks are for users and payment systems")
	// webhookFields are the add form's: the URL, and a box per event type
	// (none ticked: every event).
	webhookFields = append([]string{"url", "events"}, eventBoxes()...)
)

func eventBoxes() []string {
	names := make([]string, len(wallet.EventTypes))
	for i, t := range wallet.EventTypes {
		names[i] = "event:" + t
	}
	return names
}

// webhooksAllowed refuses the page where webhooks are off, and to admins.
func (s *Server) webhooksAllowed(p *principal) error {
	if s.hooks == nil || s.deliveries == nil {
		return errWebhooksOff
	}
	if p.User.Role == wallet.RoleAdmin {
		return errWebhooksForUsers
	}
	return nil
}

func (s *Server) fillWebhooks(c *fiber.Ctx, p *principal, d *pageData) (string, error) {
	d.Title, d.EventChoices = "Webhooks", wallet.EventTypes
	if err := s.webhooksAllowed(p); err != nil {
		return "webhooks.html", err
	}
	ws, err := s.hooks.List(c.UserContext(), p.User.ID)
	if err != nil {
		return "webhooks.html", err
	}
	for _, w := range ws {
		d.Webhooks = append(d.Webhooks, s.webhookRow(w))
	}
	return "webhooks.html", nil
}

func (s *Server) webhookRow(w wallet.Webhook) webhookRow {
	events := "all events"
	if len(w.Events) < len(wallet.EventTypes) {
		events = strings.Join(w.Events, ", ")
	}
	return webhookRow{ID: w.ID, URL: w.URL, Events: events, Since: w.CreatedAt.UTC().Format(time.DateTime)}
}

// addWebhookForm registers an endpoint and shows the page with its
// signing secret, once: it is not kept anywhere it could be shown again.
func (s *Server) addWebhookForm(c *fiber.Ctx) error {
	p, f, fail := s.formStart(c, webhooksPage, "webhook", webhookFields...)
	if p == nil {
		return fail(nil)
	}
	if err := s.webhooksAllowed(p); err != nil {
		return fail(err)
	}
	var events *[]string
	for _, t := range wallet.EventTypes {
		if f.get("event:"+t) != "" {
			if events == nil {
				events = &[]string{}
			}
			*events = append(*events, t)
		}
	}
	w, err := s.hooks.Register(c.UserContext(), p.User.ID, f.get("url"), events)
	if err != nil {
		return fail(err)
	}
	return s.renderCreated(c, p, webhooksPage, "Endpoint added. Its signing secret is below: copy it now, it is shown only this once.", w.Secret)
}

func (s *Server) deleteWebhookForm(c *fiber.Ctx) error {
	p, _, fail, id := s.rowFormStart(c, webhooksPage, "delete", errWebhookNotFound)
	if p == nil {
		return fail(nil)
	}
	if err := s.webhooksAllowed(p); err != nil {
		return fail(err)
	}
	if err := s.hooks.Delete(c.UserContext(), p.User.ID, id); err != nil {
		return fail(err)
	}
	return c.Redirect(webhooksPage.path, fiber.StatusSeeOther)
}

// deliveryLog is the page of one endpoint's deliveries, newest first,
// from the cursor in the query.
func deliveryLog(id string) webPage {
	return webPage{path: "/webhooks/" + id, fill: func(s *Server, c *fiber.Ctx, p *principal, d *pageData) (string, error) {
		return s.fillDeliveries(c, p, d, id)
	}}
}

func (s *Server) deliveriesPage(c *fiber.Ctx) error {
	id, ok := wallet.CanonicalID(c.Params("id"))
	if !ok {
		id = "" // the page says the endpoint was not found
	}
	return s.showPage(deliveryLog(id))(c)
}

func (s *Server) fillDeliveries(c *fiber.Ctx, p *principal, d *pageData, id string) (string, error) {
	d.Title = "Webhook deliveries"
	if err := s.webhooksAllowed(p); err != nil {
		return "deliveries.html", err
	}
	ws, err := s.hooks.List(c.UserContext(), p.User.ID)
	if err != nil {
		return "deliveries.html", err
	}
	for _, w := range ws {
		if w.ID == id {
			row := s.webhookRow(w)
			d.Webhook = &row
		}
	}
	if d.Webhook == nil {
		return "deliveries.html", errWebhookNotFound
	}
	before, err := listCursor(c, "cursor")
	if err != nil {
		return "deliveries.html", err
	}
	ds, err := s.deliveries.Deliveries(c.UserContext(), p.User.ID, id, before, listLimit+1)
	if err != nil {
		return "deliveries.html", err
	}
	ds, next := trimPage(ds, listLimit, func(x wallet.Delivery) string { return x.ID })
	d.paged("cursor", before, next)
	for _, x := range ds {
		row := deliveryRow{ID: x.ID, When: x.CreatedAt.UTC().Format(time.DateTime), Type: x.Type, EventID: x.NotificationID,
			Status: x.Status, Attempts: x.Attempts, Answer: x.LastError}
		if x.LastStatusCode != 0 {
			row.Answer = "HTTP " + strconv.Itoa(x.LastStatusCode)
			if x.LastError != "" {
				row.Answer += ": " + x.LastError
			}
		}
		if x.NextAttemptAt != nil {
			row.Next = x.NextAttemptAt.UTC().Format(time.DateTime)
		}
		d.Deliveries = append(d.Deliveries, row)
	}
	return "deliveries.html", nil
}

// retryDeliveryForm sends a delivery again now (a succeeded one too).
func (s *Server) retryDeliveryForm(c *fiber.Ctx) error {
	hook, okHook := wallet.CanonicalID(c.Params("id"))
	delivery, okDelivery := wallet.CanonicalID(c.Params("delivery_id"))
	pg := deliveryLog(hook)
	if !okHook {
		pg = webhooksPage
	}
	form := "retry-" + delivery
	if !okDelivery {
		form = "" // shown at the top of the page
	}
	p, _, fail := s.formStart(c, pg, form)
	if p == nil {
		return fail(nil)
	}
	if err := s.webhooksAllowed(p); err != nil {
		return fail(err)
	}
	if !okHook {
		return fail(errWebhookNotFound)
	}
	if !okDelivery {
		return fail(wallet.Errorf(wallet.EDeliveryNotFound, "delivery not found"))
	}
	if _, err := s.deliveries.Retry(c.UserContext(), p.User.ID, hook, delivery); err != nil {
		return fail(err)
	}
	return c.Redirect(pg.path, fiber.StatusSeeOther)
}
