// Package export writes activities as CSV (RFC 4180, safe to open in a
// spreadsheet) and as JSON Lines, one activity at a time, so that an export
// of any size streams in constant memory.
package export

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// Format is an export file format.
type Format string

// The export formats.
const (
	CSV   Format = "csv"
	JSONL Format = "jsonl"
	// Bundle is a JSON proof bundle: activities with their inclusion proofs
	// and the signed checkpoint, checkable offline (see tlog.VerifyBundle).
	Bundle Format = "bundle"
)

// ParseFormat reads a format name.
func ParseFormat(field, s string) (Format, error) {
	switch Format(s) {
	case CSV, JSONL, Bundle:
		return Format(s), nil
	}
	return "", auditlog.FieldErrorf(field, "%s must be csv, jsonl or bundle, not %q", field, s)
}

// ContentType is the media type of the format.
func (f Format) ContentType() string {
	switch f {
	case CSV:
		return "text/csv; charset=utf-8"
	case Bundle:
		return "application/json"
	}
	return "application/jsonl; charset=utf-8"
}

// extension is the file name extension of the format.
func (f Format) extension() string {
	if f == Bundle {
		return "bundle.json"
	}
	return string(f)
}

// Header is the CSV header row, in the contract's order.
var Header = []string{
	"Activity ID", "Activity Created", "Operator", "Username", "Activity Display Name",
	"Activity System Name", "Activity Subtype Display Name", "Activity Subtype System Name",
	"Extra", "Object ID", "Object Type", "Object Name", "Object Column Changes",
	"Recorded By",
}

// Writer writes activities in one format.
type Writer interface {
	// Write writes one activity.
	Write(a *auditlog.Activity) error
	// Close flushes what is buffered; it does not close the underlying writer.
	Close() error
}

// NewWriter returns a Writer of the format on w. CSV writes its header row
// at once and times in loc.
func NewWriter(f Format, w io.Writer, loc *time.Location) (Writer, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if f == JSONL {
		return &jsonlWriter{bw: bw}, nil
	}
	cw := csv.NewWriter(bw)
	cw.UseCRLF = true
	if err := cw.Write(Header); err != nil {
		return nil, err
	}
	return &csvWriter{bw: bw, cw: cw, loc: loc, record: make([]string, len(Header))}, nil
}

type csvWriter struct {
	bw     *bufio.Writer
	cw     *csv.Writer
	loc    *time.Location
	record []string
}

func (w *csvWriter) Write(a *auditlog.Activity) error {
	// Most activities change no column: their cell is "[]", what EncodeJSON
	// writes for an empty list, without the encoder.
	changesJSON := []byte("[]")
	if len(a.Changes) > 0 {
		var err error
		if changesJSON, err = auditlog.EncodeJSON(a.Changes); err != nil {
			return err
		}
	}
	extra := string(a.Extra)
	if extra == "" {
		extra = "{}"
	}
	r := w.record
	r[0] = strconv.FormatInt(a.ID, 10)
	r[1] = a.Created.In(w.loc).Format(auditlog.CreatedLayout)
	r[2] = string(a.Operator)
	r[3] = a.Username
	r[4] = a.DisplayName
	r[5] = a.SystemName
	r[6] = a.SubtypeDisplayName
	r[7] = a.SubtypeSystemName
	r[8] = extra
	r[9] = a.ObjectID
	r[10] = a.ObjectType
	r[11] = a.ObjectName
	r[12] = string(changesJSON)
	r[13] = string(a.RecordedBy)
	for i := range r {
		r[i] = EscapeCell(r[i])
	}
	return w.cw.Write(r)
}

func (w *csvWriter) Close() error {
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return err
	}
	return w.bw.Flush()
}

// EscapeCell guards a cell against spreadsheet formula injection: text that
// begins with =, +, -, @, a tab or a carriage return gets a leading single
// quote, so a spreadsheet shows it as text instead of evaluating it. Every
// cell goes through it, the JSON ones included. Quoting for commas, quotes
// and line breaks is encoding/csv's job.
func EscapeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

type jsonlWriter struct {
	bw *bufio.Writer
}

func (w *jsonlWriter) Write(a *auditlog.Activity) error {
	b, err := auditlog.EncodeJSON(a)
	if err != nil {
		return err
	}
	w.bw.Write(b)
	return w.bw.WriteByte('\n')
}

func (w *jsonlWriter) Close() error { return w.bw.Flush() }

// FileName names an export file after what it holds and when it was made:
// audit-log-all-activities-20261126T091403Z.csv, or
// audit-log-filtered-activities-… when a filter was applied.
func FileName(f Format, filtered bool, at time.Time) string {
	what := "all-activities"
	if filtered {
		what = "filtered-activities"
	}
	return fmt.Sprintf("audit-log-%s-%s.%s", what, at.UTC().Format("20060102T150405Z"), f.extension())
}

// Stream writes every activity that f selects to w in the format, newest
// first, from one snapshot. A bundle holds the activities that the latest
// checkpoint covers, each with its inclusion proof into that checkpoint.
func Stream(ctx context.Context, s auditlog.Store, f Format, filter auditlog.Filter, verifierKey string, w io.Writer) error {
	if f == Bundle {
		return streamBundle(ctx, s, filter, verifierKey, w)
	}
	ew, err := NewWriter(f, w, filter.Location())
	if err != nil {
		return err
	}
	if err := streamPipelined(ctx, s, filter, ew.Write); err != nil {
		return err
	}
	return ew.Close()
}

// Batches handed from the reading goroutine to the writing one.
const (
	pipeBatch  = 256 // activities per batch
	pipeQueued = 4   // batches waiting to be written
)

// streamPipelined calls write with every activity that filter selects, in
// order, from a goroutine of its own: reading the rows (SQLite, database/sql,
// decoding) and encoding them for the client (CSV or JSON, the socket) take
// about the same time, and so run on two cores instead of one. At most
// pipeQueued+2 batches are held at once, so memory stays constant. The
// activities are copied out of the store's callback, which must not keep
// them.
func streamPipelined(ctx context.Context, s auditlog.Store, filter auditlog.Filter, write func(*auditlog.Activity) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type batch struct {
		acts  []auditlog.Activity
		bytes []byte // the batch's extra values, end to end
	}
	full := make(chan *batch, pipeQueued)
	free := make(chan *batch, pipeQueued+2)
	written := make(chan error, 1)
	go func() {
		var err error
		for b := range full {
			if err == nil {
				err = ctx.Err() // the client went away: write no more
			}
			for i := 0; err == nil && i < len(b.acts); i++ {
				if err = write(&b.acts[i]); err != nil {
					cancel() // stops the reading
				}
			}
			clear(b.acts) // let go of the strings before reuse
			b.acts, b.bytes = b.acts[:0], b.bytes[:0]
			select {
			case free <- b:
			default:
			}
		}
		written <- err
	}()

	next := func() *batch {
		select {
		case b := <-free:
			return b
		default:
			return &batch{acts: make([]auditlog.Activity, 0, pipeBatch)}
		}
	}
	cur := next()
	send := func() error {
		select {
		case full <- cur:
			cur = next()
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := s.StreamActivities(ctx, filter, func(a *auditlog.Activity) error {
		c, bytes := a.Retain(cur.bytes)
		cur.acts, cur.bytes = append(cur.acts, c), bytes
		if len(cur.acts) == pipeBatch {
			return send()
		}
		return nil
	})
	if err == nil && len(cur.acts) > 0 {
		err = send()
	}
	close(full)
	if werr := <-written; werr != nil {
		return werr // the reading stopped because of it
	}
	return err
}

func streamBundle(ctx context.Context, s auditlog.Store, filter auditlog.Filter, verifierKey string, w io.Writer) error {
	cp, err := s.LatestCheckpoint(ctx)
	if err != nil {
		return err
	}
	signed, err := tlog.WithCosignatures(ctx, s, cp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	b, err := tlog.NewBundleWriter(bw, tlog.BundleHeader{Checkpoint: string(signed), VerifierKey: verifierKey})
	if err != nil {
		return err
	}
	if filter.BeforeID == 0 || filter.BeforeID > int64(cp.Size)+1 {
		filter.BeforeID = int64(cp.Size) + 1
	}
	fetch := func(ids []auditlog.NodeID) ([][]byte, error) { return s.TreeNodes(ctx, ids) }
	err = s.StreamActivities(ctx, filter, func(a *auditlog.Activity) error {
		index := uint64(a.ID - 1)
		hashes, err := tlog.InclusionProof(index, cp.Size, fetch)
		if err != nil {
			return err
		}
		raw, err := auditlog.EncodeJSON(a)
		if err != nil {
			return err
		}
		return b.Write(tlog.BundleEntry{Activity: raw, LeafIndex: index, Hashes: hashes})
	})
	if err != nil {
		return err
	}
	if err := b.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// Activity is the audit-log activity that records an export of the audit
// log: Download CSV / Audit Log CSV, or Download JSON / Audit Log JSON Lines,
// with the filter and the client in extra and the file as the object.
func Activity(f Format, filter auditlog.Filter, by auditlog.Actor, fileName string) auditlog.NewActivity {
	extra := map[string]any{"format": string(f), "filter": auditlog.Clip(filter.Query().Encode(), maxFilterText)}
	if filter.Zone != nil {
		extra["tz"] = filter.Zone.String()
	}
	for k, v := range by.Client {
		extra[k] = auditlog.Clip(v, maxDetailText)
	}
	b, _ := auditlog.EncodeJSON(extra) // a map of strings always encodes
	a := auditlog.NewActivity{
		SystemName: "DOWNLOAD_CSV", SubtypeSystemName: "AUDIT_LOG_CSV",
		Operator: by.Operator, Username: by.Username, Extra: b,
		ObjectType: "AuditLogExport", ObjectName: fileName,
	}
	switch f {
	case JSONL:
		a.SystemName, a.SubtypeSystemName = "DOWNLOAD_JSON", "AUDIT_LOG_JSON_LINES"
	case Bundle:
		a.SystemName, a.SubtypeSystemName = "DOWNLOAD_JSON", "AUDIT_LOG_PROOF_BUNDLE"
	}
	return a
}

// Bounds that keep the export's extra well under auditlog.MaxExtraBytes
// however long the filter or the client's description.
const (
	maxFilterText = 8192
	maxDetailText = 512
)
