package auditlog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Permission is a right that a permission group holds and an API token's
// scope names. The two use the same names.
type Permission string

// The permissions of the contract.
const (
	PermActivitiesRead   Permission = "activities:read"
	PermActivitiesWrite  Permission = "activities:write"
	PermActivitiesExport Permission = "activities:export"
	PermAdmin            Permission = "admin"
	// PermLogRead grants the Merkle tree without the activities: the
	// checkpoints, the hash tiles and the proofs, for monitors and
	// witnesses. PermActivitiesRead grants it too.
	PermLogRead Permission = "log:read"
)

// AllPermissions lists every permission, as the System Admin group holds them.
var AllPermissions = []Permission{PermActivitiesRead, PermActivitiesExport, PermActivitiesWrite, PermLogRead, PermAdmin}

// SystemAdminGroup is the permission group created on first start.
const SystemAdminGroup = "System Admin"

// AdminUsername is the user created on first start.
const AdminUsername = "admin"

// ParsePermissions reads a comma-separated list of permission names.
func ParsePermissions(field, list string) ([]Permission, error) {
	var ps []Permission
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, Permission(p))
		}
	}
	return CheckPermissions(field, ps, false)
}

// CheckPermissions refuses unknown permission names and drops repeated
// ones. With indexed, an error names the offending element (field[2]).
func CheckPermissions(field string, ps []Permission, indexed bool) ([]Permission, error) {
	out := []Permission{}
	for i, p := range ps {
		if !slices.Contains(AllPermissions, p) {
			f := field
			if indexed {
				f = fmt.Sprintf("%s[%d]", field, i)
			}
			return nil, FieldErrorf(f, "unknown permission %q; known: activities:read, activities:write, activities:export, log:read, admin", truncate(string(p), 40))
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// Group is a permission group.
type Group struct {
	ID          int64        `json:"id"`
	Name        string       `json:"name"`
	Permissions []Permission `json:"permissions"`
	Created     time.Time    `json:"created"`
}

// GroupChange is an edit of a permission group: nil fields stay as they are.
type GroupChange struct {
	Name        *string
	Permissions *[]Permission
}

// User is a person who logs in, member of one permission group.
type User struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	GroupID   int64     `json:"group_id"`
	GroupName string    `json:"group"`
	Disabled  bool      `json:"disabled"`
	Deleted   bool      `json:"deleted"`
	Created   time.Time `json:"created"`
	// PasswordHash is the encoded password hash; never serialized.
	PasswordHash string `json:"-"`
}

// Active reports whether the user may log in and act.
func (u *User) Active() bool { return !u.Disabled && !u.Deleted }

// UserChange is an edit of a user: nil fields stay as they are.
type UserChange struct {
	Group        *string
	PasswordHash *string
	Disabled     *bool
}

// Token is an API token as stored: its secret is kept only as a hash.
type Token struct {
	ID       int64        `json:"id"`
	Name     string       `json:"name"`
	Scopes   []Permission `json:"scopes"`
	UserID   int64        `json:"user_id,omitempty"`  // 0 for a machine account
	Username string       `json:"username,omitempty"` // empty for a machine account
	Created  time.Time    `json:"created"`
	// Expires is the zero time for a token that does not expire.
	Expires time.Time `json:"expires,omitzero"`
	Revoked bool      `json:"revoked"`
}

// NewToken describes a token to create.
type NewToken struct {
	Name     string
	Scopes   []Permission
	Username string // empty for a machine account
	Expires  time.Time
}

// TokenPrefix starts every API token so that secret scanners can find leaked ones.
const TokenPrefix = "alt_"

// SessionPrefix starts every session secret (the session cookie's value).
const SessionPrefix = "als_"

// GenerateTokenSecret returns a new random API token (256 bits of entropy).
func GenerateTokenSecret() string { return generateSecret(TokenPrefix) }

// GenerateSessionSecret returns a new random session secret (256 bits of entropy).
func GenerateSessionSecret() string { return generateSecret(SessionPrefix) }

func generateSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the stored form of a token or session secret. A fast
// hash suffices: the secret has 256 bits of entropy, so it cannot be
// guessed from its hash.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Session is a login of a user through the web UI or the session API.
// Its secret lives only in the user's cookie; the store keeps its hash.
type Session struct {
	ID       int64     `json:"id"`
	UserID   int64     `json:"user_id"`
	Username string    `json:"username"`
	Created  time.Time `json:"created"`
	// Expires is the absolute end of the session.
	Expires time.Time `json:"expires"`
	// LastSeen is when the session was last used (to the minute); the
	// session ends after IdleTimeout without use.
	LastSeen      time.Time     `json:"last_seen"`
	IdleTimeout   time.Duration `json:"-"`
	ClientAddress string        `json:"client_address"`
	UserAgent     string        `json:"user_agent"`
}

// NewSession describes a session to open for a user who proved their password.
type NewSession struct {
	Username      string
	Expires       time.Time
	IdleTimeout   time.Duration
	ClientAddress string
	UserAgent     string
}

// SessionSelector chooses the sessions to revoke: exactly one field is set.
type SessionSelector struct {
	ID       int64
	Username string
	Group    string
}

// Principal is whoever makes a request: a user through a session or a
// token tied to them, or a machine account through its own token.
type Principal struct {
	TokenID   int64  // 0 for a session
	SessionID int64  // 0 for a token
	Name      string // the token's name, or "session"
	UserID    int64  // 0 for a machine account
	Username  string // empty for a machine account
	// Permissions are the token's scopes, narrowed to the user's group's
	// permissions for a token tied to a user; a session has the group's.
	Permissions []Permission
}

// Can reports whether the principal holds permission p.
// Reading the activities includes reading the tree they are the leaves of.
func (p *Principal) Can(perm Permission) bool {
	if p == nil {
		return false
	}
	return slices.Contains(p.Permissions, perm) || perm == PermLogRead && slices.Contains(p.Permissions, PermActivitiesRead)
}

// Recorder is who the principal's recordings through the API are recorded by.
func (p *Principal) Recorder() Recorder {
	if p.TokenID != 0 {
		return TokenRecorder(p.TokenID)
	}
	return UserRecorder(p.Username)
}

// Operator is the operator under which the principal's own actions are recorded.
func (p *Principal) Operator() Operator {
	if p.UserID != 0 {
		return OperatorHuman
	}
	return OperatorMachine
}

// AuthService manages users, permission groups, API tokens and sessions.
// Every change is recorded in the audit log, as an activity of the given
// actor, in the same transaction as the change itself: there is no change
// without its record, and no record of a change that did not happen.
type AuthService interface {
	// Bootstrap creates the System Admin group and the admin user with the
	// given password hash when the store has no users, recorded as the
	// machine's actions. It reports whether it created them.
	Bootstrap(ctx context.Context, adminPasswordHash string) (bool, error)

	// CreateGroup creates a permission group; ECONFLICT when the name is taken.
	CreateGroup(ctx context.Context, by Actor, name string, perms []Permission) (*Group, error)
	// UpdateGroup edits a group. The System Admin group keeps its name and
	// every permission.
	UpdateGroup(ctx context.Context, by Actor, name string, ch GroupChange) (*Group, error)
	// DeleteGroups deletes groups that no user belongs to, all or none.
	DeleteGroups(ctx context.Context, by Actor, names []string) error
	// Groups lists every group by name.
	Groups(ctx context.Context) ([]Group, error)
	// FindGroup returns one group, or ENOTFOUND.
	FindGroup(ctx context.Context, name string) (*Group, error)

	// CreateUser creates a user in an existing group.
	CreateUser(ctx context.Context, by Actor, username, groupName, passwordHash string) (*User, error)
	// UpdateUser edits a user. A new password, a disabling or a move to
	// another group ends the user's sessions. The last active member of
	// System Admin cannot be disabled or moved out.
	UpdateUser(ctx context.Context, by Actor, username string, ch UserChange) (*User, error)
	// DeleteUser marks a user deleted (restorable): their sessions end and
	// their tokens stop working.
	DeleteUser(ctx context.Context, by Actor, username string) (*User, error)
	// RestoreUser undoes DeleteUser.
	RestoreUser(ctx context.Context, by Actor, username string) (*User, error)
	// Users lists every user, deleted ones included, by username.
	Users(ctx context.Context) ([]User, error)
	// FindUser returns one user with their password hash, or ENOTFOUND.
	FindUser(ctx context.Context, username string) (*User, error)

	// CreateToken stores a token for the given secret (only its hash is kept).
	CreateToken(ctx context.Context, by Actor, t NewToken, secret string) (*Token, error)
	// RevokeToken revokes a token for good.
	RevokeToken(ctx context.Context, by Actor, id int64) (*Token, error)
	// ResetToken replaces a live token's secret: the old one stops working.
	ResetToken(ctx context.Context, by Actor, id int64, secret string) (*Token, error)
	// Tokens lists every token, revoked and expired ones included, by id.
	Tokens(ctx context.Context) ([]Token, error)
	// Authenticate returns the principal behind a token secret, or
	// EUNAUTHORIZED when it is unknown, revoked or expired, or its user is
	// not active.
	Authenticate(ctx context.Context, secret string) (*Principal, error)

	// CreateSession opens a session for an active user, recorded as their login.
	CreateSession(ctx context.Context, by Actor, ns NewSession, secret string) (*Session, error)
	// AuthenticateSession returns the principal behind a session secret, or
	// EUNAUTHORIZED when it is unknown, ended, expired or idle too long, or
	// its user is not active. It notes the use for the idle timeout.
	AuthenticateSession(ctx context.Context, secret string) (*Principal, error)
	// EndSession ends the session of secret (logging out); ENOTFOUND when
	// it is not live.
	EndSession(ctx context.Context, by Actor, secret string) error
	// RevokeSessions ends the selected live sessions and reports how many.
	RevokeSessions(ctx context.Context, by Actor, sel SessionSelector) (int, error)
	// Sessions lists the live sessions, newest first.
	Sessions(ctx context.Context) ([]Session, error)
}

// Store is everything the service keeps: one implementation per database.
type Store interface {
	ActivityService
	ActivityTypeService
	AuthService
	TreeService
	WitnessService
	StreamService
	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error
	// Close waits for pending writes and releases the store.
	Close() error
}

// CheckGroupChange refuses edits that would lock administrators out: the
// System Admin group keeps its name and every permission.
func CheckGroupChange(old *Group, ch GroupChange) error {
	if old.Name != SystemAdminGroup {
		return nil
	}
	if ch.Name != nil && *ch.Name != old.Name {
		return FieldErrorf("name", "the %s group cannot be renamed", SystemAdminGroup)
	}
	if ch.Permissions != nil && len(*ch.Permissions) != len(AllPermissions) {
		return FieldErrorf("permissions", "the %s group keeps every permission", SystemAdminGroup)
	}
	return nil
}

// CheckGroupDeletion refuses to delete System Admin or a group that users
// who are not deleted (members, disabled ones included) belong to.
func CheckGroupDeletion(g *Group, members int) error {
	if g.Name == SystemAdminGroup {
		return Errorf(ECONFLICT, "the %s group cannot be deleted", SystemAdminGroup)
	}
	if members > 0 {
		return Errorf(ECONFLICT, "permission group %q has %s: move them to another group first", g.Name, CountOf(int64(members), "user", "users"))
	}
	return nil
}

// EndsSessions reports whether a change of a user ends their sessions: a
// new password, a disabling, a deletion or a move to another group.
func EndsSessions(old, new *User) bool {
	return old.PasswordHash != new.PasswordHash || !new.Active() || old.GroupID != new.GroupID
}

// CheckTokenLive refuses a token that is revoked or expired at now.
func CheckTokenLive(t *Token, now time.Time) error {
	if t.Revoked {
		return Errorf(ECONFLICT, "token %d is revoked", t.ID)
	}
	if !t.Expires.IsZero() && !now.Before(t.Expires) {
		return Errorf(ECONFLICT, "token %d has expired", t.ID)
	}
	return nil
}
