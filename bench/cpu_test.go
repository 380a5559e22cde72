package main

import (
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with a space and a parenthesis, then state, ppid,
	// ..., utime 250, stime 50, cutime 1000, cstime 200.
	line := []byte("4242 (post gres) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 1000 200 20 0 1 0 100 1000 10")
	used, children, ok := parseStat(line)
	if !ok || used != 3*time.Second || children != 12*time.Second {
		t.Errorf("parseStat = %v, %v, %v; want 3s, 12s, true", used, children, ok)
	}
	for _, bad := range []string{"", "4242 no parenthesis", "4242 (short) S 1 2 3", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 u s cu cs"} {
		if _, _, ok := parseStat([]byte(bad)); ok {
			t.Errorf("parseStat(%q) accepted a line it cannot read", bad)
		}
	}
}

func TestProcCPUOfThisProcess(t *testing.T) {
	for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
		_ = math.Sqrt(float64(time.Now().UnixNano())) // burn some CPU
	}
	used, _, ok := procCPU(strconv.Itoa(os.Getpid()))
	if !ok || used <= 0 {
		t.Errorf("procCPU(self) = %v, %v; want some CPU time", used, ok)
	}
}

func TestBudget(t *testing.T) {
	a := cpuSample{"api": time.Second, "workers": 2 * time.Second, "postgres": 0, "redis": 0, "generator": 0}
	b := cpuSample{"api": 3 * time.Second, "workers": 6 * time.Second, "postgres": 4 * time.Second, "redis": time.Second, "generator": time.Second}
	got := budget(a, b, 10000, 10*time.Second)
	if got == nil || got.PerOpMs["api"] != 0.2 || got.PerOpMs["workers"] != 0.4 || got.PerOpMs["postgres"] != 0.4 ||
		math.Abs(got.TotalPerOp-1.2) > 1e-9 || got.Cores["workers"] != 0.4 || math.Abs(got.TotalCores-1.2) > 1e-9 {
		t.Errorf("budget = %+v", got)
	}
	if budget(nil, b, 10, time.Second) != nil || budget(a, b, 0, time.Second) != nil {
		t.Error("a budget without samples or completions")
	}
}
