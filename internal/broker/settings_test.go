package broker

import (
	"reflect"
	"strings"
	"testing"

	"github.com/qpidha/qpidha/internal/amqp/types"
)

func TestParseQueueArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args Args
		want QueueSettings // Args and Policy are filled in by the test
		err  string        // part of the error, "" for none
	}{
		{"nil", nil, QueueSettings{}, ""},
		{"empty", Args{}, QueueSettings{}, ""},

		// Booleans.
		{"durable bool", Args{"durable": true}, QueueSettings{Durable: true}, ""},
		{"durable string true", Args{"durable": "true"}, QueueSettings{Durable: true}, ""},
		{"durable string TRUE", Args{"durable": "TRUE"}, QueueSettings{Durable: true}, ""},
		{"durable string yes", Args{"durable": "yes"}, QueueSettings{Durable: true}, ""},
		{"durable string on", Args{"durable": "on"}, QueueSettings{Durable: true}, ""},
		{"durable string 1", Args{"durable": "1"}, QueueSettings{Durable: true}, ""},
		{"durable string false", Args{"durable": "false"}, QueueSettings{}, ""},
		{"durable string no", Args{"durable": "no"}, QueueSettings{}, ""},
		{"durable string off", Args{"durable": "off"}, QueueSettings{}, ""},
		{"durable string 0", Args{"durable": "0"}, QueueSettings{}, ""},
		{"durable empty string", Args{"durable": ""}, QueueSettings{}, ""},
		{"durable int", Args{"durable": int32(1)}, QueueSettings{Durable: true}, ""},
		{"durable uint8 0", Args{"durable": uint8(0)}, QueueSettings{}, ""},
		{"durable bad string", Args{"durable": "maybe"}, QueueSettings{}, "durable"},
		{"durable float", Args{"durable": 1.0}, QueueSettings{}, "not a boolean"},
		{"auto-delete", Args{"auto-delete": true}, QueueSettings{AutoDelete: true}, ""},
		{"auto_delete", Args{"auto_delete": "yes"}, QueueSettings{AutoDelete: true}, ""},
		{"auto-delete bad", Args{"auto-delete": "sometimes"}, QueueSettings{}, "auto-delete"},
		{"exclusive", Args{"exclusive": "true"}, QueueSettings{Exclusive: true}, ""},
		{"exclusive bad", Args{"exclusive": []byte("true")}, QueueSettings{}, "exclusive"},

		// Limits.
		{"max_count int64", Args{"qpid.max_count": int64(10)}, QueueSettings{MaxCount: 10}, ""},
		{"max_count uint32", Args{"qpid.max_count": uint32(10)}, QueueSettings{MaxCount: 10}, ""},
		{"max_count int", Args{"qpid.max_count": 10}, QueueSettings{MaxCount: 10}, ""},
		{"max_count string", Args{"qpid.max_count": "10"}, QueueSettings{MaxCount: 10}, ""},
		{"max_count string with spaces", Args{"qpid.max_count": " 10 "}, QueueSettings{MaxCount: 10}, ""},
		{"max_count zero", Args{"qpid.max_count": 0}, QueueSettings{}, ""},
		{"max_count largest", Args{"qpid.max_count": int64(1<<31 - 1)}, QueueSettings{MaxCount: 1<<31 - 1}, ""},
		{"max_count too large", Args{"qpid.max_count": int64(1 << 31)}, QueueSettings{}, "outside"},
		{"max_count negative", Args{"qpid.max_count": int32(-1)}, QueueSettings{}, "outside"},
		{"max_count negative string", Args{"qpid.max_count": "-5"}, QueueSettings{}, "outside"},
		{"max_count not a number", Args{"qpid.max_count": "ten"}, QueueSettings{}, "not a whole number"},
		{"max_count float", Args{"qpid.max_count": 10.0}, QueueSettings{}, "not a whole number"},
		{"max_count fraction string", Args{"qpid.max_count": "1.5"}, QueueSettings{}, "not a whole number"},
		{"max_count huge ulong", Args{"qpid.max_count": uint64(1 << 63)}, QueueSettings{}, "not a whole number"},
		{"max_size int64", Args{"qpid.max_size": int64(1 << 40)}, QueueSettings{MaxBytes: 1 << 40}, ""},
		{"max_size uint32", Args{"qpid.max_size": uint32(4096)}, QueueSettings{MaxBytes: 4096}, ""},
		{"max_size uint64", Args{"qpid.max_size": uint64(4096)}, QueueSettings{MaxBytes: 4096}, ""},
		{"max_size string", Args{"qpid.max_size": "104857600"}, QueueSettings{MaxBytes: 104857600}, ""},
		{"max_size negative", Args{"qpid.max_size": int64(-1)}, QueueSettings{}, "qpid.max_size"},
		{"max_size bool", Args{"qpid.max_size": true}, QueueSettings{}, "not a whole number"},

		// Limit policy.
		{"policy reject", Args{"qpid.policy_type": "reject"}, QueueSettings{}, ""},
		{"policy ring", Args{"qpid.policy_type": "ring"}, QueueSettings{Policy: PolicyRing}, ""},
		{"policy ring as a symbol", Args{"qpid.policy_type": types.Symbol("ring")}, QueueSettings{Policy: PolicyRing}, ""},
		{"policy ring_strict", Args{"qpid.policy_type": "ring_strict"}, QueueSettings{Policy: PolicyRing}, ""},
		{"policy ring-strict", Args{"qpid.policy_type": "ring-strict"}, QueueSettings{Policy: PolicyRing}, ""},
		{"policy flow_to_disk", Args{"qpid.policy_type": "flow_to_disk"}, QueueSettings{}, "unsupported limit policy"},
		{"policy self-destruct", Args{"qpid.policy_type": "self-destruct"}, QueueSettings{}, "unsupported limit policy"},
		{"policy empty", Args{"qpid.policy_type": ""}, QueueSettings{}, "unsupported limit policy"},
		{"policy RING", Args{"qpid.policy_type": "RING"}, QueueSettings{}, "unsupported limit policy"},

		// Priorities.
		{"priorities", Args{"qpid.priorities": 10}, QueueSettings{Priorities: 10}, ""},
		{"priorities string", Args{"qpid.priorities": "3"}, QueueSettings{Priorities: 3}, ""},
		{"priorities uint8", Args{"qpid.priorities": uint8(5)}, QueueSettings{Priorities: 5}, ""},
		{"x-qpid-priorities", Args{"x-qpid-priorities": int16(2)}, QueueSettings{Priorities: 2}, ""},
		{"priorities zero", Args{"qpid.priorities": 0}, QueueSettings{}, ""},
		{"priorities eleven", Args{"qpid.priorities": 11}, QueueSettings{}, "outside 0..10"},
		{"priorities negative", Args{"qpid.priorities": -1}, QueueSettings{}, "outside"},
		{"priorities bad", Args{"qpid.priorities": "high"}, QueueSettings{}, "qpid.priorities"},

		// Last-value queues.
		{"lvq key", Args{"qpid.last_value_queue_key": "k"}, QueueSettings{LVQKey: "k"}, ""},
		{"lvq key symbol", Args{"qpid.last_value_queue_key": types.Symbol("k")}, QueueSettings{LVQKey: "k"}, ""},
		{"legacy lvq", Args{"qpid.last_value_queue": true}, QueueSettings{LVQKey: "qpid.LVQ_key"}, ""},
		{"legacy lvq string", Args{"qpid.last_value_queue": "1"}, QueueSettings{LVQKey: "qpid.LVQ_key"}, ""},
		{"legacy lvq off", Args{"qpid.last_value_queue": false}, QueueSettings{}, ""},
		{"legacy lvq bad", Args{"qpid.last_value_queue": "perhaps"}, QueueSettings{}, "qpid.last_value_queue"},
		{"both lvq: the key wins", Args{"qpid.last_value_queue": true, "qpid.last_value_queue_key": "k"}, QueueSettings{LVQKey: "k"}, ""},

		// Alternate exchange and replication.
		{"alternate exchange", Args{"alternate-exchange": "amq.fanout"}, QueueSettings{AlternateExchange: "amq.fanout"}, ""},
		{"alternate exchange symbol", Args{"alternate-exchange": types.Symbol("dlx")}, QueueSettings{AlternateExchange: "dlx"}, ""},
		{"replicate none", Args{"qpid.replicate": "none"}, QueueSettings{}, ""},
		{"replicate configuration", Args{"qpid.replicate": "configuration"}, QueueSettings{}, ""},
		{"replicate all", Args{"qpid.replicate": "all"}, QueueSettings{}, ""},
		{"replicate symbol", Args{"qpid.replicate": types.Symbol("all")}, QueueSettings{}, ""},
		{"replicate bad", Args{"qpid.replicate": "some"}, QueueSettings{}, "invalid replication level"},
		{"replicate upper case", Args{"qpid.replicate": "ALL"}, QueueSettings{}, "invalid replication level"},
		{"replicate bool", Args{"qpid.replicate": true}, QueueSettings{}, "invalid replication level"},

		// Producer flow control levels.
		{"flow levels", Args{"qpid.flow_stop_count": 10, "qpid.flow_resume_count": "5", "qpid.flow_stop_size": 1000, "qpid.flow_resume_size": int64(900)},
			QueueSettings{Flow: FlowLimits{StopCount: 10, ResumeCount: 5, StopBytes: 1000, ResumeBytes: 900, Set: true}}, ""},
		{"flow resume above stop", Args{"qpid.flow_stop_size": 10, "qpid.flow_resume_size": 11}, QueueSettings{}, "qpid.flow_resume_size 11 is above qpid.flow_stop_size 10"},
		{"flow negative", Args{"qpid.flow_stop_count": -1}, QueueSettings{}, "outside"},

		// Everything at once, and unknown arguments are kept but ignored.
		{"all together", Args{
			"durable": true, "auto-delete": "false", "exclusive": false,
			"qpid.max_count": "100", "qpid.max_size": uint32(65536), "qpid.policy_type": "ring",
			"qpid.priorities": int64(4), "qpid.last_value_queue_key": "key",
			"alternate-exchange": "amq.topic", "qpid.replicate": "all",
			"x-unknown": []any{"kept", int32(1)}, "qpid.flow_stop_count": 7,
		}, QueueSettings{
			Durable: true, MaxCount: 100, MaxBytes: 65536, Policy: PolicyRing,
			Priorities: 4, LVQKey: "key", AlternateExchange: "amq.topic",
			Flow: FlowLimits{StopCount: 7, Set: true},
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Map order is random: parse several times to catch dependence on it.
			for i := 0; i < 20; i++ {
				got, err := ParseQueueArgs(tc.args)
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("ParseQueueArgs(%v): error %v, want one mentioning %q", tc.args, err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatalf("ParseQueueArgs(%v): %v", tc.args, err)
				}
				want := tc.want
				if want.Policy == "" {
					want.Policy = PolicyReject
				}
				want.Args = tc.args
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("ParseQueueArgs(%v) =\n %+v, want\n %+v", tc.args, got, want)
				}
			}
		})
	}
}

func TestParseQueueArgsKeepsArgsVerbatim(t *testing.T) {
	args := Args{
		"qpid.max_count":  "5",
		"qpid.replicate":  types.Symbol("configuration"),
		"x-custom":        map[string]any{"nested": true},
		"qpid.unknown":    uint64(42),
		"some other name": nil,
	}
	s, err := ParseQueueArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Args, args) {
		t.Errorf("Args %v, want %v", s.Args, args)
	}
	// The settings own their copy.
	args["qpid.max_count"] = "6"
	delete(args, "x-custom")
	if s.Args["qpid.max_count"] != "5" || s.Args["x-custom"] == nil {
		t.Errorf("the settings share the caller's map: %v", s.Args)
	}
	// A queue declared with them keeps them too.
	b := newBroker(t, Config{})
	q := declare(t, b, "q", s)
	if q.Settings().Args["qpid.unknown"] != uint64(42) || q.Settings().MaxCount != 5 {
		t.Errorf("queue settings %+v", q.Settings())
	}
}

func TestParseExchangeArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args Args
		want ExchangeSettings
		err  string
	}{
		{"nil", nil, ExchangeSettings{}, ""},
		{"durable", Args{"durable": "yes"}, ExchangeSettings{Durable: true}, ""},
		{"durable bad", Args{"durable": "y"}, ExchangeSettings{}, "durable"},
		{"auto-delete", Args{"auto-delete": true}, ExchangeSettings{AutoDelete: true}, ""},
		{"auto_delete", Args{"auto_delete": int8(1)}, ExchangeSettings{AutoDelete: true}, ""},
		{"auto-delete bad", Args{"auto-delete": 2.5}, ExchangeSettings{}, "auto-delete"},
		{"alternate", Args{"alternate-exchange": "amq.fanout"}, ExchangeSettings{AlternateExchange: "amq.fanout"}, ""},
		{"replicate none", Args{"qpid.replicate": "none"}, ExchangeSettings{}, ""},
		{"replicate configuration", Args{"qpid.replicate": "configuration"}, ExchangeSettings{}, ""},
		{"replicate all", Args{"qpid.replicate": "all"}, ExchangeSettings{}, ""},
		{"replicate bad", Args{"qpid.replicate": "everything"}, ExchangeSettings{}, "invalid replication level"},
		// Queue arguments mean nothing to an exchange: kept, not checked.
		{"queue arguments ignored", Args{"qpid.max_count": "lots", "qpid.policy_type": "weird", "exclusive": "?"}, ExchangeSettings{}, ""},
		{"unknown kept", Args{"x-anything": int32(3), "durable": true}, ExchangeSettings{Durable: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExchangeArgs(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseExchangeArgs(%v): error %v, want one mentioning %q", tc.args, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseExchangeArgs(%v): %v", tc.args, err)
			}
			want := tc.want
			want.Args = tc.args
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseExchangeArgs(%v) = %+v, want %+v", tc.args, got, want)
			}
		})
	}
}

func TestParseReplicate(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"none", true}, {"configuration", true}, {"all", true},
		{"", false}, {"All", false}, {"config", false}, {" all", false},
	} {
		got, err := ParseReplicate(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.in) {
			t.Errorf("ParseReplicate(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestArgsClone(t *testing.T) {
	var nilArgs Args
	if nilArgs.Clone() != nil {
		t.Errorf("Clone of nil is not nil")
	}
	a := Args{"k": "v"}
	c := a.Clone()
	c["k"] = "changed"
	if a["k"] != "v" {
		t.Errorf("Clone shares the map")
	}
	if e := (Args{}).Clone(); e == nil || len(e) != 0 {
		t.Errorf("Clone of an empty map: %v", e)
	}
}
