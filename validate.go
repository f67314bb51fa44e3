package auditlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what one recording request may carry. They are part of the API
// reference (docs/api.md and the OpenAPI document).
const (
	MaxBatch           = 1000     // activities in one request
	MaxRequestBytes    = 16 << 20 // bytes of one request body
	MaxSystemNameLen   = 128      // bytes of a (subtype) system name
	MaxDisplayNameLen  = 256      // bytes of a (subtype) display name
	MaxDescriptionLen  = 2048     // bytes of an activity type description
	MaxUsernameLen     = 256      // bytes of a username
	MaxObjectIDLen     = 256      // bytes of object_id
	MaxObjectTypeLen   = 128      // bytes of object_type
	MaxObjectNameLen   = 1024     // bytes of object_name
	MaxExtraBytes      = 16384    // bytes of extra in canonical form
	MaxChanges         = 256      // rows of object_column_changes
	MaxColumnNameLen   = 256      // bytes of a column name
	MaxChangeValueLen  = 8192     // bytes of an old or new value
	MaxSubtypes        = 64       // subtypes of one custom activity type
	MaxIntroducedInLen = 32       // bytes of introduced_in
)

// ValidationError returns an EINVALID error about a field of the activity at
// index in the list being recorded. The HTTP API names it
// "activities[index].field" when the request was a batch.
func ValidationError(index int, field, format string, args ...any) *Error {
	e := FieldErrorf(field, format, args...)
	e.Index = index
	return e
}

// TextKind is what a text field may hold.
type TextKind int

const (
	// Identifier is a name or key matched exactly (system names,
	// usernames, object ids and types, column names, display names): no
	// control character and no bidirectional control, which would make
	// two names look alike.
	Identifier TextKind = iota
	// FreeText is what people wrote (object names, change values, extra):
	// any Unicode but NUL, tabs and newlines included, kept exactly.
	FreeText
)

// CheckText reports why s is not acceptable as a text field of the kind
// of at most max bytes, or "" when it is. No field may hold NUL:
// PostgreSQL cannot store it.
func CheckText(s string, max int, kind TextKind) string {
	if len(s) > max {
		return fmt.Sprintf("is %d bytes long; the limit is %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if r == 0 {
			return "contains a NUL character"
		}
		if kind == Identifier && (unicode.IsControl(r) || IsBidiControl(r)) {
			return fmt.Sprintf("contains the control character %U", r)
		}
	}
	return ""
}

// IsBidiControl reports whether r is one of the characters that change
// the direction of the text around them (Unicode's Bidi_Control).
func IsBidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// hasEscapedNUL reports whether canonical JSON holds U+0000 in a string,
// which RFC 8785 writes as the escape \u0000.
func hasEscapedNUL(canonical []byte) bool {
	for i := 0; ; {
		j := bytes.Index(canonical[i:], []byte(`\u0000`))
		if j < 0 {
			return false
		}
		at := i + j
		// The escape is one if an even number of backslashes precede it.
		n := 0
		for k := at - 1; k >= 0 && canonical[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return true
		}
		i = at + 1
	}
}

// Normalize checks the activity's own fields (not its type, which needs the
// catalogue) and brings them to stored form: extra in RFC 8785 canonical
// form via canonical, event_id in lower case. index is the position in the
// list being recorded, carried by any error.
func (a *NewActivity) Normalize(index int, canonical func([]byte) ([]byte, error)) error {
	texts := []struct {
		field string
		value string
		max   int
		kind  TextKind
	}{
		{"activity_system_name", a.SystemName, MaxSystemNameLen, Identifier},
		{"activity_subtype_system_name", a.SubtypeSystemName, MaxSystemNameLen, Identifier},
		{"username", a.Username, MaxUsernameLen, Identifier},
		{"object_id", a.ObjectID, MaxObjectIDLen, Identifier},
		{"object_type", a.ObjectType, MaxObjectTypeLen, Identifier},
		{"object_name", a.ObjectName, MaxObjectNameLen, FreeText},
	}
	for _, t := range texts {
		if msg := CheckText(t.value, t.max, t.kind); msg != "" {
			return ValidationError(index, t.field, "%s %s", t.field, msg)
		}
	}
	if a.SystemName == "" {
		return ValidationError(index, "activity_system_name", "activity_system_name is required")
	}
	switch a.Operator {
	case OperatorHuman:
		if strings.TrimSpace(a.Username) == "" {
			return ValidationError(index, "username", "username is required when operator is human")
		}
	case OperatorMachine:
		if a.Username != "" {
			return ValidationError(index, "username", "username must be empty when operator is machine")
		}
	case "":
		return ValidationError(index, "operator", "operator is required: human or machine")
	default:
		return ValidationError(index, "operator", "operator must be human or machine, not %q", truncate(string(a.Operator), 40))
	}
	if err := a.normalizeExtra(index, canonical); err != nil {
		return err
	}
	if len(a.Changes) > MaxChanges {
		return ValidationError(index, "object_column_changes", "object_column_changes has %d rows; the limit is %d", len(a.Changes), MaxChanges)
	}
	for i, c := range a.Changes {
		field := fmt.Sprintf("object_column_changes[%d]", i)
		if c.ColumnName == "" {
			return ValidationError(index, field+".column_name", "column_name is required")
		}
		if msg := CheckText(c.ColumnName, MaxColumnNameLen, Identifier); msg != "" {
			return ValidationError(index, field+".column_name", "column_name %s", msg)
		}
		if msg := CheckText(c.OldValue, MaxChangeValueLen, FreeText); msg != "" {
			return ValidationError(index, field+".old_value", "old_value %s", msg)
		}
		if msg := CheckText(c.NewValue, MaxChangeValueLen, FreeText); msg != "" {
			return ValidationError(index, field+".new_value", "new_value %s", msg)
		}
	}
	if a.EventID != "" {
		id, ok := parseUUID(a.EventID)
		if !ok {
			return ValidationError(index, "event_id", "event_id must be a UUID such as 3f2b6c1e-8a4d-4f7e-9b1a-2c5d6e7f8a9b")
		}
		a.EventID = id
	}
	return nil
}

func (a *NewActivity) normalizeExtra(index int, canonical func([]byte) ([]byte, error)) error {
	raw := bytes.TrimSpace(a.Extra)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		a.Extra = json.RawMessage("{}")
		return nil
	}
	if raw[0] != '{' {
		return ValidationError(index, "extra", "extra must be a JSON object")
	}
	if len(raw) > 4*MaxExtraBytes {
		return ValidationError(index, "extra", "extra is %d bytes long; the limit is %d", len(raw), MaxExtraBytes)
	}
	out, err := canonical(raw)
	if err != nil {
		return ValidationError(index, "extra", "extra is not canonicalizable JSON: %v", err)
	}
	if len(out) > MaxExtraBytes {
		return ValidationError(index, "extra", "extra is %d bytes long in canonical form; the limit is %d", len(out), MaxExtraBytes)
	}
	if msg := CheckText(string(out), len(out), FreeText); msg != "" {
		return ValidationError(index, "extra", "extra %s", msg)
	}
	if hasEscapedNUL(out) {
		return ValidationError(index, "extra", "extra contains a NUL character (\\u0000)")
	}
	a.Extra = out
	return nil
}

// parseUUID accepts the canonical 8-4-4-4-12 hexadecimal form in either case
// and returns it in lower case.
func parseUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c)) {
				return "", false
			}
		}
	}
	return strings.ToLower(s), true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// SystemNameOf derives a system name from a display name as the catalogue
// does: upper-case it, replace every run of characters other than A-Z and
// 0-9 with one underscore, and trim underscores from both ends.
func SystemNameOf(displayName string) string {
	var b strings.Builder
	pendingUnderscore := false
	for _, r := range strings.ToUpper(displayName) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			if pendingUnderscore && b.Len() > 0 {
				b.WriteByte('_')
			}
			pendingUnderscore = false
			b.WriteRune(r)
			continue
		}
		pendingUnderscore = true
	}
	return b.String()
}

// ValidSystemName reports whether s has the form the derivation rule
// produces: A-Z and 0-9 in runs joined by single underscores.
func ValidSystemName(s string) bool {
	return s != "" && SystemNameOf(s) == s
}

// Validate checks a custom activity type and fills its system names from the
// display names where they are missing.
func (t *ActivityType) Validate() error {
	t.DisplayName = strings.TrimSpace(t.DisplayName)
	if t.DisplayName == "" {
		return FieldErrorf("display_name", "display_name is required")
	}
	if msg := CheckText(t.DisplayName, MaxDisplayNameLen, Identifier); msg != "" {
		return FieldErrorf("display_name", "display_name %s", msg)
	}
	if t.SystemName == "" {
		t.SystemName = SystemNameOf(t.DisplayName)
	}
	if len(t.SystemName) > MaxSystemNameLen || !ValidSystemName(t.SystemName) {
		return FieldErrorf("system_name", "system_name must be upper-case letters and digits joined by single underscores, at most %d bytes", MaxSystemNameLen)
	}
	if msg := CheckText(t.Description, MaxDescriptionLen, FreeText); msg != "" {
		return FieldErrorf("description", "description %s", msg)
	}
	if msg := CheckText(t.IntroducedIn, MaxIntroducedInLen, Identifier); msg != "" {
		return FieldErrorf("introduced_in", "introduced_in %s", msg)
	}
	if len(t.Subtypes) > MaxSubtypes {
		return FieldErrorf("subtypes", "subtypes has %d entries; the limit is %d", len(t.Subtypes), MaxSubtypes)
	}
	seen := map[string]bool{}
	for i := range t.Subtypes {
		s := &t.Subtypes[i]
		field := fmt.Sprintf("subtypes[%d]", i)
		s.DisplayName = strings.TrimSpace(s.DisplayName)
		if s.DisplayName == "" {
			return FieldErrorf(field+".display_name", "display_name is required")
		}
		if msg := CheckText(s.DisplayName, MaxDisplayNameLen, Identifier); msg != "" {
			return FieldErrorf(field+".display_name", "display_name %s", msg)
		}
		if s.SystemName == "" {
			s.SystemName = SystemNameOf(s.DisplayName)
		}
		if len(s.SystemName) > MaxSystemNameLen || !ValidSystemName(s.SystemName) {
			return FieldErrorf(field+".system_name", "system_name must be upper-case letters and digits joined by single underscores")
		}
		if seen[s.SystemName] {
			return FieldErrorf(field+".system_name", "subtype %s is listed twice", s.SystemName)
		}
		seen[s.SystemName] = true
	}
	if t.Subtypes == nil {
		t.Subtypes = []Subtype{}
	}
	t.Custom = true
	return nil
}

// CheckName trims a required single-line name and checks it, naming field
// in the error.
func CheckName(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", FieldErrorf(field, "%s is required", field)
	}
	if msg := CheckText(s, max, Identifier); msg != "" {
		return "", FieldErrorf(field, "%s %s", field, msg)
	}
	return s, nil
}
