package main

import (
	"context"
	"errors"
	"net"
	"net/url"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// amqp091Client speaks AMQP 0-9-1 with amqp091-go: a connection and a channel
// per sender and per receiver, publishing to the default exchange with the
// queue's name as routing key.
type amqp091Client struct{ o options }

func (c *amqp091Client) prepare(ctx context.Context) error {
	return declare091(c.o.url, "", "", c.o.address, c.o.queueType, c.o.persistent)
}

// declare091 declares a queue (not auto-deleted, not exclusive) through AMQP
// 0-9-1. user and password, when set, replace the URL's. queueType "" or
// "classic" declares a classic queue, durable as asked; any other type
// (RabbitMQ: quorum, stream) goes in the x-queue-type argument,
// durable=true, as RabbitMQ requires of those types.
func declare091(rawURL, user, password, name, queueType string, durable bool) error {
	if user != "" {
		u, err := url.Parse(rawURL)
		if err != nil {
			return err
		}
		u.User = url.UserPassword(user, password)
		rawURL = u.String()
	}
	conn, err := amqp091.Dial(rawURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	args := amqp091.Table(nil)
	if queueType != "" && queueType != "classic" {
		durable, args = true, amqp091.Table{"x-queue-type": queueType}
	}
	_, err = ch.QueueDeclare(name, durable, false, false, false, args)
	return err
}

func (c *amqp091Client) channel() (*amqp091.Connection, *amqp091.Channel, error) {
	conn, err := amqp091.DialConfig(c.o.url, amqp091.Config{
		Heartbeat: 10 * time.Second, // amqp091.Dial's defaults
		Locale:    "en_US",
		Dial: func(_, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return dial(ctx, "amqp://"+addr, c.o.coalesce)
		},
	})
	if err != nil {
		return nil, nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, ch, nil
}

type amqp091Sender struct {
	conn  *amqp091.Connection
	ch    *amqp091.Channel
	queue string
	mode  uint8 // delivery mode: 2 persistent, 0 the broker's default (transient)
}

func (c *amqp091Client) newSender(ctx context.Context) (sender, error) {
	conn, ch, err := c.channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		conn.Close()
		return nil, err
	}
	var mode uint8
	if c.o.persistent {
		mode = amqp091.Persistent
	}
	return &amqp091Sender{conn, ch, c.o.address, mode}, nil
}

// send returns once the publish is written; the confirm arrives later.
func (s *amqp091Sender) send(ctx context.Context, body []byte) (confirmation, error) {
	dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, "", s.queue, false, false,
		amqp091.Publishing{Body: body, DeliveryMode: s.mode})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		ack, err := dc.WaitContext(ctx)
		if err != nil {
			return err
		}
		if !ack {
			return errors.New("publish nacked")
		}
		return nil
	}, nil
}

func (s *amqp091Sender) close() { s.conn.Close() }

type amqp091Receiver struct {
	conn       *amqp091.Connection
	deliveries <-chan amqp091.Delivery
}

func (c *amqp091Client) newReceiver(ctx context.Context) (receiver, error) {
	conn, ch, err := c.channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Qos(c.o.credit, 0, false); err != nil {
		conn.Close()
		return nil, err
	}
	d, err := ch.ConsumeWithContext(ctx, c.o.address, "", false, false, false, false, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &amqp091Receiver{conn, d}, nil
}

func (r *amqp091Receiver) receive(ctx context.Context) ([]byte, func(context.Context) error, error) {
	select {
	case d, ok := <-r.deliveries:
		if !ok {
			return nil, nil, errors.New("consumer closed")
		}
		// Ack returns once the basic.ack frame is written.
		return d.Body, func(context.Context) error { return d.Ack(false) }, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

func (r *amqp091Receiver) close() { r.conn.Close() }
