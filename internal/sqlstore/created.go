package sqlstore

import (
	"slices"
	"sync"
)

// createdAt is an activity's id and creation time (microseconds).
type createdAt struct{ id, us int64 }

// createdIndex remembers the creation times that mapping dates to ids has
// read (firstCreatedAtLeast), so that the next mapping starts from a
// narrower range: on a store of a million activities, a date filter then
// takes one or two rounds of probes instead of four, each a round trip
// to PostgreSQL. Activities never change, and created never decreases with
// id, so a remembered pair stays true. Its zero value is empty.
type createdIndex struct {
	mu     sync.Mutex
	points []createdAt // by id
}

// createdIndexMost bounds the pairs remembered (16 bytes each): enough
// to leave a few hundred ids between two on a store of millions, few
// enough that merging new ones in costs microseconds.
const createdIndexMost = 1 << 14

// narrow narrows [lo, hi], the ids among which the first created at or
// after us is sought, with the pairs remembered; found is the smallest
// remembered id in the range created at or after us, or 0.
func (c *createdIndex) narrow(us, lo, hi int64) (newLo, newHi, found int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// The first pair created at or after us: the ones before it were
	// created before us.
	i, _ := slices.BinarySearchFunc(c.points, us, func(p createdAt, us int64) int {
		if p.us < us {
			return -1
		}
		return 1
	})
	if i > 0 && c.points[i-1].id >= lo {
		lo = c.points[i-1].id + 1
	}
	if i < len(c.points) && c.points[i].id <= hi && c.points[i].id >= lo {
		found, hi = c.points[i].id, c.points[i].id-1
	}
	return lo, hi, found
}

// add remembers pairs read from the store, in id order; past
// createdIndexMost it keeps every other pair, so that those left stay
// spread over the log.
func (c *createdIndex) add(read []createdAt) {
	if len(read) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// A merge of two runs in id order, dropping ids known already.
	merged := make([]createdAt, 0, len(c.points)+len(read))
	i, j := 0, 0
	for i < len(c.points) || j < len(read) {
		switch {
		case j == len(read) || i < len(c.points) && c.points[i].id < read[j].id:
			merged = append(merged, c.points[i])
			i++
		case i == len(c.points) || read[j].id < c.points[i].id:
			merged = append(merged, read[j])
			j++
		default:
			merged = append(merged, c.points[i])
			i, j = i+1, j+1
		}
	}
	if len(merged) > createdIndexMost {
		kept := merged[:0]
		for k := 0; k < len(merged); k += 2 {
			kept = append(kept, merged[k])
		}
		merged = kept
	}
	c.points = merged
}
