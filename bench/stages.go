package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The accept path's latency budget: the API's wallet_accept_stage_seconds
// histogram (internal/metrics) read from its /metrics at both ends of a
// phase's measured window, as the mean time an accepted request spent in
// each stage: waiting for its locks, its group waiting for a committer,
// the funds check, the insert with its commit, and the Redis steps after
// it. What the client saw beyond their sum is HTTP, auth and scheduling.
// The enqueue of a group's task comes after its requests are answered,
// so it is shown beside the sum, not in it.

// acceptStages are the stages in the order of the path, and afterAnswer
// those that follow the answer.
var (
	acceptStages = []string{"locks", "committer", "funds", "insert", "redis"}
	afterAnswer  = []string{"enqueue"}
)

const (
	stageMetric = "wallet_accept_stage_seconds"
	// groupMetric's stage="accept" series counts the requests of each
	// accepted group: its mean is the group size.
	groupMetric = "wallet_batch_operations"
	groupKey    = "group"
)

// stageSample is each stage's histogram sum (seconds) and count so far.
type stageSample map[string]stageTotal

type stageTotal struct {
	Sum   float64
	Count uint64
}

// sampleStages reads the stage histograms from base's /metrics; nil when
// it cannot (a service without the metric, or not reachable).
func sampleStages(ctx context.Context, base string) stageSample {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	return parseStages(resp.Body)
}

// parseStages reads the stage histograms from Prometheus's text format.
func parseStages(r io.Reader) stageSample {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil
	}
	if _, ok := families[stageMetric]; !ok {
		return nil
	}
	out := stageSample{}
	each := func(name string, fn func(stage string, t stageTotal)) {
		for _, m := range families[name].GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					fn(l.GetValue(), stageTotal{Sum: h.GetSampleSum(), Count: h.GetSampleCount()})
				}
			}
		}
	}
	each(stageMetric, func(stage string, t stageTotal) { out[stage] = t })
	each(groupMetric, func(stage string, t stageTotal) {
		if stage == "accept" {
			out[groupKey] = t
		}
	})
	return out
}

// groupMean is the mean number of requests per accepted group between two
// samples (0: unknown).
func groupMean(from, to stageSample) float64 {
	if from == nil || to == nil {
		return 0
	}
	a, b := from[groupKey], to[groupKey]
	if b.Count <= a.Count {
		return 0
	}
	return (b.Sum - a.Sum) / float64(b.Count-a.Count)
}

// stageMeans is each stage's mean in milliseconds per request between
// two samples; nil when either is missing or nothing was counted.
func stageMeans(from, to stageSample) map[string]float64 {
	if from == nil || to == nil {
		return nil
	}
	out := map[string]float64{}
	for _, st := range slices.Concat(acceptStages, afterAnswer) {
		a, b := from[st], to[st]
		if b.Count <= a.Count {
			continue
		}
		out[st] = (b.Sum - a.Sum) / float64(b.Count-a.Count) * 1000
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// stagesLine is the budget as one line of the report.
func stagesLine(means map[string]float64) string {
	var parts []string
	total := 0.0
	for _, st := range acceptStages {
		if v, ok := means[st]; ok {
			parts = append(parts, fmt.Sprintf("%s %.2f", st, v))
			total += v
		}
	}
	line := fmt.Sprintf("%s = %.2f", strings.Join(parts, " · "), total)
	for _, st := range afterAnswer {
		if v, ok := means[st]; ok {
			line += fmt.Sprintf(", then %s %.2f after the answer", st, v)
		}
	}
	return line
}
