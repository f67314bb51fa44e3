package auditlog

import (
	"github.com/gowebpki/jcs"
	"regexp"
	"strings"
	"testing"
)

var systemNameForm = regexp.MustCompile(`^[A-Z0-9]+(_[A-Z0-9]+)*$`)

func TestSystemNameOf(t *testing.T) {
	cases := []struct {
		name, display, want string
	}{
		// The examples of the seed's NOTES.md.
		{"a space becomes an underscore", "Login failed", "LOGIN_FAILED"},
		{"parentheses become one underscore and a trailing one is trimmed", "Deregister Trainer(s)", "DEREGISTER_TRAINER_S"},
		{"a slash becomes an underscore", "Enable/Disable Transcription Model", "ENABLE_DISABLE_TRANSCRIPTION_MODEL"},

		{"leading and trailing punctuation and blanks are trimmed", "  (Leading) and trailing!! ", "LEADING_AND_TRAILING"},
		{"a run of several separators becomes one underscore", "Edit -- / -- User", "EDIT_USER"},
		{"underscores count as separators too", "__Edit__User__", "EDIT_USER"},
		{"tabs and newlines are separators", "Edit\tUser\nNow", "EDIT_USER_NOW"},
		{"digits are kept", "Upgrade to v39.1.0", "UPGRADE_TO_V39_1_0"},
		{"a leading digit is kept", "2FA enabled", "2FA_ENABLED"},
		{"a system name is its own system name", "EDIT_PERMISSION_GROUP", "EDIT_PERMISSION_GROUP"},
		{"lower case is upper-cased", "edit user", "EDIT_USER"},
		// The rule keeps only A-Z and 0-9 after upper-casing: a non-ASCII
		// letter is a separator, even at the end of a word.
		{"a trailing non-ASCII letter is a separator and trimmed", "Zoë", "ZO"},
		{"a non-ASCII letter inside a name splits it", "Zoë Smith", "ZO_SMITH"},
		{"an accented word keeps only its ASCII letters", "Café crème", "CAF_CR_ME"},
		{"sharp s has no single upper-case letter and is a separator", "Straße", "STRA_E"},
		{"a non-Latin name has no system name", "Пользователь", ""},
		{"an emoji is a separator", "Deploy 🚀 now", "DEPLOY_NOW"},
		// Upper-casing comes first: letters whose upper case is ASCII are kept as it.
		{"dotless i upper-cases to I", "\u0131d", "ID"},
		{"long s upper-cases to S", "\u017fet", "SET"},
		{"the Kelvin sign is not the letter K", "\u212a9", "9"},
		{"nothing but separators gives the empty name", " !?-/ ", ""},
		{"the empty name stays empty", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := SystemNameOf(c.display)
			if got != c.want {
				t.Fatalf("SystemNameOf(%q) = %q, want %q", c.display, got, c.want)
			}
			if got != "" && !systemNameForm.MatchString(got) {
				t.Errorf("SystemNameOf(%q) = %q, which is not of the form %s", c.display, got, systemNameForm)
			}
			if again := SystemNameOf(got); again != got {
				t.Errorf("SystemNameOf is not idempotent: %q -> %q -> %q", c.display, got, again)
			}
			if ValidSystemName(got) != (got != "") {
				t.Errorf("ValidSystemName(%q) = %v", got, ValidSystemName(got))
			}
		})
	}
}

func TestValidSystemName(t *testing.T) {
	cases := []struct {
		name string
		s    string
		want bool
	}{
		{"upper-case words joined by underscores", "EDIT_USER", true},
		{"letters and digits", "V2_UPGRADE_3", true},
		{"one word", "LOGIN", true},
		{"empty", "", false},
		{"lower case", "edit_user", false},
		{"a leading underscore", "_EDIT", false},
		{"a trailing underscore", "EDIT_", false},
		{"a double underscore", "EDIT__USER", false},
		{"a space", "EDIT USER", false},
		{"a hyphen", "EDIT-USER", false},
		{"a non-ASCII letter", "ZOË", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ValidSystemName(c.s); got != c.want {
				t.Fatalf("ValidSystemName(%q) = %v, want %v", c.s, got, c.want)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	cases := []struct {
		name string
		s    string
		max  int
		kind TextKind
		want string // a part of the reason, or "" for acceptable text
	}{
		{"empty text is acceptable", "", 10, Identifier, ""},
		{"text of exactly the limit is acceptable", strings.Repeat("x", 10), 10, Identifier, ""},
		{"text one byte over the limit is refused with both lengths", strings.Repeat("x", 11), 10, Identifier, "is 11 bytes long; the limit is 10"},
		{"the limit counts bytes, not characters", "üü", 3, Identifier, "is 4 bytes long; the limit is 3"},
		{"multi-byte text within the limit is acceptable", "Zoë Smith, 東京", 64, Identifier, ""},
		{"invalid UTF-8 is refused", "ab\xffcd", 10, Identifier, "is not valid UTF-8"},
		{"a truncated UTF-8 sequence is refused", "\xc3", 10, FreeText, "is not valid UTF-8"},
		{"NUL is refused in a single-line field", "a\x00b", 10, Identifier, "contains a NUL character"},
		{"NUL is refused in a multi-line field", "a\x00b", 10, FreeText, "contains a NUL character"},
		{"a tab is refused in a single-line field", "a\tb", 10, Identifier, "contains the control character U+0009"},
		{"a newline is refused in a single-line field", "a\nb", 10, Identifier, "contains the control character U+000A"},
		{"a carriage return is refused in a single-line field", "a\rb", 10, Identifier, "contains the control character U+000D"},
		{"a tab is allowed in a multi-line field", "a\tb", 10, FreeText, ""},
		{"a newline is allowed in a multi-line field", "line 1\nline 2", 20, FreeText, ""},
		{"a carriage return is allowed in a multi-line field", "a\r\nb", 10, FreeText, ""},
		{"escape is kept in free text", "a\x1bb", 10, FreeText, ""},
		{"DEL is kept in free text", "a\x7fb", 10, FreeText, ""},
		{"a bidirectional override is refused in an identifier", "admin\u202Etxt.exe", 20, Identifier, "contains the control character U+202E"},
		{"an isolate is refused in an identifier", "a\u2067b", 10, Identifier, "contains the control character U+2067"},
		{"a bidirectional override is kept in free text", "a\u202Eb", 10, FreeText, ""},
		{"a C1 control is refused in a single-line field", "a\u0085b", 10, Identifier, "contains the control character U+0085"},
		{"the length is checked before the encoding", "\xff\xff\xff", 2, Identifier, "is 3 bytes long"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := CheckText(c.s, c.max, c.kind)
			switch {
			case c.want == "" && got != "":
				t.Fatalf("CheckText(%q, %d, %v) = %q, want acceptable", c.s, c.max, c.kind, got)
			case c.want != "" && !strings.Contains(got, c.want):
				t.Fatalf("CheckText(%q, %d, %v) = %q, want a reason containing %q", c.s, c.max, c.kind, got, c.want)
			}
		})
	}
}

func TestNULInExtraIsRefusedAndItsEscapedTextIsNot(t *testing.T) {
	for _, c := range []struct {
		extra string
		nul   bool
	}{
		{`{"a":"x\u0000y"}`, true},
		{`{"a\u0000":"y"}`, true},
		{`{"a":"a backslash, then u0000: \\u0000"}`, false},
		{`{"a":"\\\u0000"}`, true},
	} {
		a := NewActivity{SystemName: "EDIT_USER", Operator: OperatorMachine, Extra: []byte(c.extra)}
		err := a.Normalize(-1, jcs.Transform)
		if got := err != nil && strings.Contains(err.Error(), "NUL"); got != c.nul {
			t.Errorf("extra %s: %v; want refused %v", c.extra, err, c.nul)
		}
	}
}

func TestCountOfAgreesTheNounWithTheNumber(t *testing.T) {
	for n, want := range map[int64]string{0: "0 sessions", 1: "1 session", 2: "2 sessions"} {
		if got := CountOf(n, "session", "sessions"); got != want {
			t.Errorf("CountOf(%d) = %q, want %q", n, got, want)
		}
	}
}
