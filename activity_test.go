package auditlog

import (
	"encoding/json"
	"testing"
)

func TestRetainCopiesWhatTheStoreReuses(t *testing.T) {
	extra := []byte(`{"a":1}`)
	changes := []Change{{ColumnName: "c", OldValue: "1", NewValue: "2"}}
	a := Activity{ID: 7, Username: "u", Extra: json.RawMessage(extra), Changes: changes}
	arena := []byte(`{"earlier":true}`)
	c, arena := a.Retain(arena)
	// The store reuses its buffers for the next row.
	copy(extra, `{"b":2}`)
	changes[0].NewValue = "changed"
	if string(c.Extra) != `{"a":1}` || c.Changes[0].NewValue != "2" || c.ID != 7 || c.Username != "u" {
		t.Fatalf("the retained activity changed with the store's buffers: %+v %s", c, c.Extra)
	}
	if string(arena) != `{"earlier":true}{"a":1}` {
		t.Fatalf("arena %s: earlier contents must stay, the extra appended", arena)
	}
	d, _ := a.Retain(arena)
	if cap(c.Extra) != len(c.Extra) || string(c.Extra) != `{"a":1}` || string(d.Extra) != `{"b":2}` {
		t.Fatalf("a later Retain wrote into an earlier activity's extra: %s %s", c.Extra, d.Extra)
	}
}
