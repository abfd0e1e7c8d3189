package broker

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

// Args are a node's or binding's declared arguments, kept verbatim so they
// can be shown and replicated (qpid.replicate, qpid.max_count, ...).
// Values are generic AMQP values or strings from a command line.
type Args map[string]any

// ArgsOf reads arguments from an AMQP map (string keys; others are not
// arguments); nil when there are none.
func ArgsOf(m types.Map) Args {
	if len(m) == 0 {
		return nil
	}
	a := Args{}
	for _, e := range m {
		if k, ok := e.Key.(string); ok {
			a[k] = e.Value
		}
	}
	return a
}

// Clone returns a shallow copy.
func (a Args) Clone() Args {
	if a == nil {
		return nil
	}
	c := make(Args, len(a))
	for k, v := range a {
		c[k] = v
	}
	return c
}

// LimitPolicy says what a full queue does with one more message.
type LimitPolicy string

const (
	// PolicyReject refuses the message: the sender gets rejected with
	// amqp:resource-limit-exceeded.
	PolicyReject LimitPolicy = "reject"
	// PolicyRing drops the oldest messages not being delivered.
	PolicyRing LimitPolicy = "ring"
)

// Replication levels of the qpid.replicate argument and ha-replicate.
const (
	ReplicateNone          = "none"
	ReplicateConfiguration = "configuration"
	ReplicateAll           = "all"
)

// The queue arguments of the original broker that this one interprets.
const (
	ArgMaxCount        = "qpid.max_count"
	ArgMaxSize         = "qpid.max_size"
	ArgFlowStopCount   = "qpid.flow_stop_count"
	ArgFlowResumeCount = "qpid.flow_resume_count"
	ArgFlowStopSize    = "qpid.flow_stop_size"
	ArgFlowResumeSize  = "qpid.flow_resume_size"
	ArgPolicyType      = "qpid.policy_type"
	ArgPriorities      = "qpid.priorities"
	ArgXPriorities     = "x-qpid-priorities"
	ArgLVQKey          = "qpid.last_value_queue_key"
	ArgLVQ             = "qpid.last_value_queue"
	ArgAlternate       = "alternate-exchange"
	ArgReplicate       = "qpid.replicate"
	ArgDurable         = "durable"
	ArgAutoDelete      = "auto-delete"
	ArgExclusive       = "exclusive"
	lvqDefaultKey      = "qpid.LVQ_key"
	maxPriorityLevel   = 10
)

// ParseQueueArgs reads the settings of a queue from its arguments, checking
// each value. The arguments are kept in the result's Args.
func ParseQueueArgs(args Args) (QueueSettings, error) {
	s := QueueSettings{Args: args.Clone(), Policy: PolicyReject}
	var err error
	for k, v := range args {
		switch k {
		case ArgDurable:
			s.Durable, err = argBool(k, v)
		case ArgAutoDelete, "auto_delete":
			s.AutoDelete, err = argBool(k, v)
		case ArgExclusive:
			s.Exclusive, err = argBool(k, v)
		case ArgMaxCount:
			var n int64
			n, err = argInt(k, v, 0, 1<<31-1)
			s.MaxCount = int(n)
		case ArgMaxSize:
			s.MaxBytes, err = argInt(k, v, 0, 1<<62)
		case ArgFlowStopCount:
			s.Flow.StopCount, err = argInt(k, v, 0, 1<<31-1)
			s.Flow.Set = true
		case ArgFlowResumeCount:
			s.Flow.ResumeCount, err = argInt(k, v, 0, 1<<31-1)
			s.Flow.Set = true
		case ArgFlowStopSize:
			s.Flow.StopBytes, err = argInt(k, v, 0, 1<<62)
			s.Flow.Set = true
		case ArgFlowResumeSize:
			s.Flow.ResumeBytes, err = argInt(k, v, 0, 1<<62)
			s.Flow.Set = true
		case ArgPolicyType:
			switch p := LimitPolicy(fmt.Sprint(v)); p {
			case PolicyReject, PolicyRing:
				s.Policy = p
			case "ring_strict", "ring-strict":
				s.Policy = PolicyRing
			default:
				err = fmt.Errorf("%s: unsupported limit policy %q (reject or ring)", k, v)
			}
		case ArgPriorities, ArgXPriorities:
			var n int64
			n, err = argInt(k, v, 0, maxPriorityLevel)
			s.Priorities = int(n)
		case ArgLVQKey:
			s.LVQKey = fmt.Sprint(v)
		case ArgLVQ:
			var on bool
			if on, err = argBool(k, v); on && s.LVQKey == "" {
				s.LVQKey = lvqDefaultKey
			}
		case ArgAlternate:
			s.AlternateExchange = fmt.Sprint(v)
		case ArgReplicate:
			_, err = ParseReplicate(fmt.Sprint(v))
		}
		if err != nil {
			return s, err
		}
	}
	if f := s.Flow; f.StopCount > 0 && f.ResumeCount > f.StopCount {
		return s, fmt.Errorf("%s %d is above %s %d: flow control must resume at or below where it stops",
			ArgFlowResumeCount, f.ResumeCount, ArgFlowStopCount, f.StopCount)
	} else if f.StopBytes > 0 && f.ResumeBytes > f.StopBytes {
		return s, fmt.Errorf("%s %d is above %s %d: flow control must resume at or below where it stops",
			ArgFlowResumeSize, f.ResumeBytes, ArgFlowStopSize, f.StopBytes)
	}
	return s, nil
}

// ParseReplicate checks a replication level.
func ParseReplicate(v string) (string, error) {
	switch v {
	case ReplicateNone, ReplicateConfiguration, ReplicateAll:
		return v, nil
	}
	return "", fmt.Errorf("%s: invalid replication level %q (none, configuration or all)", ArgReplicate, v)
}

// ParseExchangeArgs reads an exchange's settings from its arguments.
func ParseExchangeArgs(args Args) (ExchangeSettings, error) {
	s := ExchangeSettings{Args: args.Clone()}
	var err error
	for k, v := range args {
		switch k {
		case ArgDurable:
			s.Durable, err = argBool(k, v)
		case ArgAutoDelete, "auto_delete":
			s.AutoDelete, err = argBool(k, v)
		case ArgAlternate:
			s.AlternateExchange = fmt.Sprint(v)
		case ArgReplicate:
			_, err = ParseReplicate(fmt.Sprint(v))
		}
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

func argBool(k string, v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		switch strings.ToLower(x) {
		case "true", "yes", "1", "on":
			return true, nil
		case "false", "no", "0", "off", "":
			return false, nil
		}
	default:
		if n, ok := asInt(v); ok {
			return n != 0, nil
		}
	}
	return false, fmt.Errorf("%s: %v is not a boolean", k, v)
}

func argInt(k string, v any, lo, hi int64) (int64, error) {
	n, ok := asInt(v)
	if !ok {
		s, isStr := v.(string)
		var err error
		if n, err = strconv.ParseInt(strings.TrimSpace(s), 10, 64); !isStr || err != nil {
			return 0, fmt.Errorf("%s: %v is not a whole number", k, v)
		}
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%s: %d is outside %d..%d", k, n, lo, hi)
	}
	return n, nil
}
