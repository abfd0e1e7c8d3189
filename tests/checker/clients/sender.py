#!/usr/bin/env python3
"""A numbered at-least-once sender for the failover checker (python3-qpid-proton).

It sends messages 1, 2, 3, ... to --address, each with the application
properties sender=<--id> and seq=<n>, keeping at most --window unconfirmed.
When the connection goes away it fails over (see failover.py) and resends
every message that was not confirmed, by its own sequence number: the set of
unconfirmed sequences is tracked exactly.

The end of its stdin stops it issuing new messages; it exits once everything
it issued is confirmed, or --stop-timeout seconds later. Events on stdout:
  confirmed SENDER SEQ     the broker accepted message SEQ
  retry SENDER SEQ WHY     SEQ will be sent again (released, rejected, disconnected)
  disconnected CONDITION   the connection was lost
  done SENDER ISSUED CONFIRMED
"""
import heapq
import optparse
import sys
import time

from proton import Message
from proton.reactor import Container

from failover import TICK, Client, add_options, out, watch_stdin


class Sender(Client):
    def __init__(self, opts):
        super(Sender, self).__init__(opts, auto_settle=True)
        self.next_seq = 1        # the next new sequence number
        self.resend = []         # heap of sequences to send again
        self.inflight = {}       # delivery tag -> sequence, current connection only
        self.tags = 0
        self.confirmed = 0
        self.stop_at = None      # monotonic time of the end of stdin
        self.t0 = None
        self.sender = None
        self.done = False

    def on_start(self, event):
        self.t0 = time.monotonic()
        self.start(event.container)

    def open_links(self, conn):
        self.sender = self.container.create_sender(conn, self.opts.address)

    def on_link_opened(self, event):
        self.link_opened()

    def new_allowed(self):
        """How many new sequence numbers may be issued now."""
        if self.stop_at is not None:
            return 0
        limit = self.opts.messages if self.opts.messages > 0 else sys.maxsize
        if self.opts.rate > 0:
            limit = min(limit, int((time.monotonic() - self.t0) * self.opts.rate) + 1)
        return limit - (self.next_seq - 1)

    def finished(self):
        if self.resend or self.inflight:
            return False
        return self.stop_at is not None or 0 < self.opts.messages < self.next_seq

    def pump(self):
        s = self.sender
        if s is None or self.conn is None or self.done:
            return
        while s.credit > 0 and len(self.inflight) < self.opts.window:
            if self.resend:
                seq = heapq.heappop(self.resend)
            elif self.new_allowed() > 0:
                seq = self.next_seq
                self.next_seq += 1
            else:
                break
            self.tags += 1
            ident = "%d:%d" % (self.opts.id, seq)
            m = Message(id=ident, durable=True, body=ident,
                        properties={"run": self.opts.run, "sender": self.opts.id, "seq": seq})
            d = s.send(m, tag=str(self.tags))
            self.inflight[d.tag] = seq

    def finish(self):
        self.done = True
        out("done %d %d %d" % (self.opts.id, self.next_seq - 1, self.confirmed))
        self.stop_connection()

    def on_timer_task(self, event):
        if self.done:
            return
        if self.finished() or (self.stop_at is not None and
                               time.monotonic() - self.stop_at > self.opts.stop_timeout):
            self.finish()
            return
        self.tick()
        self.pump()
        event.container.schedule(TICK, self)

    def on_sendable(self, event):
        self.pump()

    def on_accepted(self, event):
        seq = self.inflight.pop(event.delivery.tag, None)
        if seq is None:
            return  # sent on a connection that is gone: it was resent
        self.confirmed += 1
        out("confirmed %d %d" % (self.opts.id, seq))
        self.pump()

    def retry(self, seq, why):
        heapq.heappush(self.resend, seq)
        out("retry %d %d %s" % (self.opts.id, seq, why))

    def on_rejected(self, event):
        seq = self.inflight.pop(event.delivery.tag, None)
        if seq is not None:
            self.retry(seq, "rejected")

    def on_released(self, event):  # released or modified
        seq = self.inflight.pop(event.delivery.tag, None)
        if seq is not None:
            self.retry(seq, "released")

    def lost(self, why):
        for seq in sorted(self.inflight.values()):
            self.retry(seq, why)
        self.inflight.clear()


def main():
    p = optparse.OptionParser(usage="%prog -u HOST:PORT [-u ...] -a QUEUE --id N [options]")
    add_options(p)
    p.add_option("--id", type="int", default=1, help="this sender's number")
    p.add_option("-m", "--messages", type="int", default=0, help="how many; 0: until stdin ends")
    p.add_option("-r", "--rate", type="float", default=0, help="new messages per second; 0: no limit")
    p.add_option("-w", "--window", type="int", default=10, help="most unconfirmed at a time")
    p.add_option("--stop-timeout", type="float", default=30)
    opts, args = p.parse_args()
    if args or not opts.urls:
        p.error("give one or more -u HOST:PORT and no arguments")
    handler = Sender(opts)

    def stop():
        if handler.stop_at is None:
            handler.stop_at = time.monotonic()
    watch_stdin(lambda line: None, stop)
    Container(handler).run()


if __name__ == "__main__":
    main()
