#!/usr/bin/env python3
"""An at-least-once proton sender that reconnects over a URL list with heartbeats.

It sends --messages messages at --rate per second to --address, resending
whatever was not confirmed when the connection dropped (as simple_send.py
does), and prints one line per event so a test can follow it:
  confirmed N            every 50 confirmations
  disconnected CONDITION  when the connection is lost (the close's condition)
  done CONFIRMED DISCONNECTS
"""
import optparse
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container


class Sender(MessagingHandler):
    def __init__(self, urls, address, total, rate, heartbeat):
        super(Sender, self).__init__()
        self.urls, self.address, self.total = urls, address, total
        self.interval, self.heartbeat = 1.0 / rate, heartbeat
        self.sent = self.confirmed = self.disconnects = 0
        self.sender = None

    def on_start(self, event):
        conn = event.container.connect(urls=self.urls, heartbeat=self.heartbeat)
        self.sender = event.container.create_sender(conn, self.address)
        event.container.schedule(self.interval, self)

    def on_timer_task(self, event):
        if self.sender and self.sender.credit and self.sent < self.total:
            self.sender.send(Message(id=self.sent + 1, body={"sequence": self.sent + 1}))
            self.sent += 1
        if self.confirmed < self.total:
            event.container.schedule(self.interval, self)

    def on_accepted(self, event):
        self.confirmed += 1
        if self.confirmed % 50 == 0:
            print("confirmed %d" % self.confirmed, flush=True)
        if self.confirmed == self.total:
            print("done %d %d" % (self.confirmed, self.disconnects), flush=True)
            event.connection.close()

    def on_disconnected(self, event):
        cond = event.connection.remote_condition
        self.disconnects += 1
        print("disconnected %s" % (cond.name if cond else "socket"), flush=True)
        self.sent = self.confirmed


parser = optparse.OptionParser()
parser.add_option("-u", "--url", action="append", dest="urls", default=[])
parser.add_option("-a", "--address", default="examples")
parser.add_option("-m", "--messages", type="int", default=300)
parser.add_option("-r", "--rate", type="float", default=100)
parser.add_option("--heartbeat", type="float", default=1)
opts, _ = parser.parse_args()
Container(Sender(opts.urls, opts.address, opts.messages, opts.rate, opts.heartbeat)).run()
