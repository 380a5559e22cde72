package queue

import (
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the queue's sizes by task state at scrape time.
type Collector struct {
	inspector *asynq.Inspector
	size      *prometheus.Desc
	latency   *prometheus.Desc
}

// NewCollector returns a Collector reading through inspector.
func NewCollector(inspector *asynq.Inspector) *Collector {
	return &Collector{
		inspector: inspector,
		size: prometheus.NewDesc("asynq_queue_tasks", "Tasks in the queue by state.",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("asynq_queue_latency_seconds", "Age of the oldest pending task.",
			[]string{"queue"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.latency
}

// Collect implements prometheus.Collector. A queue not created yet
// reports zeros.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	info, err := c.inspector.GetQueueInfo(Name)
	if err != nil {
		info = &asynq.QueueInfo{Queue: Name}
	}
	for state, n := range map[string]int{
		"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
		"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
	} {
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), Name, state)
	}
	ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), Name)
}
