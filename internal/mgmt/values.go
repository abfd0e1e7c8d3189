package mgmt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// asInt reads any AMQP integer.
func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= 1<<63-1 {
			return int64(x), true
		}
	}
	return 0, false
}

// asString reads a string or symbol.
func asString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case types.Symbol:
		return string(x), true
	}
	return "", false
}

// attrBool reads a boolean attribute: a bool, an integer (0 is false), or
// a string such as "true", "yes", "1".
func attrBool(attrs map[string]any, name string) (bool, error) {
	v, ok := attrs[name]
	if !ok || v == nil {
		return false, nil
	}
	if b, ok := v.(bool); ok {
		return b, nil
	}
	if n, ok := asInt(v); ok {
		return n != 0, nil
	}
	if s, ok := asString(v); ok {
		switch strings.ToLower(s) {
		case "true", "yes", "on", "1":
			return true, nil
		case "false", "no", "off", "0", "":
			return false, nil
		}
	}
	return false, fmt.Errorf("attribute %s: %v is not a boolean", name, v)
}

// attrString reads a string attribute.
func attrString(attrs map[string]any, name string) (string, error) {
	v, ok := attrs[name]
	if !ok || v == nil {
		return "", nil
	}
	if s, ok := asString(v); ok {
		return s, nil
	}
	return "", fmt.Errorf("attribute %s: %v is not a string", name, v)
}

// attrMap reads a map attribute.
func attrMap(attrs map[string]any, name string) (map[string]any, error) {
	v, ok := attrs[name]
	if !ok || v == nil {
		return nil, nil
	}
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case types.Map:
		return stringMap(m)
	}
	return nil, fmt.Errorf("attribute %s: %v is not a map", name, v)
}

// sameValue compares a query filter with an attribute: integers by value,
// strings and symbols alike, and a string filter with the text of a number
// or boolean (so "--filter durable=true" style filters work).
func sameValue(filter, attr any) bool {
	if x, ok := asInt(filter); ok {
		y, ok := asInt(attr)
		return ok && x == y
	}
	if s, ok := asString(filter); ok {
		switch a := attr.(type) {
		case bool:
			b, err := strconv.ParseBool(s)
			return err == nil && b == a
		default:
			if t, ok := asString(attr); ok {
				return s == t
			}
			if n, ok := asInt(attr); ok {
				m, err := strconv.ParseInt(s, 10, 64)
				return err == nil && m == n
			}
		}
		return false
	}
	return types.Equal(filter, attr)
}
