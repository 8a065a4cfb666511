package central

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/xaso/xaso/apiserver"
)

// metrics are a member's Prometheus metrics: Raft's state, commit and
// apply, snapshots, the state's size and the API's latency.
type metrics struct {
	reg                      *prometheus.Registry
	grpcLatency, httpLatency *prometheus.HistogramVec
	grpcErrors, httpErrors   *prometheus.CounterVec
	streams                  *prometheus.GaugeVec
}

func newMetrics(m *Member, version string, now func() time.Time) *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mt := &metrics{
		reg: reg,
		grpcLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xaso_central_grpc_request_seconds", Help: "gRPC calls by method and code.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "xaso_central_http_request_seconds", Help: "REST calls by route and status.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "status"}),
		grpcErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xaso_central_grpc_request_errors_total", Help: "gRPC calls and streams that failed on the member's side (Internal, Unavailable, Unknown, DataLoss, DeadlineExceeded, Unimplemented), by method.",
		}, []string{"method"}),
		httpErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xaso_central_http_request_errors_total", Help: "REST, export and dashboard requests answered with a status of 500 or more, by route.",
		}, []string{"route"}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xaso_central_grpc_streams_open", Help: "gRPC streams open now, by method: a connected node holds a Push and a Feed stream.",
		}, []string{"method"}),
	}
	commit := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "xaso_central_commit_seconds", Help: "From proposing a log entry on the leader to its being applied there.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	apply := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "xaso_central_apply_seconds", Help: "Applying one batch of committed entries to the state.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	batchEntries := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "xaso_central_apply_batch_entries", Help: "Log entries per applied batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	batchCommands := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "xaso_central_apply_batch_commands", Help: "Commands per applied batch.", Buckets: prometheus.ExponentialBuckets(1, 2, 16),
	})
	snapBytes := prometheus.NewGauge(prometheus.GaugeOpts{Name: "xaso_central_snapshot_bytes", Help: "Size of the last snapshot persisted."})
	snapSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "xaso_central_snapshot_seconds", Help: "Time to persist a snapshot.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
	})
	stat := func(key string) func() float64 {
		return func() float64 {
			v, _ := strconv.ParseFloat(m.Stats()[key], 64)
			return v
		}
	}
	reg.MustRegister(mt.grpcLatency, mt.httpLatency, mt.grpcErrors, mt.httpErrors, mt.streams,
		apiserver.BuildInfo("xaso_build_info", version, "", m.ID(), "central"), commit, apply, batchEntries, batchCommands, snapBytes, snapSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "xaso_central_raft_term", Help: "Raft term."}, stat("term")),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "xaso_central_raft_commit_index", Help: "Raft commit index."}, stat("commit_index")),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "xaso_central_applied_index", Help: "Last Raft index applied to the state."}, func() float64 { return float64(m.FSM().AppliedIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "xaso_central_raft_leader", Help: "1 when this member leads."}, func() float64 {
			if m.IsLeader() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "xaso_central_raft_leader_changes_total", Help: "Times this member gained or lost leadership."}, func() float64 { return float64(m.LeaderChanges()) }),
	)
	reg.MustRegister(stateSize{fsm: m.FSM()})
	for _, st := range []string{"Follower", "Candidate", "Leader"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "xaso_central_raft_state", Help: "1 for this member's Raft state.", ConstLabels: prometheus.Labels{"state": st},
		}, func() float64 {
			if m.State() == st {
				return 1
			}
			return 0
		}))
	}
	observeCommit := commit.Observe
	m.commitSeconds.Store(&observeCommit)
	observeApply := func(entries, commands int, seconds float64) {
		batchEntries.Observe(float64(entries))
		batchCommands.Observe(float64(commands))
		apply.Observe(seconds)
	}
	m.fsm.observe.Store(&observeApply)
	observeSnapshot := func(bytes int64, seconds float64) {
		snapBytes.Set(float64(bytes))
		snapSeconds.Observe(seconds)
	}
	m.fsm.snapshotted.Store(&observeSnapshot)
	reg.MustRegister(nodeCollector{fsm: m.FSM(), now: now})
	return mt
}

var descStateBytes = prometheus.NewDesc("xaso_central_state_bytes", "Bytes the state's files take on disk (blocks allocated, as du counts them: the data, not the value log's preallocated size).", nil, nil)

// stateSize measures the state's files at scrape time; a failed
// measurement leaves the series out of that scrape rather than report 0.
type stateSize struct{ fsm *FSM }

func (c stateSize) Describe(ch chan<- *prometheus.Desc) { ch <- descStateBytes }

func (c stateSize) Collect(ch chan<- prometheus.Metric) {
	if n, err := c.fsm.Size(); err == nil {
		ch <- prometheus.MustNewConstMetric(descStateBytes, prometheus.GaugeValue, float64(n))
	}
}

// nodeCollector reports each commune's replication from the state at
// scrape time: how far central is behind the node, and when it last heard.
// Every enrolled node has its series from its enrollment on, before it
// ever sent anything; the seconds since contact are computed at each
// scrape, so they grow while a commune is cut off.
type nodeCollector struct {
	fsm *FSM
	now func() time.Time
}

var (
	descNodeLag     = prometheus.NewDesc("xaso_central_node_lag_events", "Events the commune's node had written that central does not hold, as the node last reported (in its last batch or heartbeat).", []string{"commune", "node"}, nil)
	descNodeContact = prometheus.NewDesc("xaso_central_node_last_contact_timestamp_seconds", "When the commune's node last sent a batch or heartbeat (Unix time; its enrollment until it has).", []string{"commune", "node"}, nil)
	descNodeSilent  = prometheus.NewDesc("xaso_central_node_seconds_since_contact", "Seconds since the commune's node last sent a batch or heartbeat (since its enrollment until it has): grows while it is cut off.", []string{"commune", "node"}, nil)
	descNodeAcked   = prometheus.NewDesc("xaso_central_node_acked_sequence", "Last sequence of the commune's events central holds.", []string{"commune", "node"}, nil)
	descNodeBlocked = prometheus.NewDesc("xaso_central_chain_blocked_sequence", "The sequence of the commune's record central refused for its content, at which its chain is blocked; 0 when it is not.", []string{"commune", "node"}, nil)
)

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNodeLag, descNodeContact, descNodeSilent, descNodeAcked, descNodeBlocked} {
		ch <- d
	}
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	nodes, err := c.fsm.EnrolledNodes()
	if err != nil {
		return
	}
	now := c.now()
	for _, n := range nodes {
		if n.GetRevokeTime() != nil {
			continue
		}
		hw, err := c.fsm.NodeStream(n.GetCommuneCode())
		if err != nil {
			continue
		}
		labels := []string{n.GetCommuneCode(), n.GetNodeId()}
		ch <- prometheus.MustNewConstMetric(descNodeLag, prometheus.GaugeValue, float64(max(0, hw.GetNodeLastSequence()-hw.GetLastSequence())), labels...)
		ch <- prometheus.MustNewConstMetric(descNodeAcked, prometheus.GaugeValue, float64(hw.GetLastSequence()), labels...)
		ch <- prometheus.MustNewConstMetric(descNodeBlocked, prometheus.GaugeValue, float64(hw.GetBlocked().GetSequence()), labels...)
		// The chain is the commune's; its last contact is this machine's
		// only when this machine sent it (not a replaced one before it).
		last := n.GetEnrollTime()
		if hw.GetNodeId() == n.GetNodeId() && hw.GetLastTime() != nil {
			last = hw.GetLastTime()
		}
		contact, silent := 0.0, 0.0
		if last != nil {
			contact = float64(last.AsTime().UnixNano()) / 1e9
			silent = max(0, now.Sub(last.AsTime()).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descNodeContact, prometheus.GaugeValue, contact, labels...)
		ch <- prometheus.MustNewConstMetric(descNodeSilent, prometheus.GaugeValue, silent, labels...)
	}
}
