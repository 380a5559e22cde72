package httpapi

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gofiber/fiber/v2"

	"github.com/walletd/wallet/internal/openapi"
)

// The OpenAPI document (internal/openapi) at GET /openapi.json, and a
// reference rendered from it at GET /docs: server-side HTML, nothing
// fetched from elsewhere.

func (s *Server) routesOpenAPI() {
	s.app.Get("/openapi.json", s.openAPIDocument)
	s.app.Get("/docs", pageHeaders, s.apiReference)
}

func (s *Server) openAPIDocument(c *fiber.Ctx) error {
	js, err := openapi.JSON()
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(js)
}

// docsData is the reference page's content.
type docsData struct {
	Title, Version, Description string
	Tags                        []docsTag
}

type docsTag struct {
	Name string
	Ops  []docsOp
}

type docsOp struct {
	Anchor, Method, Path, Summary, Description, Security string
	Params                                               []docsParam
	Body                                                 string
	Responses                                            []docsResponse
}

type docsParam struct{ Name, In, Description string }

type docsResponse struct{ Status, Description, Schema string }

// referenceData is the reference, built once.
var referenceData = sync.OnceValues(buildReference)

func buildReference() (*docsData, error) {
	doc, err := openapi.Load()
	if err != nil {
		return nil, err
	}
	d := &docsData{Title: doc.Info.Title, Version: doc.Info.Version, Description: doc.Info.Description}
	byTag := map[string][]docsOp{}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		for method, op := range item.Operations() {
			o := docsOp{Anchor: op.OperationID, Method: method, Path: p, Summary: op.Summary, Description: op.Description,
				Security: security(doc, op)}
			for _, prm := range append(item.Parameters, op.Parameters...) {
				if prm.Value != nil {
					o.Params = append(o.Params, docsParam{Name: prm.Value.Name, In: prm.Value.In, Description: prm.Value.Description})
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					o.Body = ct + "\n" + schemaText(mt.Schema)
				}
			}
			for code, r := range op.Responses.Map() {
				if r.Value == nil {
					continue
				}
				dr := docsResponse{Status: code}
				if r.Value.Description != nil {
					dr.Description = *r.Value.Description
				}
				if mt := r.Value.Content.Get("application/json"); mt != nil {
					dr.Schema = schemaText(mt.Schema)
				}
				o.Responses = append(o.Responses, dr)
			}
			sort.Slice(o.Responses, func(i, j int) bool { return o.Responses[i].Status < o.Responses[j].Status })
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], o)
		}
	}
	for name, ops := range byTag {
		sort.Slice(ops, func(i, j int) bool {
			if ops[i].Path != ops[j].Path {
				return ops[i].Path < ops[j].Path
			}
			return ops[i].Method < ops[j].Method
		})
		d.Tags = append(d.Tags, docsTag{Name: name, Ops: ops})
	}
	sort.Slice(d.Tags, func(i, j int) bool { return d.Tags[i].Name < d.Tags[j].Name })
	return d, nil
}

// security names the schemes an operation accepts.
func security(doc *openapi3.T, op *openapi3.Operation) string {
	reqs := doc.Security
	if op.Security != nil {
		reqs = *op.Security
	}
	if len(reqs) == 0 {
		return "none"
	}
	var names []string
	for _, r := range reqs {
		for name := range r {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// schemaText is a schema as indented JSON, a reference as its name.
func schemaText(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	if ref.Ref != "" {
		return ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
	}
	b, err := json.MarshalIndent(ref.Value, "", "  ")
	if err != nil {
		return ""
	}
	return string(b)
}

func (s *Server) apiReference(c *fiber.Ctx) error {
	d, err := referenceData()
	if err != nil {
		return err
	}
	return s.render(c, fiber.StatusOK, "docs.html", pageData{Title: "API reference", Docs: d})
}
