// A stock rhea sender for the lab's client-visible outage (node.js, rhea
// 3.0.5 from npm: lab.sh deps installs it under $QPIDLAB_NPM).
//
// It uses only rhea's own reconnect (the connect options below), which
// re-opens the connection and its links after a dropped socket or a close
// with amqp:connection:forced. No retry logic of its own: it sends one
// message every interval while the link is sendable (at most 10
// unconfirmed) and prints, for each message the broker accepted, a line
// "accepted UNIX_NS", which qpidlab-run reads.
//
//   node stock-send.js HOST:PORT[,HOST:PORT...] QUEUE [JSON-OPTIONS]
//
// JSON-OPTIONS are passed to container.connect as they are (reconnect,
// initial_reconnect_delay, max_reconnect_delay, idle_time_out, ...). With
// more than one address, connection_details (rhea's documented hook for a
// fail-over list) hands out the next address at each attempt.
'use strict';

const container = require('rhea');

const addrs = process.argv[2].split(',').map((a) => {
	const i = a.lastIndexOf(':');
	return { host: a.slice(0, i), port: Number(a.slice(i + 1)) };
});
const queue = process.argv[3];
const options = Object.assign({}, addrs[0], JSON.parse(process.argv[4] || '{}'));
if (addrs.length > 1) {
	let next = 0;
	options.connection_details = () => addrs[next++ % addrs.length];
}

const interval = 20;
const window = 10;
let unconfirmed = 0;
let seq = 0;
const t0 = process.hrtime.bigint();
const base = BigInt(Date.now()) * 1000000n;
const now = () => base + (process.hrtime.bigint() - t0);

const conn = container.connect(options);
const sender = conn.open_sender(queue);
container.on('accepted', () => {
	unconfirmed = Math.max(0, unconfirmed - 1);
	process.stdout.write('accepted ' + now() + '\n');
});
container.on('rejected', () => { unconfirmed = Math.max(0, unconfirmed - 1); });
container.on('released', () => { unconfirmed = Math.max(0, unconfirmed - 1); });
container.on('disconnected', (ctx) => {
	// The outcomes in flight are lost with the connection.
	unconfirmed = 0;
	process.stderr.write(Date.now() / 1000 + ' disconnected ' + (ctx.error || '') + '\n');
});
container.on('connection_open', () => {
	process.stderr.write(Date.now() / 1000 + ' connected\n');
});
container.on('connection_error', (ctx) => {
	process.stderr.write(Date.now() / 1000 + ' connection error ' + JSON.stringify(ctx.connection.error) + '\n');
});
container.on('sender_error', () => {});
container.on('error', (ctx) => {
	process.stderr.write(Date.now() / 1000 + ' error ' + (ctx.error || '') + '\n');
});
setInterval(() => {
	if (conn.is_open() && sender.sendable() && unconfirmed < window) {
		unconfirmed++;
		sender.send({ body: 'stock ' + (++seq) });
	}
}, interval);
process.on('SIGTERM', () => process.exit(0));
