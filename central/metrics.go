package central

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are a member's Prometheus metrics: Raft's state, commit and
// apply, snapshots, the state's size and the API's latency.
type metrics struct {
	reg                      *prometheus.Registry
	grpcLatency, httpLatency *prometheus.HistogramVec
}

func newMetrics(m *Member) *metrics {
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
	reg.MustRegister(mt.grpcLatency, mt.httpLatency, commit, apply, batchEntries, batchCommands, snapBytes, snapSeconds,
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
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "xaso_central_state_bytes", Help: "Size of the state on disk."}, func() float64 { return float64(m.FSM().Size()) }),
	)
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
	reg.MustRegister(nodeCollector{fsm: m.FSM()})
	return mt
}

// nodeCollector reports each commune's replication from the state at
// scrape time: how far central is behind the node, and when it last heard.
type nodeCollector struct{ fsm *FSM }

var (
	descNodeLag     = prometheus.NewDesc("xaso_central_node_lag_events", "Events the commune's node had written that central does not hold, as the node last reported.", []string{"commune", "node"}, nil)
	descNodeContact = prometheus.NewDesc("xaso_central_node_last_contact_timestamp_seconds", "When the commune's node last sent a batch (Unix time).", []string{"commune", "node"}, nil)
	descNodeAcked   = prometheus.NewDesc("xaso_central_node_acked_sequence", "Last sequence of the commune's events central holds.", []string{"commune", "node"}, nil)
	descNodeBlocked = prometheus.NewDesc("xaso_central_chain_blocked_sequence", "The sequence of the commune's record central refused for its content, at which its chain is blocked; 0 when it is not.", []string{"commune", "node"}, nil)
)

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descNodeLag
	ch <- descNodeContact
	ch <- descNodeAcked
	ch <- descNodeBlocked
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	nodes, err := c.fsm.EnrolledNodes()
	if err != nil {
		return
	}
	for _, n := range nodes {
		hw, err := c.fsm.NodeStream(n.GetCommuneCode())
		if err != nil || hw.GetNodeId() != n.GetNodeId() {
			continue
		}
		labels := []string{n.GetCommuneCode(), n.GetNodeId()}
		ch <- prometheus.MustNewConstMetric(descNodeLag, prometheus.GaugeValue, float64(max(0, hw.GetNodeLastSequence()-hw.GetLastSequence())), labels...)
		ch <- prometheus.MustNewConstMetric(descNodeAcked, prometheus.GaugeValue, float64(hw.GetLastSequence()), labels...)
		ch <- prometheus.MustNewConstMetric(descNodeBlocked, prometheus.GaugeValue, float64(hw.GetBlocked().GetSequence()), labels...)
		if t := hw.GetLastTime(); t != nil {
			ch <- prometheus.MustNewConstMetric(descNodeContact, prometheus.GaugeValue, float64(t.AsTime().UnixNano())/1e9, labels...)
		}
	}
}
