package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

// cli is the actor of the command line in these tests.
var cli = auditlog.MachineActor(map[string]string{"client": "auditlog test"})

// admin is a human administrator acting through the API.
var admin = auditlog.Actor{Operator: auditlog.OperatorHuman, Username: "admin",
	Client: map[string]string{"client_address": "192.0.2.7", "user_agent": "Firefox 131"}}

// accessTests are the conformance tests of users, groups, tokens and sessions.
var accessTests = []struct {
	name string
	fn   func(t *testing.T, open Opener)
}{
	{"bootstrap records the group and the admin as the machine's actions", testBootstrapRecorded},
	{"every change of a group is recorded with its old and new values", testGroupChanges},
	{"every change of a user is recorded, never with the password", testUserChanges},
	{"a group whose only members are deleted users can be deleted", testGroupOfDeletedUsers},
	{"the last active System Admin cannot be disabled, deleted or moved out", testLastAdmin},
	{"tokens are listed, revoked and reset, each change recorded", testTokenLifecycle},
	{"deleted and disabled users' tokens stop working", testInactiveUserTokens},
	{"sessions authenticate until they expire, idle out or end", testSessions},
	{"sessions are revoked by id, user or group and by a new password", testSessionRevocation},
	{"a refused change records nothing", testRefusedChangeRecordsNothing},
}

// lastActivities returns the n most recent activities, oldest first.
func lastActivities(t *testing.T, s auditlog.Store, n int) []auditlog.Activity {
	t.Helper()
	acts, _, err := s.FindActivities(context.Background(), auditlog.Filter{Limit: n})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(acts)
	return acts
}

// wantActivity checks an activity of the service's own against what it must say.
func wantActivity(t *testing.T, a auditlog.Activity, system string, by auditlog.Actor, objectType, objectName string, changes []auditlog.Change) {
	t.Helper()
	if a.SystemName != system || a.Operator != by.Operator || a.Username != by.Username {
		t.Errorf("activity %d: %s by %s %q, want %s by %s %q", a.ID, a.SystemName, a.Operator, a.Username, system, by.Operator, by.Username)
	}
	if a.ObjectType != objectType || a.ObjectName != objectName {
		t.Errorf("activity %d (%s): object %s %q, want %s %q", a.ID, a.SystemName, a.ObjectType, a.ObjectName, objectType, objectName)
	}
	if changes != nil && !slices.Equal(a.Changes, changes) {
		t.Errorf("activity %d (%s): changes %+v, want %+v", a.ID, a.SystemName, a.Changes, changes)
	}
	var extra map[string]string
	if err := json.Unmarshal(a.Extra, &extra); err != nil {
		t.Errorf("activity %d: extra %s: %v", a.ID, a.Extra, err)
	}
	for k, v := range by.Client {
		if extra[k] != v {
			t.Errorf("activity %d (%s): extra[%q] = %q, want %q", a.ID, a.SystemName, k, extra[k], v)
		}
	}
}

// assertNoActivityHolds fails when any of the store's last activities holds
// one of the secrets.
func assertNoActivityHolds(t *testing.T, s auditlog.Store, secrets ...string) {
	t.Helper()
	for _, a := range lastActivities(t, s, 100) {
		b, _ := json.Marshal(a)
		for _, secret := range secrets {
			if strings.Contains(string(b), secret) {
				t.Errorf("activity %d (%s) holds the secret %.8s…", a.ID, a.SystemName, secret)
			}
		}
	}
}

// bootstrapped opens a store that has had its first start.
func bootstrapped(t *testing.T, open Opener, clock *Clock) auditlog.Store {
	t.Helper()
	s := open(t, clock)
	if _, err := s.Bootstrap(context.Background(), "h"); err != nil {
		t.Fatal(err)
	}
	return s
}

func countActivities(t *testing.T, s auditlog.Store) int {
	t.Helper()
	head, err := s.TreeHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(head.Size)
}

func testBootstrapRecorded(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	if _, err := s.Bootstrap(context.Background(), "hash"); err != nil {
		t.Fatal(err)
	}
	acts := lastActivities(t, s, 10)
	if len(acts) != 2 {
		t.Fatalf("bootstrap recorded %d activities, want 2", len(acts))
	}
	machine := auditlog.Actor{Operator: auditlog.OperatorMachine}
	wantActivity(t, acts[0], "CREATE_PERMISSION_GROUP", machine, auditlog.ObjectTypePermissionGroup, auditlog.SystemAdminGroup,
		[]auditlog.Change{{ColumnName: "name", NewValue: auditlog.SystemAdminGroup},
			{ColumnName: "permissions", NewValue: "activities:export,activities:read,activities:write,admin,log:read"}})
	wantActivity(t, acts[1], "CREATE_USER", machine, auditlog.ObjectTypeUser, auditlog.AdminUsername,
		[]auditlog.Change{{ColumnName: "username", NewValue: "admin"}, {ColumnName: "permission_group", NewValue: auditlog.SystemAdminGroup},
			{ColumnName: "disabled", NewValue: "false"}})
}

func testGroupChanges(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	read := []auditlog.Permission{auditlog.PermActivitiesRead}
	g, err := s.CreateGroup(ctx, admin, "Keyers", read)
	if err != nil {
		t.Fatal(err)
	}
	newName := "Auditors"
	perms := []auditlog.Permission{auditlog.PermActivitiesRead, auditlog.PermActivitiesExport}
	edited, err := s.UpdateGroup(ctx, admin, "keyers", auditlog.GroupChange{Name: &newName, Permissions: &perms})
	if err != nil {
		t.Fatal(err)
	}
	if edited.ID != g.ID || edited.Name != "Auditors" || !slices.Equal(edited.Permissions, perms) {
		t.Fatalf("edited group %+v", edited)
	}
	found, err := s.FindGroup(ctx, "Auditors")
	if err != nil || !slices.Equal(found.Permissions, perms) {
		t.Fatalf("FindGroup after the edit: %+v, %v", found, err)
	}
	if _, err := s.FindGroup(ctx, "Keyers"); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("the old name: got %v, want not found", err)
	}
	if _, err := s.CreateGroup(ctx, admin, "Spare", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroups(ctx, admin, []string{"Auditors", "Spare"}); err != nil {
		t.Fatal(err)
	}
	groups, err := s.Groups(ctx)
	if err != nil || len(groups) != 0 {
		t.Fatalf("Groups after deleting both: %+v, %v", groups, err)
	}
	acts := lastActivities(t, s, 10)
	if len(acts) != 5 {
		t.Fatalf("%d activities, want 5 (two creations, an edit, two deletions)", len(acts))
	}
	wantActivity(t, acts[0], "CREATE_PERMISSION_GROUP", admin, auditlog.ObjectTypePermissionGroup, "Keyers",
		[]auditlog.Change{{ColumnName: "name", NewValue: "Keyers"}, {ColumnName: "permissions", NewValue: "activities:read"}})
	wantActivity(t, acts[1], "EDIT_PERMISSION_GROUP", admin, auditlog.ObjectTypePermissionGroup, "Auditors",
		[]auditlog.Change{{ColumnName: "name", OldValue: "Keyers", NewValue: "Auditors"},
			{ColumnName: "permissions", OldValue: "activities:read", NewValue: "activities:export,activities:read"}})
	if acts[1].ObjectID != strconv.FormatInt(g.ID, 10) {
		t.Errorf("edit's object_id %q, want the group's id %d", acts[1].ObjectID, g.ID)
	}
	wantActivity(t, acts[3], "DELETE_PERMISSION_GROUPS", admin, auditlog.ObjectTypePermissionGroup, "Auditors",
		[]auditlog.Change{{ColumnName: "name", OldValue: "Auditors"}, {ColumnName: "permissions", OldValue: "activities:export,activities:read"}})
	wantActivity(t, acts[4], "DELETE_PERMISSION_GROUPS", admin, auditlog.ObjectTypePermissionGroup, "Spare", nil)
}

func testGroupOfDeletedUsers(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	if _, err := s.Bootstrap(ctx, "admin-hash"); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"Keyers", "Night shift"} {
		if _, err := s.CreateGroup(ctx, admin, g, []auditlog.Permission{auditlog.PermActivitiesRead}); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range []string{"kim", "kai", "nina"} {
		group := "Keyers"
		if u == "nina" {
			group = "Night shift"
		}
		if _, err := s.CreateUser(ctx, admin, u, group, "hash"); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	if _, err := s.UpdateUser(ctx, admin, "nina", auditlog.UserChange{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"kim", "kai"} {
		if _, err := s.DeleteUser(ctx, admin, u); err != nil {
			t.Fatal(err)
		}
	}
	// A disabled member still holds her group; deleted ones do not.
	if err := s.DeleteGroups(ctx, admin, []string{"Night shift"}); auditlog.ErrorCode(err) != auditlog.ECONFLICT || !strings.Contains(err.Error(), "has 1 user") {
		t.Fatalf("deleting a group with a disabled member: %v", err)
	}
	if err := s.DeleteGroups(ctx, admin, []string{"Keyers"}); err != nil {
		t.Fatalf("deleting a group of deleted users: %v", err)
	}
	if _, err := s.FindGroup(ctx, "Keyers"); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("the deleted group is still found: %v", err)
	}
	groups, err := s.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if strings.HasPrefix(g.Name, "Keyers") {
			t.Fatalf("the deleted group is still listed: %+v", groups)
		}
	}
	acts := lastActivities(t, s, 1)
	wantActivity(t, acts[0], "DELETE_PERMISSION_GROUPS", admin, auditlog.ObjectTypePermissionGroup, "Keyers",
		[]auditlog.Change{{ColumnName: "name", OldValue: "Keyers"}, {ColumnName: "permissions", OldValue: "activities:read"}})
	// Its deleted members are kept, and name the group as it was deleted.
	kim, err := s.FindUser(ctx, "kim")
	if err != nil || !kim.Deleted || !strings.HasPrefix(kim.GroupName, "Keyers (deleted #") {
		t.Fatalf("kim after her group's deletion: %+v, %v", kim, err)
	}
	// Its name is free again, for a new group that the old members are not in.
	if _, err := s.CreateGroup(ctx, admin, "Keyers", nil); err != nil {
		t.Fatalf("a new group of the deleted one's name: %v", err)
	}
	if kim, _ = s.FindUser(ctx, "kim"); kim.GroupName == "Keyers" {
		t.Fatal("kim is in the new group of the old name")
	}
	// A member of a deleted group is moved to another before her restoration.
	if _, err := s.RestoreUser(ctx, admin, "kim"); auditlog.ErrorCode(err) != auditlog.ECONFLICT || !strings.Contains(err.Error(), "move them to another group first") {
		t.Fatalf("restoring a member of a deleted group: %v", err)
	}
	group := "Keyers"
	if _, err := s.UpdateUser(ctx, admin, "kim", auditlog.UserChange{Group: &group}); err != nil {
		t.Fatal(err)
	}
	if restored, err := s.RestoreUser(ctx, admin, "kim"); err != nil || restored.Deleted || restored.GroupName != "Keyers" {
		t.Fatalf("restoring kim after her move: %+v, %v", restored, err)
	}
}

func testUserChanges(t *testing.T, open Opener) {
	s := open(t, NewClock(base))
	ctx := context.Background()
	if _, err := s.Bootstrap(ctx, "admin-hash"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateGroup(ctx, admin, "Auditors", []auditlog.Permission{auditlog.PermActivitiesRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, admin, "audrey", "Auditors", "secret-hash-1"); err != nil {
		t.Fatal(err)
	}
	group, hash, yes := auditlog.SystemAdminGroup, "secret-hash-2", true
	u, err := s.UpdateUser(ctx, admin, "AUDREY", auditlog.UserChange{Group: &group, PasswordHash: &hash, Disabled: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if u.GroupName != auditlog.SystemAdminGroup || !u.Disabled || u.PasswordHash != hash {
		t.Fatalf("updated user %+v", u)
	}
	if _, err := s.DeleteUser(ctx, admin, "audrey"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, admin, "audrey"); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
		t.Fatalf("deleting twice: got %v, want conflict", err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 2 || users[1].Username != "audrey" || !users[1].Deleted || users[1].PasswordHash != "" {
		t.Fatalf("Users lists %+v, %v: want admin and the deleted audrey, without hashes", users, err)
	}
	restored, err := s.RestoreUser(ctx, admin, "audrey")
	if err != nil || restored.Deleted {
		t.Fatalf("restore: %+v, %v", restored, err)
	}
	found, err := s.FindUser(ctx, "audrey")
	if err != nil || found.Deleted || found.PasswordHash != hash {
		t.Fatalf("FindUser after restore: %+v, %v", found, err)
	}

	acts := lastActivities(t, s, 4)
	wantActivity(t, acts[0], "CREATE_USER", admin, auditlog.ObjectTypeUser, "audrey",
		[]auditlog.Change{{ColumnName: "username", NewValue: "audrey"}, {ColumnName: "permission_group", NewValue: "Auditors"},
			{ColumnName: "disabled", NewValue: "false"}})
	wantActivity(t, acts[1], "EDIT_USER", admin, auditlog.ObjectTypeUser, "audrey",
		[]auditlog.Change{{ColumnName: "permission_group", OldValue: "Auditors", NewValue: auditlog.SystemAdminGroup},
			{ColumnName: "disabled", OldValue: "false", NewValue: "true"},
			{ColumnName: "password", OldValue: auditlog.Redacted, NewValue: auditlog.Redacted}})
	wantActivity(t, acts[2], "DELETE_USER", admin, auditlog.ObjectTypeUser, "audrey",
		[]auditlog.Change{{ColumnName: "deleted", OldValue: "false", NewValue: "true"}})
	wantActivity(t, acts[3], "RESTORE_USER", admin, auditlog.ObjectTypeUser, "audrey",
		[]auditlog.Change{{ColumnName: "deleted", OldValue: "true", NewValue: "false"}})
	assertNoActivityHolds(t, s, "secret-hash-1", "secret-hash-2")
}

func testLastAdmin(t *testing.T, open Opener) {
	s := bootstrapped(t, open, NewClock(base))
	ctx := context.Background()
	if _, err := s.CreateGroup(ctx, cli, "Auditors", nil); err != nil {
		t.Fatal(err)
	}
	yes, other := true, "Auditors"
	refused := map[string]func() error{
		"disable": func() error {
			_, err := s.UpdateUser(ctx, cli, "admin", auditlog.UserChange{Disabled: &yes})
			return err
		},
		"move out": func() error {
			_, err := s.UpdateUser(ctx, cli, "admin", auditlog.UserChange{Group: &other})
			return err
		},
		"delete": func() error { _, err := s.DeleteUser(ctx, cli, "admin"); return err },
		"delete the group": func() error {
			return s.DeleteGroups(ctx, cli, []string{auditlog.SystemAdminGroup})
		},
		"take a permission from the group": func() error {
			perms := []auditlog.Permission{auditlog.PermActivitiesRead}
			_, err := s.UpdateGroup(ctx, cli, auditlog.SystemAdminGroup, auditlog.GroupChange{Permissions: &perms})
			return err
		},
		"rename the group": func() error {
			_, err := s.UpdateGroup(ctx, cli, auditlog.SystemAdminGroup, auditlog.GroupChange{Name: &other})
			return err
		},
	}
	for name, fn := range refused {
		if code := auditlog.ErrorCode(fn()); code != auditlog.ECONFLICT && code != auditlog.EINVALID {
			t.Errorf("%s the last admin: got %q, want a refusal", name, code)
		}
	}
	if _, err := s.CreateUser(ctx, cli, "second", auditlog.SystemAdminGroup, "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, cli, "admin"); err != nil {
		t.Fatalf("deleting one of two admins: %v", err)
	}
}

func testTokenLifecycle(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := bootstrapped(t, open, clock)
	ctx := context.Background()
	first := auditlog.GenerateTokenSecret()
	tok, err := s.CreateToken(ctx, admin, auditlog.NewToken{Name: "billing", Scopes: []auditlog.Permission{auditlog.PermActivitiesWrite},
		Expires: base.Add(24 * time.Hour)}, first)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := s.CreateToken(ctx, admin, auditlog.NewToken{Name: "mine", Scopes: auditlog.AllPermissions, Username: "admin"}, auditlog.GenerateTokenSecret())
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := s.Tokens(ctx)
	if err != nil || len(tokens) != 2 || tokens[0].Name != "billing" || tokens[1].Username != "admin" || !tokens[0].Expires.Equal(base.Add(24*time.Hour)) {
		t.Fatalf("Tokens: %+v, %v", tokens, err)
	}
	second := auditlog.GenerateTokenSecret()
	if _, err := s.ResetToken(ctx, admin, tok.ID, second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, first); auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED {
		t.Fatalf("the secret before the reset: got %v, want unauthorized", err)
	}
	if p, err := s.Authenticate(ctx, second); err != nil || p.TokenID != tok.ID {
		t.Fatalf("the secret after the reset: %+v, %v", p, err)
	}
	if _, err := s.RevokeToken(ctx, admin, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, second); auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED {
		t.Fatalf("a revoked token: got %v, want unauthorized", err)
	}
	if _, err := s.RevokeToken(ctx, admin, tok.ID); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
		t.Fatalf("revoking twice: got %v, want conflict", err)
	}
	if _, err := s.ResetToken(ctx, admin, tok.ID, auditlog.GenerateTokenSecret()); auditlog.ErrorCode(err) != auditlog.ECONFLICT {
		t.Fatalf("resetting a revoked token: got %v, want conflict", err)
	}
	if _, err := s.RevokeToken(ctx, admin, 999); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("revoking a missing token: got %v, want not found", err)
	}

	acts := lastActivities(t, s, 4)
	wantActivity(t, acts[0], "CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER", admin, auditlog.ObjectTypeAPIToken, "billing",
		[]auditlog.Change{{ColumnName: "name", NewValue: "billing"}, {ColumnName: "scopes", NewValue: "activities:write"},
			{ColumnName: "account", NewValue: "machine"}, {ColumnName: "expires", NewValue: "2026-11-21T10:00:00Z"}})
	wantActivity(t, acts[1], "CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER", admin, auditlog.ObjectTypeAPIToken, "mine", nil)
	if acts[1].ObjectID != strconv.FormatInt(mine.ID, 10) {
		t.Errorf("token activity's object_id %q, want %d", acts[1].ObjectID, mine.ID)
	}
	wantActivity(t, acts[2], "RESET_TOKEN", admin, auditlog.ObjectTypeAPIToken, "billing",
		[]auditlog.Change{{ColumnName: "secret", OldValue: auditlog.Redacted, NewValue: auditlog.Redacted}})
	wantActivity(t, acts[3], "REVOKE_ACCESS_TOKEN", admin, auditlog.ObjectTypeAPIToken, "billing",
		[]auditlog.Change{{ColumnName: "revoked", OldValue: "false", NewValue: "true"}})
	assertNoActivityHolds(t, s, first, second, auditlog.HashToken(first), auditlog.HashToken(second))

	// A token acts as its user: no scope beyond the user's group's.
	if _, err := s.CreateGroup(ctx, admin, "Readers", []auditlog.Permission{auditlog.PermActivitiesRead}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, admin, "rita", "Readers", "secret-hash-2"); err != nil {
		t.Fatal(err)
	}
	before := lastActivities(t, s, 1)[0].ID
	_, err = s.CreateToken(ctx, admin, auditlog.NewToken{Name: "too much", Username: "rita",
		Scopes: []auditlog.Permission{auditlog.PermActivitiesRead, auditlog.PermActivitiesWrite}}, auditlog.GenerateTokenSecret())
	var field *auditlog.Error
	if !errors.As(err, &field) || field.Code != auditlog.EINVALID || field.Field != "scopes" || !strings.Contains(field.Message, string(auditlog.PermActivitiesWrite)) {
		t.Fatalf("a token with a scope its user's group lacks: %v; want invalid scopes naming %s", err, auditlog.PermActivitiesWrite)
	}
	if after := lastActivities(t, s, 1)[0].ID; after != before {
		t.Fatalf("the refused token was recorded (activity %d)", after)
	}
	if _, err := s.CreateToken(ctx, admin, auditlog.NewToken{Name: "enough", Username: "rita",
		Scopes: []auditlog.Permission{auditlog.PermActivitiesRead}}, auditlog.GenerateTokenSecret()); err != nil {
		t.Fatalf("a token with its user's permission: %v", err)
	}
}

func testInactiveUserTokens(t *testing.T, open Opener) {
	s := bootstrapped(t, open, NewClock(base))
	ctx := context.Background()
	if _, err := s.CreateUser(ctx, cli, "second", auditlog.SystemAdminGroup, "h"); err != nil {
		t.Fatal(err)
	}
	secret := auditlog.GenerateTokenSecret()
	if _, err := s.CreateToken(ctx, cli, auditlog.NewToken{Name: "t", Scopes: auditlog.AllPermissions, Username: "second"}, secret); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	steps := []struct {
		name  string
		apply func() error
		works bool
	}{
		{"disabled", func() error {
			_, err := s.UpdateUser(ctx, cli, "second", auditlog.UserChange{Disabled: &yes})
			return err
		}, false},
		{"enabled again", func() error {
			_, err := s.UpdateUser(ctx, cli, "second", auditlog.UserChange{Disabled: &no})
			return err
		}, true},
		{"deleted", func() error { _, err := s.DeleteUser(ctx, cli, "second"); return err }, false},
		{"restored", func() error { _, err := s.RestoreUser(ctx, cli, "second"); return err }, true},
	}
	for _, st := range steps {
		if err := st.apply(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		_, err := s.Authenticate(ctx, secret)
		if st.works != (err == nil) {
			t.Errorf("token of a user %s: err %v, want working=%v", st.name, err, st.works)
		}
	}
}

func newSession(t *testing.T, s auditlog.Store, username string, expires time.Time, idle time.Duration) string {
	t.Helper()
	secret := auditlog.GenerateSessionSecret()
	by := auditlog.Actor{Operator: auditlog.OperatorHuman, Username: username, Client: map[string]string{"client_address": "192.0.2.9"}}
	if _, err := s.CreateSession(context.Background(), by, auditlog.NewSession{Username: username, Expires: expires, IdleTimeout: idle,
		ClientAddress: "192.0.2.9", UserAgent: "Firefox 131"}, secret); err != nil {
		t.Fatalf("session for %s: %v", username, err)
	}
	return secret
}

func testSessions(t *testing.T, open Opener) {
	clock := NewClock(base)
	s := bootstrapped(t, open, clock)
	ctx := context.Background()
	secret := newSession(t, s, "admin", base.Add(2*time.Hour), 30*time.Minute)
	login := lastActivities(t, s, 1)[0]
	wantActivity(t, login, "USER_LOGIN", auditlog.Actor{Operator: auditlog.OperatorHuman, Username: "admin",
		Client: map[string]string{"client_address": "192.0.2.9"}}, auditlog.ObjectTypeUser, "admin", nil)

	p, err := s.AuthenticateSession(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Username != "admin" || p.SessionID == 0 || p.Operator() != auditlog.OperatorHuman || !p.Can(auditlog.PermAdmin) {
		t.Fatalf("session principal %+v", p)
	}
	if _, err := s.Authenticate(ctx, secret); auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED {
		t.Fatalf("a session secret as a token: got %v, want unauthorized", err)
	}
	// Use within the idle timeout keeps the session alive past it.
	for range 3 {
		clock.Set(clock.Now().Add(20 * time.Minute))
		if _, err := s.AuthenticateSession(ctx, secret); err != nil {
			t.Fatalf("at %s, used every 20 minutes: %v", clock.Now(), err)
		}
	}
	sessions, err := s.Sessions(ctx)
	if err != nil || len(sessions) != 1 || sessions[0].UserAgent != "Firefox 131" || !sessions[0].LastSeen.Equal(clock.Now()) {
		t.Fatalf("Sessions: %+v, %v", sessions, err)
	}
	clock.Set(clock.Now().Add(31 * time.Minute))
	if _, err := s.AuthenticateSession(ctx, secret); auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED {
		t.Fatalf("idle for 31 minutes: got %v, want unauthorized", err)
	}

	clock.Set(base)
	absolute := newSession(t, s, "admin", base.Add(time.Hour), time.Hour)
	for range 3 {
		clock.Set(clock.Now().Add(25 * time.Minute))
		_, err = s.AuthenticateSession(ctx, absolute)
	}
	if auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED {
		t.Fatalf("past the absolute expiry, though in use: got %v, want unauthorized", err)
	}

	clock.Set(base)
	out := newSession(t, s, "admin", base.Add(time.Hour), time.Hour)
	if err := s.EndSession(ctx, admin, out); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateSession(ctx, out); auditlog.ErrorCode(err) != auditlog.EUNAUTHORIZED {
		t.Fatalf("after logout: got %v, want unauthorized", err)
	}
	if err := s.EndSession(ctx, admin, out); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("logging out twice: got %v, want not found", err)
	}
	wantActivity(t, lastActivities(t, s, 1)[0], "USER_LOGOUT", admin, auditlog.ObjectTypeUser, "admin", nil)
	if _, err := s.CreateSession(ctx, admin, auditlog.NewSession{Username: "ghost", Expires: base.Add(time.Hour), IdleTimeout: time.Hour},
		auditlog.GenerateSessionSecret()); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("a session for a missing user: got %v, want not found", err)
	}
}

func testSessionRevocation(t *testing.T, open Opener) {
	s := bootstrapped(t, open, NewClock(base))
	ctx := context.Background()
	if _, err := s.CreateGroup(ctx, cli, "Auditors", []auditlog.Permission{auditlog.PermActivitiesRead}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"audrey", "bob"} {
		if _, err := s.CreateUser(ctx, cli, u, "Auditors", "h"); err != nil {
			t.Fatal(err)
		}
	}
	until := base.Add(time.Hour)
	a1, a2 := newSession(t, s, "audrey", until, time.Hour), newSession(t, s, "audrey", until, time.Hour)
	b1, b2 := newSession(t, s, "bob", until, time.Hour), newSession(t, s, "bob", until, time.Hour)
	mine := newSession(t, s, "admin", until, time.Hour)
	alive := func(secret string) bool { _, err := s.AuthenticateSession(ctx, secret); return err == nil }

	p, err := s.AuthenticateSession(ctx, a1)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.RevokeSessions(ctx, admin, auditlog.SessionSelector{ID: p.SessionID}); err != nil || n != 1 {
		t.Fatalf("revoke by id: %d, %v", n, err)
	}
	if alive(a1) || !alive(a2) {
		t.Fatalf("after revoking a1 by id: a1 alive=%v, a2 alive=%v", alive(a1), alive(a2))
	}
	if n, err := s.RevokeSessions(ctx, admin, auditlog.SessionSelector{Username: "audrey"}); err != nil || n != 1 {
		t.Fatalf("revoke by user: %d, %v", n, err)
	}
	wantActivity(t, lastActivities(t, s, 1)[0], "RESET_USER_AUTHORIZATION_TOKEN", admin, auditlog.ObjectTypeUser, "audrey", nil)
	if alive(a2) || !alive(b1) {
		t.Fatal("revoking audrey's sessions must end a2 and leave bob's")
	}
	hash := "new-hash"
	if _, err := s.UpdateUser(ctx, admin, "bob", auditlog.UserChange{PasswordHash: &hash}); err != nil {
		t.Fatal(err)
	}
	if alive(b1) || alive(b2) {
		t.Fatal("a new password must end the user's sessions")
	}
	b3 := newSession(t, s, "bob", until, time.Hour)
	if n, err := s.RevokeSessions(ctx, admin, auditlog.SessionSelector{Group: "Auditors"}); err != nil || n != 1 {
		t.Fatalf("revoke by group: %d, %v", n, err)
	}
	last := lastActivities(t, s, 1)[0]
	if last.SubtypeSystemName != "BY_PERMISSION_GROUP" || last.ObjectName != "Auditors" {
		t.Errorf("revoking by group recorded %s/%s on %q", last.SystemName, last.SubtypeSystemName, last.ObjectName)
	}
	if alive(b3) || !alive(mine) {
		t.Fatal("revoking the Auditors' sessions must end b3 and leave the admin's")
	}
	if _, err := s.RevokeSessions(ctx, admin, auditlog.SessionSelector{Username: "ghost"}); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Fatalf("revoking a missing user's sessions: got %v, want not found", err)
	}
	if _, err := s.RevokeSessions(ctx, admin, auditlog.SessionSelector{}); auditlog.ErrorCode(err) != auditlog.EINVALID {
		t.Fatalf("revoking with no selector: got %v, want invalid", err)
	}
}

func testRefusedChangeRecordsNothing(t *testing.T, open Opener) {
	s := bootstrapped(t, open, NewClock(base))
	ctx := context.Background()
	if _, err := s.CreateGroup(ctx, cli, "Auditors", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, cli, "audrey", "Auditors", "h"); err != nil {
		t.Fatal(err)
	}
	before := countActivities(t, s)
	missing := "Nobody"
	badActor := auditlog.Actor{Operator: auditlog.OperatorHuman} // a human without a username: not recordable
	refused := map[string]error{}
	_, refused["a duplicate group"] = s.CreateGroup(ctx, cli, "auditors", nil)
	_, refused["a duplicate user"] = s.CreateUser(ctx, cli, "Audrey", "Auditors", "h")
	_, refused["a user moved to a missing group"] = s.UpdateUser(ctx, cli, "audrey", auditlog.UserChange{Group: &missing})
	refused["deleting a group with users"] = s.DeleteGroups(ctx, cli, []string{"Auditors"})
	refused["deleting a missing group with an existing one"] = s.DeleteGroups(ctx, cli, []string{"Auditors", "Nobody"})
	_, refused["restoring a user who is not deleted"] = s.RestoreUser(ctx, cli, "audrey")
	_, refused["a change by an actor that cannot be recorded"] = s.CreateGroup(ctx, badActor, "Keyers", nil)
	_, refused["a token without scopes"] = s.CreateToken(ctx, cli, auditlog.NewToken{Name: "x"}, auditlog.GenerateTokenSecret())
	for name, err := range refused {
		if err == nil {
			t.Errorf("%s was accepted", name)
		}
	}
	if after := countActivities(t, s); after != before {
		t.Errorf("refused changes recorded %d activities", after-before)
	}
	if _, err := s.FindGroup(ctx, "Keyers"); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		t.Errorf("the group whose record failed exists: %v", err)
	}
	if g, err := s.FindGroup(ctx, "Auditors"); err != nil || g.Name != "Auditors" {
		t.Errorf("the group refused deletion is gone: %v", err)
	}
}
