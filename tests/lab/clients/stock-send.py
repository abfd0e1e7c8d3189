#!/usr/bin/python3
"""A stock python3-qpid-proton sender for the lab's client-visible outage.

It uses only proton's own fail-over: Container.connect(url or urls,
heartbeat=H, reconnect=...), which re-opens the connection and its links
after a dropped socket or a close with amqp:connection:forced. No retry
logic of its own: it sends one message every --interval while the link has
credit (at most --window unconfirmed) and prints, for each message the
broker accepted, a line "accepted UNIX_NS" (flushed), which qpidlab-run
reads. Lost outcomes are not resent (the lab measures time, not delivery).

  stock-send.py --url 10.99.0.200:5672 [--url ...] --queue Q [--heartbeat S]
                [--backoff INITIAL,FACTOR,MAX_DELAY]

Without --backoff, proton's default reconnect (Backoff(): 0, 0.1, 0.2 ...
doubling up to 10 s). Runs until SIGTERM or SIGINT.
"""

import argparse
import signal
import sys
import time

from proton import Endpoint, Message
from proton.handlers import MessagingHandler
from proton.reactor import Backoff, Container


class Sender(MessagingHandler):
    def __init__(self, opts):
        super().__init__()
        self.opts = opts
        self.sender = None
        self.unconfirmed = set()
        self.seq = 0

    def on_start(self, event):
        kw = {}
        if self.opts.heartbeat:
            kw["heartbeat"] = self.opts.heartbeat
        if self.opts.backoff:
            initial, factor, max_delay = (float(x) for x in self.opts.backoff.split(","))
            kw["reconnect"] = Backoff(initial=initial, factor=factor, max_delay=max_delay)
        if len(self.opts.url) == 1:
            conn = event.container.connect(self.opts.url[0], **kw)
        else:
            conn = event.container.connect(urls=self.opts.url, **kw)
        self.sender = event.container.create_sender(conn, self.opts.queue)
        event.container.schedule(self.opts.interval, self)

    def on_timer_task(self, event):
        s = self.sender
        if (s is not None and s.connection.state & Endpoint.REMOTE_ACTIVE
                and s.state & Endpoint.REMOTE_ACTIVE and s.credit > 0
                and len(self.unconfirmed) < self.opts.window):
            self.seq += 1
            self.unconfirmed.add(s.send(Message(body="stock %d" % self.seq)))
        event.container.schedule(self.opts.interval, self)

    def on_accepted(self, event):
        self.unconfirmed.discard(event.delivery)
        sys.stdout.write("accepted %d\n" % time.time_ns())
        sys.stdout.flush()

    def on_rejected(self, event):
        self.unconfirmed.discard(event.delivery)

    def on_released(self, event):
        self.unconfirmed.discard(event.delivery)

    def on_disconnected(self, event):
        # The outcomes of the messages in flight are lost with the
        # connection; proton reconnects by itself.
        self.unconfirmed.clear()
        sys.stderr.write("%.3f disconnected\n" % time.time())
        sys.stderr.flush()

    def on_connection_opened(self, event):
        sys.stderr.write("%.3f connected to %s\n" % (time.time(), event.connection.connected_address))
        sys.stderr.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", action="append", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--window", type=int, default=10)
    p.add_argument("--heartbeat", type=float, default=0)
    p.add_argument("--backoff", default="")
    opts = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        Container(Sender(opts)).run()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
