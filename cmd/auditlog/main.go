// Command auditlog runs the audit log service and its administrative
// commands. Each subcommand lives in its own file with its own flag set;
// wiring of the store, the HTTP server and the clock happens only here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the tz filter works on hosts without a zoneinfo database

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/postgres"
	"github.com/auditlog/auditlog/sqlite"
)

const usage = `auditlog: a self-hosted, tamper-evident audit log

Usage:
  auditlog serve  [--addr 127.0.0.1:8080] [--data DIR | --database-url URL] [--tls-cert F --tls-key F]
                  [--trusted-proxies CIDRS] [--session-ttl 12h] [--session-idle 1h]
                  [--witness "KEY URL" ...] [--witness-policy FILE] [--public-log]  run the HTTP API
  auditlog token create --name NAME --scopes S1,S2 [--user USERNAME] [--expires 720h]   prints only the token
  auditlog token list | revoke --id N | reset --id N
  auditlog group create --name NAME [--permissions P1,P2]
  auditlog group edit --name NAME [--rename NEW] [--permissions P1,P2|none]
  auditlog group delete --name NAME [--name NAME ...] | list
  auditlog user create --username U --group GROUP [--password-stdin]
  auditlog user edit --username U [--group G] [--password-stdin] [--disable | --enable]
  auditlog user delete --username U | restore --username U | list
  auditlog session list | revoke (--id N | --user U | --group G)
  auditlog activity-type create --display-name NAME [--description TEXT] [--subtypes "A,B"] | list
  auditlog stream create --name NAME --type webhook|syslog|nats|splunk_hec --url URL [--filter QUERY] [--start now|beginning|ID]
                  [--format json|ocsf] [--batch-size N] [--secret S] [--subject S] [--ca-file PEM]   prints the secret (or the id)
  auditlog stream list | pause --id N | resume --id N | replay --id N --from-id M | delete --id N
  auditlog export [--format csv|jsonl|bundle] [--with-proofs] [--output FILE] [--activity A ...] [--operator O] [--username U ...]
                  [--id N ...] [--object-type T] [--object-id I] [--created-on D | --created-from T --created-to T] [--tz Z]
  auditlog verify [--verifier-key KEY] [--checkpoint FILE] [--policy FILE]  check the log against its signed checkpoints
  auditlog verify --bundle FILE --verifier-key KEY [--policy FILE]          check an exported proof bundle offline
  auditlog demo [--count N] [--span 720h]                  fill the store with realistic activities
  auditlog monitor --url URL --verifier-key KEY --state FILE [--token T] [--once]
                  follow a log over HTTP with its tiles alone; print each new activity

Every command that touches the store takes --data DIR or --database-url URL,
or the AUDITLOG_DATA / AUDITLOG_DATABASE_URL environment variables.
Run "auditlog COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "auditlog:", describe(err))
		}
		os.Exit(exitCode(err))
	}
}

// run dispatches to a subcommand.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	cmd, rest := args[0], args[1:]
	sub := ""
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		sub = rest[0]
	}
	switch {
	case cmd == "serve":
		return runServe(ctx, rest, stderr)
	case cmd == "verify":
		return runVerify(ctx, rest, stdout, stderr)
	case cmd == "export":
		return runExport(ctx, rest, stdout, stderr)
	case cmd == "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case cmd == "monitor":
		return runMonitor(ctx, rest, stdout, stderr)
	case adminCommands[cmd+" "+sub] != nil:
		return adminCommands[cmd+" "+sub](ctx, rest[1:], stdout, stderr)
	case cmd == "user" && sub == "create":
		return runUserCreate(ctx, rest[1:], stdin, stdout, stderr)
	case cmd == "user" && sub == "edit":
		return runUserEdit(ctx, rest[1:], stdin, stdout, stderr)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", strings.Join(args[:min(2, len(args))], " "))
}

// adminCommands are the administrative subcommands that read no input.
var adminCommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{
	"token create":   runTokenCreate,
	"token list":     runTokenList,
	"token revoke":   runTokenRevoke,
	"token reset":    runTokenReset,
	"group create":   runGroupCreate,
	"group edit":     runGroupEdit,
	"group delete":   runGroupDelete,
	"group list":     runGroupList,
	"user delete":    runUserDelete,
	"user restore":   runUserRestore,
	"user list":      runUserList,
	"session list":   runSessionList,
	"session revoke": runSessionRevoke,

	"activity-type create": runActivityTypeCreate,
	"activity-type list":   runActivityTypeList,

	"stream create": runStreamCreate,
	"stream list":   runStreamList,
	"stream pause":  runStreamPause,
	"stream resume": runStreamResume,
	"stream replay": runStreamReplay,
	"stream delete": runStreamDelete,
}

// describe writes an error for a person at a terminal.
func describe(err error) string {
	var e *auditlog.Error
	if errors.As(err, &e) {
		if e.Field != "" {
			return fmt.Sprintf("%s: %s", e.Field, e.Message)
		}
		return e.Message
	}
	return err.Error()
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

// storeFlags are the flags of every command that opens the store.
type storeFlags struct {
	data        string
	databaseURL string
}

func (sf *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.data, "data", envOr("AUDITLOG_DATA", "auditlog-data"), "data directory of the embedded store (env AUDITLOG_DATA)")
	fs.StringVar(&sf.databaseURL, "database-url", os.Getenv("AUDITLOG_DATABASE_URL"), "PostgreSQL URL instead of the embedded store (env AUDITLOG_DATABASE_URL)")
}

// store is what the commands work on: the embedded SQLite store or PostgreSQL.
type store interface {
	auditlog.Store
	// Analyze refreshes the query planner's statistics after a bulk load.
	Analyze(ctx context.Context) error
}

// open opens the store the flags name, reading time from now (time.Now
// when nil): PostgreSQL when a database URL is given, else the embedded
// store in the data directory.
func (sf *storeFlags) open(ctx context.Context, now func() time.Time) (store, error) {
	return sf.openStore(ctx, now, false)
}

// openForReading opens the store the flags name for reading only: nothing
// is created, migrated or written (auditlog verify).
func (sf *storeFlags) openForReading(ctx context.Context) (store, error) {
	return sf.openStore(ctx, nil, true)
}

func (sf *storeFlags) openStore(ctx context.Context, now func() time.Time, readOnly bool) (store, error) {
	if sf.databaseURL != "" {
		db, err := postgres.Open(ctx, postgres.Config{URL: sf.databaseURL, Builtin: catalog.Builtin(), Now: now, ReadOnly: readOnly})
		if err != nil {
			return nil, fmt.Errorf("open the PostgreSQL store: %w", err)
		}
		return db, nil
	}
	db, err := sqlite.Open(ctx, sqlite.Config{Dir: sf.data, Builtin: catalog.Builtin(), Now: now, ReadOnly: readOnly})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// location describes the store for a log line: the data directory, or the
// PostgreSQL server and database (never the password).
func (sf *storeFlags) location() string {
	if sf.databaseURL == "" {
		return sf.data
	}
	u, err := url.Parse(sf.databaseURL)
	if err != nil || u.Host == "" {
		return "a PostgreSQL database"
	}
	return "postgres://" + u.Host + u.Path
}

// envDuration reads a duration flag's default from the environment;
// checkEnvDurations refuses a value there that does not parse.
func envDuration(name string, fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return fallback
}

// checkEnvDurations refuses environment variables that are set but are not
// durations, naming the variable.
func checkEnvDurations(names ...string) error {
	for _, name := range names {
		if v := os.Getenv(name); v != "" {
			if _, err := time.ParseDuration(v); err != nil {
				return auditlog.FieldErrorf(name, "%s=%q is not a duration such as 12h or 30m", name, v)
			}
		}
	}
	return nil
}

func envOr(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

// parseFlags parses args and refuses stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
