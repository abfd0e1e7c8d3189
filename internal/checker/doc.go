// Package checker is the failover checker: numbered at-least-once senders
// and receivers that fail over between the brokers of a cluster (a URL list
// or a VIP) while brokers are killed and promoted, and a report of what
// happened to every message, plus a check of the brokers' role-change logs
// that no two brokers were primary at the same time.
//
// Every message carries its sender's number and its sequence number
// (application properties "sender" and "seq"; the message id and the body
// are "SENDER:SEQ"). A message is confirmed when the broker accepted it,
// received when a receiver got it (receivers record a message before they
// accept it). Senders resend every message not confirmed when a connection
// goes away; receivers accept every message. After the senders stop, the
// receivers drain the queue. Then:
//
//   - lost: confirmed but never received (must be 0);
//   - duplicates: received more than once (at-least-once allows them);
//   - received unconfirmed: received, though the sender never saw the
//     confirmation (it was lost with the connection; the message was resent).
//
// The clients are go-amqp, in this process, or python3-qpid-proton scripts
// (tests/checker/clients) that print one line per event; see Config.Client.
// The command is tests/checker; see Main.
package checker
