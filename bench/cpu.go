package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The CPU budget: how much CPU each part of the deployment spent over a
// phase's measured window, read from /proc, so that a run says where a
// completed operation's cost goes (issue 13: the API, the workers,
// Postgres, Redis and the generator itself share the machine).
//
// The service's own processes are known by pid (a started service only).
// Postgres and Redis are every process named postgres or redis-server on
// the machine: the generator assumes it has the machine to itself, as it
// does for its throughput. A Postgres backend that exits during the
// window is counted through the postmaster's children's time, which the
// kernel adds to when it reaps one.

// cpuParts are the parts of a budget, in the order a report lists them.
var cpuParts = []string{"api", "workers", "postgres", "redis", "generator"}

// cpuSample is the CPU time each part has used so far.
type cpuSample map[string]time.Duration

// clockTick is the unit of /proc/<pid>/stat's times (USER_HZ: 100 on
// every Linux the project runs on).
const clockTick = 10 * time.Millisecond

// sampleCPU reads the CPU time used so far by the service's processes
// (by part), Postgres, Redis and this process; nil when /proc cannot be
// read or the service was not started here.
func sampleCPU(svc *service) cpuSample {
	if svc == nil || len(svc.procs) == 0 {
		return nil
	}
	s := cpuSample{"generator": cpuTime()}
	for _, p := range svc.procs {
		if p.cmd == nil || p.cmd.Process == nil {
			continue
		}
		used, _, ok := procCPU(strconv.Itoa(p.cmd.Process.Pid))
		if !ok {
			continue
		}
		part := "workers"
		if p.name == "api" {
			part = "api"
		}
		s[part] += used
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	for _, e := range entries {
		pid := e.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", pid, "comm"))
		if err != nil {
			continue
		}
		var part string
		switch strings.TrimSpace(string(comm)) {
		case "postgres":
			part = "postgres"
		case "redis-server":
			part = "redis"
		default:
			continue
		}
		used, children, ok := procCPU(pid)
		if !ok {
			continue
		}
		s[part] += used
		if part == "postgres" {
			s[part] += children // reaped backends (the postmaster's children)
		}
	}
	return s
}

// procCPU is a process's user and system time, and that of its reaped
// children, from /proc/<pid>/stat.
func procCPU(pid string) (used, children time.Duration, ok bool) {
	raw, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, 0, false
	}
	return parseStat(raw)
}

// parseStat reads utime, stime, cutime and cstime (fields 14 to 17) from
// a /proc/<pid>/stat line.
func parseStat(raw []byte) (used, children time.Duration, ok bool) {
	// The command name, field 2, is in parentheses and may hold spaces
	// and parentheses: the fields from 3 start after the last ")".
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 15 {
		return 0, 0, false
	}
	var t [4]time.Duration
	for k := range t {
		n, err := strconv.ParseInt(f[11+k], 10, 64)
		if err != nil {
			return 0, 0, false
		}
		t[k] = time.Duration(n) * clockTick
	}
	return t[0] + t[1], t[2] + t[3], true
}

// CPUBudget is what a phase's measured window cost in CPU: per completed
// operation (ms) and in cores kept busy, by part, and in all.
type CPUBudget struct {
	PerOpMs     map[string]float64 `json:"per_op_ms"`
	Cores       map[string]float64 `json:"cores"`
	TotalPerOp  float64            `json:"total_per_op_ms"`
	TotalCores  float64            `json:"total_cores"`
	Completed   int64              `json:"completed"`
	WindowS     float64            `json:"window_s"`
	Description string             `json:"about"`
}

// budget is the CPU spent from a to b over the completed operations.
func budget(a, b cpuSample, completed int64, window time.Duration) *CPUBudget {
	if a == nil || b == nil || completed == 0 || window <= 0 {
		return nil
	}
	out := &CPUBudget{PerOpMs: map[string]float64{}, Cores: map[string]float64{}, Completed: completed,
		WindowS:     window.Seconds(),
		Description: "CPU time over the measured window (from /proc) divided by the operations completed in it"}
	for _, part := range cpuParts {
		d := max(b[part]-a[part], 0)
		out.PerOpMs[part] = float64(d) / float64(time.Millisecond) / float64(completed)
		out.Cores[part] = d.Seconds() / window.Seconds()
		out.TotalPerOp += out.PerOpMs[part]
		out.TotalCores += out.Cores[part]
	}
	return out
}
