package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"strings"
)

// chartPanel is one phase's chart: throughput (accepted and completed per
// second) above, p99 accept latency per second below.
type chartPanel struct {
	Title  string
	Series []Second
	// Warmup and End mark the measured window, in seconds.
	Warmup, End float64
}

// Chart geometry, in SVG user units.
const (
	chartWidth   = 960
	marginLeft   = 70
	marginRight  = 20
	titleHeight  = 34
	rateHeight   = 200
	gapHeight    = 46
	latHeight    = 130
	axisHeight   = 40
	panelHeight  = titleHeight + rateHeight + gapHeight + latHeight + axisHeight
	plotWidth    = chartWidth - marginLeft - marginRight
	colorAccept  = "#1f77b4"
	colorDone    = "#2ca02c"
	colorLatency = "#d62728"
)

// renderSVG draws the panels one under the other in one SVG document.
// It is hand-written SVG: a chart this plain needs no library.
func renderSVG(panels []chartPanel) []byte {
	var b bytes.Buffer
	height := max(len(panels), 1) * panelHeight
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	if len(panels) == 0 {
		text(&b, chartWidth/2, panelHeight/2, "middle", "", "no data")
	}
	for i, p := range panels {
		drawPanel(&b, p, float64(i*panelHeight))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func drawPanel(b *bytes.Buffer, p chartPanel, top float64) {
	text(b, marginLeft, top+20, "start", `font-size="15" font-weight="bold"`, p.Title)
	legend(b, top+20)

	xMax := p.End
	for _, s := range p.Series {
		xMax = max(xMax, float64(s.T+1))
	}
	xMax = math.Max(xMax, 1)
	var rateMax, latMax float64
	for _, s := range p.Series {
		rateMax = max(rateMax, float64(s.Accepted), float64(s.Completed))
		latMax = max(latMax, s.AcceptP99Ms)
	}

	rateTop := top + titleHeight
	latTop := rateTop + rateHeight + gapHeight
	x := func(t float64) float64 { return marginLeft + t/xMax*plotWidth }

	rateAxis := axis(b, rateTop, rateHeight, rateMax, "operations/s")
	latAxis := axis(b, latTop, latHeight, latMax, "p99 accept (ms)")
	xTicks(b, x, xMax, rateTop, latTop+latHeight)
	for _, mark := range []struct {
		t     float64
		label string
	}{{p.Warmup, "warm-up end"}, {p.End, "load end"}} {
		if mark.t > 0 && mark.t <= xMax {
			fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="4 4"/>`+"\n",
				x(mark.t), rateTop, x(mark.t), latTop+latHeight)
			// Labels sit right of their line, or left of it near the edge.
			if x(mark.t) > marginLeft+plotWidth-60 {
				text(b, x(mark.t)-3, rateTop+12, "end", `fill="#666" font-size="10"`, mark.label)
			} else {
				text(b, x(mark.t)+3, rateTop+12, "start", `fill="#666" font-size="10"`, mark.label)
			}
		}
	}

	// A second's figures are drawn at its middle.
	points := func(val func(Second) float64, base, height, vmax float64) string {
		var sb strings.Builder
		for _, s := range p.Series {
			fmt.Fprintf(&sb, "%.1f,%.1f ", x(float64(s.T)+0.5), base+height-val(s)/vmax*height)
		}
		return strings.TrimSpace(sb.String())
	}
	polyline(b, colorAccept, points(func(s Second) float64 { return float64(s.Accepted) }, rateTop, rateHeight, rateAxis))
	polyline(b, colorDone, points(func(s Second) float64 { return float64(s.Completed) }, rateTop, rateHeight, rateAxis))
	polyline(b, colorLatency, points(func(s Second) float64 { return s.AcceptP99Ms }, latTop, latHeight, latAxis))
	text(b, marginLeft+plotWidth/2, latTop+latHeight+34, "middle", "", "seconds since the phase started")
}

// axis draws a plot's frame, horizontal grid lines and y labels, and
// returns the value at the top of the axis.
func axis(b *bytes.Buffer, top, height, vmax float64, label string) float64 {
	step := niceStep(vmax, 4)
	top0 := math.Max(step*math.Ceil(vmax/step), step)
	fmt.Fprintf(b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="none" stroke="#444"/>`+"\n", marginLeft, top, plotWidth, height)
	for v := 0.0; v <= top0*(1+1e-9); v += step {
		y := top + height - v/top0*height
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", marginLeft, y, marginLeft+plotWidth, y)
		text(b, marginLeft-6, y+4, "end", "", formatTick(v))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		14.0, top+height/2, 14.0, top+height/2, escape(label))
	return top0
}

// xTicks labels the time axis under the lower plot and draws faint
// vertical grid lines through both.
func xTicks(b *bytes.Buffer, x func(float64) float64, xMax, top, bottom float64) {
	step := niceStep(xMax, 10)
	for t := 0.0; t <= xMax*(1+1e-9); t += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#f0f0f0"/>`+"\n", x(t), top, x(t), bottom)
		text(b, x(t), bottom+16, "middle", "", formatTick(t))
	}
}

func legend(b *bytes.Buffer, y float64) {
	items := []struct{ color, label string }{{colorAccept, "accepted/s"}, {colorDone, "completed/s"}, {colorLatency, "p99 accept latency"}}
	x := float64(chartWidth - marginRight - 420)
	for _, it := range items {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", x, y-4, x+20, y-4, it.color)
		text(b, x+25, y, "start", "", it.label)
		x += 140
	}
}

func polyline(b *bytes.Buffer, color, points string) {
	if points == "" {
		return
	}
	fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round" points="%s"/>`+"\n", color, points)
}

func text(b *bytes.Buffer, x, y float64, anchor, attrs, s string) {
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>`+"\n", x, y, anchor, attrs, escape(s))
}

func escape(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s))
	return sb.String()
}

// niceStep is a step of 1, 2 or 5 times a power of ten that divides
// [0, vmax] into about n parts; 1 for an empty range.
func niceStep(vmax float64, n int) float64 {
	if vmax <= 0 || math.IsNaN(vmax) || math.IsInf(vmax, 0) {
		return 1
	}
	raw := vmax / float64(n)
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*pow >= raw {
			return m * pow
		}
	}
	return 10 * pow
}

// formatTick prints an axis value briefly: 2500 as 2.5k.
func formatTick(v float64) string {
	switch {
	case v >= 1e6:
		return trimZeros(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case v >= 1e3:
		return trimZeros(fmt.Sprintf("%.2f", v/1e3)) + "k"
	default:
		return trimZeros(fmt.Sprintf("%.2f", v))
	}
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
