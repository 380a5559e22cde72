package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
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
// where there is one, keeping the value and what is wrong with it.
func unwrapParse(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return fmt.Errorf("%q is not a number (%w)", ne.Num, ne.Err)
	}
	return err
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
