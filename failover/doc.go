// Package failover is a fail-over client for qpidd HA clusters (and any
// AMQP 1.0 broker), on top of github.com/Azure/go-amqp, which has no
// reconnect of its own.
//
// A Conn connects to the first of a list of addresses (or to a single
// virtual IP) that admits the client. When the connection is lost it
// connects again, trying the addresses in turn: the first retry at once, on
// the next address, the following ones after a backoff growing to a cap,
// with jitter (Backoff; by default 0, 100 ms, 200 ms, ... 2 s). Each
// attempt is bounded (Options.ConnectTimeout), and heartbeats
// (go-amqp's IdleTimeout, 10 s by default here) find a dead or hung broker.
//
// Which errors fail over: a connection lost (reset, EOF, the idle timeout),
// refused or timed out; a close with amqp:connection:forced (an HA backup
// turning clients away, a broker shutting down) or another condition; the
// refusal of a backup without an open. Which do not: a SASL failure (wrong
// credentials, no common mechanism), an untrusted TLS certificate, and
// amqp:unauthorized-access: the Conn gives up with a *PermanentError, which
// every operation returns from then on (see Permanent).
//
// A Sender and a Receiver attach their link again on each new connection.
//
// # Guarantees
//
// Sender.Send is at least once: it returns nil only once the broker
// accepted the message (an HA primary accepts it once every ready backup
// has it), and sends it again on the next connection if the outcome did not
// arrive. A message whose transfer reached the broker but whose outcome was
// lost with the connection is therefore sent twice, and receivers get it
// twice. Duplicates also come from the broker: a message delivered to a
// Receiver whose Accept did not reach the broker before the connection was
// lost is delivered again. Nothing acknowledged is lost: every message
// whose Send returned nil is delivered at least once.
//
// To drop duplicates, give each message a unique message-id
// (amqp.MessageProperties.MessageID) and set ReceiverOptions.DedupWindow:
// the Receiver remembers that many recent ids and settles (without handing
// out) any copy of one, as the application settled the first. The window
// is per Receiver and bounded: copies that reach another consumer, or come
// after more than DedupWindow other ids, still get through; applications
// that cannot stand a duplicate must make processing idempotent.
//
// When Send returns the context's error, the message's fate is unknown.
// Receiver.Accept and Reject return an error wrapping ErrNotSettled when
// the message's link was lost: the broker delivers it again.
//
// # Advertised addresses
//
// A broker may list its cluster's addresses in its open frame, in the
// connection property failover-server-list (the format ActiveMQ Artemis
// and qpid-jms use; qpidd sends its ha-public-url addresses): the Conn
// adds them to its list (Options.IgnoreFailoverServerList keeps the list as
// given); over TLS it ignores advertised plain amqp addresses. go-amqp 1.6.0 exposes the open's properties (Conn.Properties),
// so this works with a primary; a backup refuses without an open, so only a
// primary's list is ever read.
//
// Events (connections, losses, failed attempts, giving up) go to
// Options.OnEvent for logging.
package failover
