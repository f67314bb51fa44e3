package client_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/auditlog/auditlog/client"
)

// A producer records through an emitter with a spool, and checks one of
// its activities against the signed log.
func Example() {
	ctx := context.Background()
	c, err := client.New(client.Config{URL: "http://127.0.0.1:8080", Token: os.Getenv("AUDITLOG_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	e, err := client.NewEmitter(client.EmitterConfig{Client: c, SpoolDir: "/var/spool/myapp-audit",
		OnRefused: func(a client.Activity, err error) { log.Printf("refused %s: %v", a.EventID, err) }})
	if err != nil {
		log.Fatal(err)
	}
	defer e.Close(ctx) // delivers what is queued; what is left stays in the spool

	err = e.Emit(ctx, client.Activity{SystemName: "EDIT_CASE", Operator: client.Human, Username: "jdoe",
		ObjectType: "Case", ObjectID: "7", ObjectName: "Smith v. Jones",
		Changes: []client.Change{{ColumnName: "name", OldValue: "Smith v Jones", NewValue: "Smith v. Jones"}}})
	if err != nil {
		log.Fatal(err)
	}

	ids, err := c.Record(ctx, client.Activity{SystemName: "USER_LOGIN", Operator: client.Human, Username: "jdoe"})
	if err != nil {
		log.Fatal(err)
	}
	// The verifier key comes from a channel you trust, not from the server.
	if err := c.VerifyActivity(ctx, ids[0], os.Getenv("AUDITLOG_VERIFIER_KEY")); err != nil {
		log.Fatal(err)
	}
}

// Handlers behind the middleware record with the request's user, address,
// user agent and request id.
func ExampleMiddleware() {
	c, _ := client.New(client.Config{URL: "http://127.0.0.1:8080", Token: os.Getenv("AUDITLOG_TOKEN")})
	e, _ := client.NewEmitter(client.EmitterConfig{Client: c})
	audit := client.Middleware(client.MiddlewareConfig{Emitter: e, Actor: func(r *http.Request) (string, string) {
		return client.Human, r.Header.Get("X-User") // your authentication's user
	}})
	http.Handle("DELETE /cases/{id}", audit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := client.EmitFor(r.Context(), client.Activity{SystemName: "DELETE_CASES", ObjectType: "Case", ObjectID: r.PathValue("id")}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	})))
}
