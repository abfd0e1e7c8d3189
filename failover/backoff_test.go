package failover

import (
	"testing"
	"time"
)

func TestBackoffDefaults(t *testing.T) {
	var b Backoff // zero: DefaultBackoff
	want := []time.Duration{0, 100, 200, 400, 800, 1600, 2000, 2000}
	for n, w := range want {
		if got := b.Delay(n); got != w*time.Millisecond {
			t.Errorf("Delay(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
	if got := b.Delay(1000); got != 2*time.Second {
		t.Errorf("Delay(1000) = %v, want the cap", got)
	}
}

func TestBackoffCustom(t *testing.T) {
	b := Backoff{Initial: 50 * time.Millisecond, Max: 300 * time.Millisecond, Multiplier: 3, Jitter: -1}
	want := []time.Duration{0, 50, 150, 300, 300}
	for n, w := range want {
		if got := b.wait(n); got != w*time.Millisecond {
			t.Errorf("wait(%d) = %v, want %v (no jitter)", n, got, w*time.Millisecond)
		}
	}
}

func TestBackoffJitter(t *testing.T) {
	var b Backoff
	for n := 0; n < 10; n++ {
		d := b.Delay(n)
		lo, hi := b.delay(n, 0), b.delay(n, 0.999999)
		if n == 0 && (lo != 0 || hi != 0) {
			t.Errorf("attempt 0 must go at once: %v..%v", lo, hi)
		}
		if lo < time.Duration(float64(d)*0.8)-time.Microsecond || hi > 2*time.Second {
			t.Errorf("attempt %d: jitter range %v..%v around %v: want within +-20%%, at most the cap", n, lo, hi, d)
		}
		if n >= 1 && n <= 4 && (lo >= d || hi <= d) {
			t.Errorf("attempt %d: jitter range %v..%v should straddle %v", n, lo, hi, d)
		}
	}
	// The random waits stay in range.
	for i := 0; i < 1000; i++ {
		if w := b.wait(3); w < 320*time.Millisecond || w > 480*time.Millisecond {
			t.Fatalf("wait(3) = %v, want 400ms +-20%%", w)
		}
	}
}
