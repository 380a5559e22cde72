package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// parseSVG decodes the whole document and returns its elements' names.
func parseSVG(t *testing.T, doc []byte) map[string]int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	names := map[string]int{}
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 && (tok.Name.Local != "svg" || tok.Name.Space != "http://www.w3.org/2000/svg") {
				t.Fatalf("root is %v, want svg in the SVG namespace", tok.Name)
			}
			depth++
			names[tok.Name.Local]++
		case xml.EndElement:
			depth--
		}
	}
	if depth != 0 {
		t.Fatalf("unbalanced elements")
	}
	return names
}

func TestRenderSVGIsValidXML(t *testing.T) {
	series := []Second{{T: 0, Accepted: 900, Completed: 800, AcceptP99Ms: 12.5}, {T: 1, Accepted: 1000, Completed: 1100, AcceptP99Ms: 30}, {T: 2, Completed: 50}}
	for _, tc := range []struct {
		name      string
		panels    []chartPanel
		polylines int
	}{
		{"two panels", []chartPanel{
			{Title: `uniform <&> "quoted"`, Series: series, Warmup: 1, End: 2},
			{Title: "hot", Series: series[:1], End: 30},
		}, 6},
		{"empty series", []chartPanel{{Title: "nothing", End: 10}}, 0},
		{"no panels", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := renderSVG(tc.panels)
			names := parseSVG(t, doc)
			if names["polyline"] != tc.polylines {
				t.Errorf("%d polylines, want %d", names["polyline"], tc.polylines)
			}
			if bytes.Contains(doc, []byte("NaN")) || bytes.Contains(doc, []byte("Inf")) {
				t.Errorf("chart has NaN or Inf coordinates")
			}
		})
	}
}

func TestRenderSVGEscapesTitles(t *testing.T) {
	doc := string(renderSVG([]chartPanel{{Title: "a < b & c", End: 1}}))
	if !strings.Contains(doc, "a &lt; b &amp; c") {
		t.Errorf("title not escaped")
	}
}

func TestNiceStep(t *testing.T) {
	for _, tc := range []struct {
		vmax float64
		n    int
		want float64
	}{
		{100, 4, 50}, {1000, 4, 500}, {37, 4, 10}, {8, 10, 1}, {30, 10, 5}, {0.3, 4, 0.1}, {0, 4, 1}, {math.NaN(), 4, 1},
	} {
		if got := niceStep(tc.vmax, tc.n); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("niceStep(%g, %d) = %g, want %g", tc.vmax, tc.n, got, tc.want)
		}
	}
}

func TestFormatTick(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 2.5: "2.5", 500: "500", 2500: "2.5k", 10000: "10k", 1500000: "1.5M"} {
		if got := formatTick(v); got != want {
			t.Errorf("formatTick(%g) = %q, want %q", v, got, want)
		}
	}
}
