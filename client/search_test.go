package client_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/auditlog/auditlog/client"
	"github.com/auditlog/auditlog/internal/servicetest"
	"github.com/auditlog/auditlog/sqlite"
)

// A search through the client reads q; and the server's search index,
// kept behind the writer, resumes after the server is killed in the
// middle of it: once caught up, a search finds every activity recorded
// before the kill, each once.
func TestTheSearchIndexResumesAfterTheServerIsKilled(t *testing.T) {
	s := servicetest.Start(t)
	c := newClient(t, s, s.Token("activities:read,activities:write"))
	ctx := context.Background()
	needles := 0
	for batch := range 20 {
		acts := make([]client.Activity, 1000)
		for i := range acts {
			name := "haystack " + strconv.Itoa(i)
			if (batch*1000+i)%7 == 0 {
				name, needles = "needle "+strconv.Itoa(i), needles+1
			}
			acts[i] = client.Activity{SystemName: "EDIT_USER", Operator: "machine", ObjectType: "User", ObjectID: strconv.Itoa(i), ObjectName: name}
		}
		if _, err := c.Record(ctx, acts...); err != nil {
			t.Fatal(err)
		}
	}
	s.Kill()
	index, err := sql.Open("sqlite3", "file:"+filepath.Join(s.Dir(), sqlite.IndexFileName)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var through int64
	err = index.QueryRow(`SELECT through FROM indexed`).Scan(&through)
	index.Close()
	if err != nil || through >= 20000 {
		t.Fatalf("the index when the server was killed: through %d, %v; the test needs it behind", through, err)
	}
	s.Restart()
	count := func() (int, map[int64]bool) {
		seen := map[int64]bool{}
		n := 0
		for a, err := range c.List(ctx, client.Filter{Q: "needle"}, 1000) {
			if err != nil {
				t.Fatal(err)
			}
			n++
			seen[a.ID] = true
		}
		return n, seen
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		n, seen := count()
		if n == needles && len(seen) == n {
			return
		}
		if n > needles || len(seen) != n || time.Now().After(deadline) {
			t.Fatalf("after the restart a search finds %d needles (%d distinct), want %d", n, len(seen), needles)
		}
	}
}
