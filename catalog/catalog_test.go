package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/auditlog/auditlog"
)

// Entries whose name line the seed copy lost (NOTES.md). Each maps to the
// seed line that takes the place of the name: the entry's description, after
// which its "Introduced in" line follows.
var lostName = map[string]string{
	"USER_LOGIN":                       "User logs in to the system",
	"CREATE_BLOCKSTORAGEBINARY_RECORD": "Create a BlockStorageBinary record",
}

// Entries whose description was repaired, each with the seed's original line,
// which must still be found under the entry's name.
var repairedDescription = map[string]string{
	"DJANGO_ADMIN":         "/admin in v39.1.0. For more information reach out to your Hyperscience representative.",
	"EDIT_PYTHON_PACKAGES": "Install/Uninstall Python packages and manage Command ( levels",
	"TRAINER_REGISTER":     "Register the trainer by running bash trainer \u00a0 from the trainer machine",
}

// Entries listed twice in the seed, with the description lines of the
// listing that were not kept when merging.
var mergedAway = map[string][]string{
	"EDIT_DATA_TYPE": nil,
	"UPLOAD_GROUND_TRUTH_TRAINING_DATA_DOCUMENT": {"Import ground truth training data"},
}

// No entry's introduced_in is repaired: every value comes from the first
// "Introduced in" line under the entry's name. The one block holding two
// such lines is Login failed's: the second belongs to the nameless entry.
const twoIntroducedLines = "LOGIN_FAILED"

var (
	introducedLine = regexp.MustCompile(`^Introduced in (v[0-9]+\.[0-9]+\.[0-9]+)$`)
	versionForm    = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)
)

func parsedEntries(t *testing.T) []entry {
	t.Helper()
	entries, err := parse(activityTypesJSON)
	if err != nil {
		t.Fatalf("activity_types.json does not parse: %v", err)
	}
	return entries
}

func TestCatalogueShape(t *testing.T) {
	entries := parsedEntries(t)
	if n := len(entries); n < 250 || n > 275 {
		t.Errorf("catalogue has %d entries; want 250..275", n)
	}
	seen := map[string]bool{}
	seenDisplay := map[string]bool{}
	for i, e := range entries {
		if seen[e.SystemName] {
			t.Errorf("entry %d: system name %s listed twice", i, e.SystemName)
		}
		seen[e.SystemName] = true
		if seenDisplay[e.DisplayName] {
			t.Errorf("entry %d: display name %q listed twice", i, e.DisplayName)
		}
		seenDisplay[e.DisplayName] = true
		if got := auditlog.SystemNameOf(e.DisplayName); e.SystemName != got {
			t.Errorf("%q: system name %s, but SystemNameOf gives %s", e.DisplayName, e.SystemName, got)
		}
		if e.IntroducedIn != "" && !versionForm.MatchString(e.IntroducedIn) {
			t.Errorf("%s: introduced_in %q is not of the form v39.1.0", e.SystemName, e.IntroducedIn)
		}
		if e.Description != strings.TrimSpace(e.Description) || strings.Contains(e.Description, "  ") {
			t.Errorf("%s: description %q has stray spaces", e.SystemName, e.Description)
		}
		if e.Subtypes == nil {
			t.Errorf("%s: subtypes is null; want []", e.SystemName)
		}
		subs := map[string]bool{}
		for _, s := range e.Subtypes {
			if got := auditlog.SystemNameOf(s.DisplayName); s.SystemName != got {
				t.Errorf("%s: subtype %q has system name %s, but SystemNameOf gives %s", e.SystemName, s.DisplayName, s.SystemName, got)
			}
			if subs[s.SystemName] {
				t.Errorf("%s: subtype %s listed twice", e.SystemName, s.SystemName)
			}
			subs[s.SystemName] = true
		}
		if len(e.Subtypes) > 0 && e.Note == "" {
			t.Errorf("%s has subtypes but no note explaining them", e.SystemName)
		}
		// The entry must also pass the checks a custom type would.
		ty := e.activityType()
		if err := ty.Validate(); err != nil {
			t.Errorf("%s does not validate: %v", e.SystemName, err)
		}
		if ty.DisplayName != e.DisplayName || ty.SystemName != e.SystemName {
			t.Errorf("%s: Validate changed the names to %q / %s", e.SystemName, ty.DisplayName, ty.SystemName)
		}
	}
	for _, set := range []map[string]string{lostName, repairedDescription} {
		for name := range set {
			if e, ok := find(entries, name); !ok || e.Note == "" {
				t.Errorf("%s is repaired, so it must exist and carry a note", name)
			}
		}
	}
	for name := range mergedAway {
		if e, ok := find(entries, name); !ok || e.Note == "" {
			t.Errorf("%s is merged, so it must exist and carry a note", name)
		}
	}
}

func find(entries []entry, systemName string) (entry, bool) {
	for _, e := range entries {
		if e.SystemName == systemName {
			return e, true
		}
	}
	return entry{}, false
}

// TestJSONKeys checks the file's form beyond what decoding shows: the five
// keys are present, subtypes is an array (never null), a note is never empty.
func TestJSONKeys(t *testing.T) {
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(activityTypesJSON, &raw); err != nil {
		t.Fatal(err)
	}
	required := []string{"system_name", "display_name", "description", "introduced_in", "subtypes"}
	for i, obj := range raw {
		for _, k := range required {
			if _, ok := obj[k]; !ok {
				t.Errorf("entry %d lacks key %q", i, k)
			}
		}
		for k := range obj {
			if !slices.Contains(required, k) && k != "note" {
				t.Errorf("entry %d has unknown key %q", i, k)
			}
		}
		if s := bytes.TrimSpace(obj["subtypes"]); len(s) == 0 || s[0] != '[' {
			t.Errorf("entry %d: subtypes is %s; want an array", i, s)
		}
		if n, ok := obj["note"]; ok {
			var note string
			if err := json.Unmarshal(n, &note); err != nil || strings.TrimSpace(note) == "" {
				t.Errorf("entry %d: note must be a non-empty string, got %s", i, n)
			}
		}
		var subs []map[string]json.RawMessage
		if err := json.Unmarshal(obj["subtypes"], &subs); err != nil {
			t.Errorf("entry %d: subtypes: %v", i, err)
		}
		for _, s := range subs {
			if len(s) != 2 || s["system_name"] == nil || s["display_name"] == nil {
				t.Errorf("entry %d: subtype %v must have exactly system_name and display_name", i, s)
			}
		}
	}
}

// seedSection returns the lines of the seed's activity list: after
// "Activity Name", before "Data recorded for each activity".
func seedSection(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("testdata/seed.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	start := slices.Index(lines, "Activity Name")
	end := slices.Index(lines, "Data recorded for each activity")
	if start < 0 || end < start {
		t.Fatalf("seed has no activity section (start %d, end %d)", start, end)
	}
	return lines[start+1 : end]
}

// TestGoldenAgainstSeed cross-checks every entry with the seed and every
// line of the seed's activity list with the catalogue.
func TestGoldenAgainstSeed(t *testing.T) {
	entries := parsedEntries(t)
	lines := seedSection(t)

	// The line where an entry starts: its name, or for an entry whose name
	// was lost, the line that takes its place.
	head := func(e entry) string {
		if anchor, ok := lostName[e.SystemName]; ok {
			return anchor
		}
		return e.DisplayName
	}
	owner := map[string]int{} // head line -> entry index
	for i, e := range entries {
		owner[head(e)] = i
	}
	var starts []int // line indexes that start an entry
	occurrences := make([][]int, len(entries))
	for li, l := range lines {
		if i, ok := owner[l]; ok {
			starts = append(starts, li)
			occurrences[i] = append(occurrences[i], li)
		}
	}
	// block returns the lines after the head at li up to the next head.
	block := func(li int) []string {
		k := slices.Index(starts, li)
		end := len(lines)
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		return lines[li+1 : end]
	}

	for li := 0; li < starts[0]; li++ {
		if strings.TrimSpace(lines[li]) != "" {
			t.Errorf("seed line %q before the first activity is not accounted for", lines[li])
		}
	}

	prev := -1
	for i, e := range entries {
		occ := occurrences[i]
		if len(occ) == 0 {
			t.Errorf("%s: %q is not a whole line of the seed's activity list", e.SystemName, head(e))
			continue
		}
		_, merged := mergedAway[e.SystemName]
		if len(occ) > 1 && !merged {
			t.Errorf("%s: %q appears %d times in the seed but is not listed as merged", e.SystemName, head(e), len(occ))
		}
		// Seed order: some listing comes after the previous entry's.
		next := slices.IndexFunc(occ, func(li int) bool { return li > prev })
		if next < 0 {
			t.Errorf("%s is out of the seed's order", e.SystemName)
		} else {
			prev = occ[next]
		}

		seedDesc, repaired := repairedDescription[e.SystemName]
		if !repaired {
			seedDesc = e.Description
		} else if seedDesc == e.Description {
			t.Errorf("%s is listed as repaired but keeps the seed's description", e.SystemName)
		}
		_, lost := lostName[e.SystemName]
		descFound := seedDesc == "" || (lost && seedDesc == head(e))
		var introduced []string
		for _, li := range occ {
			b := block(li)
			count := 0
			for _, l := range b {
				switch {
				case strings.TrimSpace(l) == "":
				case introducedLine.MatchString(l):
					if count == 0 {
						introduced = append(introduced, introducedLine.FindStringSubmatch(l)[1])
					}
					count++
				case l == seedDesc:
					descFound = true
				case slices.Contains(mergedAway[e.SystemName], l):
				default:
					t.Errorf("seed line %q under %q is not accounted for by entry %s", l, head(e), e.SystemName)
				}
			}
			if count > 1 && e.SystemName != twoIntroducedLines {
				t.Errorf("%s: %d \"Introduced in\" lines under %q; a name line was missed", e.SystemName, count, head(e))
			}
		}
		if !descFound {
			t.Errorf("%s: description %q is not a line under %q", e.SystemName, seedDesc, head(e))
		}
		switch {
		case e.IntroducedIn == "" && len(introduced) > 0:
			t.Errorf("%s: introduced_in is empty, but the seed says %v", e.SystemName, introduced)
		case e.IntroducedIn != "" && !slices.Contains(introduced, e.IntroducedIn):
			t.Errorf("%s: introduced_in is %q, but the seed says %v", e.SystemName, e.IntroducedIn, introduced)
		}
	}
}

func TestSeedCases(t *testing.T) {
	type want struct {
		system, display, description, introduced string
	}
	cases := []struct {
		name string
		want want
	}{
		{"USER_LOGIN is User Login, whose name line the seed lost",
			want{"USER_LOGIN", "User Login", "User logs in to the system", "v39.1.0"}},
		{"LOGIN_FAILED keeps the seed's sentence-case name",
			want{"LOGIN_FAILED", "Login failed", "", "v39.1.0"}},
		{"DEREGISTER_TRAINER_S is derived from Deregister Trainer(s)",
			want{"DEREGISTER_TRAINER_S", "Deregister Trainer(s)", "Detach the trainer or trainers", "v39.1.0"}},
		{"ENABLE_DISABLE_TRANSCRIPTION_MODEL is derived from Enable/Disable Transcription Model",
			want{"ENABLE_DISABLE_TRANSCRIPTION_MODEL", "Enable/Disable Transcription Model", "", "v39.1.0"}},
		{"CREATE_BLOCKSTORAGEBINARY_RECORD exists as its own activity",
			want{"CREATE_BLOCKSTORAGEBINARY_RECORD", "Create BlockStorageBinary Record", "Create a BlockStorageBinary record", "v39.2.0"}},
		{"CREATE_AUTHENTICATION_GROUP does not take the BlockStorageBinary lines",
			want{"CREATE_AUTHENTICATION_GROUP", "Create Authentication Group", "", ""}},
		{"CREATE_WORKFLOW_DEFINITIONS is a name, not a description",
			want{"CREATE_WORKFLOW_DEFINITIONS", "Create workflow Definitions", "", ""}},
		{"WORKFLOW_UN_DEPLOY is a name, not a description",
			want{"WORKFLOW_UN_DEPLOY", "Workflow un-deploy", "", ""}},
		{"TRAIN_NLC_MODEL is a name with its own description",
			want{"TRAIN_NLC_MODEL", "Train NLC model", "Train a Classification model", ""}},
		{"DELETE_GROUND_TRUTH has the description-looking line as its description",
			want{"DELETE_GROUND_TRUTH", "Delete Ground Truth", "Delete Ground Truth from Training Data Management", "v39.1.0"}},
		{"DEPLOY_FLEX_MODEL keeps the seed's description",
			want{"DEPLOY_FLEX_MODEL", "Deploy Flex Model", "Download a Field ID model", ""}},
		{"EDIT_DATA_TYPE keeps the description of its second listing",
			want{"EDIT_DATA_TYPE", "Edit Data Type", "Edit a field data type", ""}},
		{"UPLOAD_GROUND_TRUTH_TRAINING_DATA_DOCUMENT keeps its first listing",
			want{"UPLOAD_GROUND_TRUTH_TRAINING_DATA_DOCUMENT", "Upload Ground Truth Training Data Document", "Upload documents to Training Data Management", "v39.1.0"}},
		{"CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER keeps the seed's name",
			want{"CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER", "Create an access token within the local identity provider", "", "v39.2.0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Lookup(c.want.system)
			if !ok {
				t.Fatalf("%s is not in the catalogue", c.want.system)
			}
			if g := (want{got.SystemName, got.DisplayName, got.Description, got.IntroducedIn}); g != c.want {
				t.Errorf("got %+v\nwant %+v", g, c.want)
			}
		})
	}

	t.Run("DJANGO_ADMIN has a cleaned description and keeps v39.2.0", func(t *testing.T) {
		got, ok := Lookup("DJANGO_ADMIN")
		if !ok {
			t.Fatal("DJANGO_ADMIN is not in the catalogue")
		}
		if strings.HasPrefix(got.Description, "/") || strings.Contains(got.Description, "v39.1.0") || got.IntroducedIn != "v39.2.0" {
			t.Errorf("got %q, %q", got.Description, got.IntroducedIn)
		}
	})

	subtypeCases := []struct {
		name, system string
		want         []auditlog.Subtype
	}{
		{"DOWNLOAD_CSV has the five CSV subtypes, AUDIT_LOG_CSV among them", "DOWNLOAD_CSV", []auditlog.Subtype{
			{SystemName: "SUBMISSION_LEVEL_CSV", DisplayName: "Submission-Level CSV"},
			{SystemName: "DOCUMENT_LEVEL_CSV", DisplayName: "Document-Level CSV"},
			{SystemName: "SYSTEM_THROUGHPUT_CSV", DisplayName: "System Throughput CSV"},
			{SystemName: "ALL_USERS_PERFORMANCE_CSV", DisplayName: "All Users Performance CSV"},
			{SystemName: "AUDIT_LOG_CSV", DisplayName: "Audit Log CSV"},
		}},
		{"DOWNLOAD_JSON has subtypes for the service's own JSON Lines and proof bundle exports", "DOWNLOAD_JSON", []auditlog.Subtype{
			{SystemName: "AUDIT_LOG_JSON_LINES", DisplayName: "Audit Log JSON Lines"},
			{SystemName: "AUDIT_LOG_PROOF_BUNDLE", DisplayName: "Audit Log Proof Bundle"},
		}},
		{"ARCHIVE_FLOW can be completed through the application or the API", "ARCHIVE_FLOW", []auditlog.Subtype{
			{SystemName: "APPLICATION", DisplayName: "Application"},
			{SystemName: "API", DisplayName: "API"},
		}},
		{"LOGIN_FAILED has no subtypes", "LOGIN_FAILED", []auditlog.Subtype{}},
	}
	for _, c := range subtypeCases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := Lookup(c.system)
			if !ok {
				t.Fatalf("%s is not in the catalogue", c.system)
			}
			if !reflect.DeepEqual(got.Subtypes, c.want) {
				t.Errorf("subtypes %+v\nwant %+v", got.Subtypes, c.want)
			}
			if len(c.want) > 0 {
				if _, ok := got.Subtype(c.want[len(c.want)-1].SystemName); !ok {
					t.Errorf("Subtype(%s) finds nothing", c.want[len(c.want)-1].SystemName)
				}
			}
		})
	}

	types := Builtin()
	for _, dup := range []string{"EDIT_DATA_TYPE", "UPLOAD_GROUND_TRUTH_TRAINING_DATA_DOCUMENT"} {
		t.Run(dup+" appears once although the seed lists it twice", func(t *testing.T) {
			n := 0
			for _, ty := range types {
				if ty.SystemName == dup {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s appears %d times", dup, n)
			}
		})
	}

	t.Run("the nameless v39.2.0 entry after Login failed is absent", func(t *testing.T) {
		for i, ty := range types {
			if strings.TrimSpace(ty.DisplayName) == "" || ty.SystemName == "" {
				t.Errorf("entry %d has no name: %+v", i, ty)
			}
			if ty.SystemName == "LOGIN_FAILED" {
				if i+1 >= len(types) || types[i+1].SystemName != "LOCK_RELEASE" {
					t.Errorf("LOGIN_FAILED is not directly followed by LOCK_RELEASE")
				}
			}
		}
	})

	// The types the service records about its own operation.
	for _, name := range []string{
		"USER_LOGIN", "LOGIN_FAILED", "CREATE_USER", "EDIT_USER", "DELETE_USER", "RESTORE_USER",
		"CREATE_PERMISSION_GROUP", "EDIT_PERMISSION_GROUP", "DELETE_PERMISSION_GROUPS", "RESET_TOKEN",
		"DOWNLOAD_CSV", "DOWNLOAD_JSON", "CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER",
	} {
		t.Run(fmt.Sprintf("%s exists because the service records it itself", name), func(t *testing.T) {
			if _, ok := Lookup(name); !ok {
				t.Errorf("%s is not in the catalogue", name)
			}
		})
	}
}

func TestBuiltinReturnsACopy(t *testing.T) {
	before := Builtin()
	if len(before) == 0 {
		t.Fatal("Builtin is empty")
	}
	mutated := Builtin()
	for i := range mutated {
		if mutated[i].Custom {
			t.Errorf("%s is marked custom", mutated[i].SystemName)
		}
		mutated[i].DisplayName = "changed"
		for j := range mutated[i].Subtypes {
			mutated[i].Subtypes[j].SystemName = "CHANGED"
		}
		mutated[i].Subtypes = append(mutated[i].Subtypes, auditlog.Subtype{SystemName: "EXTRA"})
	}
	mutated[0] = auditlog.ActivityType{SystemName: "INJECTED"}
	if after := Builtin(); !reflect.DeepEqual(before, after) {
		t.Error("mutating Builtin's result changed the next call's result")
	}

	got, _ := Lookup("DOWNLOAD_CSV")
	got.Subtypes[0].DisplayName = "changed"
	if again, _ := Lookup("DOWNLOAD_CSV"); again.Subtypes[0].DisplayName == "changed" {
		t.Error("mutating Lookup's result changed the catalogue")
	}
}

func TestLookupMatchesBuiltin(t *testing.T) {
	for _, want := range Builtin() {
		got, ok := Lookup(want.SystemName)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", want.SystemName, got, ok, want)
		}
	}
	for _, name := range []string{"", "user_login", "User Login", "NO_SUCH_ACTIVITY"} {
		if _, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) found something", name)
		}
	}
}

func TestServiceTypesAreNotInTheSeed(t *testing.T) {
	seed := parsedEntries(t)
	service, err := parse(serviceTypesJSON)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range service {
		if _, dup := find(seed, e.SystemName); dup {
			t.Errorf("%s is in the seed already: drop it from service_types.json", e.SystemName)
		}
		if e.Note == "" {
			t.Errorf("%s: a service type needs a note saying why the seed lacks it", e.SystemName)
		}
		if _, ok := Lookup(e.SystemName); !ok {
			t.Errorf("Lookup(%s) finds nothing", e.SystemName)
		}
	}
}
