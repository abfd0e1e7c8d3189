#!/usr/bin/python3
"""Transactional sender or receiver, in batches, that survives a failover:
proton's tx_send.py and tx_recv.py with what they lack for it.

Through one address (a cluster's VIP) with proton's reconnect. A transaction
whose outcome was not learned before the connection dropped is discharged
again on the new connection, and the broker tells the truth: accepted if
its commit went through (on the old primary, replicated to the new one), or
rejected with amqp:transaction:rollback if it was rolled back with the
connection. A rolled-back batch is done again in a new transaction, so each
message is sent, or consumed, exactly once.

  tx_failover.py send URL ADDRESS TOTAL BATCH
  tx_failover.py recv URL ADDRESS TOTAL BATCH

Prints a line per event; the receiver prints "consumed FIRST..LAST" for each
committed batch (the sequences it consumed) and both end with "done".
"""
import sys

from proton import Message
from proton.handlers import MessagingHandler, TransactionHandler
from proton.reactor import Container


def say(line):
    print(line, flush=True)


class Batches(MessagingHandler, TransactionHandler):
    def __init__(self, url, address, total, batch):
        super().__init__(prefetch=0, auto_accept=False)
        self.url, self.address = url, address
        self.total, self.batch = total, batch
        self.done = 0          # messages in committed batches
        self.state = None      # declaring, working or committing
        self.txn = None
        self.dropped = False

    def on_start(self, event):
        self.container = event.container
        self.conn = self.container.connect(self.url)
        self.open_link()
        self.declare()

    def declare(self):
        self.state, self.txn = "declaring", None
        self.container.declare_transaction(self.conn, handler=self)

    def commit(self):
        self.state = "committing"
        self.txn.commit()

    def on_disconnected(self, event):
        if not self.dropped:
            say("disconnected while %s" % self.state)
        self.dropped = True

    def on_connection_opened(self, event):
        if not self.dropped:
            return
        self.dropped = False
        if self.state == "committing":
            say("asking again about the transaction in flight")
            self.txn.commit()
        else:
            # Rolled back with the old connection (it was not discharged).
            self.lost()
            self.declare()

    def on_transaction_committed(self, event):
        self.committed()
        if self.done >= self.total:
            say("done")
            self.conn.close()
        else:
            self.declare()

    def on_transaction_commit_failed(self, event):
        cond = event.delivery.remote.condition
        say("rolled back: %s: %s" % (cond.name, cond.description) if cond else "rolled back")
        self.lost()
        self.declare()

    def on_transaction_declare_failed(self, event):
        say("declare failed")
        self.conn.close()


class Sender(Batches):
    def open_link(self):
        self.sender = self.container.create_sender(self.conn, self.address)

    def on_transaction_declared(self, event):
        self.txn, self.state = event.transaction, "working"
        self.send()

    def on_sendable(self, event):
        if self.state == "working":
            self.send()

    def send(self):
        # The whole batch in one go, so a batch is never split by a drop.
        if self.sender.credit < self.batch:
            return
        for i in range(self.batch):
            self.txn.send(self.sender, Message(body={"sequence": self.done + i + 1}))
        self.commit()

    def committed(self):
        self.done += self.batch

    def lost(self):
        pass


class Receiver(Batches):
    def open_link(self):
        self.receiver = self.container.create_receiver(self.conn, self.address)
        self.got = []

    def on_transaction_declared(self, event):
        self.txn, self.state, self.got = event.transaction, "working", []
        self.receiver.flow(max(0, self.batch - self.receiver.credit))

    def on_message(self, event):
        if self.state != "working":
            # Credit left from before a reconnection: not for this batch.
            event.delivery.update(event.delivery.RELEASED)
            event.delivery.settle()
            return
        self.got.append(event.message.body["sequence"])
        self.txn.accept(event.delivery)
        if len(self.got) == self.batch:
            self.commit()

    def committed(self):
        say("consumed " + " ".join(str(s) for s in self.got))
        self.done += len(self.got)

    def lost(self):
        self.got = []


role, url, address, total, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
Container({"send": Sender, "recv": Receiver}[role](url, address, total, batch)).run()
