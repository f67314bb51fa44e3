package sqlstore

import (
	"math/rand/v2"
	"testing"
)

// TestCreatedIndexNarrowsToTheRightAnswer holds narrow against a scan:
// the answer is the one it found, or lies in the range it leaves to probe.
func TestCreatedIndexNarrowsToTheRightAnswer(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 2000
	created := make([]int64, n+1) // created[id], non-decreasing
	for id := 1; id <= n; id++ {
		created[id] = created[id-1] + int64(rng.IntN(3)) // equal times too
	}
	firstAtLeast := func(us, lo, hi int64) int64 {
		for id := lo; id <= hi; id++ {
			if created[id] >= us {
				return id
			}
		}
		return 0
	}
	for _, known := range []int{n, 300, 20, 0} {
		var c createdIndex
		for _, id := range rng.Perm(n)[:known] {
			c.add([]createdAt{{int64(id + 1), created[id+1]}})
		}
		if known == n && len(c.points) != n {
			t.Fatalf("%d pairs remembered of %d", len(c.points), n)
		}
		for range 3000 {
			us := rng.Int64N(created[n] + 3)
			lo := 1 + rng.Int64N(n)
			hi := lo + rng.Int64N(n-lo+1)
			want := firstAtLeast(us, lo, hi)
			newLo, newHi, found := c.narrow(us, lo, hi)
			got := found
			if newLo <= newHi {
				if id := firstAtLeast(us, newLo, newHi); id != 0 {
					got = id
				}
			}
			if newLo < lo || newHi > hi {
				t.Fatalf("narrow(%d, %d, %d) widened the range to [%d, %d]", us, lo, hi, newLo, newHi)
			}
			if got != want {
				t.Fatalf("%d known: first created at or after %d in [%d, %d] is %d; narrow gave [%d, %d] and %d", known, us, lo, hi, want, newLo, newHi, found)
			}
		}
	}
}

func TestCreatedIndexStaysBounded(t *testing.T) {
	var c createdIndex
	for id := int64(1); id <= 3*createdIndexMost; id += 100 {
		batch := make([]createdAt, 100)
		for i := range batch {
			batch[i] = createdAt{id + int64(i), (id + int64(i)) * 10}
		}
		c.add(batch)
	}
	if len(c.points) > createdIndexMost || len(c.points) < createdIndexMost/2 {
		t.Fatalf("%d pairs remembered, bound %d", len(c.points), createdIndexMost)
	}
	if c.points[0].id != 1 || c.points[len(c.points)-1].id < 2*createdIndexMost {
		t.Fatalf("the pairs kept span ids %d to %d", c.points[0].id, c.points[len(c.points)-1].id)
	}
}
