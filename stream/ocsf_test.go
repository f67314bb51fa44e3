package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
)

// ocsfCreated is when the activities of the tests were created.
var ocsfCreated = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

// ocsfActivityIDs are the activity_id values each class of OCSF 1.3.0
// defines (https://schema.ocsf.io/1.3.0/classes/...), 0 Unknown aside.
var ocsfActivityIDs = map[int][]int{
	3001: {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 99},         // Account Change
	3002: {1, 2, 3, 4, 5, 6, 99},                          // Authentication
	3004: {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 99}, // Entity Management
	3006: {1, 2, 3, 4, 5, 6, 99},                          // Group Management
	6003: {1, 2, 3, 4, 99},                                // API Activity
}

// ocsfClassObject is the attribute of each class that holds the object.
var ocsfClassObject = map[int]string{3001: "user", 3002: "user", 3004: "entity", 3006: "group", 6003: "api"}

// recorded is na as the store returns it: with an id, the creation time,
// its display names from the catalogue, and recorded by the service.
func recorded(t *testing.T, id int64, na auditlog.NewActivity) auditlog.Activity {
	t.Helper()
	typ, ok := catalog.Lookup(na.SystemName)
	if !ok {
		t.Fatalf("%s is not in the catalogue", na.SystemName)
	}
	sub, _ := typ.Subtype(na.SubtypeSystemName)
	return auditlog.Activity{ID: id, Created: ocsfCreated, Operator: na.Operator, Username: na.Username,
		DisplayName: typ.DisplayName, SystemName: na.SystemName,
		SubtypeSystemName: na.SubtypeSystemName, SubtypeDisplayName: sub.DisplayName,
		Extra: na.Extra, ObjectID: na.ObjectID, ObjectType: na.ObjectType, ObjectName: na.ObjectName,
		Changes: na.Changes, RecordedBy: auditlog.RecordedByService}
}

// ocsfOf is the OCSF event of a, decoded.
func ocsfOf(t *testing.T, a auditlog.Activity) map[string]any {
	t.Helper()
	b, err := encodeOCSF(a)
	if err != nil {
		t.Fatalf("%s: %v", a.SystemName, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var ev map[string]any
	if err := dec.Decode(&ev); err != nil || dec.More() {
		t.Fatalf("%s: not one JSON object (%v): %s", a.SystemName, err, b)
	}
	return ev
}

// ocsfAt is the value at a dotted path of an event ("actor.user.name",
// "privileges.0"): a string or a number as it is written, anything else
// as JSON, "<absent>" when there is none.
func ocsfAt(ev map[string]any, path string) string {
	var v any = ev
	for _, key := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			v = c[key]
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i >= len(c) {
				return "<absent>"
			}
			v = c[i]
		default:
			return "<absent>"
		}
	}
	switch v := v.(type) {
	case nil:
		return "<absent>"
	case string:
		return v
	case json.Number:
		return v.String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ocsfCase is an activity and values its event must have at paths.
type ocsfCase struct {
	name string
	a    auditlog.Activity
	want map[string]string
}

// ocsfCheck checks the event of each case.
func ocsfCheck(t *testing.T, cases []ocsfCase) {
	t.Helper()
	for _, c := range cases {
		ev := ocsfOf(t, c.a)
		for path, w := range c.want {
			if got := ocsfAt(ev, path); got != w {
				t.Errorf("%s: %s is %s, want %s", c.name, path, got, w)
			}
		}
	}
}

// The people, objects and clients of the mapping tests.
var (
	ocsfClient     = map[string]string{"client_address": "192.0.2.7", "user_agent": "Firefox 131"}
	ocsfAdmin      = auditlog.Actor{Operator: auditlog.OperatorHuman, Username: "admin", Client: ocsfClient}
	ocsfJdoe       = auditlog.Actor{Operator: auditlog.OperatorHuman, Username: "jdoe", Client: ocsfClient}
	ocsfJdoeUser   = &auditlog.User{ID: 42, Username: "jdoe", GroupName: "Analysts"}
	ocsfJdoeAs     = func(edit func(u *auditlog.User)) *auditlog.User { u := *ocsfJdoeUser; edit(&u); return &u }
	ocsfSession    = &auditlog.Session{ID: 7, UserID: 42, Username: "jdoe", Expires: ocsfCreated.Add(8 * time.Hour)}
	ocsfAnalysts   = &auditlog.Group{ID: 3, Name: "Analysts", Permissions: []auditlog.Permission{auditlog.PermActivitiesRead, auditlog.PermActivitiesExport}}
	ocsfAnalystsAs = func(edit func(g *auditlog.Group)) *auditlog.Group { g := *ocsfAnalysts; edit(&g); return &g }
)

func TestOCSFAuthentication(t *testing.T) {
	ocsfCheck(t, []ocsfCase{
		{"login", recorded(t, 1, auditlog.LoggedIn(ocsfJdoe, ocsfJdoeUser, ocsfSession)), map[string]string{
			"class_uid": "3002", "category_uid": "3", "activity_id": "1", "type_uid": "300201", "activity_name": "<absent>",
			"status_id": "1", "severity_id": "1", "message": "User Login",
			"user.uid": "42", "user.name": "jdoe", "actor.user.name": "jdoe", "actor.user.type_id": "1",
			"src_endpoint.ip": "192.0.2.7", "http_request.user_agent": "Firefox 131",
			"unmapped.extra.session_id": "7", "unmapped.extra.client_address": "192.0.2.7", "unmapped.object_type": "<absent>",
		}},
		{"failed login", recorded(t, 1, auditlog.LoginFailed(ocsfJdoe, "wrong password", "")), map[string]string{
			"class_uid": "3002", "activity_id": "1", "type_uid": "300201", "status_id": "2", "severity_id": "2",
			"user.name": "jdoe", "user.uid": "<absent>", "unmapped.extra.reason": "wrong password",
		}},
		{"throttled login of no user", recorded(t, 1, auditlog.LoginThrottled(auditlog.Actor{Operator: auditlog.OperatorHuman, Client: ocsfClient}, "k3y3dh4sh", 4)), map[string]string{
			"class_uid": "3002", "activity_id": "1", "status_id": "2", "user": "{}",
			"unmapped.extra.attempted_username": "k3y3dh4sh", "unmapped.extra.refused_before": "4",
		}},
		{"logout", recorded(t, 1, auditlog.LoggedOut(ocsfJdoe, ocsfSession)), map[string]string{
			"class_uid": "3002", "activity_id": "2", "type_uid": "300202", "status_id": "1", "user.uid": "42", "user.name": "jdoe",
		}},
	})
}

func TestOCSFAccountChange(t *testing.T) {
	disabled := ocsfJdoeAs(func(u *auditlog.User) { u.Disabled = true })
	deleted := ocsfJdoeAs(func(u *auditlog.User) { u.Deleted = true })
	ocsfCheck(t, []ocsfCase{
		{"create", recorded(t, 1, auditlog.UserCreated(ocsfAdmin, ocsfJdoeUser)), map[string]string{
			"class_uid": "3001", "category_uid": "3", "activity_id": "1", "type_uid": "300101",
			"user.uid": "42", "user.name": "jdoe", "actor.user.name": "admin",
			"unmapped.object_column_changes.1.column_name": "permission_group", "unmapped.object_column_changes.1.new_value": "Analysts",
		}},
		{"password reset by an administrator", recorded(t, 1, auditlog.UserEdited(ocsfAdmin, ocsfJdoeUser, ocsfJdoeUser, true)), map[string]string{
			"class_uid": "3001", "activity_id": "4", "type_uid": "300104",
			"unmapped.object_column_changes.0.column_name": "password", "unmapped.object_column_changes.0.new_value": auditlog.Redacted,
		}},
		{"password change by the user", recorded(t, 1, auditlog.UserEdited(ocsfJdoe, ocsfJdoeUser, ocsfJdoeUser, true)), map[string]string{
			"class_uid": "3001", "activity_id": "3", "type_uid": "300103",
		}},
		{"disable", recorded(t, 1, auditlog.UserEdited(ocsfAdmin, ocsfJdoeUser, disabled, false)), map[string]string{
			"class_uid": "3001", "activity_id": "5", "type_uid": "300105",
		}},
		{"enable", recorded(t, 1, auditlog.UserEdited(ocsfAdmin, disabled, ocsfJdoeUser, false)), map[string]string{
			"class_uid": "3001", "activity_id": "2", "type_uid": "300102",
		}},
		{"move to another group", recorded(t, 1, auditlog.UserEdited(ocsfAdmin, ocsfJdoeUser, ocsfJdoeAs(func(u *auditlog.User) { u.GroupName = "Admins" }), false)), map[string]string{
			"class_uid": "3001", "activity_id": "99", "type_uid": "300199", "activity_name": "Edit User",
			"unmapped.object_column_changes.0.old_value": "Analysts", "unmapped.object_column_changes.0.new_value": "Admins",
		}},
		{"delete", recorded(t, 1, auditlog.UserDeleted(ocsfAdmin, ocsfJdoeUser, deleted)), map[string]string{
			"class_uid": "3001", "activity_id": "6", "type_uid": "300106", "user.name": "jdoe",
		}},
		{"restore", recorded(t, 1, auditlog.UserRestored(ocsfAdmin, deleted, ocsfJdoeUser)), map[string]string{
			"class_uid": "3001", "activity_id": "99", "type_uid": "300199", "activity_name": "Restore User",
		}},
	})
}

func TestOCSFGroupManagement(t *testing.T) {
	withWrite := ocsfAnalystsAs(func(g *auditlog.Group) {
		g.Permissions = append(slices.Clone(g.Permissions), auditlog.PermActivitiesWrite)
	})
	readOnly := ocsfAnalystsAs(func(g *auditlog.Group) { g.Permissions = []auditlog.Permission{auditlog.PermActivitiesRead} })
	ocsfCheck(t, []ocsfCase{
		{"create", recorded(t, 1, auditlog.GroupCreated(ocsfAdmin, ocsfAnalysts)), map[string]string{
			"class_uid": "3006", "category_uid": "3", "activity_id": "6", "type_uid": "300606",
			"group.uid": "3", "group.name": "Analysts", "privileges": `["activities:export","activities:read"]`,
		}},
		{"assign a privilege", recorded(t, 1, auditlog.GroupEdited(ocsfAdmin, ocsfAnalysts, withWrite)), map[string]string{
			"class_uid": "3006", "activity_id": "1", "type_uid": "300601", "privileges": `["activities:write"]`,
		}},
		{"revoke a privilege", recorded(t, 1, auditlog.GroupEdited(ocsfAdmin, ocsfAnalysts, readOnly)), map[string]string{
			"class_uid": "3006", "activity_id": "2", "type_uid": "300602", "privileges": `["activities:export"]`,
		}},
		{"rename", recorded(t, 1, auditlog.GroupEdited(ocsfAdmin, ocsfAnalysts, ocsfAnalystsAs(func(g *auditlog.Group) { g.Name = "Auditors" }))), map[string]string{
			"class_uid": "3006", "activity_id": "99", "type_uid": "300699", "privileges": "<absent>", "group.name": "Auditors",
			"unmapped.object_column_changes.0.old_value": "Analysts",
		}},
		{"delete", recorded(t, 1, auditlog.GroupDeleted(ocsfAdmin, ocsfAnalysts)), map[string]string{
			"class_uid": "3006", "activity_id": "5", "type_uid": "300605", "privileges": `["activities:export","activities:read"]`,
		}},
	})
}

func TestOCSFEntityManagement(t *testing.T) {
	token := &auditlog.Token{ID: 5, Name: "ci", Scopes: []auditlog.Permission{auditlog.PermActivitiesWrite}}
	revoked := *token
	revoked.Revoked = true
	ocsfCheck(t, []ocsfCase{
		{"create a token", recorded(t, 4, auditlog.TokenCreated(ocsfAdmin, token)), map[string]string{
			"class_uid": "3004", "category_uid": "3", "activity_id": "1", "type_uid": "300401",
			"entity.uid": "5", "entity.name": "ci", "entity.type": "ApiToken", "entity.type_id": "99", "user": "<absent>",
		}},
		{"revoke a token", recorded(t, 4, auditlog.TokenRevoked(ocsfAdmin, token, &revoked)), map[string]string{
			"class_uid": "3004", "activity_id": "99", "type_uid": "300499",
			"activity_name": "Revoke an access token within the local identity provider",
			"unmapped.object_column_changes.0.column_name": "revoked", "unmapped.object_column_changes.0.new_value": "true",
		}},
		{"an application's deletion, by the machine", auditlog.Activity{ID: 4, Created: ocsfCreated, Operator: auditlog.OperatorMachine,
			SystemName: "DELETE_CASES", DisplayName: "Delete Cases", Extra: json.RawMessage(`{"reason":"retention"}`),
			ObjectType: "Case", ObjectID: "C-9", ObjectName: "Claim 9", RecordedBy: auditlog.TokenRecorder(3)}, map[string]string{
			"class_uid": "3004", "activity_id": "4", "type_uid": "300404",
			"entity.uid": "C-9", "entity.name": "Claim 9", "entity.type": "Case",
			"actor.user.name": "machine", "actor.user.type_id": "3", "src_endpoint": "<absent>",
			"unmapped.extra.reason": "retention", "unmapped.recorded_by": "token/3",
		}},
		{"an edit of no verb of change, with column changes", auditlog.Activity{ID: 4, Created: ocsfCreated, Operator: auditlog.OperatorHuman,
			Username: "ann", SystemName: "WORKFLOW_UPDATE", DisplayName: "Workflow Update", ObjectType: "Workflow", ObjectID: "W-1",
			Changes: []auditlog.Change{{ColumnName: "status", OldValue: "draft", NewValue: "live"}}}, map[string]string{
			"class_uid": "3004", "activity_id": "99", "type_uid": "300499", "entity.uid": "W-1",
			"unmapped.object_column_changes.0.new_value": "live",
		}},
	})
}

func TestOCSFAPIActivity(t *testing.T) {
	sessions := []auditlog.Session{*ocsfSession}
	ocsfCheck(t, []ocsfCase{
		{"end a user's sessions", recorded(t, 5, auditlog.SessionsRevoked(ocsfAdmin, auditlog.SessionSelector{Username: "jdoe"}, sessions)), map[string]string{
			"class_uid": "6003", "category_uid": "6", "activity_id": "99", "type_uid": "600399", "activity_name": "Reset User Authorization Token",
			"api.operation": "RESET_USER_AUTHORIZATION_TOKEN", "actor.user.name": "admin", "src_endpoint.ip": "192.0.2.7",
			"unmapped.activity_subtype_system_name": "BY_USER", "unmapped.activity_subtype_display_name": "By User",
			"unmapped.object_type": "User", "unmapped.object_name": "jdoe", "unmapped.object_id": "<absent>",
			"unmapped.extra.sessions_ended": "1",
		}},
		{"a download", auditlog.Activity{ID: 5, Created: ocsfCreated, Operator: auditlog.OperatorHuman, Username: "ann",
			SystemName: "DOWNLOAD_FILE", DisplayName: "Download File", Extra: json.RawMessage("{}"),
			ObjectType: "Document", ObjectID: "D-1", ObjectName: "contract.pdf"}, map[string]string{
			"class_uid": "6003", "activity_id": "2", "type_uid": "600302", "api.operation": "DOWNLOAD_FILE",
			"unmapped.object_id": "D-1", "unmapped.object_type": "Document", "unmapped.object_name": "contract.pdf",
			"unmapped.extra": "<absent>", "entity": "<absent>",
		}},
		{"a failure, by the machine", auditlog.Activity{ID: 5, Created: ocsfCreated, Operator: auditlog.OperatorMachine,
			SystemName: "SEND_USAGE_AND_SETTINGS_FAILURE", DisplayName: "Send Usage and Settings Failure"}, map[string]string{
			"class_uid": "6003", "activity_id": "99", "status_id": "2", "severity_id": "2", "actor.user.type": "System",
			"unmapped": "<absent>",
		}},
	})
}

func TestOCSFMetadataAndTime(t *testing.T) {
	a := recorded(t, 1234, auditlog.LoggedIn(ocsfJdoe, ocsfJdoeUser, ocsfSession))
	a.Created = ocsfCreated.In(time.FixedZone("CEST", 2*3600))
	ocsfCheck(t, []ocsfCase{{"login", a, map[string]string{
		"time": "1772600767123", "metadata.original_time": "2026-03-04T05:06:07.123456Z",
		"metadata.uid": "1234", "metadata.version": "1.3.0", "metadata.event_code": "USER_LOGIN",
		"metadata.product.name": "auditlog", "metadata.product.vendor_name": "auditlog",
	}}})
}

// TestOCSFEveryCatalogueType maps every type of the catalogue, as
// activities on no object, on a user, on a permission group and on another
// object, with and without column changes, to one of the five classes.
func TestOCSFEveryCatalogueType(t *testing.T) {
	byClass := map[string]int{}
	for _, typ := range catalog.Builtin() {
		for _, objectType := range []string{"", auditlog.ObjectTypeUser, auditlog.ObjectTypePermissionGroup, "Widget"} {
			for _, changes := range [][]auditlog.Change{nil, {{ColumnName: "colour", OldValue: "red", NewValue: "blue"}}} {
				a := auditlog.Activity{ID: 77, Created: ocsfCreated, Operator: auditlog.OperatorHuman, Username: "ann",
					SystemName: typ.SystemName, DisplayName: typ.DisplayName, Extra: json.RawMessage("{}"),
					ObjectType: objectType, ObjectID: "1", ObjectName: "one", Changes: changes}
				class := ocsfCheckEvent(t, a)
				byClass[fmt.Sprintf("%d with object type %q", class, objectType)]++
			}
		}
	}
	t.Logf("events by class: %v", byClass)
}

// ocsfCheckEvent checks that the event of a is of one of the five classes,
// consistent and complete, and returns its class.
func ocsfCheckEvent(t *testing.T, a auditlog.Activity) int {
	t.Helper()
	ev := ocsfOf(t, a)
	class, _ := strconv.Atoi(ocsfAt(ev, "class_uid"))
	activity, _ := strconv.Atoi(ocsfAt(ev, "activity_id"))
	name := fmt.Sprintf("%s on %q with %d changes", a.SystemName, a.ObjectType, len(a.Changes))
	switch {
	case ocsfActivityIDs[class] == nil:
		t.Errorf("%s: class_uid %d is none of the five", name, class)
	case !slices.Contains(ocsfActivityIDs[class], activity):
		t.Errorf("%s: activity_id %d is not of class %d", name, activity, class)
	case ocsfAt(ev, "type_uid") != strconv.Itoa(class*100+activity) || ocsfAt(ev, "category_uid") != strconv.Itoa(class/1000):
		t.Errorf("%s: class %d, activity %d, type_uid %s, category_uid %s", name, class, activity, ocsfAt(ev, "type_uid"), ocsfAt(ev, "category_uid"))
	case ocsfAt(ev, ocsfClassObject[class]) == "<absent>" || ocsfAt(ev, "actor.user.name") != "ann":
		t.Errorf("%s: no %s, or not ann's", name, ocsfClassObject[class])
	case ocsfAt(ev, "metadata.uid") != "77" || ocsfAt(ev, "metadata.version") != "1.3.0" || ocsfAt(ev, "time") == "<absent>" ||
		ocsfAt(ev, "severity_id") == "<absent>" || ocsfAt(ev, "message") != a.DisplayName:
		t.Errorf("%s: base attributes missing from %v", name, ev)
	}
	return class
}

func TestOCSFStreamFormat(t *testing.T) {
	ns := auditlog.NewStream{Name: "siem", Type: TypeWebhook, URL: "https://siem.example/", Secret: auditlog.NewWebhookSecret(), Format: auditlog.StreamFormatOCSF}
	if _, err := ns.Check(0, nil); err != nil {
		t.Errorf("NewStream.Check refuses an ocsf stream: %v", err)
	}
	a := recorded(t, 1, auditlog.LoggedIn(ocsfJdoe, ocsfJdoeUser, ocsfSession))
	got, err := encode(auditlog.StreamFormatOCSF, a)
	want, _ := encodeOCSF(a)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("encode(ocsf): %s, %v; want %s", got, err, want)
	}
	ns.Format = "cef" // refused when the stream is created, by NewStream.Check
	var e *auditlog.Error
	if _, err := ns.Check(0, nil); !errors.As(err, &e) || e.Field != "format" {
		t.Errorf("NewStream.Check of format cef: %v, want an error naming format", err)
	}
	if _, err := encode("cef", a); err == nil {
		t.Error("encode(cef) succeeded")
	}
}
