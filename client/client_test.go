package client_test

import (
	"context"
	"encoding/csv"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/client"
	"github.com/auditlog/auditlog/internal/servicetest"
)

func TestEveryCallAgainstARealServer(t *testing.T) {
	srv := servicetest.Start(t)
	c := newClient(t, srv, srv.Token("activities:read,activities:write,activities:export"))
	ctx := context.Background()

	ids, err := c.Record(ctx,
		client.Activity{SystemName: "EDIT_USER", Operator: client.Human, Username: "jdoe", ObjectType: "User", ObjectID: "17", ObjectName: "bob",
			Extra:   map[string]any{"ip": "10.0.0.1", "attempt": 2},
			Changes: []client.Change{{ColumnName: "email", OldValue: "a@x", NewValue: "b@x"}}},
		edit("Thing", 1), edit("Thing", 2), edit("Thing", 3))
	if err != nil || len(ids) != 4 || ids[1] != ids[0]+1 {
		t.Fatalf("Record: %v %v", ids, err)
	}
	got, err := c.Get(ctx, ids[0])
	if err != nil || got.Username != "jdoe" || got.DisplayName == "" || len(got.Changes) != 1 || got.Changes[0].NewValue != "b@x" ||
		string(got.Extra) != `{"attempt":2,"ip":"10.0.0.1"}` || !strings.HasPrefix(got.RecordedBy, "token/") || got.Created.IsZero() {
		t.Fatalf("Get: %+v %v", got, err)
	}
	if _, err := c.Get(ctx, 999999); !isStatus(err, 404) {
		t.Fatalf("Get of an absent activity: %v", err)
	}

	// List pages through everything, newest first.
	var listed []int64
	for a, err := range c.List(ctx, client.Filter{ObjectTypes: []string{"Thing"}}, 2) {
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, a.ID)
	}
	if len(listed) != 3 || listed[0] != ids[3] || listed[2] != ids[1] {
		t.Fatalf("List: %v, want %v reversed", listed, ids[1:])
	}
	for _, err := range c.List(ctx, client.Filter{Activities: []string{"NOPE"}}, 0) {
		if !isStatus(err, 400) || err.(*client.Error).Field != "activity" {
			t.Fatalf("List with an unknown activity: %v", err)
		}
	}

	rows, err := csv.NewReader(strings.NewReader(readAll(t, must(c.Export(ctx, client.Filter{IDs: ids[:2]}, client.CSV))))).ReadAll()
	if err != nil || len(rows) != 3 || rows[0][0] != "Activity ID" {
		t.Fatalf("Export CSV: %v %v", rows, err)
	}
	if lines := strings.Count(readAll(t, must(c.Export(ctx, client.Filter{ObjectTypes: []string{"Thing"}}, client.JSONL))), "\n"); lines != 3 {
		t.Fatalf("Export JSONL: %d lines, want 3", lines)
	}

	types, err := c.ActivityTypes(ctx)
	if err != nil || len(types) < 200 {
		t.Fatalf("ActivityTypes: %d %v", len(types), err)
	}

	key, err := c.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.NewVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := v.VerifyActivity(ctx, ids[0])
	if err != nil || a.ID != ids[0] {
		t.Fatalf("VerifyActivity: %v", err)
	}
	first := v.Latest()
	proof, err := c.Proof(ctx, ids[0], first.Size)
	if err != nil || proof.TreeSize != first.Size || proof.LeafIndex != uint64(ids[0]-1) {
		t.Fatalf("Proof: %+v %v", proof, err)
	}
	more, _ := c.Record(ctx, edit("Later", 1))
	if err := c.VerifyActivity(ctx, more[0], key); err != nil {
		t.Fatalf("VerifyActivity of a later activity: %v", err)
	}
	if _, err := v.VerifyActivity(ctx, more[0]); err != nil || v.Latest().Size <= first.Size {
		t.Fatalf("the verifier moved from %d to %+v: %v", first.Size, v.Latest(), err)
	}
	if hashes, err := c.Consistency(ctx, first.Size, v.Latest().Size); err != nil || len(hashes) == 0 {
		t.Fatalf("Consistency: %v %v", hashes, err)
	}

	// A refused batch: the error carries the server's code, field and index.
	_, err = c.Record(ctx, edit("Thing", 4), client.Activity{SystemName: "EDIT_USER", Operator: client.Human})
	var e *client.Error
	if !errors.As(err, &e) || e.StatusCode != 400 || e.Field != "activities[1].username" || e.Index != 1 || e.Code == "" || e.Message == "" || e.Temporary() {
		t.Fatalf("a refused batch: %#v", err)
	}
	reader := newClient(t, srv, srv.Token("activities:read"))
	if _, err := reader.Record(ctx, edit("Thing", 5)); !isStatus(err, 403) {
		t.Fatalf("Record without activities:write: %v", err)
	}
}

func TestVerifyActivityCatchesWhatTheDatabaseChanged(t *testing.T) {
	keyEnv, key := servicetest.SharedKey(t)
	srv := servicetest.Start(t, keyEnv)
	c := newClient(t, srv, srv.Token("activities:read,activities:write"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ids, err := c.Record(ctx, edit("Doc", 1), edit("Doc", 2), edit("Doc", 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := c.VerifyActivity(ctx, id, key); err != nil {
			t.Fatalf("activity %d before the edit: %v", id, err)
		}
	}
	_, otherKey := servicetest.SharedKey(t)
	if err := c.VerifyActivity(ctx, ids[0], otherKey); !errors.Is(err, client.ErrNotInLog) {
		t.Fatalf("VerifyActivity with another log's key: %v", err)
	}

	v, _ := c.NewVerifier(key)
	if _, err := v.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	// Someone with write access to the database edits activity 2.
	srv.Exec(`UPDATE activities SET object_name = 'forged' WHERE id = ` + strconv.FormatInt(ids[1], 10))
	if err := c.VerifyActivity(ctx, ids[1], key); !errors.Is(err, client.ErrNotInLog) {
		t.Fatalf("VerifyActivity of an edited activity: %v", err)
	}
	if err := c.VerifyActivity(ctx, ids[2], key); err != nil {
		t.Fatalf("the activity after the edited one: %v", err)
	}

	// A second server with the same key and another history: a verifier
	// that saw the first log's checkpoint catches the fork.
	fork := servicetest.Start(t, keyEnv)
	fc := newClient(t, fork, fork.Token("activities:read,activities:write"))
	var last []int64
	for i := range 3 {
		if last, err = fc.Record(ctx, edit("Fork", i), edit("Fork", i+10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := fc.VerifyActivity(ctx, last[1], key); err != nil { // the fork's checkpoint covers its history
		t.Fatal(err)
	}
	fv, _ := fc.NewVerifier(key)
	if err := fv.Trust(v.Latest().Note); err != nil {
		t.Fatal(err)
	}
	if _, err := fv.Checkpoint(ctx); !errors.Is(err, client.ErrNotInLog) || !strings.Contains(err.Error(), "the log forked") {
		t.Fatalf("a forked log: %v", err)
	}
}

func isStatus(err error, status int) bool {
	var e *client.Error
	return errors.As(err, &e) && e.StatusCode == status
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestTheClientDependsOnTheStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/auditlog/auditlog/client").Output()
	if err != nil {
		t.Fatal(err)
	}
	if deps := strings.Fields(string(out)); len(deps) != 1 || deps[0] != "github.com/auditlog/auditlog/client" {
		t.Fatalf("the client imports packages beyond the standard library: %v", deps)
	}
}
