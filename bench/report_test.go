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
	var out strings.Builder
	printMeans(&out, &Results{Runs: []RunResult{
		run(1, 0, 1000), run(2, 0, 900), run(1, 10, 500), run(2, 10, 1000),
		run(1, 0, 1200), run(2, 0, 1300), run(1, 10, 700), run(2, 10, 1000),
		run(1, 0.5, 800), run(1, 0.5, 900),
	}})
	got := out.String()
	for _, want := range []string{
		"scale     1       uniform  2     1100  1000    1200     1.00",
		"scale     2       uniform  2     1100  900     1300     1.00",
		"scale     1 +10ms  uniform  2     600   500     700      1.00",
		"scale     2 +10ms  uniform  2     1000  1000    1000     1.67",
		"scale 1 +0.5ms uniform 2 850 800 900 1.00",
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
