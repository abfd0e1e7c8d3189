// Package ha is the high-availability module: active-passive hot-standby
// clusters in which one primary serves clients and backups are kept hot by
// replication, and single-queue replication between brokers.
//
// # States
//
// A broker in a cluster is joining when it starts, catchup while it
// downloads the primary's state, ready once it is a hot backup; a promoted
// broker is recovering until the backups of the old primary have caught up
// (or ha-backup-timeout drops them), then active. Only the transitions in
// state.go are legal: nothing leaves recovering or active except a restart.
// Every change is logged with the system's monotonic clock, so tests can
// prove no two brokers were ever primary at the same time.
//
// # Epochs, positions and the ready set
//
// Every promotion starts a new epoch, beyond any the promoted broker has
// seen, and persists it in the data directory. Replicated messages are
// identified by (epoch, sequence), so no identifier is ever reused and
// catch-up can skip nothing. The ready set is membership state carried in
// the replication stream with the epoch: the primary removes a backup it
// stops waiting for (disconnected, or silent for two link heartbeats) and
// tells the others before it acknowledges anything without it; a broker
// outside the newest ready set it can learn of refuses promotion.
//
// # The guard
//
// A client's transfer to a replicated queue is settled only when every
// backup attached to the replication stream (ready, or catching up since
// the message was enqueued) has acknowledged it, or a consumer accepted it
// first. Producers' credit bounds the memory held.
package ha
