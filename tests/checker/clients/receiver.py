#!/usr/bin/env python3
"""A receiver for the failover checker (python3-qpid-proton).

It receives from --address, failing over like the sender (see failover.py),
and prints each message's numbers before accepting it: a message received
but not accepted when the connection went away comes again, as a duplicate,
never as a loss. With --rate it takes at most that many messages per second
(by link credit) until it reads "unthrottle" on stdin. The end of its stdin
closes the connection and ends it. Events on stdout:
  received SENDER SEQ      a message of this run's senders (--run)
  foreign ID               any other message (accepted too)
  disconnected CONDITION   the connection was lost
  done RECEIVED
"""
import optparse
import time

from proton.reactor import Container

from failover import TICK, Client, add_options, out, watch_stdin


class Receiver(Client):
    def __init__(self, opts):
        # Throttled, the link credit is ours to give (prefetch 0).
        super(Receiver, self).__init__(opts, prefetch=0 if opts.rate > 0 else opts.credit,
                                       auto_accept=False)
        self.received = 0
        self.stop = False
        self.done = False
        self.throttled = opts.rate > 0
        self.t0 = time.monotonic()
        self.receiver = None

    def on_start(self, event):
        self.start(event.container)

    def open_links(self, conn):
        self.receiver = self.container.create_receiver(conn, self.opts.address)

    def give_credit(self):
        """Throttled: keep the credit at what the rate allows by now."""
        r = self.receiver
        if r is None or self.conn is None or not self.opts.rate > 0:
            return
        want = self.opts.credit
        if self.throttled:
            allowed = int((time.monotonic() - self.t0) * self.opts.rate) + 1
            want = min(want, allowed - self.received)
        if r.credit < want:
            r.flow(want - r.credit)

    def on_link_opened(self, event):
        self.link_opened()

    def on_timer_task(self, event):
        if self.stop:
            if not self.done:
                self.done = True
                out("done %d" % self.received)
                self.stop_connection()
            return
        self.tick()
        self.give_credit()
        event.container.schedule(TICK, self)

    def on_message(self, event):
        m = event.message
        props = m.properties or {}
        if props.get("run") == self.opts.run and "sender" in props and "seq" in props:
            out("received %d %d" % (props["sender"], props["seq"]))
        else:
            out("foreign %s" % (m.id,))
        self.received += 1
        self.accept(event.delivery)


def main():
    p = optparse.OptionParser(usage="%prog -u HOST:PORT [-u ...] -a QUEUE [options]")
    add_options(p)
    p.add_option("--credit", type="int", default=100)
    p.add_option("-r", "--rate", type="float", default=0,
                 help="most messages per second until told to unthrottle; 0: no limit")
    opts, args = p.parse_args()
    if args or not opts.urls:
        p.error("give one or more -u HOST:PORT and no arguments")
    handler = Receiver(opts)

    def command(line):
        if line == "unthrottle":
            handler.throttled = False

    def stop():
        handler.stop = True
    watch_stdin(command, stop)
    Container(handler).run()


if __name__ == "__main__":
    main()
