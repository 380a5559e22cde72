package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// toxic is one toxiproxy proxy in front of a dependency.
type toxic struct {
	t     *testing.T
	proxy *toxiproxy.Proxy
}

// newToxicProxy starts a toxiproxy proxy (the library, in process) on a
// free port in front of the host:port that rawURL names and returns it
// with rawURL pointed at it.
func newToxicProxy(t *testing.T, name, rawURL string) (*toxic, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := toxiproxy.NewProxy(srv, name, freeAddr(t), u.Host)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy %s: %v", name, err)
	}
	t.Cleanup(p.Stop)
	u.Host = p.Listen
	return &toxic{t: t, proxy: p}, u.String()
}

// add adds a toxic given as toxiproxy's JSON.
func (x *toxic) add(json string) {
	x.t.Helper()
	if _, err := x.proxy.Toxics.AddToxicJson(strings.NewReader(json)); err != nil {
		x.t.Fatalf("add toxic %s: %v", json, err)
	}
}

// remove removes the named toxic.
func (x *toxic) remove(name string) {
	x.t.Helper()
	if err := x.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		x.t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// TestNetworkFaults: the programs reach Postgres and Redis through
// toxiproxy, which adds latency, resets connections (also in the middle
// of a transaction or of its commit), and stalls them, under a stream of
// transfers. Every request still ends with a definitive answer (a 503 on
// the way is fine, a 500 is not), nothing accepted is lost, nothing is
// applied twice (an operation whose commit answer was lost is re-read by
// its next try, never re-applied), and the audit is clean.
func TestNetworkFaults(t *testing.T) {
	t.Parallel()
	proxies := map[string]*toxic{}
	e := StartEnvWith(t, Options{Workers: 2, Via: func(kind, raw string) string {
		p, via := newToxicProxy(t, kind, raw)
		proxies[kind] = p
		return via
	}, Env: map[string]string{"LOCK_TTL": "3s", "ACCEPT_TIMEOUT": "2s"}})
	pg, rd := proxies["postgres"], proxies["redis"]
	l := startOutageLoad(t, e, "network", 6, 100_00, 6)
	step := func(what string, d time.Duration) {
		t.Logf("%s for %v (%d requests so far)", what, d, l.seq.Load())
		time.Sleep(d)
	}
	step("no fault", time.Second)

	pg.add(`{"name":"lat","type":"latency","stream":"downstream","attributes":{"latency":15,"jitter":10}}`)
	rd.add(`{"name":"lat","type":"latency","stream":"downstream","attributes":{"latency":5,"jitter":5}}`)
	step("latency on Postgres (15±10 ms) and Redis (5±5 ms)", 2*time.Second)
	pg.remove("lat")
	rd.remove("lat")

	for i := range 3 {
		pg.add(`{"name":"reset","type":"reset_peer","attributes":{"timeout":0}}`)
		step(fmt.Sprintf("Postgres connections reset (%d)", i+1), 200*time.Millisecond)
		pg.remove("reset")
		step("recovering", 1500*time.Millisecond)
	}

	pg.add(`{"name":"stall","type":"timeout","attributes":{"timeout":0}}`)
	step("Postgres stalled (nothing passes, connections stay open)", 2*time.Second)
	pg.remove("stall")
	step("recovering", 2*time.Second)

	rd.add(`{"name":"reset","type":"reset_peer","attributes":{"timeout":0}}`)
	step("Redis connections reset", 200*time.Millisecond)
	rd.remove("reset")
	step("recovering", 2*time.Second)

	// The service must have carried on after the last fault.
	if before, after, ok := l.carriesOn(20, 30*time.Second); !ok {
		t.Errorf("nothing accepted after the faults ended: %d, 30 s later %d", before, after)
	}
	l.finish()
}
