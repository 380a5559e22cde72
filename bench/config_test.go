package main

import (
	"io"
	"slices"
	"testing"
	"time"
)

func mustParse(t *testing.T, args ...string) Config {
	t.Helper()
	c, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags(%q): %v", args, err)
	}
	return c
}

func TestPlanScenarios(t *testing.T) {
	type phase struct {
		name     string
		clients  int
		rate     float64
		hotShare float64
		probe    string
	}
	type run struct {
		scenario string
		workers  int
		rtt      time.Duration
		hot      bool
		phases   []phase
	}
	for _, tc := range []struct {
		args []string
		want []run
	}{
		{[]string{"-start"}, []run{{"uniform", 1, 0, false, []phase{{"uniform", 64, 0, 0, ""}}}}},
		{[]string{"-start", "-scenario", "uniform,hot", "-workers", "2"}, []run{
			{"uniform", 2, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"hot", 2, 0, true, []phase{{"hot", 64, 0, 1, ""}}},
		}},
		// Flags given on the command line win over a preset.
		{[]string{"-start", "-scenario", "hot", "-hot-share", "0.5", "-clients", "32"}, []run{
			{"hot", 1, 0, true, []phase{{"hot", 32, 0, 0.5, ""}}},
		}},
		{[]string{"-start", "-scenario", "half", "-rate", "500"}, []run{
			{"half", 1, 0, false, []phase{{"half", defaultOpenClients, 500, 0, ""}}},
		}},
		{[]string{"-start", "-scenario", "half"}, []run{
			{"half", 1, 0, false, []phase{{"peak-probe", 64, 0, 0, "half"}, {"half", defaultOpenClients, 0, 0, ""}}},
		}},
		// scale: every worker count directly, then through the proxies.
		{[]string{"-start", "-scenario", "scale"}, []run{
			{"scale", 1, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 2, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 4, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 8, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 1, time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 2, time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 4, time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 8, time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
		}},
		{[]string{"-start", "-scenario", "scale", "-workers", "1,8", "-worker-rtt", "2ms,10ms"}, []run{
			{"scale", 1, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 8, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 1, 2 * time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 8, 2 * time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 1, 10 * time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 8, 10 * time.Millisecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
		}},
		// A round trip below a millisecond, as between hosts in one zone.
		{[]string{"-start", "-scenario", "scale", "-workers", "2", "-worker-rtt", "500us"}, []run{
			{"scale", 2, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 2, 500 * time.Microsecond, false, []phase{{"uniform", 64, 0, 0, ""}}},
		}},
		// -worker-rtt 0: the direct series alone.
		{[]string{"-start", "-scenario", "scale", "-workers", "2", "-worker-rtt", "0"}, []run{
			{"scale", 2, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
		}},
		// -repeat: the whole plan again, every second round backwards,
		// so that the counts alternate and none always runs first.
		{[]string{"-start", "-scenario", "scale", "-workers", "1,2,4", "-worker-rtt", "0", "-repeat", "3"}, []run{
			{"scale", 1, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 2, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 4, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 4, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 2, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 1, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 1, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 2, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
			{"scale", 4, 0, false, []phase{{"uniform", 64, 0, 0, ""}}},
		}},
		// Any scenario can run through the proxies, each round trip in turn.
		{[]string{"-start", "-scenario", "hot", "-worker-rtt", "0,1ms"}, []run{
			{"hot", 1, 0, true, []phase{{"hot", 64, 0, 1, ""}}},
			{"hot", 1, time.Millisecond, true, []phase{{"hot", 64, 0, 1, ""}}},
		}},
		// Against a running service the worker count is unknown.
		{[]string{"-url", "http://127.0.0.1:9999", "-rate", "100", "-clients", "8"}, []run{
			{"uniform", 0, 0, false, []phase{{"uniform", 8, 100, 0, ""}}},
		}},
	} {
		c := mustParse(t, tc.args...)
		var got []run
		for _, r := range c.plan() {
			g := run{r.Scenario, r.Workers, r.WorkerRTT, r.HotFunding, nil}
			for _, p := range r.Phases {
				g.phases = append(g.phases, phase{p.Name, p.Clients, p.Rate, p.HotShare, p.ProbeFor})
			}
			got = append(got, g)
		}
		if !slices.EqualFunc(got, tc.want, func(a, b run) bool {
			return a.scenario == b.scenario && a.workers == b.workers && a.rtt == b.rtt && a.hot == b.hot && slices.Equal(a.phases, b.phases)
		}) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, got, tc.want)
		}
	}
}

func TestPlanProbeIsShort(t *testing.T) {
	c := mustParse(t, "-start", "-scenario", "half", "-duration", "60s", "-warmup", "5s")
	p := c.plan()[0].Phases
	if p[0].Duration != maxProbe || p[1].Duration != 60*time.Second || p[0].Warmup >= p[0].Duration {
		t.Errorf("probe %v (warm-up %v), half %v", p[0].Duration, p[0].Warmup, p[1].Duration)
	}
}

func TestParseFlagsRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-scenario", "scale"},      // several worker counts without -start
		{"-workers", "1,2"},         // the same
		{"-baseline"},               // pgbench needs the started service's Postgres
		{"-start", "-workers", "0"}, // not a count
		{"-start", "-hot-share", "1.5"},
		{"-start", "-duration", "2s", "-warmup", "2s"},
		{"-start", "-wallets", "1"},
		{"-start", "-worker-rtt", "-1ms"},
		{"-start", "-repeat", "0"},
		{"-start", "-worker-rtt", "fast"},
		{"-worker-rtt", "1ms"}, // the proxies are for a started service
		{"-start", "-admin", "no-password"},
		{"-url", "localhost:8080"},
		{"-start", "extra"},
		{"-start", "-auth", "basic"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", args)
		}
	}
	for _, auth := range []string{"token", "cookie", "jwt"} {
		if c := mustParse(t, "-start", "-auth", auth); c.Auth != auth {
			t.Errorf("-auth %s parsed as %q", auth, c.Auth)
		}
	}
	c := mustParse(t, "-start", "-admin", "root@example.org:pass:word")
	if c.Admin.Email != "root@example.org" || c.Admin.Password != "pass:word" {
		t.Errorf("-admin parsed as %+v", c.Admin)
	}
}
