package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/export"
)

// repeated is a flag that may be given several times (OR within one filter).
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// runExport writes every activity the filters select, newest first, to
// stdout or --output, reading the store directly.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", stderr)
	formatName := fs.String("format", "csv", "csv, jsonl, or bundle (activities with their inclusion proofs, for auditlog verify --bundle)")
	withProofs := fs.Bool("with-proofs", false, "export a proof bundle: the same as --format bundle")
	output := fs.String("output", "", "file to write (default: standard output)")
	// The filter flags are the API's query parameters, with - for _;
	// each may be repeated, and ParseFilter says which may not.
	filters := map[string]*repeated{}
	for _, p := range auditlog.FilterParams {
		filters[p] = &repeated{}
		fs.Var(filters[p], strings.ReplaceAll(p, "_", "-"), "filter on "+p+", as the API's query parameter")
	}
	var sf storeFlags
	var kf keyFlags
	sf.register(fs)
	kf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	format, err := export.ParseFormat("--format", *formatName)
	if err != nil {
		return err
	}
	if *withProofs {
		format = export.Bundle
	}
	q := url.Values{}
	for p, values := range filters {
		if len(*values) > 0 {
			q[p] = *values
		}
	}
	f, err := auditlog.ParseFilter(q)
	var e *auditlog.Error
	if errors.As(err, &e) && e.Field != "" {
		e.Field = "--" + strings.ReplaceAll(e.Field, "_", "-")
	}
	if err != nil {
		return err
	}
	store, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()

	out := stdout
	name := export.FileName(format, !f.IsZero(), time.Now())
	if *output != "" {
		file, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return err
		}
		defer file.Close()
		out, name = file, *output
	}
	if _, err := store.RecordActivities(ctx, auditlog.RecordedByService, []auditlog.NewActivity{export.Activity(format, f, cliActor("export"), name)}); err != nil {
		return fmt.Errorf("record the export: %w", err)
	}
	var vkey string
	if format == export.Bundle {
		signer, _, err := kf.signer(&sf, false)
		if err != nil {
			return err
		}
		vkey = signer.VerifierKey
	}
	if err := export.Stream(ctx, store, format, f, vkey, out); err != nil {
		return err
	}
	if file, ok := out.(*os.File); ok && *output != "" {
		return file.Sync()
	}
	return nil
}
