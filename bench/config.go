package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the command line, read once.
type Config struct {
	// URL is the service to drive when Start is false.
	URL string
	// Start starts a fresh service (API and Workers) for each run instead
	// of driving URL.
	Start bool
	// Admin and Bank sign in as the operator (for the audit) and as the
	// payment system (for deposits).
	Admin, Bank credentials

	// Scenarios are the presets to run, in order (see scenarios).
	Scenarios []string
	// Workers are the worker process counts to run each scenario with;
	// each count is a run of its own on a fresh service.
	Workers []int
	// WorkerRTTs are the round trips that proxies add between the
	// workers and Postgres and Redis (-worker-rtt), each a series of
	// runs; 0 is none.
	WorkerRTTs []time.Duration
	// Repeat is how many times the plan runs (-repeat).
	Repeat int

	Wallets      int
	Clients      int
	Rate         float64 // operations per second; > 0 means open loop
	Duration     time.Duration
	Warmup       time.Duration
	HotShare     float64
	DepositShare float64
	HoldShare    float64

	// Auth is how the users and the bank call: "token" (opaque Bearer
	// tokens of POST /api/tokens), "cookie" (users with session cookies)
	// or "jwt" (OAuth access tokens).
	Auth string
	// Webhooks registers a webhook endpoint (a sink in the bench) for
	// every user.
	Webhooks bool
	// WebhookNice, when above 0, runs the deliveries in a worker process
	// of their own (WORKER_QUEUES=webhooks) at that CPU niceness, the
	// other workers serving the operations alone: the money path first,
	// as webhook senders on hosts of their own would leave it.
	WebhookNice int

	RedisDB int
	Keep    bool
	Build   bool
	BinDir  string
	Out     string
	SVG     string
	Quiet   bool

	SetupConcurrency int
	MaxRetries       int
	DrainTimeout     time.Duration
	Seed             uint64

	Baseline         bool
	BaselineDuration time.Duration
	BaselineClients  int
	BaselineThreads  int
	PGBench          string

	// set names the flags given on the command line: they win over a
	// scenario's presets.
	set map[string]bool
}

// credentials are an email and a password, given as "email:password".
type credentials struct{ Email, Password string }

func (c *credentials) String() string { return c.Email + ":" + c.Password }

func (c *credentials) Set(s string) error {
	email, pw, ok := strings.Cut(s, ":")
	if !ok || email == "" || pw == "" {
		return errors.New(`want "email:password"`)
	}
	c.Email, c.Password = email, pw
	return nil
}

// Defaults that the scenarios and the flags share.
const (
	defaultClients     = 64
	defaultOpenClients = 256 // senders in open loop: room for latency spikes without queueing in the generator
	defaultWallets     = 10000
	maxProbe           = 15 * time.Second
)

// parseFlags reads the command line into a Config.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	c := Config{
		Admin: credentials{"admin@example.com", "admin-dev-password"},
		Bank:  credentials{"bank@example.com", "bank-dev-password"},
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench [flags]\n\n"+
			"Drives the wallet service's HTTP API and reports throughput, latency, errors and the audit.\n"+
			"Flags given on the command line override a scenario's presets.\n\nScenarios:\n")
		for _, name := range scenarioNames() {
			fmt.Fprintf(stderr, "  %-8s %s\n", name, scenarios[name].about)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	var scenarios, workers, rtts string
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "service to drive (without -start)")
	fs.BoolVar(&c.Start, "start", false, "start a fresh service for each run: bin/api, bin/worker, a new database, Redis db -redis-db")
	fs.Var(&c.Admin, "admin", "operator credentials, email:password")
	fs.Var(&c.Bank, "bank", "payment-system credentials, email:password")
	fs.StringVar(&scenarios, "scenario", "uniform", "comma-separated presets: "+strings.Join(scenarioNames(), ", "))
	fs.StringVar(&workers, "workers", "1", "worker processes (with -start); a comma-separated list runs each count in turn")
	fs.StringVar(&rtts, "worker-rtt", "0", "with -start: a round trip (half each way) added between the workers and Postgres and Redis by toxiproxy proxies in this process, as if they ran on other hosts; a comma-separated list runs each in turn; scale runs its worker counts without one, then with each (1ms unless given)")
	fs.IntVar(&c.Repeat, "repeat", 1, "run the whole plan this many times over, every second time in reverse order, and print the mean of each (scenario, workers, round trip) in the summary")
	fs.IntVar(&c.Wallets, "wallets", defaultWallets, "wallets (users) to sign up")
	fs.IntVar(&c.Clients, "clients", defaultClients, fmt.Sprintf("concurrent clients in closed loop, or senders in open loop (there %d unless given)", defaultOpenClients))
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: operations per second on a fixed schedule (0: closed loop)")
	fs.DurationVar(&c.Duration, "duration", 30*time.Second, "length of each load phase")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "start of each phase left out of the headline figures (kept in the series)")
	fs.Float64Var(&c.HotShare, "hot-share", 0, "share of transfers debited from one hot wallet, 0..1")
	fs.Float64Var(&c.DepositShare, "deposit-share", 0, "share of deposits among operations, 0..1")
	fs.Float64Var(&c.HoldShare, "hold-share", 0, "share of holds placed for one hot merchant wallet (and captured by it 200 ms later), 0..1")
	fs.StringVar(&c.Auth, "auth", "token", "how clients authenticate: token (opaque Bearer tokens from POST /api/tokens), cookie (users sign in with POST /api/login and call with the session cookie and an Origin, as the web pages do; the bank keeps a token) or jwt (OAuth access tokens: authorization code + PKCE for users, client credentials for the bank)")
	fs.IntVar(&c.WebhookNice, "webhook-nice", 0, "with -webhooks and -start: run the deliveries in a worker of their own at this niceness (1-19), the other workers serving the operations alone")
	fs.BoolVar(&c.Webhooks, "webhooks", false, "register a webhook for every user (a sink in this process answers 204), to measure the money path with deliveries flowing")
	fs.IntVar(&c.RedisDB, "redis-db", 9, "Redis database for a started service (flushed first)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the started service's database, the scratch pgbench database and the logs")
	fs.BoolVar(&c.Build, "build", true, "with -start, go build bin/api and bin/worker first")
	fs.StringVar(&c.BinDir, "bin", "bin", "where bin/api and bin/worker are")
	fs.StringVar(&c.Out, "out", "bench-results.json", "JSON file with every figure (empty: none)")
	fs.StringVar(&c.SVG, "svg", "bench-chart.svg", "SVG chart of throughput and p99 latency over time (empty: none)")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress bar or progress lines")
	fs.IntVar(&c.SetupConcurrency, "setup-concurrency", 64, "concurrent requests while signing up and funding wallets")
	fs.IntVar(&c.MaxRetries, "max-retries", 5, "retries of an operation after 409 wallet_busy/request_in_progress, 5xx or a transport error")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 2*time.Minute, "how long to wait after a phase for accepted operations to become final")
	fs.Uint64Var(&c.Seed, "seed", 1, "seed of the operation mix")
	fs.BoolVar(&c.Baseline, "baseline", false, "first run pgbench on the same Postgres and report the service as a ratio of it")
	fs.DurationVar(&c.BaselineDuration, "baseline-duration", 20*time.Second, "length of each pgbench run")
	fs.IntVar(&c.BaselineClients, "baseline-clients", 16, "pgbench -c")
	fs.IntVar(&c.BaselineThreads, "baseline-threads", 2, "pgbench -j")
	fs.StringVar(&c.PGBench, "pgbench", "", "pgbench binary (default: on PATH, else /usr/lib/postgresql/*/bin)")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.set[f.Name] = true })

	for s := range strings.SplitSeq(scenarios, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.Scenarios = append(c.Scenarios, s)
		}
	}
	for s := range strings.SplitSeq(workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("-workers: %q is not a positive number", s)
		}
		c.Workers = append(c.Workers, n)
	}
	for s := range strings.SplitSeq(rtts, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return Config{}, fmt.Errorf("-worker-rtt: %q is not a duration", s)
		}
		c.WorkerRTTs = append(c.WorkerRTTs, d)
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Scenarios) == 0 {
		errs = append(errs, errors.New("-scenario: none given"))
	}
	for _, s := range c.Scenarios {
		if _, ok := scenarios[s]; !ok {
			errs = append(errs, fmt.Errorf("-scenario: unknown %q (want %s)", s, strings.Join(scenarioNames(), ", ")))
		}
	}
	if !c.Start {
		if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("-url: want http(s)://host:port"))
		}
		if slices.Contains(c.Scenarios, "scale") || len(c.Workers) > 1 {
			errs = append(errs, errors.New("several worker counts need -start"))
		}
		if c.Baseline {
			errs = append(errs, errors.New("-baseline needs -start (pgbench must use the service's Postgres)"))
		}
	}
	for _, d := range c.WorkerRTTs {
		if d < 0 {
			errs = append(errs, errors.New("-worker-rtt: not negative"))
		}
		if d > 0 && !c.Start {
			errs = append(errs, errors.New("-worker-rtt needs -start"))
		}
	}
	if c.Repeat < 1 {
		errs = append(errs, errors.New("-repeat: at least 1"))
	}
	if c.Wallets < 2 {
		errs = append(errs, errors.New("-wallets: at least 2"))
	}
	if c.Clients < 1 || c.SetupConcurrency < 1 {
		errs = append(errs, errors.New("-clients, -setup-concurrency: at least 1"))
	}
	if c.Rate < 0 {
		errs = append(errs, errors.New("-rate: must not be negative"))
	}
	if c.Duration <= 0 || c.Warmup < 0 || c.Warmup >= c.Duration {
		errs = append(errs, errors.New("-duration must be positive and longer than -warmup"))
	}
	if c.HotShare < 0 || c.HotShare > 1 || c.DepositShare < 0 || c.DepositShare > 1 || c.HoldShare < 0 || c.HoldShare > 1 {
		errs = append(errs, errors.New("-hot-share, -deposit-share, -hold-share: 0..1"))
	}
	if c.Auth != "token" && c.Auth != "cookie" && c.Auth != "jwt" {
		errs = append(errs, errors.New("-auth: token, cookie or jwt"))
	}
	if c.RedisDB < 0 || c.RedisDB > 15 {
		errs = append(errs, errors.New("-redis-db: 0..15"))
	}
	if c.MaxRetries < 0 || c.DrainTimeout <= 0 {
		errs = append(errs, errors.New("-max-retries must not be negative, -drain-timeout must be positive"))
	}
	if c.BaselineDuration <= 0 || c.BaselineClients < 1 || c.BaselineThreads < 1 {
		errs = append(errs, errors.New("-baseline-*: must be positive"))
	}
	return errors.Join(errs...)
}

// runSpec is one run: a fresh service (or the -url one), wallets signed
// up and funded once, then its phases of load one after the other.
type runSpec struct {
	Scenario string
	Workers  int // 0: unknown (a service started by someone else)
	// WorkerRTT is the round trip the workers' proxies add (0: none).
	WorkerRTT time.Duration
	Wallets   int
	// HotFunding says the hot wallet (user 0) needs much more money than
	// the others.
	HotFunding bool
	Phases     []phaseSpec
}

// phaseSpec is one stretch of load.
type phaseSpec struct {
	Name         string  `json:"name"`
	Clients      int     `json:"clients"`
	Rate         float64 `json:"rate,omitempty"` // > 0: open loop
	HotShare     float64 `json:"hot_share"`
	DepositShare float64 `json:"deposit_share"`
	HoldShare    float64 `json:"hold_share,omitempty"`
	// Mixed: transfers, deposits, holds captured, payment requests paid
	// and withdrawals completed in fixed shares (see mixedDeposits).
	Mixed bool `json:"mixed,omitempty"`
	// ProbeFor names the phase whose rate is half of this one's peak.
	ProbeFor string        `json:"probe_for,omitempty"`
	Duration time.Duration `json:"-"`
	Warmup   time.Duration `json:"-"`
}

// Open reports whether the phase runs open loop.
func (p phaseSpec) Open() bool { return p.Rate > 0 }

// scenario is a preset: it sets values that flags given on the command
// line still override.
type scenario struct {
	about string
	apply func(c *Config) []runSpec
}

var scenarios = map[string]scenario{
	"uniform": {"transfers between random wallets (-wallets, 10,000 by default)", func(c *Config) []runSpec {
		return c.runs("uniform", c.phase("uniform"))
	}},
	"hot": {"every client debits one hot wallet (-hot-share 1)", func(c *Config) []runSpec {
		p := c.phase("hot")
		if !c.set["hot-share"] {
			p.HotShare = 1
		}
		return c.runs("hot", p)
	}},
	"holds": {"clients place holds for one hot merchant wallet, which captures each 200 ms later (-hold-share 1)", func(c *Config) []runSpec {
		p := c.phase("holds")
		if !c.set["hold-share"] {
			p.HoldShare = 1
		}
		return c.runs("holds", p)
	}},
	"mixed": {"transfers 70%, holds captured by their recipients 15%, deposits, payment requests paid and withdrawals completed by the bank 5% each", func(c *Config) []runSpec {
		p := c.phase("mixed")
		p.Mixed = true
		return c.runs("mixed", p)
	}},
	"half": {"open loop at -rate, or at half the peak of a closed-loop probe run first", func(c *Config) []runSpec {
		if c.Rate > 0 {
			return c.runs("half", c.phase("half"))
		}
		probe := c.phase("peak-probe")
		probe.Duration = min(c.Duration, maxProbe)
		probe.Warmup = min(c.Warmup, probe.Duration/4)
		probe.ProbeFor = "half"
		// The rate is filled in from the probe's result.
		half := c.phase("half")
		if !c.set["clients"] {
			half.Clients = defaultOpenClients
		}
		return c.runs("half", probe, half)
	}},
	"scale": {"uniform with 1, 2, 4 and 8 workers (or -workers), then again with each -worker-rtt (1ms unless given) between the workers and Postgres and Redis", func(c *Config) []runSpec {
		workers := []int{1, 2, 4, 8}
		if c.set["workers"] {
			workers = c.Workers
		}
		rtts := []time.Duration{0, time.Millisecond}
		if c.set["worker-rtt"] {
			rtts = []time.Duration{0}
			for _, d := range c.WorkerRTTs {
				if d > 0 {
					rtts = append(rtts, d)
				}
			}
		}
		var out []runSpec
		for _, d := range rtts {
			for _, w := range workers {
				r := c.runs("scale", c.phase("uniform"))[0]
				r.Workers, r.WorkerRTT = w, d
				out = append(out, r)
			}
		}
		return out
	}},
}

func scenarioNames() []string {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// phase is a phase with the command line's values.
func (c *Config) phase(name string) phaseSpec {
	p := phaseSpec{Name: name, Clients: c.Clients, Rate: c.Rate, HotShare: c.HotShare,
		DepositShare: c.DepositShare, HoldShare: c.HoldShare, Duration: c.Duration, Warmup: c.Warmup}
	if p.Open() && !c.set["clients"] {
		p.Clients = defaultOpenClients
	}
	return p
}

// runs is one run per worker count, each with the given phases.
func (c *Config) runs(name string, phases ...phaseSpec) []runSpec {
	var out []runSpec
	for _, d := range c.WorkerRTTs {
		for _, w := range c.Workers {
			if !c.Start {
				w = 0
			}
			out = append(out, runSpec{Scenario: name, Workers: w, WorkerRTT: d, Wallets: c.Wallets, Phases: phases})
		}
	}
	return out
}

// plan expands the scenarios into runs, the whole list -repeat times
// over, every second round in reverse order (so that the rounds
// alternate, a slow minute of the machine falls on every count alike,
// and no count always runs first on a fresh machine). A run with a hot
// wallet funds it generously.
func (c *Config) plan() []runSpec {
	var once []runSpec
	for _, s := range c.Scenarios {
		once = append(once, scenarios[s].apply(c)...)
	}
	var out []runSpec
	for round := range max(c.Repeat, 1) {
		order := slices.Clone(once)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, r := range order {
			r.Phases = slices.Clone(r.Phases)
			out = append(out, r)
		}
	}
	for i := range out {
		for j := range out[i].Phases {
			if out[i].Phases[j].HotShare > 0 {
				out[i].HotFunding = true
			}
		}
	}
	return out
}
