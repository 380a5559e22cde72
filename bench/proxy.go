package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
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

// startLatencyProxies starts one proxy in front of the host of each URL
// and returns the URLs pointed at them. Every reply waits rtt: toxiproxy's
// latency is in whole milliseconds, so the round trip is added on the way
// back rather than half on each way, which a request-and-answer protocol
// cannot tell apart.
func startLatencyProxies(rtt time.Duration, rawURLs ...string) (*latencyProxies, []string, error) {
	lp := &latencyProxies{}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	toxic := fmt.Sprintf(`{"name":"rtt","type":"latency","stream":"downstream","attributes":{"latency":%d}}`, rtt.Milliseconds())
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
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
			lp.stop()
			return nil, nil, fmt.Errorf("toxiproxy latency: %w", err)
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
