package sequencer

import "testing"

// SetFirstLevel sets the span of the deferred indexes' first level until
// the test ends. The test must not run in parallel with others.
func SetFirstLevel(t *testing.T, n uint64) {
	old := firstLevel
	firstLevel = n
	t.Cleanup(func() { firstLevel = old })
}
