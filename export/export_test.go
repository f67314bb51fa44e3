package export

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// tricky holds the cases a spreadsheet or a CSV parser gets wrong.
func tricky() []auditlog.Activity {
	created := time.Date(2026, 11, 26, 9, 14, 3, 123456000, time.UTC)
	return []auditlog.Activity{
		{ID: 3, Created: created, Operator: auditlog.OperatorHuman, Username: "=HYPERLINK(\"http://evil\",\"x\")",
			DisplayName: "Edit Permission Group", SystemName: "EDIT_PERMISSION_GROUP",
			Extra: json.RawMessage(`{"browser":"Firefox 131","note":"a, \"quoted\"\nline"}`), ObjectID: "17",
			ObjectType: "PermissionGroup", ObjectName: "+Keyers, \"day\" shift",
			Changes:    []auditlog.Change{{ColumnName: "permissions", OldValue: "read", NewValue: "read,write"}, {ColumnName: "-note", OldValue: "", NewValue: "@line 1\r\nline 2"}},
			RecordedBy: auditlog.TokenRecorder(3)},
		{ID: 2, Created: created.Add(-time.Hour), Operator: auditlog.OperatorHuman, Username: "zoë.müller",
			DisplayName: "Download CSV", SystemName: "DOWNLOAD_CSV", SubtypeDisplayName: "Audit Log CSV", SubtypeSystemName: "AUDIT_LOG_CSV",
			Extra: json.RawMessage(`{"filter":"username=\u65e5\u672c"}`), ObjectName: "日本語の名前 — \tindented", ObjectType: "\rType",
			RecordedBy: auditlog.RecordedByService},
		{ID: 1, Created: created.Add(-48 * time.Hour), Operator: auditlog.OperatorMachine,
			DisplayName: "Application upgrade", SystemName: "APPLICATION_UPGRADE"}, // recorded before provenance was kept
	}
}

func render(t *testing.T, f Format, acts []auditlog.Activity, loc *time.Location) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(f, &buf, loc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range acts {
		if err := w.Write(&acts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./export -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got %q\nwant %q", name, got, want)
	}
}

func TestCSVMatchesGoldenFile(t *testing.T) {
	golden(t, "tricky.csv", render(t, CSV, tricky(), time.UTC))
}

func TestCSVInAnotherZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "tricky-berlin.csv", render(t, CSV, tricky(), berlin))
}

func TestJSONLMatchesGoldenFile(t *testing.T) {
	golden(t, "tricky.jsonl", render(t, JSONL, tricky(), time.UTC))
}

func TestCSVParsesBackToTheActivities(t *testing.T) {
	acts := tricky()
	records, err := csv.NewReader(bytes.NewReader(render(t, CSV, acts, time.UTC))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != len(acts)+1 || strings.Join(records[0], ",") != strings.Join(Header, ",") {
		t.Fatalf("got %d records, header %q", len(records), records[0])
	}
	unescape := func(s string) string {
		if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r", rune(s[1])) {
			return s[1:]
		}
		return s
	}
	for i, a := range acts {
		r := records[i+1]
		for j, cell := range r {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("row %d cell %q (%s) begins with a formula character", i, cell, Header[j])
			}
		}
		var changes []auditlog.Change
		if err := json.Unmarshal([]byte(unescape(r[12])), &changes); err != nil {
			t.Fatalf("row %d: Object Column Changes is not JSON: %v", i, err)
		}
		if len(changes) != len(a.Changes) || (len(changes) > 0 && changes[len(changes)-1] != a.Changes[len(a.Changes)-1]) {
			t.Errorf("row %d: changes %v, want %v", i, changes, a.Changes)
		}
		if got := unescape(r[3]); got != a.Username {
			t.Errorf("row %d: username %q, want %q", i, got, a.Username)
		}
		if got := unescape(r[11]); got != a.ObjectName {
			t.Errorf("row %d: object name %q, want %q", i, got, a.ObjectName)
		}
		if r[8] == "" || r[12] == "" {
			t.Errorf("row %d: empty Extra or Object Column Changes; want {} and []", i)
		}
	}
}

func TestEscapeCell(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "plain": "plain", "=1+2": "'=1+2", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "\rx": "'\rx", "a=b": "a=b", "'=x": "'=x", " =x": " =x",
	} {
		if got := EscapeCell(in); got != want {
			t.Errorf("EscapeCell(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscapeCell(f *testing.F) {
	for _, s := range []string{"", "x", "=1", "+", "-", "@", "\t", "\r", "日本", "a,b\"c\nd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := EscapeCell(s)
		if got != "" && strings.ContainsRune("=+-@\t\r", rune(got[0])) {
			t.Fatalf("EscapeCell(%q) = %q begins with a formula character", s, got)
		}
		if got != s && got != "'"+s {
			t.Fatalf("EscapeCell(%q) = %q changes more than a leading quote", s, got)
		}
		// What the CSV writer quotes, a CSV reader gives back unchanged.
		var buf bytes.Buffer
		w := csv.NewWriter(&buf)
		w.UseCRLF = true
		w.Write([]string{got, "end"})
		w.Flush()
		rec, err := csv.NewReader(&buf).Read()
		if err != nil {
			t.Fatalf("reading back %q: %v", buf.String(), err)
		}
		// encoding/csv turns \r\n inside a quoted field into \n when reading.
		if want := strings.ReplaceAll(got, "\r\n", "\n"); rec[0] != want && !strings.Contains(got, "\r") {
			t.Fatalf("cell %q read back as %q", got, rec[0])
		}
	})
}

func TestFileNameSaysWhatAndWhen(t *testing.T) {
	at := time.Date(2026, 11, 26, 9, 14, 3, 0, time.FixedZone("x", 3600))
	if got := FileName(CSV, false, at); got != "audit-log-all-activities-20261126T081403Z.csv" {
		t.Errorf("all: %s", got)
	}
	if got := FileName(JSONL, true, at); got != "audit-log-filtered-activities-20261126T081403Z.jsonl" {
		t.Errorf("filtered: %s", got)
	}
}
