package broker

import (
	"fmt"
	"strings"
	"testing"
)

// flowBroker is a broker with the original's default thresholds.
func flowBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	cfg.FlowStopThreshold, cfg.FlowResumeThreshold = 80, 70
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func declareWith(t *testing.T, b *Broker, name string, args Args) *Queue {
	t.Helper()
	s, err := ParseQueueArgs(args)
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := b.DeclareQueue(name, s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func done(h *Hold) bool { return h == nil || !h.Wait(func() {}) }

// A queue above its stop level holds the acceptance of every message that
// arrives until it is below the resume level; then all of them go.
func TestFlowControlStopsAndResumes(t *testing.T) {
	b := flowBroker(t, Config{})
	q := declareWith(t, b, "q", Args{ArgFlowStopCount: 4, ArgFlowResumeCount: 2})
	var es []*Entry
	for i := 0; i < 7; i++ {
		e, err := q.Enqueue(body(t, "m"))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	for i, e := range es {
		// Depth 5 (the fifth message) is the first above the stop level.
		if held := !done(e.FlowHold()); held != (i >= 4) {
			t.Fatalf("message %d held=%v with depth %d", i+1, held, i+1)
		}
	}
	st := q.Stats()
	if !st.FlowStopped || st.FlowStops != 1 {
		t.Fatalf("stats %+v: want stopped once", st)
	}
	c := subscribe(t, q, "c")
	for depth := 7; depth > 1; depth-- {
		if !q.Stats().FlowStopped {
			t.Fatalf("resumed at depth %d, above the resume level", depth)
		}
		for _, e := range c.fetch(1) {
			c.Accept(e)
		}
		// The message consumed is no longer waited for, held or not.
		if !done(es[7-depth].FlowHold()) {
			t.Fatalf("a consumed message's hold is still on")
		}
	}
	if q.Stats().FlowStopped {
		t.Fatal("still stopped at depth 1, below the resume level")
	}
	for i, e := range es {
		if !done(e.FlowHold()) {
			t.Fatalf("message %d still held after the queue resumed", i+1)
		}
	}
	// Below the stop level again nothing is held.
	if e, _ := q.Enqueue(body(t, "m")); e.FlowHold() != nil {
		t.Fatal("held after resuming")
	}
}

// Byte levels work the same, and either level stops the queue.
func TestFlowControlByBytes(t *testing.T) {
	b := flowBroker(t, Config{})
	m := body(t, strings.Repeat("x", 100))
	size := int64(m.Size())
	q := declareWith(t, b, "q", Args{ArgFlowStopSize: 3 * size, ArgFlowResumeSize: 2 * size})
	for i := 0; i < 3; i++ {
		if e, _ := q.Enqueue(m); e.FlowHold() != nil {
			t.Fatalf("message %d held at %d bytes", i+1, q.Stats().Bytes)
		}
	}
	e, _ := q.Enqueue(m)
	if done(e.FlowHold()) {
		t.Fatal("not held above the stop size")
	}
	c := subscribe(t, q, "c")
	for _, x := range c.fetch(2) {
		c.Accept(x)
	}
	if done(e.FlowHold()) || !q.Stats().FlowStopped {
		t.Fatal("resumed at the resume size, not below it")
	}
	for _, x := range c.fetch(1) {
		c.Accept(x)
	}
	if !done(e.FlowHold()) || q.Stats().FlowStopped {
		t.Fatal("still held below the resume size")
	}
}

// Deleting a stopped queue lets its producers go.
func TestFlowControlDeleteEndsHolds(t *testing.T) {
	b := flowBroker(t, Config{})
	q := declareWith(t, b, "q", Args{ArgFlowStopCount: 1})
	q.Enqueue(body(t, "a"))
	e, _ := q.Enqueue(body(t, "b"))
	if done(e.FlowHold()) {
		t.Fatal("not held")
	}
	if err := b.DeleteQueue("q", false, false); err != nil {
		t.Fatal(err)
	}
	if !done(e.FlowHold()) {
		t.Fatal("held after the queue was deleted")
	}
}

// Levels come from the queue's arguments, else from the broker's
// thresholds of its limits (the default queue limit included); ring queues
// have none by default.
func TestFlowLimitsResolution(t *testing.T) {
	b := flowBroker(t, Config{DefaultQueueLimit: 1000})
	for i, c := range []struct {
		args Args
		want FlowLimits
	}{
		{nil, FlowLimits{StopBytes: 800, ResumeBytes: 700}},
		{Args{ArgMaxCount: 100}, FlowLimits{StopCount: 80, ResumeCount: 70}},
		{Args{ArgMaxCount: 100, ArgPolicyType: "ring"}, FlowLimits{}},
		{Args{ArgFlowStopCount: 40}, FlowLimits{StopCount: 40, ResumeCount: 35, Set: true}},
		{Args{ArgFlowStopCount: 0}, FlowLimits{Set: true}}, // off for this queue
		{Args{ArgMaxCount: 100, ArgFlowStopCount: 50, ArgFlowResumeCount: 10}, FlowLimits{StopCount: 50, ResumeCount: 10, Set: true}},
	} {
		q := declareWith(t, b, fmt.Sprint("q", i), c.args)
		if got := q.Settings().Flow; got != c.want {
			t.Errorf("%v: levels %+v, want %+v", c.args, got, c.want)
		}
	}
	// No thresholds: no flow control unless a queue asks for it.
	if got := (Config{}).flowLimits(QueueSettings{MaxCount: 100}); got.enabled() {
		t.Errorf("flow control without thresholds: %+v", got)
	}
}

func TestFlowControlBadLevels(t *testing.T) {
	_, err := ParseQueueArgs(Args{ArgFlowStopCount: 10, ArgFlowResumeCount: 20})
	if err == nil || !strings.Contains(err.Error(), "qpid.flow_resume_count 20 is above qpid.flow_stop_count 10") {
		t.Fatalf("resume above stop accepted: %v", err)
	}
	if _, err := ParseQueueArgs(Args{ArgFlowStopSize: "many"}); err == nil {
		t.Fatal("a non-number accepted")
	}
	if _, err := New(Config{FlowStopThreshold: 50, FlowResumeThreshold: 60}); err == nil ||
		!strings.Contains(err.Error(), "default-flow-resume-threshold") {
		t.Fatalf("resume threshold above stop threshold accepted: %v", err)
	}
}

// A queue that stays stopped while its consumer keeps pace forgets the
// entries that left it: its list of held entries stays about its depth.
func TestFlowControlStaysBounded(t *testing.T) {
	b := flowBroker(t, Config{})
	q := declareWith(t, b, "q", Args{ArgFlowStopCount: 10, ArgFlowResumeCount: 5})
	for i := 0; i < 11; i++ {
		q.Enqueue(body(t, "m"))
	}
	c := subscribe(t, q, "c")
	for i := 0; i < 10000; i++ {
		q.Enqueue(body(t, "m"))
		for _, e := range c.fetch(1) {
			c.Accept(e)
		}
	}
	q.mu.Lock()
	held, depth, stopped := len(q.flowHeld), q.stats.Depth, q.flowStopped
	q.mu.Unlock()
	if !stopped || held > 2*depth+1 {
		t.Fatalf("stopped %v, %d entries held at depth %d", stopped, held, depth)
	}
}
