package client_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/auditlog/auditlog/client"
	"github.com/auditlog/auditlog/internal/servicetest"
)

func TestTheMiddlewareFillsTheRequestsDetails(t *testing.T) {
	srv := servicetest.Start(t)
	c := newClient(t, srv, srv.Token("activities:read,activities:write"))
	e, err := client.NewEmitter(client.EmitterConfig{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	mw := client.Middleware(client.MiddlewareConfig{Emitter: e, Actor: func(r *http.Request) (string, string) {
		if u := r.Header.Get("X-User"); u != "" {
			return client.Human, u
		}
		return "", ""
	}})
	app := httptest.NewServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := client.EmitFor(r.Context(),
			client.Activity{SystemName: "EDIT_USER", ObjectType: "Request", ObjectID: r.URL.Query().Get("n"), Extra: map[string]any{"route": r.URL.Path}},
			client.Activity{SystemName: "EDIT_USER", Operator: client.Machine, ObjectType: "Request", ObjectID: "machine-" + r.URL.Query().Get("n")})
		if err != nil {
			http.Error(w, err.Error(), 500)
		}
	})))
	defer app.Close()

	req, _ := http.NewRequest("GET", app.URL+"/users/5?n=1", nil)
	req.Header.Set("X-User", "jdoe")
	req.Header.Set("User-Agent", "test-agent/1.0")
	req.Header.Set("X-Request-Id", "req-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != "req-123" {
		t.Fatalf("request: %v %v", resp, err)
	}
	req, _ = http.NewRequest("GET", app.URL+"/users/6?n=2", nil)
	req.Header.Set("X-Request-Id", "bad id with spaces")
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || len(resp.Header.Get("X-Request-Id")) != 32 {
		t.Fatalf("request without a valid id: %v %v", resp.Header, err)
	}
	generated := resp.Header.Get("X-Request-Id")
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := client.EmitFor(context.Background(), client.Activity{}); err == nil {
		t.Fatal("EmitFor outside a request succeeded")
	}

	got := map[string]client.RecordedActivity{}
	for a, err := range c.List(context.Background(), client.Filter{ObjectTypes: []string{"Request"}}, 0) {
		if err != nil {
			t.Fatal(err)
		}
		got[a.ObjectID] = a
	}
	extra := func(id string) map[string]string {
		var m map[string]string
		if err := json.Unmarshal(got[id].Extra, &m); err != nil {
			t.Fatalf("extra of %s: %s", id, got[id].Extra)
		}
		return m
	}
	if a, x := got["1"], extra("1"); a.Operator != client.Human || a.Username != "jdoe" || x["user_agent"] != "test-agent/1.0" ||
		x["request_id"] != "req-123" || x["client_address"] != "127.0.0.1" || x["route"] != "/users/5" {
		t.Fatalf("the first request's activity: %+v %v", a, x)
	}
	if a, x := got["machine-1"], extra("machine-1"); a.Operator != client.Machine || a.Username != "" || x["request_id"] != "req-123" {
		t.Fatalf("an activity naming its own operator: %+v %v", a, x)
	}
	if a, x := got["machine-2"], extra("machine-2"); a.Operator != client.Machine || x["request_id"] != generated {
		t.Fatalf("the second request's activity: %+v %v", a, x)
	}
	if _, ok := got["2"]; ok {
		t.Fatal("an activity without an operator (no actor) was recorded")
	}
}
