package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
)

func stagesText(locksSum float64, locksCount int, insertSum float64, insertCount int) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	r := strings.NewReplacer("LCx4", strconv.Itoa(4*locksCount), "LS", f(locksSum), "LC", strconv.Itoa(locksCount), "IS", f(insertSum), "IC", strconv.Itoa(insertCount))
	return r.Replace(`# HELP wallet_accept_stage_seconds Time in each stage.
# TYPE wallet_accept_stage_seconds histogram
wallet_accept_stage_seconds_bucket{stage="locks",le="+Inf"} LC
wallet_accept_stage_seconds_sum{stage="locks"} LS
wallet_accept_stage_seconds_count{stage="locks"} LC
wallet_accept_stage_seconds_bucket{stage="insert",le="+Inf"} IC
wallet_accept_stage_seconds_sum{stage="insert"} IS
wallet_accept_stage_seconds_count{stage="insert"} IC
# TYPE wallet_batch_operations histogram
wallet_batch_operations_bucket{stage="accept",le="+Inf"} LC
wallet_batch_operations_sum{stage="accept"} LCx4
wallet_batch_operations_count{stage="accept"} LC
wallet_batch_operations_bucket{stage="apply",le="+Inf"} 1
wallet_batch_operations_sum{stage="apply"} 1000
wallet_batch_operations_count{stage="apply"} 1
# TYPE wallet_busy_total counter
wallet_busy_total 3
`)
}

func TestStageMeans(t *testing.T) {
	from := parseStages(strings.NewReader(stagesText(0.02, 10, 0.5, 10)))
	to := parseStages(strings.NewReader(stagesText(0.05, 20, 0.5, 10)))
	if from == nil || to == nil {
		t.Fatalf("parse: %v, %v", from, to)
	}
	got := stageMeans(from, to)
	// locks: 0.03 s over 10 requests; insert: nothing new in the window.
	if len(got) != 1 || math.Abs(got["locks"]-3) > 1e-9 {
		t.Fatalf("means %v, want locks 3 ms only", got)
	}
	if line := stagesLine(got); line != "locks 3.00 = 3.00" {
		t.Errorf("line %q", line)
	}
	// The enqueue follows the answer: beside the sum, not in it.
	if line := stagesLine(map[string]float64{"locks": 3, "redis": 1, "enqueue": 0.5}); line != "locks 3.00 · redis 1.00 = 4.00, then enqueue 0.50 after the answer" {
		t.Errorf("line with the enqueue %q", line)
	}
	// Groups: 40 more requests in 10 more groups, the apply series ignored.
	if g := groupMean(from, to); g != 4 {
		t.Errorf("group mean %v, want 4", g)
	}
	if stageMeans(nil, to) != nil || stageMeans(from, from) != nil {
		t.Error("means from a missing sample or an empty window")
	}
	if parseStages(strings.NewReader("# TYPE other counter\nother 1\n")) != nil {
		t.Error("a /metrics without the stage histogram parsed as a sample")
	}
}
