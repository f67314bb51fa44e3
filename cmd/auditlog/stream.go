package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/stream"
)

func runStreamCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var ns auditlog.NewStream
	var caFile string
	return adminCommand{name: "stream create",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&ns.Name, "name", "", "the stream's name (required)")
			fs.StringVar(&ns.Type, "type", "", "webhook, syslog, nats or splunk_hec (required)")
			fs.StringVar(&ns.URL, "url", "", "the destination: http(s):// (webhook, splunk_hec), tcp:// or tls:// (syslog), nats:// (required)")
			fs.StringVar(&ns.Format, "format", "json", "json (the activity as the API returns it) or ocsf")
			fs.StringVar(&ns.Filter, "filter", "", `the list endpoint's filters as a query string, e.g. "activity=USER_LOGIN&operator=human"; empty: everything`)
			fs.StringVar(&ns.Start, "start", "now", "now (activities recorded from now on), beginning, or the id of the first activity")
			fs.IntVar(&ns.BatchSize, "batch-size", 100, "activities per delivery, 1 to 1000")
			fs.StringVar(&ns.Secret, "secret", "", "webhook: the signing secret (generated when absent); splunk_hec: the HEC token")
			fs.StringVar(&ns.Subject, "subject", "", "nats: the subject prefix (default auditlog)")
			fs.StringVar(&caFile, "ca-file", "", "a CA certificate (PEM) for tls:// and https:// destinations with a private CA")
		},
		check: func() error {
			if caFile != "" {
				pem, err := os.ReadFile(caFile)
				if err != nil {
					return auditlog.FieldErrorf("--ca-file", "%v", err)
				}
				ns.CAPEM = string(pem)
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			ns.GenerateSecret()
			st, err := store.CreateStream(ctx, by, ns)
			if err != nil {
				return err
			}
			if ns.Secret != "" {
				fmt.Fprintln(stdout, ns.Secret) // shown only here
				return nil
			}
			fmt.Fprintln(stdout, st.ID)
			return nil
		},
	}.exec(ctx, args, stdout, stderr)
}

// streamRow is a stream as `stream list` shows it.
type streamRow struct {
	auditlog.Stream
	State      string  `json:"state"`
	Lag        int64   `json:"lag"`
	LagSeconds float64 `json:"lag_seconds"`
}

func runStreamList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var asJSON bool
	return adminCommand{name: "stream list",
		flags: func(fs *flag.FlagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") },
		run: func(ctx context.Context, store auditlog.Store, _ auditlog.Actor, stdout io.Writer) error {
			streams, err := store.Streams(ctx)
			if err != nil {
				return err
			}
			rows := make([]streamRow, len(streams))
			for i := range streams {
				lag, err := stream.Lag(ctx, store, &streams[i])
				if err != nil {
					return err
				}
				rows[i] = streamRow{Stream: streams[i], State: streams[i].State(), Lag: lag.Activities, LagSeconds: lag.Seconds(time.Now())}
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTYPE\tURL\tSTATE\tCURSOR\tLAG\tDELIVERED\tLAST DELIVERY\tLAST ERROR")
			for _, r := range rows {
				last := "never"
				if !r.LastDeliveryAt.IsZero() {
					last = r.LastDeliveryAt.Format(time.RFC3339)
				}
				fmt.Fprintln(tw, strings.Join([]string{strconv.FormatInt(r.ID, 10), r.Name, r.Type, r.URL, r.State,
					strconv.FormatInt(r.Cursor, 10), fmt.Sprintf("%d (%.0fs)", r.Lag, r.LagSeconds), strconv.FormatInt(r.Delivered, 10), last, r.LastError}, "\t"))
			}
			return tw.Flush()
		},
	}.exec(ctx, args, stdout, stderr)
}

// streamByID is a command on one stream, named by --id.
func streamByID(name string, flags func(fs *flag.FlagSet), act func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64) (string, error)) adminCommand {
	var id int64
	return adminCommand{name: name,
		flags: func(fs *flag.FlagSet) {
			fs.Int64Var(&id, "id", 0, "the stream's id, from stream list (required)")
			if flags != nil {
				flags(fs)
			}
		},
		check: func() error {
			if id <= 0 {
				return auditlog.FieldErrorf("--id", "--id is required (a positive stream id)")
			}
			return nil
		},
		run: func(ctx context.Context, store auditlog.Store, by auditlog.Actor, stdout io.Writer) error {
			msg, err := act(ctx, store, by, id)
			if err == nil {
				fmt.Fprintln(stdout, msg)
			}
			return err
		},
	}
}

func runStreamPause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return streamByID("stream pause", nil, func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64) (string, error) {
		st, err := store.PauseStream(ctx, by, id, true)
		return fmt.Sprintf("paused stream %d (%q) at activity %d", id, nameOf(st), cursorOf(st)), err
	}).exec(ctx, args, stdout, stderr)
}

func runStreamResume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return streamByID("stream resume", nil, func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64) (string, error) {
		st, err := store.PauseStream(ctx, by, id, false)
		return fmt.Sprintf("resumed stream %d (%q) after activity %d", id, nameOf(st), cursorOf(st)), err
	}).exec(ctx, args, stdout, stderr)
}

func runStreamReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var from int64
	return streamByID("stream replay", func(fs *flag.FlagSet) {
		fs.Int64Var(&from, "from-id", 0, "the first activity to deliver again (required)")
	}, func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64) (string, error) {
		if from <= 0 {
			return "", auditlog.FieldErrorf("--from-id", "--from-id is required (an activity id)")
		}
		st, err := store.ReplayStream(ctx, by, id, from)
		return fmt.Sprintf("stream %d (%q) delivers again from activity %d", id, nameOf(st), from), err
	}).exec(ctx, args, stdout, stderr)
}

func runStreamDelete(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return streamByID("stream delete", nil, func(ctx context.Context, store auditlog.Store, by auditlog.Actor, id int64) (string, error) {
		return fmt.Sprintf("deleted stream %d", id), store.DeleteStream(ctx, by, id)
	}).exec(ctx, args, stdout, stderr)
}

func nameOf(st *auditlog.Stream) string {
	if st == nil {
		return ""
	}
	return st.Name
}

func cursorOf(st *auditlog.Stream) int64 {
	if st == nil {
		return 0
	}
	return st.Cursor
}
