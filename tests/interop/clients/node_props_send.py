#!/usr/bin/python3
"""Sends one message to ADDRESS, asking for the queue's arguments with
proton's DynamicNodeProperties (the terminus's node properties): the AMQP
1.0 counterpart of the old address syntax's node x-declare arguments.

  node_props_send.py URL ADDRESS NAME=VALUE...   (integers stay integers)
"""
import sys

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container, DynamicNodeProperties


def value(v):
    try:
        return int(v)
    except ValueError:
        return v


class Send(MessagingHandler):
    def __init__(self, url, address, props):
        super().__init__()
        self.url, self.address, self.props = url, address, props

    def on_start(self, event):
        conn = event.container.connect(self.url)
        event.container.create_sender(conn, self.address, options=DynamicNodeProperties(self.props))

    def on_sendable(self, event):
        event.sender.send(Message(body="hello"))
        event.sender.close()

    def on_accepted(self, event):
        print("accepted", flush=True)
        event.connection.close()

    def on_rejected(self, event):
        print("rejected", event.delivery.remote.condition, flush=True)
        event.connection.close()

    def on_link_error(self, event):
        print("refused", event.link.remote_condition, flush=True)
        event.connection.close()


url, address = sys.argv[1], sys.argv[2]
props = dict((k, value(v)) for k, v in (a.split("=", 1) for a in sys.argv[3:]))
Container(Send(url, address, props)).run()
