package failover

import (
	"math/rand/v2"
	"time"
)

// Backoff spaces out reconnect attempts. Attempt 0, the first after a
// connection was lost (or the first after a failed attempt of the initial
// connect), goes out at once, to the next address; attempt n >= 1 waits
// Initial * Multiplier^(n-1), at most Max, spread by Jitter. The count
// restarts from 0 once a connection succeeds.
//
// With the defaults: 0, 100ms, 200ms, 400ms, 800ms, 1.6s, then 2s, each
// within +-20%: a 3-broker cluster's new primary is found within a second
// of its promotion, and a cluster that is down entirely is polled every
// 2 s by each client.
type Backoff struct {
	Initial    time.Duration // the wait before attempt 1 (default 100ms)
	Max        time.Duration // the cap (default 2s)
	Multiplier float64       // growth per attempt (default 2)
	// Jitter spreads each wait uniformly over +-Jitter of it (0.2: +-20%),
	// never beyond Max, so that many clients do not reconnect in step.
	// Default 0.2; a negative value turns it off.
	Jitter float64
}

// DefaultBackoff is the Backoff used for the zero value of Options.Backoff.
var DefaultBackoff = Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.2}

// withDefaults fills the zero fields.
func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = DefaultBackoff.Initial
	}
	if b.Max <= 0 {
		b.Max = DefaultBackoff.Max
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	if b.Multiplier < 1 {
		b.Multiplier = DefaultBackoff.Multiplier
	}
	if b.Jitter == 0 {
		b.Jitter = DefaultBackoff.Jitter
	}
	if b.Jitter < 0 {
		b.Jitter = 0
	}
	if b.Jitter > 1 {
		b.Jitter = 1
	}
	return b
}

// Delay is the wait before attempt n (0-based), without jitter.
func (b Backoff) Delay(n int) time.Duration {
	b = b.withDefaults()
	if n <= 0 {
		return 0
	}
	d := float64(b.Initial)
	for i := 1; i < n && d < float64(b.Max); i++ {
		d *= b.Multiplier
	}
	return min(time.Duration(d), b.Max)
}

// delay is Delay(n) with jitter; r is a uniform random number in [0, 1).
func (b Backoff) delay(n int, r float64) time.Duration {
	b = b.withDefaults()
	d := b.Delay(n)
	if d == 0 || b.Jitter == 0 {
		return d
	}
	j := float64(d) * b.Jitter * (2*r - 1)
	return min(max(time.Duration(float64(d)+j), 0), b.Max)
}

// wait is the jittered wait before attempt n.
func (b Backoff) wait(n int) time.Duration { return b.delay(n, rand.Float64()) }
