package main

import (
	"strings"
	"testing"
)

func TestPrintMeans(t *testing.T) {
	run := func(workers int, rtt float64, completed float64) RunResult {
		return RunResult{Scenario: "scale", Workers: workers, WorkerRTTMs: rtt,
			Phases: []Summary{{Phase: phaseSpec{Name: "uniform"}, CompletedPerSec: completed}}}
	}
	// The direct runs read their CPU; the others did not.
	withCPU := func(r RunResult, total, workers float64) RunResult {
		r.Phases[0].CPU = &CPUBudget{TotalPerOp: total, PerOpMs: map[string]float64{"workers": workers}}
		return r
	}
	var out strings.Builder
	printMeans(&out, &Results{Runs: []RunResult{
		withCPU(run(1, 0, 1000), 0.6, 0.1), withCPU(run(2, 0, 900), 0.7, 0.12), run(1, 10, 500), run(2, 10, 1000),
		withCPU(run(1, 0, 1200), 0.8, 0.1), withCPU(run(2, 0, 1300), 0.7, 0.14), run(1, 10, 700), run(2, 10, 1000),
		run(1, 0.5, 800), run(1, 0.5, 900),
	}})
	got := out.String()
	for _, want := range []string{
		"scale     1       uniform  2     1100  1000    1200     1.00 0.700 0.100",
		"scale     2       uniform  2     1100  900     1300     1.00 0.700 0.130",
		"scale     1 +10ms  uniform  2     600   500     700      1.00 - -",
		"scale     2 +10ms  uniform  2     1000  1000    1000     1.67 - -",
		"scale 1 +0.5ms uniform 2 850 800 900 1.00 - -",
	} {
		if !strings.Contains(strings.Join(strings.Fields(got), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}

	// Nothing repeated: no table.
	out.Reset()
	printMeans(&out, &Results{Runs: []RunResult{run(1, 0, 1000), run(2, 0, 900)}})
	if out.Len() != 0 {
		t.Errorf("means printed for runs that were not repeated:\n%s", out.String())
	}
}
