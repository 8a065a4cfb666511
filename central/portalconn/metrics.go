package portalconn

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors are the connector's Prometheus metrics: filings routed and
// refused, failed calls, and its lag: how old the oldest filing taken but
// not yet routed is, and how long since the portal last answered a pull.
func (c *Connector) Collectors() []prometheus.Collector {
	stat := func(f func(Stats) float64) func() float64 { return func() float64 { return f(c.Stats()) } }
	since := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return c.cfg.Now().Sub(t).Seconds()
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "xaso_central_portal_filings_routed_total", Help: "Online filings from the portal routed to their commune and acknowledged, on this member."},
			stat(func(s Stats) float64 { return float64(s.Routed) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "xaso_central_portal_filings_refused_total", Help: "Online filings central refused (reason logged), left at the portal."},
			stat(func(s Stats) float64 { return float64(s.Refused) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "xaso_central_portal_errors_total", Help: "Failed calls to the portal and failed proposals of the portal connector."},
			stat(func(s Stats) float64 { return float64(s.Errors) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "xaso_central_portal_filing_lag_seconds", Help: "Age of the oldest online filing taken from the portal and not yet routed (0: none waits)."},
			stat(func(s Stats) float64 { return since(s.OldestWaiting) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "xaso_central_portal_last_pull_age_seconds", Help: "Time since the portal last answered a pull on this member (0: never, or not the leader)."},
			stat(func(s Stats) float64 { return since(s.LastPull) })),
	}
}
