// Package metrics is the broker's Prometheus endpoint: connections,
// sessions and links; per queue depth, bytes and counters; the HA role,
// epoch, ready set, each backup's replication lag and the guard; the
// store's group commit. Most figures exist already as counters in the
// broker, its HA module and its store, and are read when Prometheus
// scrapes (a Collector), so serving metrics costs the message path
// nothing; the two histograms (how long the guard holds a message, how
// long an fdatasync takes and how many records it covers) are observed
// where those things end: once per held message, once per sync.
//
// Queues get a series each up to QueueSeriesLimit queues: durable and
// named queues first (by name), temporary ones (auto-delete or exclusive)
// after; the rest are summed into one series labelled queue="_other", so
// a client creating temporary queues by the thousand cannot explode the
// number of series. Names of every metric are in Names.
package metrics

import (
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/qpidha/qpidha/internal/broker"
	"github.com/qpidha/qpidha/internal/ha"
	"github.com/qpidha/qpidha/internal/store"
)

// QueueSeriesLimit is the most queues that get series of their own.
const QueueSeriesLimit = 500

// OtherQueues is the queue label of the series summing the queues beyond
// the limit.
const OtherQueues = "_other"

// The sources metrics read when scraped; nil ones are left out.

// Server is the AMQP server (amqpserver.Server).
type Server interface {
	Counts() (connections, sessions, links int)
}

// Queues lists the broker's queues (broker.Broker).
type Queues interface {
	Queues() []*broker.Queue
}

// HA is the broker's HA module (ha.Module).
type HA interface {
	Metrics() ha.Metrics
}

// Store is the broker's durable store (store.Store).
type Store interface {
	Stats() store.Stats
}

// Sources are what the metrics read.
type Sources struct {
	Server Server
	Queues Queues
	HA     HA
	Store  Store
}

// Config configures the metrics.
type Config struct {
	Version string // the broker's, for qpidha_build_info
	// QueueSeriesLimit: the most queues with series of their own (0:
	// QueueSeriesLimit).
	QueueSeriesLimit int
}

// Metrics are a broker's metrics: a registry, the histograms observed on
// the way, and the collector that reads the rest.
type Metrics struct {
	reg       *prometheus.Registry
	col       *collector
	guardHold prometheus.Histogram
	syncTime  prometheus.Histogram
	perSync   prometheus.Histogram
}

// New returns the metrics of a broker; Watch gives them their sources.
func New(cfg Config) *Metrics {
	if cfg.QueueSeriesLimit <= 0 {
		cfg.QueueSeriesLimit = QueueSeriesLimit
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		guardHold: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qpidha_ha_guard_hold_seconds",
			Help:    "How long the primary's guard held a message: from its enqueue until every backup in the ready set acknowledged it (or a consumer took it); the sender's transfer is settled only then.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		syncTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qpidha_store_sync_seconds",
			Help:    "How long each group commit's fdatasync took (every file written in the batch, and the directory when a file was created).",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}),
		perSync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qpidha_store_records_per_sync",
			Help:    "Records (messages, dequeues, declarations) made durable by one group commit's fdatasync.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096},
		}),
	}
	m.col = &collector{limit: cfg.QueueSeriesLimit}
	m.reg.MustRegister(m.col,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "qpidha_build_info",
			Help:        "The broker's version (always 1).",
			ConstLabels: prometheus.Labels{"version": cfg.Version},
		}, func() float64 { return 1 }))
	return m
}

// Watch sets what the metrics read, and exports the histograms of the HA
// module and the store if there are those; call it once, before serving.
func (m *Metrics) Watch(src Sources) {
	m.col.src = src
	if src.HA != nil {
		m.reg.MustRegister(m.guardHold)
	}
	if src.Store != nil {
		m.reg.MustRegister(m.syncTime, m.perSync)
	}
}

// Registry is the metrics' registry.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveGuard records how long the guard held a message (ha.Config's
// GuardObserver).
func (m *Metrics) ObserveGuard(held time.Duration) { m.guardHold.Observe(held.Seconds()) }

// ObserveSync records one group commit (store.Config's OnSync).
func (m *Metrics) ObserveSync(took time.Duration, records uint64) {
	m.syncTime.Observe(took.Seconds())
	m.perSync.Observe(float64(records))
}

// collector reads the figures that exist already when scraped.
type collector struct {
	src   Sources
	limit int
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dConnections = desc("qpidha_connections", "AMQP connections open.")
	dSessions    = desc("qpidha_sessions", "AMQP sessions open.")
	dLinks       = desc("qpidha_links", "AMQP links attached.")

	dQueues       = desc("qpidha_queues", "Queues, every one (including those summed in queue=\"_other\").")
	dDepth        = desc("qpidha_queue_depth_messages", "Messages on the queue, those being delivered included.", "queue")
	dBytes        = desc("qpidha_queue_depth_bytes", "Bytes of the messages on the queue.", "queue")
	dEnqueued     = desc("qpidha_queue_enqueued_total", "Messages enqueued on the queue.", "queue")
	dDequeued     = desc("qpidha_queue_dequeued_total", "Messages removed from the queue (consumed, expired, dropped, purged).", "queue")
	dRedelivered  = desc("qpidha_queue_redelivered_total", "Deliveries that came back to the queue to be delivered again (released, modified, consumer gone).", "queue")
	dExpired      = desc("qpidha_queue_expired_total", "Messages removed because their time to live ran out.", "queue")
	dFlowStopped  = desc("qpidha_queue_flow_stopped", "1 while producer flow control holds back new messages for the queue (for queue=\"_other\": how many of those queues).", "queue")
	dConsumers    = desc("qpidha_queue_consumers", "Consumers attached to the queue.", "queue")
	dHAState      = desc("qpidha_ha_state", "1 for the broker's HA state, 0 for the others.", "state")
	dEpoch        = desc("qpidha_ha_epoch", "Epoch of the newest membership the broker knows (each promotion starts a new one).")
	dReady        = desc("qpidha_ha_ready_backups", "Backups in the ready set: those the primary waits for before it acknowledges a message.")
	dPromotions   = desc("qpidha_ha_promotions_total", "Times this broker process became primary.")
	dGuardHeld    = desc("qpidha_ha_guard_held_messages", "Messages the primary's guard holds now: enqueued, not yet acknowledged by every ready backup; their senders wait.")
	dLagMessages  = desc("qpidha_ha_backup_lag_messages", "Messages the primary has queued for or sent to the backup that the backup has not acknowledged.", "backup")
	dLagBytes     = desc("qpidha_ha_backup_lag_bytes", "Bytes of what the primary has queued for or sent to the backup that the backup has not acknowledged.", "backup")
	dLagSeconds   = desc("qpidha_ha_backup_lag_seconds", "How long the oldest delivery the backup has not acknowledged has waited (0: none waits).", "backup")
	dSyncs        = desc("qpidha_store_syncs_total", "Group commits: batches of records made durable by one fdatasync.")
	dRecords      = desc("qpidha_store_records_total", "Records made durable.")
	dStoreMsgs    = desc("qpidha_store_messages", "Persistent messages in the store.")
	dJournalBytes = desc("qpidha_store_journal_bytes", "Size of the journal's files.")
	dLiveBytes    = desc("qpidha_store_live_bytes", "Bytes of the journal's records that are still live.")
	dDiskFull     = desc("qpidha_store_disk_full", "1 while the store's disk is full (writes fail with ENOSPC; persistent messages are refused).")
	dStopped      = desc("qpidha_store_stopped", "1 once a write or fdatasync failed: the store stopped and the broker with it.")
	dSyncing      = desc("qpidha_store_sync_in_progress_seconds", "How long the fdatasync in progress has taken so far (0: none is); a stalled disk shows here before anything fails.")
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dConnections, dSessions, dLinks, dQueues, dDepth, dBytes, dEnqueued,
		dDequeued, dRedelivered, dExpired, dFlowStopped, dConsumers, dHAState, dEpoch, dReady, dPromotions,
		dGuardHeld, dLagMessages, dLagBytes, dLagSeconds, dSyncs, dRecords, dStoreMsgs, dJournalBytes,
		dLiveBytes, dDiskFull, dStopped, dSyncing} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if s := c.src.Server; s != nil {
		conns, sessions, links := s.Counts()
		gauge(ch, dConnections, float64(conns))
		gauge(ch, dSessions, float64(sessions))
		gauge(ch, dLinks, float64(links))
	}
	if q := c.src.Queues; q != nil {
		c.collectQueues(ch, q.Queues())
	}
	if h := c.src.HA; h != nil {
		collectHA(ch, h.Metrics())
	}
	if s := c.src.Store; s != nil {
		st := s.Stats()
		counter(ch, dSyncs, float64(st.Syncs))
		counter(ch, dRecords, float64(st.Records))
		gauge(ch, dStoreMsgs, float64(st.Messages))
		gauge(ch, dJournalBytes, float64(st.Bytes))
		gauge(ch, dLiveBytes, float64(st.LiveBytes))
		gauge(ch, dDiskFull, bool01(st.Full))
		gauge(ch, dStopped, bool01(st.Stopped))
		gauge(ch, dSyncing, st.Syncing.Seconds())
	}
}

// temporary reports a queue that lives with its connection or consumer.
func temporary(q *broker.Queue) bool {
	s := q.Settings()
	return s.AutoDelete || s.Exclusive
}

// SeriesQueues splits queues into those with series of their own (at most
// limit: lasting queues first, then temporary ones, each by name) and the
// rest, summed into queue="_other".
func SeriesQueues(queues []*broker.Queue, limit int) (own, other []*broker.Queue) {
	if len(queues) <= limit {
		return queues, nil
	}
	sorted := append([]*broker.Queue(nil), queues...)
	tmp := make(map[*broker.Queue]bool, len(sorted))
	for _, q := range sorted {
		tmp[q] = temporary(q)
	}
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if tmp[a] != tmp[b] {
			return !tmp[a]
		}
		return a.Name() < b.Name()
	})
	return sorted[:limit], sorted[limit:]
}

func (c *collector) collectQueues(ch chan<- prometheus.Metric, queues []*broker.Queue) {
	gauge(ch, dQueues, float64(len(queues)))
	own, other := SeriesQueues(queues, c.limit)
	if len(other) > 0 {
		// A queue named like the sum goes into it: two series with the
		// same labels would fail the scrape.
		for i, q := range own {
			if q.Name() == OtherQueues {
				own = append(own[:i:i], own[i+1:]...)
				other = append(other, q)
				break
			}
		}
	}
	emit := func(name string, st broker.QueueStats, stopped float64) {
		gauge(ch, dDepth, float64(st.Depth), name)
		gauge(ch, dBytes, float64(st.Bytes), name)
		counter(ch, dEnqueued, float64(st.Enqueues), name)
		counter(ch, dDequeued, float64(st.Dequeues), name)
		counter(ch, dRedelivered, float64(st.Redelivered), name)
		counter(ch, dExpired, float64(st.Expired), name)
		gauge(ch, dFlowStopped, stopped, name)
		gauge(ch, dConsumers, float64(st.Consumers), name)
	}
	seen := make(map[string]bool, len(own))
	for _, q := range own {
		if seen[q.Name()] {
			continue // declared again while we listed: one series per name
		}
		seen[q.Name()] = true
		st := q.Stats()
		emit(q.Name(), st, bool01(st.FlowStopped))
	}
	if len(other) == 0 {
		return
	}
	var sum broker.QueueStats
	stopped := 0.0
	for _, q := range other {
		st := q.Stats()
		sum.Depth += st.Depth
		sum.Bytes += st.Bytes
		sum.Enqueues += st.Enqueues
		sum.Dequeues += st.Dequeues
		sum.Redelivered += st.Redelivered
		sum.Expired += st.Expired
		sum.Consumers += st.Consumers
		stopped += bool01(st.FlowStopped)
	}
	emit(OtherQueues, sum, stopped)
}

// States are the HA states, as qpidha_ha_state's state label names them.
var States = []ha.State{ha.Standalone, ha.Joining, ha.CatchUp, ha.Ready, ha.Recovering, ha.Active}

func collectHA(ch chan<- prometheus.Metric, m ha.Metrics) {
	for _, s := range States {
		gauge(ch, dHAState, bool01(m.State == s), s.String())
	}
	gauge(ch, dEpoch, float64(m.Epoch))
	gauge(ch, dReady, float64(m.ReadyBackups))
	counter(ch, dPromotions, float64(m.Promotions))
	gauge(ch, dGuardHeld, float64(m.GuardHeld))
	for _, b := range m.Backups {
		gauge(ch, dLagMessages, float64(b.Messages), b.ID)
		gauge(ch, dLagBytes, float64(b.Bytes), b.ID)
		gauge(ch, dLagSeconds, b.Seconds, b.ID)
	}
}
