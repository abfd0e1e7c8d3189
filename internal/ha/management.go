package ha

import (
	"time"

	"github.com/qpidha/qpidha/internal/mgmt"
	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// statusTimeout bounds each peer's answer in a promotion's status check;
// a peer that does not answer in time counts as unreachable (hung peers are
// ignored, as the original did).
func (m *Module) statusTimeout() time.Duration {
	return min(m.cfg.HeartbeatInterval, 3*time.Second)
}

// RegisterManagement adds the HA type to the management agent: READ is the
// broker's HA status (what qpid-ha status and query show); PROMOTE makes it
// primary, for administrators only, after a status check of its peers
// (with dryRun, only says whether it would).
func (m *Module) RegisterManagement(a *mgmt.Agent) {
	a.Register(TypeHABroker, mgmt.Operations{
		wire.OpRead: func(*mgmt.Request) mgmt.Response { return mgmt.OK(m.Status()) },
		OpPromote: func(req *mgmt.Request) mgmt.Response {
			if m.cfg.AdminAllowed != nil && !m.cfg.AdminAllowed(req.From.User) {
				return mgmt.Errorf(mgmt.StatusForbidden, "%s may not promote this broker", req.From.User)
			}
			st := m.State()
			if st == Standalone {
				return mgmt.Errorf(mgmt.StatusConflict, "%v", ErrNotCluster)
			}
			var peers []PeerStatus
			if !st.IsPrimary() {
				peers = m.CheckPeers(m.statusTimeout())
			}
			if dry, _ := req.Attributes["dryRun"].(bool); dry {
				// Would it? (The OCF agent's first start asks each broker.)
				if err := m.CanPromote(peers); err != nil {
					return mgmt.Errorf(mgmt.StatusConflict, "%v", err)
				}
				return mgmt.OK(m.Status())
			}
			if err := m.Promote(peers); err != nil {
				m.log.WithError(err).WithField("by", req.From.User).Warn("promotion refused")
				return mgmt.Errorf(mgmt.StatusConflict, "%v", err)
			}
			m.log.WithField("by", req.From.User).Info("promoted")
			return mgmt.OK(m.Status())
		},
		OpSync: func(req *mgmt.Request) mgmt.Response {
			timeout := 10 * time.Second
			if s, ok := req.Attributes["timeout"].(float64); ok && s > 0 {
				timeout = time.Duration(s * float64(time.Second))
			}
			return m.sync(timeout)
		},
		// REPLICATE starts replicating a local queue from the same-named
		// queue at a source broker or cluster (qpid-ha replicate,
		// qpid-config add queue --start-replica).
		OpReplicate: func(req *mgmt.Request) mgmt.Response {
			if m.cfg.AdminAllowed != nil && !m.cfg.AdminAllowed(req.From.User) {
				return mgmt.Errorf(mgmt.StatusForbidden, "%s may not start queue replication", req.From.User)
			}
			queue, _ := req.Attributes["queue"].(string)
			source, _ := req.Attributes["broker"].(string)
			if source == "" {
				source, _ = req.Attributes["remote"].(string)
			}
			if queue == "" || source == "" {
				return mgmt.Errorf(mgmt.StatusBadRequest, "REPLICATE needs attributes queue and broker (the source URL)")
			}
			if err := m.StartReplica(queue, source); err != nil {
				return mgmt.Errorf(mgmt.StatusConflict, "%v", err)
			}
			return mgmt.OK(map[string]any{"queue": queue, "broker": source})
		},
	})
}

// sync waits until every ready backup has applied every change made so far,
// or timeout. The wait holds up only the asking connection.
func (m *Module) sync(timeout time.Duration) mgmt.Response {
	m.mu.Lock()
	p, st := m.primary, m.core.State()
	backups := len(m.core.Membership().Ready)
	m.mu.Unlock()
	if p == nil {
		return mgmt.Errorf(mgmt.StatusConflict, "this broker is %s, not the primary: changes are made, and waited for, on the primary", st)
	}
	done := make(chan struct{})
	if !m.syncBarrier().Wait(func() { close(done) }) {
		close(done)
	}
	select {
	case <-done:
		return mgmt.OK(map[string]any{"readyBackups": int64(backups)})
	case <-time.After(timeout):
		return mgmt.Errorf(mgmt.StatusTimeout, "not every ready backup has the change after %v", timeout)
	}
}
