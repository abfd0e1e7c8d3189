"""Connection handling shared by the checker's proton clients (sender.py, receiver.py).

Two ways of failing over, chosen with --reconnect:

proton  proton's own reconnect: container.connect(urls=[...], heartbeat=...,
        reconnect=Backoff(...)). Proton reconnects after a dropped socket or a
        close with amqp:connection:forced and re-opens the links itself.
app     the client's own: one URL per connection, reconnect=False; a close
        with amqp:connection:forced is answered at once, and the next URL of
        the list is tried (after a backoff once every URL failed in a row).
        New links are opened on every new connection.

The two differ on a broker that refuses clients with open + close(forced), as
a backup does: proton treats the remote open as success, so it restarts its
URL list from the first address, and it drops the refused transport only
when its idle timeout expires: with a backup first in the list, it never
reaches the primary (tests/failover: TestFailoverProtonLibraryReconnect).

A client calls tick() from its timer every few milliseconds, overrides
open_links(connection) and lost(why), and calls stop_connection() to end.
"""
import sys
import threading
import time

from proton.handlers import MessagingHandler
from proton.reactor import Backoff

TICK = 0.01
FORCED = "amqp:connection:forced"


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def add_options(p):
    p.add_option("-u", "--url", action="append", dest="urls", default=[],
                 help="HOST:PORT, repeated: the addresses to fail over between")
    p.add_option("-a", "--address", default="checker", help="the queue")
    p.add_option("--heartbeat", type="float", default=2, help="idle timeout, seconds")
    p.add_option("--backoff-min", type="float", default=0.1)
    p.add_option("--backoff-max", type="float", default=1)
    p.add_option("--reconnect", choices=["proton", "app"], default="proton")
    p.add_option("--run", default="", help="the checker run's id, in every message")


def watch_stdin(on_line, on_end):
    """Calls on_line(line) for each line of stdin and on_end() at its end,
    from another thread: the checker writes commands to a client and closes
    its stdin to stop it (its death closes it too)."""
    def read():
        for line in sys.stdin:
            on_line(line.strip())
        on_end()
    threading.Thread(target=read, daemon=True).start()


class Client(MessagingHandler):
    def __init__(self, opts, **kwargs):
        super(Client, self).__init__(**kwargs)
        self.opts = opts
        self.container = None
        self.conn = None          # the current connection (app: None between attempts);
        # compare connections with ==: proton may wrap one in several objects
        self.stopped = False
        # app reconnect state
        self.next_url = 0
        self.failures = 0         # attempts in a row without an open link
        self.reconnect_at = 0.0

    def open_links(self, conn):
        raise NotImplementedError

    def lost(self, why):
        """The connection went away: whatever was in flight is gone."""

    def start(self, container):
        self.container = container
        o = self.opts
        if o.reconnect == "proton":
            self.conn = container.connect(
                urls=o.urls, heartbeat=o.heartbeat,
                reconnect=Backoff(initial=o.backoff_min, max_delay=o.backoff_max))
            self.open_links(self.conn)
        else:
            self.connect_next()
        container.schedule(TICK, self)

    def connect_next(self):
        o = self.opts
        url = o.urls[self.next_url % len(o.urls)]
        self.next_url += 1
        self.conn = self.container.connect(url=url, heartbeat=o.heartbeat, reconnect=False)
        self.open_links(self.conn)

    def tick(self):
        """Called from the client's timer: (app) reconnects when due."""
        if self.opts.reconnect == "app" and self.conn is None and not self.stopped \
                and time.monotonic() >= self.reconnect_at:
            self.connect_next()

    def stop_connection(self):
        self.stopped = True
        if self.conn is not None:
            self.conn.close()

    def link_opened(self):
        """A link is open on the current connection: the attempt succeeded."""
        self.failures = 0

    # proton reconnect: MessagingHandler reports each loss as on_disconnected
    # (sometimes twice: tail closed, then closed); lost() must not mind.
    def on_disconnected(self, event):
        if self.opts.reconnect == "proton" and not self.stopped:
            cond = event.connection.remote_condition if event.connection else None
            out("disconnected %s" % (cond.name if cond else "socket"))
            self.lost("disconnected")

    # app reconnect: answer a forced close at once, then move on.
    def on_connection_remote_close(self, event):
        cond = event.connection.remote_condition
        if self.opts.reconnect == "app" and cond and cond.name == FORCED:
            event.connection.close()
        # anything else: MessagingHandler's own handling (it runs after this)

    def on_transport_closed(self, event):
        if self.opts.reconnect != "app" or self.conn is None or event.connection != self.conn:
            return
        cond = self.conn.remote_condition or event.transport.condition
        self.conn = None
        if self.stopped:
            return
        out("disconnected %s" % (cond.name if cond else "socket"))
        self.lost("disconnected")
        self.failures += 1
        delay = 0.0
        if self.failures >= len(self.opts.urls):
            rounds = self.failures // len(self.opts.urls)
            delay = min(self.opts.backoff_max, self.opts.backoff_min * (2 ** (rounds - 1)))
        self.reconnect_at = time.monotonic() + delay
