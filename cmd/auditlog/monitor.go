package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/monitor"
	"github.com/auditlog/auditlog/tlog"
	"github.com/auditlog/auditlog/witness"
)

// runMonitor follows a log over HTTP with its tiles alone (package
// monitor): each new activity goes to stdout as a JSON line, and a log
// that forked, shrank or served entries that do not match its tiles ends
// the command with an error naming the sizes.
func runMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("monitor", stderr)
	base := fs.String("url", os.Getenv("AUDITLOG_URL"), "the service's address, such as https://audit.example; the tiles are under URL/tlog/ (env AUDITLOG_URL; required)")
	vkey := fs.String("verifier-key", os.Getenv("AUDITLOG_VERIFIER_KEY"), "the log's verifier key <name>+<hash>+<key>, obtained through a channel you trust (env AUDITLOG_VERIFIER_KEY; required)")
	state := fs.String("state", "", "file that keeps the last checkpoint verified, created on the first run (required)")
	token := fs.String("token", os.Getenv("AUDITLOG_TOKEN"), "API token with activities:read, for the entries (env AUDITLOG_TOKEN); without it only a public log's entries could be read, and they are never public")
	once := fs.Bool("once", false, "check once and exit, instead of polling")
	every := fs.Duration("interval", 10*time.Second, "how often to poll for a new checkpoint")
	policyFile := fs.String("policy", "", "a witness policy file: advance only to checkpoints that carry its quorum of cosignatures")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, f := range []struct{ name, value string }{{"--url", *base}, {"--verifier-key", *vkey}, {"--state", *state}} {
		if f.value == "" {
			return auditlog.FieldErrorf(f.name, "%s is required", f.name)
		}
	}
	verifier, err := tlog.NewVerifier(*vkey)
	if err != nil {
		return auditlog.FieldErrorf("--verifier-key", "%v", err)
	}
	if *every <= 0 {
		return auditlog.FieldErrorf("--interval", "--interval must be positive")
	}
	m := &monitor.Monitor{
		Base:     *base,
		Verifier: verifier,
		Client:   &http.Client{Timeout: time.Minute, Transport: bearer{token: *token}},
		State:    tlog.SavedCheckpoint{Path: *state},
		Entry: func(_ int64, entry []byte) error {
			_, err := fmt.Fprintf(stdout, "%s\n", entry)
			return err
		},
	}
	if *policyFile != "" {
		policy, err := witness.LoadPolicy(*policyFile)
		if err != nil {
			return auditlog.FieldErrorf("--policy", "%v", err)
		}
		m.Quorum = policy
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	for {
		round, err := m.Check(ctx)
		var violation *monitor.Violation
		switch {
		case errors.As(err, &violation):
			return err
		case err != nil && *once:
			return err
		case errors.As(err, new(*monitor.NotWitnessed)):
			log.Info("waiting for the witnesses' cosignatures", "error", err)
		case err != nil:
			log.Warn("the log could not be checked; trying again", "error", err)
		case round.To > round.From:
			log.Info("checkpoint verified", "size", round.To, "new_activities", round.To-round.From)
		}
		if *once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(*every):
		}
	}
}

// bearer sends the token with every request, when there is one.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}
