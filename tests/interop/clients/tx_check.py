#!/usr/bin/python3
"""Local transactions step by step with proton's reactor; each step prints
one line that tests/interop/proton_tx_test.go checks.

  1. three messages sent in a transaction that is rolled back: none arrive
  2. three sent in a transaction that commits
  3. the three received and accepted in a transaction that is rolled back:
     they come back, with delivery-count 1
  4. received again and accepted in a transaction that commits
  5. a transfer naming an unknown transaction is rejected
  6. a discharge of an unknown transaction is rejected
  7. a message sent in a transaction left open when the connection closes
"""
import optparse

from proton import Described, Message, Terminus, symbol, ulong
from proton.handlers import MessagingHandler, TransactionHandler
from proton.reactor import Container

UNKNOWN_TXN = b"\xff\xff\xff\xff"


class Bogus(MessagingHandler):
    """A second coordinator link, used to discharge a transaction nobody declared."""

    def __init__(self, done):
        super().__init__()
        self.done = done
        self.sent = False

    def on_sendable(self, event):
        if not self.sent:
            self.sent = True
            event.sender.send(Message(body=Described(ulong(0x32), [UNKNOWN_TXN, False])))

    def on_rejected(self, event):
        self.done("discharge-unknown rejected %s" % event.delivery.remote.condition.name)

    def on_accepted(self, event):
        self.done("discharge-unknown accepted")


class Check(MessagingHandler, TransactionHandler):
    def __init__(self, url, address):
        super().__init__(prefetch=0, auto_accept=False)
        self.url, self.address = url, address
        self.step = 0
        self.got = []

    def say(self, line):
        print(line, flush=True)

    def declare(self):
        self.container.declare_transaction(self.conn, handler=self)

    def on_start(self, event):
        self.container = event.container
        self.conn = self.container.connect(self.url)
        self.sender = self.container.create_sender(self.conn, self.address)
        self.receiver = self.container.create_receiver(self.conn, self.address)
        self.step = 1
        self.declare()

    def on_transaction_declared(self, event):
        t = event.transaction
        self.txn = t
        if self.step == 1:
            for i in range(1, 4):
                t.send(self.sender, Message(body="r%d" % i))
            t.abort()
        elif self.step == 2:
            for i in range(1, 4):
                t.send(self.sender, Message(body="c%d" % i))
            t.commit()
        elif self.step in (3, 4):
            self.got = []
            self.receiver.flow(3)
        elif self.step == 7:
            t.send(self.sender, Message(body="open"))
            # Closing without a discharge: the broker must drop the message.
            self.conn.close()

    def on_message(self, event):
        m = event.message
        self.got.append("%s/%d" % (m.body, m.delivery_count))
        self.txn.accept(event.delivery)
        if len(self.got) == 3:
            if self.step == 3:
                self.txn.abort()
            else:
                self.txn.commit()

    def on_transaction_aborted(self, event):
        if self.step == 1:
            self.say("aborted-send")
        elif self.step == 3:
            self.say("aborted-accept " + ",".join(self.got))
        self.step += 1
        self.declare()

    def on_transaction_committed(self, event):
        if self.step == 2:
            self.say("committed-send")
            self.step += 1
            self.declare()
        elif self.step == 4:
            self.say("committed-accept " + ",".join(self.got))
            self.step = 5
            dlv = self.sender.send(Message(body="no-such-txn"))
            dlv.local.data = [UNKNOWN_TXN]
            dlv.update(0x34)  # transactional-state

    def on_transaction_failed(self, event):
        self.say("failed at step %d" % self.step)
        self.conn.close()

    def on_rejected(self, event):
        if self.step == 5:
            self.say("transfer-unknown rejected %s" % event.delivery.remote.condition.name)
            self.step = 6
            ctrl = self.container.create_sender(self.conn, None, name="bogus-ctrl", handler=Bogus(self.bogus_done))
            ctrl.target.type = Terminus.COORDINATOR
            ctrl.target.capabilities.put_object(symbol("amqp:local-transactions"))

    def on_accepted(self, event):
        if self.step == 5:
            self.say("transfer-unknown accepted")
            self.conn.close()

    def bogus_done(self, line):
        self.say(line)
        self.step = 7
        self.declare()

    def on_connection_closed(self, event):
        self.say("closed")


parser = optparse.OptionParser()
parser.add_option("-u", "--url", default="localhost:5672")
parser.add_option("-a", "--address", default="txcheck")
opts, _ = parser.parse_args()
Container(Check(opts.url, opts.address)).run()
