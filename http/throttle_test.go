package http

import (
	"fmt"
	"testing"
	"time"
)

// fail spends the budgets of one failed attempt.
func fail(th *loginThrottle, username, address string) {
	if _, release := th.reserve(username, address, false); release != nil {
		release(true)
	}
}

func TestThrottleMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	th := newLoginThrottle(DefaultLoginLimits, nil, func() time.Time { return now })
	// Failures for more distinct accounts and addresses than the bound, none
	// of whose budgets refill meanwhile.
	for i := range maxBuckets {
		fail(th, fmt.Sprintf("user%d", i), fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := len(th.buckets); n > maxBuckets {
		t.Fatalf("%d buckets, bound %d", n, maxBuckets)
	}
	// A budget spent just now survives pruning when others have refilled.
	th = newLoginThrottle(DefaultLoginLimits, nil, func() time.Time { return now })
	for i := range maxBuckets - 3 {
		fail(th, fmt.Sprintf("old%d", i), "192.0.2.1")
	}
	now = now.Add(time.Hour)
	for range DefaultLoginLimits.PerAccount.Burst {
		fail(th, "target", "198.51.100.1")
	}
	if wait, _ := th.reserve("target", "198.51.100.2", false); wait == 0 {
		t.Fatal("the spent account budget was dropped while refilled ones were kept")
	}
}
