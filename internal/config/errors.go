package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
)

// envErrors rewrites the env library's parse errors so that each names
// the environment variable and the value's problem, not the Go field:
// `LOCK_WAIT: unable to parse duration: time: invalid duration "abc"`,
// one per line.
func envErrors(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	vars := envNames(reflect.TypeFor[Config]())
	var out []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			name := vars[pe.Name]
			if name == "" {
				name = pe.Name
			}
			out = append(out, fmt.Errorf("%s: %w", name, unwrapParse(pe.Err)))
			continue
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// unwrapParse drops strconv's "strconv.ParseInt: parsing "x": " framing
// where there is one, keeping what is wrong with the value.
func unwrapParse(err error) error {
	if u := errors.Unwrap(err); u != nil && strings.HasPrefix(err.Error(), "strconv.") {
		return fmt.Errorf("%q is not a number (%w)", valueOf(err.Error()), u)
	}
	return err
}

// valueOf extracts the quoted value from a strconv error's text.
func valueOf(s string) string {
	if i := strings.Index(s, `"`); i >= 0 {
		if j := strings.Index(s[i+1:], `"`); j >= 0 {
			return s[i+1 : i+1+j]
		}
	}
	return s
}

// envNames maps each field of a config struct to its env tag.
func envNames(t reflect.Type) map[string]string {
	m := map[string]string{}
	for f := range t.Fields() {
		if tag, _, _ := strings.Cut(f.Tag.Get("env"), ","); tag != "" && tag != "-" {
			m[f.Name] = tag
		}
	}
	return m
}
