package client

import (
	"fmt"
	"time"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Normalize turns decoded AMQP values into the plain Go values callers
// use, recursively: maps (our engine's types.Map, or map[any]any) become
// map[string]any, arrays and lists []any, symbols strings, timestamps
// time.Time.
func Normalize(v any) any {
	switch x := v.(type) {
	case types.Map:
		out := make(map[string]any, len(x))
		for _, e := range x {
			out[keyString(e.Key)] = Normalize(e.Value)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Normalize(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[keyString(k)] = Normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Normalize(e)
		}
		return out
	case types.Array:
		out := make([]any, len(x.Items))
		for i, e := range x.Items {
			out[i] = Normalize(e)
		}
		return out
	case types.Symbol:
		return string(x)
	case types.Timestamp:
		return x.Time()
	}
	return v
}

func keyString(k any) string {
	switch k := k.(type) {
	case string:
		return k
	case types.Symbol:
		return string(k)
	}
	return fmt.Sprint(k)
}

// toAMQP converts a request's attributes to values the encoder takes:
// nested maps and lists converted too, time.Time as a timestamp.
func toAMQP(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := toAMQP(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			c, err := toAMQP(e)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case time.Time:
		return types.TimestampOf(x), nil
	case []int64:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	case []int:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = int64(e)
		}
		return out, nil
	}
	return v, nil
}
