// Command bench is the wallet service's load generator. It drives the
// real HTTP API as many clients would (Bearer tokens, keep-alive
// connections, an Idempotency-Key on every operation), in closed loop or
// on a fixed arrival schedule, then reads every accepted operation's final
// state and reports accepted and completed operations per second, accept
// and accept-to-final latency percentiles, refusals by code and the
// ledger audit's verdict: a table on stdout, a JSON file and an SVG chart.
//
// With -start it starts a fresh service of its own for each run (bin/api,
// bin/worker, a new database, its own Redis database); with -baseline it
// first measures raw Postgres with pgbench on the same server, so that
// the service's throughput can be quoted as a ratio.
//
//	go run ./bench -start                          # uniform, 30 s
//	go run ./bench -start -scenario uniform,hot    # what `make bench` runs
//	go run ./bench -url http://127.0.0.1:8080 -wallets 1000 -rate 2000
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status: 0 when every run
// finished with a clean audit, 1 otherwise, 2 for a bad command line.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	u := newUI(cfg.Quiet)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// finished is closed before stop runs at the end, so that the end of
	// a run is not reported as an interruption.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
		case <-finished:
			return
		}
		select {
		case <-finished:
			return
		default:
		}
		// A second Ctrl-C quits at once; the service goes with it.
		stop()
		u.warnf("interrupted: stopping the load, then auditing and cleaning up (Ctrl-C again quits at once)")
	}()

	res := &Results{StartedAt: time.Now().UTC(), Command: append([]string{"bench"}, args...), Machine: machine(),
		ServiceEnv: serviceEnv(), OK: true}
	defer func() {
		if err := writeOutputs(cfg, res); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
		}
	}()

	if cfg.Start && cfg.Build {
		u.logf("building %s/api and %s/worker", cfg.BinDir, cfg.BinDir)
		if err := buildPrograms(ctx, cfg.BinDir); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			res.OK = false
			return 1
		}
	}
	if cfg.Baseline {
		// Before any service starts, so that pgbench has the machine to itself.
		if res.Baseline, err = runBaseline(ctx, cfg, newRunID(), u); err != nil {
			fmt.Fprintln(stderr, "bench: baseline:", err)
			res.OK = false
			return 1
		}
	}
	for _, spec := range cfg.plan() {
		if ctx.Err() != nil {
			break
		}
		r := runOnce(ctx, cfg, spec, u)
		if b := res.Baseline; b != nil && len(r.Phases) > 0 {
			t := r.Phases[len(r.Phases)-1].CompletedTransfersPerS
			r.Ratio = &Ratio{CompletedTransfersPerS: t, VsOnePerTransaction: ratio(t, b.Single.TransfersPerSec),
				VsHundredPerTxn: ratio(t, b.Batched.TransfersPerSec)}
		}
		res.Runs = append(res.Runs, r)
		res.OK = res.OK && r.OK()
		printRun(stdout, &r)
	}
	if ctx.Err() != nil {
		res.OK = false
		fmt.Fprintln(stderr, "bench: interrupted; figures so far are in the outputs")
	}
	printOverview(stdout, res)
	if !res.OK {
		return 1
	}
	return 0
}

// ratio is a/b, or 0 when b is 0 (JSON has no infinity).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func writeOutputs(cfg Config, res *Results) error {
	if cfg.Out != "" {
		if err := writeJSON(cfg.Out, res); err != nil {
			return err
		}
	}
	if cfg.SVG != "" {
		return writeChart(cfg.SVG, res)
	}
	return nil
}

// newRunID names a run's database, emails and keys: the start time, and
// a few random digits so that two generators never collide.
func newRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return strconv.FormatInt(time.Now().Unix(), 10) + "_" + hex.EncodeToString(b)
}

// runOnce is one run: a service, its wallets, its phases, its audit.
func runOnce(ctx context.Context, cfg Config, spec runSpec, u *ui) RunResult {
	runID := newRunID()
	r := RunResult{Scenario: spec.Scenario, Workers: spec.Workers, WorkerRTTMs: float64(spec.WorkerRTT.Microseconds()) / 1000, Wallets: spec.Wallets, Auth: cfg.Auth, URL: cfg.URL, Phases: []Summary{}}
	svc := &service{URL: cfg.URL}
	if cfg.Start {
		var err error
		if svc, err = startService(ctx, cfg, spec.Workers, spec.WorkerRTT, runID, u); err != nil {
			r.Error = err.Error()
			return r
		}
		defer svc.stop(u)
		r.URL, r.Database, r.TaskCheckInterval = svc.URL, svc.DBName, svc.TaskCheckInterval
	}
	conns := cfg.SetupConcurrency
	for _, p := range spec.Phases {
		conns = max(conns, p.Clients)
	}
	c := newClient(svc.URL, conns+8)
	defer c.close()

	start := time.Now()
	u.logf("run %s: setting up %d wallets", spec.Scenario, spec.Wallets)
	pop, err := setup(ctx, c, cfg, spec, runID, u)
	r.SetupS = time.Since(start).Seconds()
	if err == nil && svc.DatabaseURL != "" {
		// A database made a minute ago has not been analyzed yet, and its
		// planner, believing the tables tiny, scans them; a settled
		// deployment's autovacuum has analyzed them.
		err = analyze(ctx, svc.DatabaseURL)
	}
	if err != nil {
		r.Error = "setup: " + err.Error()
	} else {
		stopAnalyze := func() int { return 0 }
		if svc.DatabaseURL != "" {
			stopAnalyze = autoAnalyze(ctx, svc.DatabaseURL, u)
		}
		r.Error = runPhases(ctx, cfg, spec, c, pop, svc, runID, u, &r)
		r.Analyzes = stopAnalyze()
	}
	if pop != nil && pop.Sink != nil {
		end := time.Now()
		r.WebhookDeliveriesAtEnd = pop.Sink.received.Load()
		r.WebhookDrainS = pop.Sink.drain(ctx, end, 3*time.Second, 5*time.Minute).Seconds()
		r.WebhookDeliveries = pop.Sink.received.Load()
		u.logf("webhook deliveries received by the sink: %d by the end of the load, %d in all, the last %.1f s after the end",
			r.WebhookDeliveriesAtEnd, r.WebhookDeliveries, r.WebhookDrainS)
		pop.Sink.stop()
	}
	r.Audit = audit(ctx, c, basicAuth(cfg.Admin), svc)
	if name := svc.exited(); name != "" && r.Error == "" {
		r.Error = name + " exited during the run"
	}
	if ctx.Err() != nil && r.Error == "" {
		r.Error = "interrupted: the figures are partial and final states were not read"
	}
	return r
}

// runPhases runs the phases one after the other on the same wallets and
// appends their summaries to r; it returns what stopped them, if anything.
func runPhases(ctx context.Context, cfg Config, spec runSpec, c *client, pop *population, svc *service, runID string, u *ui, r *RunResult) string {
	for i, p := range spec.Phases {
		if p.Rate == 0 && i > 0 && spec.Phases[i-1].ProbeFor == p.Name {
			prev := r.Phases[i-1]
			p.Rate = min(prev.AcceptedPerSec, prev.CompletedPerSec) / 2
			if p.Rate < 1 {
				return "the peak probe completed nothing to take half of"
			}
			u.logf("peak: %.0f operations/s; open loop at half: %.0f/s", 2*p.Rate, p.Rate)
		}
		if ctx.Err() != nil {
			return "interrupted"
		}
		load := fmt.Sprintf("closed loop, %d clients", p.Clients)
		if p.Open() {
			load = fmt.Sprintf("open loop at %.0f/s, %d senders", p.Rate, p.Clients)
		}
		u.logf("phase %s: %s for %s", p.Name, load, p.Duration)
		d := &driver{c: c, pop: pop, spec: p, maxRetries: cfg.MaxRetries, seed: cfg.Seed + uint64(i),
			keyPrefix: fmt.Sprintf("bench-%s-%d-", runID, i), sample: func() cpuSample { return sampleCPU(svc) },
			stages: func() stageSample { return sampleStages(ctx, svc.URL) }}
		l := d.run(ctx, u)
		u.logf("phase %s: %d accepted; reading final states", p.Name, len(l.Ops))
		readFinals(ctx, c, pop, l, cfg.DrainTimeout, conns(p), u)
		r.Phases = append(r.Phases, summarize(p, l))
		if name := svc.exited(); name != "" {
			return name + " exited during phase " + p.Name
		}
	}
	return ""
}

// conns is how many reads of final states go at once: as many as the
// phase had clients, which the connection pool is sized for.
func conns(p phaseSpec) int { return max(p.Clients, 16) }

// audit asks the API for the ledger audit as the admin and, for a service
// the generator started, runs `worker audit` against its database too.
func audit(ctx context.Context, c *client, admin string, svc *service) Audit {
	var a Audit
	var out struct {
		OK     bool            `json:"ok"`
		Report json.RawMessage `json:"report"`
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if _, err := c.do(actx, request{Method: http.MethodGet, Path: "/api/admin/audit", Auth: admin}, &out); err != nil {
		a.APIError = err.Error()
	} else {
		a.APIOK, a.APIReport = out.OK, out.Report
	}
	if svc.DatabaseURL != "" {
		a.WorkerRan = true
		clean, report, err := svc.workerAudit(actx)
		a.WorkerClean, a.WorkerReport = clean, report
		if err != nil {
			a.WorkerError = err.Error()
		}
	}
	return a
}
