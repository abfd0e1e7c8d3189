#!/usr/bin/python3
"""Send N messages to a queue over amqps:// and receive them back, with
proton's SSLDomain: the test CA trusted, the peer's name verified, and an
optional client certificate (SASL EXTERNAL). Prints "sent N received N", or
the error proton reports, and exits 1 on any error."""
import argparse
import sys

from proton import Message, SSLDomain
from proton.handlers import MessagingHandler
from proton.reactor import Container


class SendRecv(MessagingHandler):
    def __init__(self, args):
        super().__init__()
        self.args = args
        self.sent = self.received = self.confirmed = 0
        self.error = None

    def on_start(self, event):
        a = self.args
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(a.ca)
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        if a.cert:
            domain.set_credentials(a.cert, a.key, None)
        kw = dict(ssl_domain=domain, allowed_mechs=a.mechs, reconnect=False)
        if a.vhost:
            kw.update(virtual_host=a.vhost)
        if a.user:
            kw.update(user=a.user, password=a.password)
        conn = event.container.connect("amqps://%s" % a.address, **kw)
        self.sender = event.container.create_sender(conn, a.queue)
        self.receiver = event.container.create_receiver(conn, a.queue)

    def on_sendable(self, event):
        while event.sender.credit and self.sent < self.args.count:
            self.sent += 1
            event.sender.send(Message(body=self.sent))

    def on_accepted(self, event):
        self.confirmed += 1

    def on_message(self, event):
        self.received += 1
        if self.received == self.args.count:
            event.connection.close()

    def fail(self, event, what):
        cond = what.remote_condition if what is not None else None
        self.error = "%s: %s" % (cond.name, cond.description) if cond else "error"
        event.connection.close()

    def on_transport_error(self, event):
        cond = event.transport.condition
        self.error = "%s: %s" % (cond.name, cond.description) if cond else "transport error"

    def on_connection_error(self, event):
        self.fail(event, event.connection)

    def on_link_error(self, event):
        self.fail(event, event.link)


p = argparse.ArgumentParser()
p.add_argument("--address", required=True)
p.add_argument("--queue", default="tls-q")
p.add_argument("--count", type=int, default=10)
p.add_argument("--ca", required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user")
p.add_argument("--password")
p.add_argument("--mechs", default="PLAIN")
p.add_argument("--vhost", help="host name to verify the certificate against")
args = p.parse_args()
h = SendRecv(args)
Container(h).run()
if h.error or h.received != args.count:
    print("error %s (sent %d received %d)" % (h.error, h.sent, h.received))
    sys.exit(1)
print("sent %d received %d" % (h.sent, h.received))
