package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is everything one invocation measured: the JSON file.
type Results struct {
	StartedAt time.Time `json:"started_at"`
	Command   []string  `json:"command"`
	Machine   Machine   `json:"machine"`
	// ServiceEnv is the service settings in the generator's environment,
	// which a started service inherits (LOCK_WAIT, WORKER_CONCURRENCY...).
	ServiceEnv map[string]string `json:"service_env"`
	Baseline   *BaselineResult   `json:"baseline,omitempty"`
	Runs       []RunResult       `json:"runs"`
	// OK is true when every run finished and every audit was clean.
	OK bool `json:"ok"`
}

// Machine says where the figures come from.
type Machine struct {
	Hostname  string `json:"hostname"`
	CPUs      int    `json:"cpus"`
	OS        string `json:"os"`
	GoVersion string `json:"go_version"`
	Commit    string `json:"commit,omitempty"`
	Dirty     bool   `json:"dirty,omitempty"`
}

// RunResult is one run: a service, its setup, its phases and its audit.
type RunResult struct {
	Scenario string `json:"scenario"`
	Workers  int    `json:"workers,omitempty"`
	// WorkerRTTMs is the round trip added between the workers and
	// Postgres and Redis (-worker-rtt), in milliseconds.
	WorkerRTTMs float64 `json:"worker_rtt_ms,omitempty"`
	Wallets     int     `json:"wallets"`
	Auth        string  `json:"auth"`
	// TaskCheckInterval is the started workers' idle poll.
	TaskCheckInterval string `json:"task_check_interval,omitempty"`
	// WebhookDeliveries counts what the sink received (-webhooks).
	WebhookDeliveries int64 `json:"webhook_deliveries,omitempty"`
	// WebhookDeliveriesAtEnd is what it had when the load ended, and
	// WebhookDrainS how long after that the last delivery came.
	WebhookDeliveriesAtEnd int64   `json:"webhook_deliveries_at_end,omitempty"`
	WebhookDrainS          float64 `json:"webhook_drain_s,omitempty"`
	URL                    string  `json:"url"`
	Database               string  `json:"database,omitempty"`
	SetupS                 float64 `json:"setup_s"`
	// Analyzes is how many ANALYZEs the generator ran during the phases
	// because the server's autovacuum is off (autoanalyze.go).
	Analyzes int       `json:"analyzes,omitempty"`
	Phases   []Summary `json:"phases"`
	Audit    Audit     `json:"audit"`
	Ratio    *Ratio    `json:"baseline_ratio,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// OK reports whether the run finished and its audits were clean.
func (r *RunResult) OK() bool { return r.Error == "" && r.Audit.OK() }

// Audit is the ledger audit's verdict after a run: the API's (as the
// admin) and, for a service the generator started, `worker audit`'s.
type Audit struct {
	APIOK        bool            `json:"api_ok"`
	APIReport    json.RawMessage `json:"api_report,omitempty"`
	APIError     string          `json:"api_error,omitempty"`
	WorkerRan    bool            `json:"worker_ran"`
	WorkerClean  bool            `json:"worker_clean"`
	WorkerReport string          `json:"worker_report,omitempty"`
	WorkerError  string          `json:"worker_error,omitempty"`
}

// OK reports whether every audit that ran was clean.
func (a Audit) OK() bool { return a.APIOK && (!a.WorkerRan || a.WorkerClean) }

func (a Audit) String() string {
	s := "API audit ok"
	switch {
	case a.APIError != "":
		s = "API audit failed: " + a.APIError
	case !a.APIOK:
		s = "API audit FOUND VIOLATIONS"
	}
	switch {
	case a.WorkerError != "":
		s += ", worker audit failed: " + a.WorkerError
	case a.WorkerRan && a.WorkerClean:
		s += ", worker audit clean"
	case a.WorkerRan:
		s += ", worker audit FOUND VIOLATIONS"
	}
	return s
}

// Ratio is a run's completed transfers per second against the baseline.
type Ratio struct {
	CompletedTransfersPerS float64 `json:"completed_transfers_per_s"`
	VsOnePerTransaction    float64 `json:"vs_one_per_transaction"`
	VsHundredPerTxn        float64 `json:"vs_hundred_per_transaction"`
}

// serviceEnvKeys are the service settings worth recording with results.
var serviceEnvKeys = []string{
	"LOCK_WAIT", "LOCK_TTL", "WORKER_CONCURRENCY", "TASK_CHECK_INTERVAL", "SWEEP_INTERVAL", "SWEEP_AFTER",
	"BCRYPT_COST", "LOG_LEVEL", "CURRENCY", "MAX_AMOUNT", "SHUTDOWN_TIMEOUT", "DATABASE_URL", "REDIS_URL",
}

func serviceEnv() map[string]string {
	env := map[string]string{}
	for _, k := range serviceEnvKeys {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	return env
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, GoVersion: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
		if out, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			m.Dirty = len(strings.TrimSpace(string(out))) > 0
		}
	}
	return m
}

// printRun writes one run's figures as text, phase by phase.
func printRun(w io.Writer, r *RunResult) {
	workers := "workers as started"
	if r.Workers > 0 {
		workers = plural(r.Workers, "worker")
	}
	if r.TaskCheckInterval != "" {
		workers += " polling every " + r.TaskCheckInterval
	}
	if r.WorkerRTTMs > 0 {
		workers += fmt.Sprintf(" (+%s ms round trip to Postgres and Redis)", msText(r.WorkerRTTMs))
	}
	fmt.Fprintf(w, "\n== %s · %s · %d wallets · %s ==\n", r.Scenario, workers, r.Wallets, r.URL)
	if r.Error != "" {
		fmt.Fprintf(w, "RUN FAILED: %s\n", r.Error)
	}
	for i := range r.Phases {
		printPhase(w, &r.Phases[i])
	}
	fmt.Fprintf(w, "audit: %s\n", r.Audit)
	if r.Audit.WorkerRan && !r.Audit.WorkerClean && r.Audit.WorkerReport != "" {
		fmt.Fprint(w, r.Audit.WorkerReport)
	}
}

func printPhase(w io.Writer, s *Summary) {
	p := s.Phase
	load := fmt.Sprintf("closed loop, %s", plural(p.Clients, "client"))
	if p.Open() {
		load = fmt.Sprintf("open loop at %.0f/s, %s", p.Rate, plural(p.Clients, "sender"))
	}
	fmt.Fprintf(w, "\nphase %s: %s, %.0fs (first %.0fs left out of the figures), hot-share %g, deposit-share %g\n",
		p.Name, load, s.DurationS, s.WarmupS, p.HotShare, p.DepositShare)
	row(w, "per second", "accepted", "completed", "transfers", "deposits")
	row(w, "", f1(s.AcceptedPerSec), f1(s.CompletedPerSec), f1(s.CompletedTransfersPerS), f1(s.CompletedDepositsPerSec))
	if p.HoldShare > 0 {
		fmt.Fprintf(w, "holds: %.1f placed/s and %.1f captured/s of the completed, hold-share %g\n",
			s.CompletedHoldsPerSec, s.CompletedCapturesPerSec, p.HoldShare)
	}
	if p.Mixed {
		fmt.Fprintf(w, "mixed, of the completed per second: holds %.1f placed and %.1f captured; payment requests %.1f paid; withdrawals %.1f reserved and %.1f completed by the bank\n",
			s.CompletedHoldsPerSec, s.CompletedCapturesPerSec, s.CompletedRequestsPaidPerSec, s.CompletedWithdrawalsPerSec, s.CompletedWithdrawalDonePerSec)
	}
	row(w, "latency (ms)", "p50", "p90", "p99", "p99.9", "max", "count")
	for _, l := range []struct {
		name string
		l    Latency
	}{{"accept", s.Accept}, {"accept-to-final", s.AcceptToFinal}} {
		row(w, l.name, f1(l.l.P50), f1(l.l.P90), f1(l.l.P99), f1(l.l.P999), f1(l.l.Max), fmt.Sprint(l.l.Count))
	}
	if s.AcceptStagesMs != nil {
		fmt.Fprintf(w, "accept stages in the API, mean ms per request: %s (accept mean %.1f); %.1f requests per group\n",
			stagesLine(s.AcceptStagesMs), s.Accept.Mean, s.AcceptGroup)
	}
	fmt.Fprintf(w, "operations: %d begun, %d accepted, %d completed, %d failed%s, %d not final; last final %.1fs after the end\n",
		s.Attempted, s.Accepted, s.Completed, sum(s.Failed), byCode(s.Failed), s.NotFinal, s.DrainS)
	fmt.Fprintf(w, "refusals: wallet_busy %d; other errors %d%s; retries %d; operations given up %d%s\n",
		s.WalletBusy, sum(s.Errors), byCode(s.Errors), s.Retries, sum(s.Refused), byCode(s.Refused))
	gen := fmt.Sprintf("generator: %.2f of a core", s.GeneratorCPU)
	if g := s.Generator; g != nil {
		if g.KeptUp() {
			gen += fmt.Sprintf("; kept to its schedule (start lag p99 %.1f ms)", g.P99Ms)
		} else {
			gen += fmt.Sprintf("; FELL BEHIND: %d of %d operations started over 10 ms late (lag p99 %.1f ms, max %.1f ms), %d never sent",
				g.Late, g.Offered, g.P99Ms, g.MaxMs, g.Unsent)
		}
	}
	fmt.Fprintln(w, gen)
	if b := s.CPU; b != nil {
		cells := []string{}
		header := []string{}
		for _, part := range cpuParts {
			header = append(header, part)
			cells = append(cells, fmt.Sprintf("%.3f", b.PerOpMs[part]))
		}
		row(w, "CPU ms per op", append(header, "total")...)
		row(w, "", append(cells, fmt.Sprintf("%.3f", b.TotalPerOp))...)
		cores := []string{}
		for _, part := range cpuParts {
			cores = append(cores, fmt.Sprintf("%.2f", b.Cores[part]))
		}
		row(w, "cores busy", append(cores, fmt.Sprintf("%.2f", b.TotalCores))...)
	}
}

// printOverview writes one line per phase of every run, and the baseline
// with its ratios.
func printOverview(w io.Writer, res *Results) {
	fmt.Fprintf(w, "\n== summary ==\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tworkers\tphase\tload\taccepted/s\tcompleted/s\taccept p99\ta→final p99\twallet_busy\terrors\taudit\n")
	for _, r := range res.Runs {
		audit := "ok"
		if !r.OK() {
			audit = "FAILED"
		}
		workers := "-"
		if r.Workers > 0 {
			workers = fmt.Sprint(r.Workers)
		}
		if r.WorkerRTTMs > 0 {
			workers += " +" + msText(r.WorkerRTTMs) + "ms"
		}
		if len(r.Phases) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", r.Scenario, workers, audit)
		}
		for _, s := range r.Phases {
			load := fmt.Sprintf("closed/%d", s.Phase.Clients)
			if s.Phase.Open() {
				load = fmt.Sprintf("open %.0f/s", s.Phase.Rate)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%.1f ms\t%.1f ms\t%d\t%d\t%s\n", r.Scenario, workers, s.Phase.Name, load,
				s.AcceptedPerSec, s.CompletedPerSec, s.Accept.P99, s.AcceptToFinal.P99, s.WalletBusy, sum(s.Errors), audit)
		}
	}
	tw.Flush()
	printMeans(w, res)
	if b := res.Baseline; b != nil {
		fmt.Fprintf(w, "\npgbench on %s, %d wallets, -c %d -j %d, %.0fs each:\n", b.Server, b.Wallets, b.Clients, b.Threads, b.DurationS)
		fmt.Fprintf(w, "  1 transfer per transaction:    %8.0f tps = %8.0f transfers/s\n", b.Single.TPS, b.Single.TransfersPerSec)
		fmt.Fprintf(w, "  100 transfers per transaction: %8.0f tps = %8.0f transfers/s\n", b.Batched.TPS, b.Batched.TransfersPerSec)
		for _, r := range res.Runs {
			if r.Ratio != nil {
				fmt.Fprintf(w, "service (%s, %s): %.0f completed transfers/s = %.2f× one per transaction, %.3f× batched 100 per transaction\n",
					r.Scenario, plural(r.Workers, "worker"), r.Ratio.CompletedTransfersPerS, r.Ratio.VsOnePerTransaction, r.Ratio.VsHundredPerTxn)
			}
		}
	}
}

// writeJSON writes the results file.
func writeJSON(path string, res *Results) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// writeChart writes one chart panel per phase of every run.
func writeChart(path string, res *Results) error {
	var panels []chartPanel
	for _, r := range res.Runs {
		for _, s := range r.Phases {
			title := r.Scenario
			if s.Phase.Name != r.Scenario {
				title += " / " + s.Phase.Name
			}
			if r.Workers > 0 {
				title += ", " + plural(r.Workers, "worker")
			}
			if r.WorkerRTTMs > 0 {
				title += " +" + msText(r.WorkerRTTMs) + " ms"
			}
			if s.Phase.Open() {
				title += fmt.Sprintf(", open loop %.0f/s", s.Phase.Rate)
			} else {
				title += fmt.Sprintf(", %s", plural(s.Phase.Clients, "client"))
			}
			panels = append(panels, chartPanel{Title: title, Series: s.Series, Warmup: s.WarmupS, End: s.DurationS})
		}
	}
	return os.WriteFile(path, renderSVG(panels), 0o644)
}

// row prints a table row: a label, then right-aligned cells.
func row(w io.Writer, label string, cells ...string) {
	fmt.Fprintf(w, "  %-16s", label)
	for _, c := range cells {
		fmt.Fprintf(w, "%12s", c)
	}
	fmt.Fprintln(w)
}

func f1(v float64) string { return fmt.Sprintf("%.1f", v) }

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// byCode lists counts by code, largest first: " (a 3, b 1)".
func byCode(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	codes := slices.Collect(maps.Keys(m))
	slices.SortFunc(codes, func(a, b string) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), strings.Compare(a, b))
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s %d", c, m[c])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// meanKey is what repeated runs share.
type meanKey struct {
	scenario, phase string
	workers         int
	rttMs           float64
}

// printMeans writes, when some runs were repeated (-repeat), the mean,
// lowest and highest completed/s of each scenario, phase, worker count
// and round trip, and the mean as a share of the same scenario's mean
// with the fewest workers at the same round trip.
func printMeans(w io.Writer, res *Results) {
	var keys []meanKey
	vals := map[meanKey][]float64{}
	cpu, workerCPU := map[meanKey][]float64{}, map[meanKey][]float64{}
	repeated := false
	for _, r := range res.Runs {
		for _, s := range r.Phases {
			k := meanKey{r.Scenario, s.Phase.Name, r.Workers, r.WorkerRTTMs}
			if _, ok := vals[k]; !ok {
				keys = append(keys, k)
			}
			vals[k] = append(vals[k], s.CompletedPerSec)
			if s.CPU != nil {
				cpu[k] = append(cpu[k], s.CPU.TotalPerOp)
				workerCPU[k] = append(workerCPU[k], s.CPU.PerOpMs["workers"])
			}
			repeated = repeated || len(vals[k]) > 1
		}
	}
	if !repeated {
		return
	}
	mean := func(v []float64) float64 {
		if len(v) == 0 {
			return 0
		}
		t := 0.0
		for _, x := range v {
			t += x
		}
		return t / float64(len(v))
	}
	fmt.Fprintf(w, "\n== means of the repeated runs (completed/s) ==\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\tworkers\tphase\truns\tmean\tlowest\thighest\tvs fewest workers\tCPU ms/op\tworkers' CPU ms/op\n")
	for _, k := range keys {
		v := vals[k]
		base := k
		for _, o := range keys {
			if o.scenario == k.scenario && o.phase == k.phase && o.rttMs == k.rttMs && o.workers < base.workers {
				base = o
			}
		}
		workers := fmt.Sprint(k.workers)
		if k.rttMs > 0 {
			workers += " +" + msText(k.rttMs) + "ms"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%.0f\t%.0f\t%.2f\t%s\t%s\n", k.scenario, workers, k.phase, len(v), mean(v),
			slices.Min(v), slices.Max(v), ratio(mean(v), mean(vals[base])), cpuText(mean(cpu[k])), cpuText(mean(workerCPU[k])))
	}
	tw.Flush()
}

// cpuText is a mean CPU time per operation, or "-" where none was read.
func cpuText(ms float64) string {
	if ms == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f", ms)
}

// msText is a number of milliseconds as short text: 1, 0.5, 10.
func msText(ms float64) string { return strconv.FormatFloat(ms, 'f', -1, 64) }
