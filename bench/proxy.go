package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// latencyProxies are toxiproxy proxies (the library, in this process)
// between the workers and Postgres and Redis: with -worker-rtt the
// workers reach their dependencies as if over a network, as they do in
// a deployment where they run on hosts of their own.
type latencyProxies struct {
	proxies []*toxiproxy.Proxy
}

// delayToxic passes every chunk on once it is Microseconds old: the
// latency toxic that toxiproxy ships counts whole milliseconds, and a
// network round trip between hosts in one zone is a fraction of one.
type delayToxic struct {
	Microseconds int64 `json:"microseconds"`
}

// GetBufferSize implements toxics.BufferedToxic: chunks queue while
// earlier ones wait out their delay, as on a link with bandwidth to spare.
func (t *delayToxic) GetBufferSize() int { return 1024 }

// Pipe implements toxics.Toxic.
func (t *delayToxic) Pipe(stub *toxics.ToxicStub) {
	delay := time.Duration(t.Microseconds) * time.Microsecond
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if wait := delay - time.Since(c.Timestamp); wait > 0 {
				select {
				case <-time.After(wait):
				case <-stub.Interrupt:
					stub.Output <- c // never drop data
					return
				}
			}
			stub.Output <- c
		}
	}
}

func init() { toxics.Register("bench_delay", new(delayToxic)) }

// startLatencyProxies starts one proxy in front of the host of each URL
// and returns the URLs pointed at them. Each way waits half of rtt.
func startLatencyProxies(rtt time.Duration, rawURLs ...string) (*latencyProxies, []string, error) {
	lp := &latencyProxies{}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	var out []string
	for i, raw := range rawURLs {
		u, err := url.Parse(raw)
		if err != nil {
			lp.stop()
			return nil, nil, err
		}
		listen, err := freeAddr()
		if err != nil {
			lp.stop()
			return nil, nil, err
		}
		p := toxiproxy.NewProxy(srv, fmt.Sprintf("%s-%d", u.Scheme, i), listen, u.Host)
		if err := p.Start(); err != nil {
			lp.stop()
			return nil, nil, fmt.Errorf("toxiproxy in front of %s: %w", u.Host, err)
		}
		lp.proxies = append(lp.proxies, p)
		for _, stream := range []string{"upstream", "downstream"} {
			toxic := fmt.Sprintf(`{"name":"delay-%s","type":"bench_delay","stream":%q,"attributes":{"microseconds":%d}}`,
				stream, stream, (rtt / 2).Microseconds())
			if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
				lp.stop()
				return nil, nil, fmt.Errorf("toxiproxy delay: %w", err)
			}
		}
		u.Host = p.Listen
		out = append(out, u.String())
	}
	return lp, out, nil
}

// stop closes the proxies and every connection through them.
func (lp *latencyProxies) stop() {
	if lp == nil {
		return
	}
	for _, p := range lp.proxies {
		p.Stop()
	}
}
