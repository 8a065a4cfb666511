package node

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/apiserver"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/replication"
)

// metrics are the node's Prometheus metrics, on a registry of its own.
type metrics struct {
	reg         *prometheus.Registry
	transitions *prometheus.CounterVec
	grpcLatency *prometheus.HistogramVec
	httpLatency *prometheus.HistogramVec
	grpcErrors  *prometheus.CounterVec
	httpErrors  *prometheus.CounterVec
	streams     *prometheus.GaugeVec
}

var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5}

// buildInfo labels the node's xaso_build_info.
type buildInfo struct{ version, commune, nodeID string }

func newMetrics(store *Store, now func() time.Time, sync func() (replication.Status, bool), bi buildInfo) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xaso_node_transitions_total", Help: "Workflow actions applied, by action (RECEIVE creates a dossier).",
		}, []string{"action"}),
		grpcLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xaso_node_grpc_request_duration_seconds", Help: "gRPC request latency by method and status code.", Buckets: latencyBuckets,
		}, []string{"method", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xaso_node_http_request_duration_seconds", Help: "REST request latency by route and HTTP status.", Buckets: latencyBuckets,
		}, []string{"route", "status"}),
		grpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xaso_node_grpc_request_errors_total", Help: "gRPC calls that failed on the node's side (Internal, Unavailable, Unknown, DataLoss, DeadlineExceeded, Unimplemented), by method.",
		}, []string{"method"}),
		httpErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xaso_node_http_request_errors_total", Help: "REST and page requests answered with a status of 500 or more, by route.",
		}, []string{"route"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xaso_node_grpc_streams_open", Help: "gRPC streams open now, by method.",
		}, []string{"method"}),
	}
	m.reg.MustRegister(m.transitions, m.grpcLatency, m.httpLatency, m.grpcErrors, m.httpErrors, m.streams,
		apiserver.BuildInfo("xaso_build_info", bi.version, bi.commune, bi.nodeID, "node"),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{store: store, now: now, sync: sync})
	m.transitionsPreset()
	return m
}

func (m *metrics) transition(a dossier.Action) {
	m.transitions.WithLabelValues(dossier.ActionName(a)).Inc()
}

// storeCollector reads the store's figures at scrape time.
type storeCollector struct {
	store *Store
	now   func() time.Time
	sync  func() (replication.Status, bool)
}

var (
	descDossiers = prometheus.NewDesc("xaso_node_dossiers", "Dossiers stored, by state.", []string{"state"}, nil)
	descOverdue  = prometheus.NewDesc("xaso_node_overdue_dossiers", "Open dossiers past their due time with the clock running.", nil, nil)
	descOutbox   = prometheus.NewDesc("xaso_node_outbox_pending_events", "Outbox events central has not acknowledged.", nil, nil)
	descLastSeq  = prometheus.NewDesc("xaso_node_outbox_last_sequence", "Sequence of the last outbox event.", nil, nil)
	descSize     = prometheus.NewDesc("xaso_node_store_size_bytes", "Bytes of the Badger store on disk.", nil, nil)
	descPendingB = prometheus.NewDesc("xaso_node_outbox_pending_bytes", "Bytes of the outbox events central has not acknowledged.", nil, nil)
	descLag      = prometheus.NewDesc("xaso_node_sync_lag_seconds", "Age of the oldest event central has not acknowledged.", nil, nil)
	descContact  = prometheus.NewDesc("xaso_node_sync_last_contact_timestamp_seconds", "When central last answered (Unix time; 0: never).", nil, nil)
	descConn     = prometheus.NewDesc("xaso_node_sync_connected", "1 while a stream to central is open.", nil, nil)
	descSent     = prometheus.NewDesc("xaso_node_sync_sent_bytes_total", "Bytes sent to central, on the wire.", nil, nil)
	descRetries  = prometheus.NewDesc("xaso_node_sync_retries_total", "Sync attempts that failed.", nil, nil)
	descBlocked  = prometheus.NewDesc("xaso_node_sync_blocked_sequence", "The sequence of this node's record central refused for its content (or at which central's chain differs), where sync stops; 0 when it does not.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descDossiers, descOverdue, descOutbox, descLastSeq, descSize, descPendingB, descLag, descContact, descConn, descSent, descRetries, descBlocked} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.store.Counts()
	for n := range xasov1.State_name {
		st := dossier.State(n)
		if st == 0 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descDossiers, prometheus.GaugeValue, float64(counts[st]), dossier.StateName(st))
	}
	if n, err := c.store.CountOverdue(c.now()); err == nil {
		ch <- prometheus.MustNewConstMetric(descOverdue, prometheus.GaugeValue, float64(n))
	}
	last, acked := c.store.OutboxHead()
	ch <- prometheus.MustNewConstMetric(descOutbox, prometheus.GaugeValue, float64(last-acked))
	ch <- prometheus.MustNewConstMetric(descLastSeq, prometheus.GaugeValue, float64(last))
	if n, err := c.store.Size(); err == nil {
		ch <- prometheus.MustNewConstMetric(descSize, prometheus.GaugeValue, float64(n))
	}
	if n, err := c.store.OutboxBytes(acked + 1); err == nil {
		ch <- prometheus.MustNewConstMetric(descPendingB, prometheus.GaugeValue, float64(n))
	}
	lag := 0.0
	if t, err := c.store.OldestPending(); err == nil && !t.IsZero() {
		lag = max(0, c.now().Sub(t).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, lag)
	contact := 0.0
	if t := c.store.LastContact(); !t.IsZero() {
		contact = float64(t.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descContact, prometheus.GaugeValue, contact)
	if st, ok := c.sync(); ok {
		conn := 0.0
		if st.Connected {
			conn = 1
		}
		ch <- prometheus.MustNewConstMetric(descConn, prometheus.GaugeValue, conn)
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(st.BytesSent))
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(st.Retries))
		var blocked int64
		if st.Blocked != nil {
			blocked = st.Blocked.Sequence
		}
		ch <- prometheus.MustNewConstMetric(descBlocked, prometheus.GaugeValue, float64(blocked))
	}
}

// transitionsPreset creates the transitions counter of every action at 0.
func (m *metrics) transitionsPreset() {
	for a := range xasov1.Action_name {
		if a != 0 {
			m.transitions.WithLabelValues(dossier.ActionName(dossier.Action(a)))
		}
	}
}
