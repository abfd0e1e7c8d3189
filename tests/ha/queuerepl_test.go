package ha

import (
	"testing"
	"time"

	"github.com/qpidha/qpidha/tests/qpiddtest"
)

// replicate asks a broker to replicate its queue from a source URL.
func replicate(t *testing.T, b *qpiddtest.Broker, queue, source string) {
	t.Helper()
	ctx := ctxFor(t, 10*time.Second)
	r, err := qpiddtest.Admin(t, b).Request(ctx, "REPLICATE", "org.apache.qpid.ha:habroker", "",
		map[string]any{"queue": queue, "broker": source})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("REPLICATE on %s: %v", b.Addr(), err)
	}
}

func createQueue(t *testing.T, b *qpiddtest.Broker, name string) {
	t.Helper()
	if _, err := qpiddtest.Admin(t, b).CreateQueue(ctxFor(t, 10*time.Second), name, nil); err != nil {
		t.Fatal(err)
	}
}

// A queue on one standalone broker replicates to another: enqueues and
// dequeues, including what was there before replication started.
func TestStandaloneQueueReplica(t *testing.T) {
	source := qpiddtest.Start(t, "--ha-queue-replication", "yes", "--queue", "q")
	replica := qpiddtest.Start(t, "--ha-queue-replication", "yes", "--queue", "q")
	send(t, source, "q", bodies("early", 10)...)
	replicate(t, replica, "q", source.Addr())
	waitDepth(t, replica, "q", 10)
	send(t, source, "q", bodies("late", 10)...)
	waitDepth(t, replica, "q", 20)
	receiveAll(t, source, "q", 15)
	waitDepth(t, replica, "q", 5)
	// The replica holds the same messages, in order.
	if got := receiveAll(t, replica, "q", 5); got[0] != "late-005" || got[4] != "late-009" {
		t.Fatalf("replica holds %v", got)
	}
}

// A replica of a queue on a cluster follows the cluster's new primary.
func TestQueueReplicaFollowsSourceFailover(t *testing.T) {
	src := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue", "q")
	replica := qpiddtest.Start(t, "--ha-queue-replication", "yes", "--queue", "q")
	replicate(t, replica, "q", src.URL)
	send(t, src.Brokers[0], "q", bodies("a", 5)...)
	waitDepth(t, replica, "q", 5)
	src.Brokers[0].Kill()
	if err := qpiddtest.Promote(t, src.Brokers[1]); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, src.Brokers[1], "active", 20*time.Second)
	send(t, src.Brokers[1], "q", bodies("b", 5)...)
	waitDepth(t, replica, "q", 10)
}

// A replica on a cluster's primary is re-established by the cluster's next
// primary after a failover (the original needed a hand-written script).
func TestQueueReplicaOnClusterSurvivesFailover(t *testing.T) {
	source := qpiddtest.Start(t, "--ha-queue-replication", "yes", "--queue", "q")
	dst := primaryWithBackups(t, 2, "--ha-replicate", "all", "--queue", "q")
	replicate(t, dst.Brokers[0], "q", source.Addr())
	send(t, source, "q", bodies("x", 5)...)
	waitDepth(t, dst.Brokers[0], "q", 5)
	waitDepth(t, dst.Brokers[1], "q", 5) // the replica replicates within its cluster
	dst.Brokers[0].Kill()
	if err := qpiddtest.Promote(t, dst.Brokers[1]); err != nil {
		t.Fatal(err)
	}
	qpiddtest.WaitStatus(t, dst.Brokers[1], "active", 20*time.Second)
	send(t, source, "q", bodies("y", 5)...)
	waitDepth(t, dst.Brokers[1], "q", 10)
}
