package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog/client"
	"github.com/auditlog/auditlog/internal/servicetest"
)

func TestMain(m *testing.M) { servicetest.Main(m) }

func TestCasedeskRecordsEveryChangeWithItsRequest(t *testing.T) {
	srv := servicetest.Start(t)
	token := srv.Token("activities:read,activities:write")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr, srv.URL(), token, t.TempDir()) }()

	call := func(method, path, user, body string) int {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
			req.Header.Set("X-Request-Id", "req-"+method)
			if user != "" {
				req.Header.Set("X-User", user)
			}
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		method, path, user, body string
		want                     int
	}{
		{"PUT", "/cases/7", "jdoe", `{"name": "Smith v Jones"}`, 200},
		{"PUT", "/cases/7", "jdoe", `{"name": "Smith v. Jones"}`, 200},
		{"PUT", "/cases/8", "", `{"name": "anonymous"}`, 401},
		{"DELETE", "/cases/7", "asmith", "", 200},
		{"DELETE", "/cases/9", "asmith", "", 404},
	} {
		if got := call(c.method, c.path, c.user, c.body); got != c.want {
			t.Fatalf("%s %s: %d, want %d", c.method, c.path, got, c.want)
		}
	}
	stop() // casedesk delivers what is queued as it stops
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	c, _ := client.New(client.Config{URL: srv.URL(), Token: token})
	var got []client.RecordedActivity
	for a, err := range c.List(context.Background(), client.Filter{ObjectTypes: []string{"Case"}}, 0) {
		if err != nil {
			t.Fatal(err)
		}
		got = append([]client.RecordedActivity{a}, got...) // oldest first
	}
	if len(got) != 3 {
		t.Fatalf("recorded %d activities, want 3: %+v", len(got), got)
	}
	rename, deletion := got[1], got[2]
	var extra map[string]string
	json.Unmarshal(rename.Extra, &extra)
	if rename.SystemName != "EDIT_CASE" || rename.Username != "jdoe" || len(rename.Changes) != 1 ||
		rename.Changes[0] != (client.Change{ColumnName: "name", OldValue: "Smith v Jones", NewValue: "Smith v. Jones"}) ||
		extra["request_id"] != "req-PUT" || extra["client_address"] != "127.0.0.1" {
		t.Fatalf("the rename: %+v %v", rename, extra)
	}
	if deletion.SystemName != "DELETE_CASES" || deletion.Username != "asmith" || deletion.ObjectName != "Smith v. Jones" {
		t.Fatalf("the deletion: %+v", deletion)
	}
}
