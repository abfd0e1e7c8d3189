package client

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/qpidha/qpidha/internal/mgmt/wire"
)

// Object is an object's attribute map.
type Object map[string]any

// Str reads a string attribute ("" if absent).
func (o Object) Str(name string) string {
	switch v := o[name].(type) {
	case string:
		return v
	case nil:
		return ""
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

// Int reads an integer attribute (0 if absent).
func (o Object) Int(name string) int64 {
	if n, ok := toInt(o[name]); ok {
		return n
	}
	if s, ok := o[name].(string); ok {
		n, _ := strconv.ParseInt(s, 10, 64)
		return n
	}
	return 0
}

// Bool reads a boolean attribute (false if absent).
func (o Object) Bool(name string) bool {
	switch v := o[name].(type) {
	case bool:
		return v
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	n, _ := toInt(o[name])
	return n != 0
}

// Map reads a map attribute (nil if absent).
func (o Object) Map(name string) map[string]any {
	m, _ := Normalize(o[name]).(map[string]any)
	return m
}

// Time reads a timestamp attribute.
func (o Object) Time(name string) time.Time {
	t, _ := o[name].(time.Time)
	return t
}

// Call sends a request and turns an error status into an *Error.
func (c *Client) Call(ctx context.Context, op, typ, name string, attrs map[string]any) (*Response, error) {
	r, err := c.Request(ctx, op, typ, name, attrs)
	if err != nil {
		return nil, err
	}
	return r, r.Err()
}

// Read reads one object.
func (c *Client) Read(ctx context.Context, typ, name string) (Object, error) {
	r, err := c.Call(ctx, wire.OpRead, typ, name, nil)
	if err != nil {
		return nil, err
	}
	return object(r.Body)
}

// Create creates an object and returns its attributes.
func (c *Client) Create(ctx context.Context, typ, name string, attrs map[string]any) (Object, error) {
	r, err := c.Call(ctx, wire.OpCreate, typ, name, attrs)
	if err != nil {
		return nil, err
	}
	return object(r.Body)
}

// Delete deletes an object; args are the operation's (ifEmpty, ...).
func (c *Client) Delete(ctx context.Context, typ, name string, args map[string]any) error {
	_, err := c.Call(ctx, wire.OpDelete, typ, name, args)
	return err
}

// Query lists the objects of a type that pass the filters (nil: all).
func (c *Client) Query(ctx context.Context, typ string, filters map[string]any) ([]Object, error) {
	r, err := c.Call(ctx, wire.OpQuery, typ, "", filters)
	if err != nil {
		return nil, err
	}
	list, ok := r.Body.([]any)
	if !ok && r.Body != nil {
		return nil, fmt.Errorf("malformed QUERY response: the body is a %T, not a list", r.Body)
	}
	out := make([]Object, 0, len(list))
	for _, v := range list {
		o, err := object(v)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func object(v any) (Object, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("malformed management response: the body is a %T, not a map", v)
	}
	return Object(m), nil
}

// CreateQueue creates a queue. attrs are its attributes (durable,
// autoDelete, alternateExchange, arguments...), nil for none.
func (c *Client) CreateQueue(ctx context.Context, name string, attrs map[string]any) (Object, error) {
	return c.Create(ctx, wire.TypeQueue, name, attrs)
}

// DeleteQueue deletes a queue; ifEmpty and ifUnused refuse to delete one
// holding messages or with consumers.
func (c *Client) DeleteQueue(ctx context.Context, name string, ifEmpty, ifUnused bool) error {
	return c.Delete(ctx, wire.TypeQueue, name, map[string]any{"ifEmpty": ifEmpty, "ifUnused": ifUnused})
}

// Queue reads a queue.
func (c *Client) Queue(ctx context.Context, name string) (Object, error) {
	return c.Read(ctx, wire.TypeQueue, name)
}

// Queues lists the queues.
func (c *Client) Queues(ctx context.Context) ([]Object, error) {
	return c.Query(ctx, wire.TypeQueue, nil)
}

// CreateExchange creates an exchange of a type (direct, topic, fanout,
// headers).
func (c *Client) CreateExchange(ctx context.Context, kind, name string, attrs map[string]any) (Object, error) {
	a := map[string]any{"type": kind}
	for k, v := range attrs {
		a[k] = v
	}
	return c.Create(ctx, wire.TypeExchange, name, a)
}

// DeleteExchange deletes an exchange.
func (c *Client) DeleteExchange(ctx context.Context, name string) error {
	return c.Delete(ctx, wire.TypeExchange, name, nil)
}

// Exchange reads an exchange ("" is the default exchange).
func (c *Client) Exchange(ctx context.Context, name string) (Object, error) {
	if name == "" {
		r, err := c.Call(ctx, wire.OpRead, wire.TypeExchange, "", map[string]any{"name": ""})
		if err != nil {
			return nil, err
		}
		return object(r.Body)
	}
	return c.Read(ctx, wire.TypeExchange, name)
}

// Exchanges lists the exchanges.
func (c *Client) Exchanges(ctx context.Context) ([]Object, error) {
	return c.Query(ctx, wire.TypeExchange, nil)
}

// Bind binds a queue to an exchange; args are a headers binding's match.
func (c *Client) Bind(ctx context.Context, exchange, queue, key string, args map[string]any) error {
	a := map[string]any{"exchange": exchange, "queue": queue, "key": key}
	if args != nil {
		a["arguments"] = args
	}
	_, err := c.Call(ctx, wire.OpCreate, wire.TypeBinding, "", a)
	return err
}

// Unbind removes a binding.
func (c *Client) Unbind(ctx context.Context, exchange, queue, key string) error {
	return c.Delete(ctx, wire.TypeBinding, "", map[string]any{"exchange": exchange, "queue": queue, "key": key})
}

// Bindings lists the bindings that pass the filters (exchange, queue, key).
func (c *Client) Bindings(ctx context.Context, filters map[string]any) ([]Object, error) {
	return c.Query(ctx, wire.TypeBinding, filters)
}

// Broker reads the broker object.
func (c *Client) Broker(ctx context.Context) (Object, error) {
	return c.Read(ctx, wire.TypeBroker, "")
}

// Connections lists the broker's connections.
func (c *Client) Connections(ctx context.Context) ([]Object, error) {
	return c.Query(ctx, wire.TypeConnection, nil)
}
