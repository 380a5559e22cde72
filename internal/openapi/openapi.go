// Package openapi holds the HTTP API's OpenAPI 3.0 document, the one
// source of truth that GET /openapi.json serves and the end-to-end tests
// hold the service to. It is written by hand in parts (parts/*.yaml): the
// base (info, security schemes, the shared schemas and answers) and a part
// per area of the API, merged here into one document.
package openapi

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

//go:embed parts/*.yaml
var parts embed.FS

// JSON is the merged document as JSON.
var JSON = sync.OnceValues(func() ([]byte, error) {
	doc, err := merge()
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(doc, "", "  ")
})

// Load parses the merged document and checks it against the OpenAPI
// specification (the document's own lint).
func Load() (*openapi3.T, error) {
	js, err := JSON()
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(js)
	if err != nil {
		return nil, fmt.Errorf("openapi: load: %w", err)
	}
	if err := doc.Validate(openapi3.NewLoader().Context); err != nil {
		return nil, fmt.Errorf("openapi: the document is not valid OpenAPI: %w", err)
	}
	return doc, nil
}

// merge reads base.yaml and adds every other part's paths and components
// to it; a path's method or a component named twice is an error.
func merge() (map[string]any, error) {
	doc, err := readPart("parts/base.yaml")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(parts, "parts/*.yaml")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	paths := object(doc, "paths")
	components := object(doc, "components")
	for _, name := range names {
		if name == "parts/base.yaml" {
			continue
		}
		part, err := readPart(name)
		if err != nil {
			return nil, err
		}
		for p, item := range object(part, "paths") {
			into := object(paths, p)
			for method, op := range item.(map[string]any) {
				if _, dup := into[method]; dup {
					return nil, fmt.Errorf("openapi: %s: %s %s is in another part too", path.Base(name), method, p)
				}
				into[method] = op
			}
		}
		for section, entries := range object(part, "components") {
			into := object(components, section)
			for n, v := range entries.(map[string]any) {
				if _, dup := into[n]; dup {
					return nil, fmt.Errorf("openapi: %s: components.%s.%s is in another part too", path.Base(name), section, n)
				}
				into[n] = v
			}
		}
	}
	addCommonAnswers(doc, paths)
	return doc, nil
}

// addCommonAnswers adds to every operation the answers that the service's
// middleware gives on any route: 503 when Postgres or Redis is down, 413
// for a body over the size limit (checked on every route), 431 for
// headers over theirs, and on a route that takes credentials, 429 once
// too many of them failed (HTTP Basic counts as a login).
func addCommonAnswers(doc, paths map[string]any) {
	common := map[string]string{"503": "Unavailable", "413": "PayloadTooLarge", "431": "HeadersTooLarge"}
	for _, item := range paths {
		for method, op := range item.(map[string]any) {
			if !slices.Contains([]string{"get", "post", "put", "patch", "delete"}, method) {
				continue
			}
			o := op.(map[string]any)
			responses := object(o, "responses")
			add := func(status, name string) {
				if _, ok := responses[status]; !ok {
					responses[status] = map[string]any{"$ref": "#/components/responses/" + name}
				}
			}
			for status, name := range common {
				add(status, name)
			}
			security, own := o["security"].([]any)
			if !own {
				security, _ = doc["security"].([]any)
			}
			if len(security) > 0 {
				add("429", "TooManyRequests")
			}
		}
	}
}

func readPart(name string) (map[string]any, error) {
	raw, err := parts.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", name, err)
	}
	m, ok := normalize(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("openapi: %s: not a mapping", name)
	}
	return m, nil
}

// normalize makes every mapping a map[string]any (YAML allows other keys:
// an unquoted status code is an integer).
func normalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []any:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	}
	return v
}

// object is m[key] as a mapping, made if missing.
func object(m map[string]any, key string) map[string]any {
	if o, ok := m[key].(map[string]any); ok {
		return o
	}
	o := map[string]any{}
	m[key] = o
	return o
}
