// Command casedesk is a small service that records what its users do in
// an auditlog service, with the Go client: an Emitter with a spool (its
// activities survive an auditlog outage and a crash of casedesk itself)
// and the net/http middleware (each activity carries the user, the
// client's address, user agent and request id).
//
// It keeps cases in memory: PUT /cases/{id} with a JSON body
// {"name": "..."} creates or renames a case (EDIT_CASE, with the column
// change), DELETE /cases/{id} deletes one (DELETE_CASES). The user is the
// X-User header: a stand-in for the authentication a real service has.
//
//	AUDITLOG_TOKEN=... go run ./examples/casedesk --auditlog-url http://127.0.0.1:8080
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/auditlog/auditlog/client"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to serve on")
	auditURL := flag.String("auditlog-url", envOr("AUDITLOG_URL", "http://127.0.0.1:8080"), "the auditlog service (env AUDITLOG_URL)")
	spool := flag.String("spool", "casedesk-spool", "directory that keeps activities until auditlog has them")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *auditURL, os.Getenv("AUDITLOG_TOKEN"), *spool); err != nil {
		log.Fatal(err)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// run serves casedesk until ctx ends, then delivers what is queued.
func run(ctx context.Context, addr, auditURL, token, spool string) error {
	if token == "" {
		return errors.New("AUDITLOG_TOKEN must hold an auditlog API token with activities:write")
	}
	c, err := client.New(client.Config{URL: auditURL, Token: token})
	if err != nil {
		return err
	}
	emitter, err := client.NewEmitter(client.EmitterConfig{
		Client:   c,
		SpoolDir: spool,
		OnRefused: func(a client.Activity, err error) {
			log.Printf("auditlog refused %s of %s %s: %v", a.SystemName, a.ObjectType, a.ObjectID, err)
		},
	})
	if err != nil {
		return err
	}
	audit := client.Middleware(client.MiddlewareConfig{Emitter: emitter, Actor: func(r *http.Request) (string, string) {
		return client.Human, r.Header.Get("X-User")
	}})
	srv := &http.Server{Addr: addr, Handler: audit(newDesk().routes())}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("casedesk on http://%s, recording into %s", addr, auditURL)
	select {
	case err = <-served:
	case <-ctx.Done():
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = srv.Shutdown(shutdown)
	}
	// Deliver what is queued; what auditlog does not take in time stays
	// in the spool for the next start.
	closing, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := emitter.Close(closing); cerr != nil {
		log.Print(cerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// desk holds the cases.
type desk struct {
	mu    sync.Mutex
	cases map[string]string // id → name
}

func newDesk() *desk { return &desk{cases: map[string]string{}} }

func (d *desk) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /cases/{id}", d.putCase)
	mux.HandleFunc("DELETE /cases/{id}", d.deleteCase)
	return mux
}

func (d *desk) putCase(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-User") == "" {
		http.Error(w, "X-User is required", http.StatusUnauthorized)
		return
	}
	var body struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" {
		http.Error(w, `the body must be {"name": "..."}`, http.StatusBadRequest)
		return
	}
	id := r.PathValue("id")
	// The change is applied only once its activity is in the spool
	// (fsynced): no change goes unaudited.
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.cases[id]
	err := client.EmitFor(r.Context(), client.Activity{SystemName: "EDIT_CASE", ObjectType: "Case", ObjectID: id, ObjectName: body.Name,
		Changes: []client.Change{{ColumnName: "name", OldValue: old, NewValue: body.Name}}})
	if err != nil {
		http.Error(w, "the change could not be audited: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	d.cases[id] = body.Name
	fmt.Fprintf(w, "case %s is %q\n", id, body.Name)
}

func (d *desk) deleteCase(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-User") == "" {
		http.Error(w, "X-User is required", http.StatusUnauthorized)
		return
	}
	id := r.PathValue("id")
	d.mu.Lock()
	defer d.mu.Unlock()
	name, ok := d.cases[id]
	if !ok {
		http.Error(w, "no such case", http.StatusNotFound)
		return
	}
	if err := client.EmitFor(r.Context(), client.Activity{SystemName: "DELETE_CASES", ObjectType: "Case", ObjectID: id, ObjectName: name}); err != nil {
		http.Error(w, "the deletion could not be audited: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	delete(d.cases, id)
	fmt.Fprintf(w, "case %s deleted\n", id)
}
