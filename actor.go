package auditlog

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Actor is whoever performs an action that the service records about
// itself: a user, a machine account, or the service and its command line.
type Actor struct {
	Operator Operator
	Username string // empty for the machine
	// Client describes the client for extra: the token's name, the client's
	// address, its user agent, the command. Never a secret.
	Client map[string]string
}

// MachineActor is the actor of the service's own actions and of its command
// line, described by the given client details.
func MachineActor(client map[string]string) Actor {
	return Actor{Operator: OperatorMachine, Client: client}
}

// maxClientText bounds each client detail in extra, however long the
// client's user agent.
const maxClientText = 512

// activity builds an activity of the actor with the client details and
// the given extra details in extra.
func (a Actor) activity(system, subtype string, object objectRef, changes []Change, details map[string]string) NewActivity {
	extra := make(map[string]string, len(a.Client)+len(details))
	for k, v := range a.Client {
		extra[k] = Clip(v, maxClientText)
	}
	for k, v := range details {
		extra[k] = Clip(v, maxClientText)
	}
	b, _ := EncodeJSON(extra) // a map of strings always encodes
	return NewActivity{
		SystemName: system, SubtypeSystemName: subtype,
		Operator: a.Operator, Username: a.Username, Extra: b,
		ObjectType: object.Type, ObjectID: object.ID, ObjectName: object.Name,
		Changes: changes,
	}
}

// Clip shortens s to at most n bytes on a rune boundary, marking the cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(truncated)"
}

// objectRef names the object of an activity.
type objectRef struct{ Type, ID, Name string }

// The object types of the service's own activities.
const (
	ObjectTypeUser            = "User"
	ObjectTypePermissionGroup = "PermissionGroup"
	ObjectTypeAPIToken        = "ApiToken"
	ObjectTypeSession         = "Session"
	ObjectTypeActivityType    = "ActivityType"
	ObjectTypeStream          = "Stream"
)

func userRef(u *User) objectRef {
	return objectRef{ObjectTypeUser, strconv.FormatInt(u.ID, 10), u.Username}
}

func groupRef(g *Group) objectRef {
	return objectRef{ObjectTypePermissionGroup, strconv.FormatInt(g.ID, 10), g.Name}
}

func tokenRef(t *Token) objectRef {
	return objectRef{ObjectTypeAPIToken, strconv.FormatInt(t.ID, 10), t.Name}
}

// Redacted stands for a secret in an activity's column changes: the
// change is recorded, its value never.
const Redacted = "[redacted]"

// columns is the recorded form of an object's columns, in order.
type columns [][2]string

// changesBetween lists the columns whose values differ, old to new; with
// no old columns (a creation), the new columns that hold a value.
func changesBetween(old, new columns) []Change {
	var out []Change
	for i := range new {
		if old == nil {
			if new[i][1] != "" {
				out = append(out, Change{ColumnName: new[i][0], NewValue: new[i][1]})
			}
		} else if old[i][1] != new[i][1] {
			out = append(out, Change{ColumnName: new[i][0], OldValue: old[i][1], NewValue: new[i][1]})
		}
	}
	return out
}

func permissionList(ps []Permission) string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

func groupColumns(g *Group) columns {
	return columns{{"name", g.Name}, {"permissions", permissionList(g.Permissions)}}
}

func userColumns(u *User) columns {
	return columns{{"username", u.Username}, {"permission_group", u.GroupName},
		{"disabled", strconv.FormatBool(u.Disabled)}, {"deleted", strconv.FormatBool(u.Deleted)}}
}

func tokenColumns(t *Token) columns {
	expires := ""
	if !t.Expires.IsZero() {
		expires = t.Expires.UTC().Format(time.RFC3339)
	}
	account := "machine"
	if t.Username != "" {
		account = t.Username
	}
	return columns{{"name", t.Name}, {"scopes", permissionList(t.Scopes)}, {"account", account},
		{"expires", expires}, {"revoked", strconv.FormatBool(t.Revoked)}}
}

// GroupCreated records the creation of a permission group.
func GroupCreated(by Actor, g *Group) NewActivity {
	return by.activity("CREATE_PERMISSION_GROUP", "", groupRef(g), changesBetween(nil, groupColumns(g)), nil)
}

// GroupEdited records an edit of a permission group, old to new.
func GroupEdited(by Actor, old, new *Group) NewActivity {
	return by.activity("EDIT_PERMISSION_GROUP", "", groupRef(new), changesBetween(groupColumns(old), groupColumns(new)), nil)
}

// GroupDeleted records the deletion of a permission group.
func GroupDeleted(by Actor, g *Group) NewActivity {
	return by.activity("DELETE_PERMISSION_GROUPS", "", groupRef(g),
		[]Change{{ColumnName: "name", OldValue: g.Name}, {ColumnName: "permissions", OldValue: permissionList(g.Permissions)}}, nil)
}

// UserCreated records the creation of a user (never their password).
func UserCreated(by Actor, u *User) NewActivity {
	return by.activity("CREATE_USER", "", userRef(u), changesBetween(nil, userColumns(u)[:3]), nil)
}

// UserEdited records an edit of a user, old to new. A changed password is
// recorded as a change of the redacted value.
func UserEdited(by Actor, old, new *User, passwordChanged bool) NewActivity {
	changes := changesBetween(userColumns(old), userColumns(new))
	if passwordChanged {
		changes = append(changes, Change{ColumnName: "password", OldValue: Redacted, NewValue: Redacted})
	}
	return by.activity("EDIT_USER", "", userRef(new), changes, nil)
}

// UserDeleted records the deletion of a user.
func UserDeleted(by Actor, old, new *User) NewActivity {
	return by.activity("DELETE_USER", "", userRef(new), changesBetween(userColumns(old), userColumns(new)), nil)
}

// UserRestored records the restoration of a deleted user.
func UserRestored(by Actor, old, new *User) NewActivity {
	return by.activity("RESTORE_USER", "", userRef(new), changesBetween(userColumns(old), userColumns(new)), nil)
}

// TokenCreated records the creation of an API token (never its secret).
func TokenCreated(by Actor, t *Token) NewActivity {
	return by.activity("CREATE_AN_ACCESS_TOKEN_WITHIN_THE_LOCAL_IDENTITY_PROVIDER", "", tokenRef(t),
		changesBetween(nil, tokenColumns(t)[:4]), nil)
}

// TokenRevoked records the revocation of an API token.
func TokenRevoked(by Actor, old, new *Token) NewActivity {
	return by.activity("REVOKE_ACCESS_TOKEN", "", tokenRef(new), changesBetween(tokenColumns(old), tokenColumns(new)), nil)
}

// TokenReset records the replacement of an API token's secret.
func TokenReset(by Actor, t *Token) NewActivity {
	return by.activity("RESET_TOKEN", "", tokenRef(t), []Change{{ColumnName: "secret", OldValue: Redacted, NewValue: Redacted}}, nil)
}

// ActivityTypeCreated records the registration of a custom activity type.
func ActivityTypeCreated(by Actor, t *ActivityType) NewActivity {
	subtypes := make([]string, len(t.Subtypes))
	for i, st := range t.Subtypes {
		subtypes[i] = st.SystemName
	}
	return by.activity("CREATE_ACTIVITY_TYPE", "", objectRef{ObjectTypeActivityType, t.SystemName, t.DisplayName},
		changesBetween(nil, columns{{"system_name", t.SystemName}, {"display_name", t.DisplayName},
			{"description", Clip(t.Description, MaxChangeValueLen/2)}, {"introduced_in", t.IntroducedIn},
			{"subtypes", Clip(strings.Join(subtypes, ","), MaxChangeValueLen/2)}}), nil)
}

// LoggedIn records a user's login, which opened session s.
func LoggedIn(by Actor, u *User, s *Session) NewActivity {
	return by.activity("USER_LOGIN", "", userRef(u), nil, map[string]string{
		"session_id": strconv.FormatInt(s.ID, 10), "session_expires": s.Expires.UTC().Format(time.RFC3339)})
}

// LoggedOut records the end of session s by its own user.
func LoggedOut(by Actor, s *Session) NewActivity {
	return by.activity("USER_LOGOUT", "", objectRef{ObjectTypeUser, strconv.FormatInt(s.UserID, 10), s.Username}, nil,
		map[string]string{"session_id": strconv.FormatInt(s.ID, 10)})
}

// LoginFailed records a failed login by the actor and the reason, which is
// never shown to the client. For a username that names no user, the actor
// has none and attempted is a keyed hash of the name.
func LoginFailed(by Actor, reason, attempted string) NewActivity {
	return loginFailed(by, attempted, map[string]string{"reason": reason})
}

// LoginThrottled records logins refused by the throttle: one, and
// refusedBefore more since the last such record (see LoginFailed for
// attempted).
func LoginThrottled(by Actor, attempted string, refusedBefore int) NewActivity {
	return loginFailed(by, attempted, map[string]string{"reason": "throttled", "refused_before": strconv.Itoa(refusedBefore)})
}

func loginFailed(by Actor, attempted string, details map[string]string) NewActivity {
	if attempted != "" {
		details["attempted_username"] = attempted
	}
	return by.activity("LOGIN_FAILED", "", objectRef{Type: ObjectTypeUser, Name: by.Username}, nil, details)
}

// SessionsRevoked records the end of a user's sessions, or of a group's
// users' sessions, by an administrator: Reset User Authorization Token, by
// user or by permission group.
func SessionsRevoked(by Actor, sel SessionSelector, sessions []Session) NewActivity {
	ids := make([]string, len(sessions))
	for i, s := range sessions {
		ids[i] = strconv.FormatInt(s.ID, 10)
	}
	details := map[string]string{"sessions_ended": strconv.Itoa(len(sessions)), "session_ids": Clip(strings.Join(ids, ","), maxClientText)}
	switch {
	case sel.Group != "":
		return by.activity("RESET_USER_AUTHORIZATION_TOKEN", "BY_PERMISSION_GROUP", objectRef{Type: ObjectTypePermissionGroup, Name: sel.Group}, nil, details)
	case sel.Username != "":
		return by.activity("RESET_USER_AUTHORIZATION_TOKEN", "BY_USER", objectRef{Type: ObjectTypeUser, Name: sel.Username}, nil, details)
	}
	ref := objectRef{Type: ObjectTypeSession, ID: strconv.FormatInt(sel.ID, 10)}
	if len(sessions) == 1 {
		ref.Name = sessions[0].Username
	}
	return by.activity("RESET_USER_AUTHORIZATION_TOKEN", "BY_USER", ref, nil, details)
}

// SafeUsername makes an attempted login name fit to be recorded: control
// characters dropped, at most MaxUsernameLen bytes.
func SafeUsername(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	return Clip(s, MaxUsernameLen-len("…(truncated)"))
}
