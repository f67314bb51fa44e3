package auditlog

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
)

// AllPermissions lists every permission, as the System Admin group holds them.
var AllPermissions = []Permission{PermActivitiesRead, PermActivitiesExport, PermActivitiesWrite, PermAdmin}

// SystemAdminGroup is the permission group created on first start.
const SystemAdminGroup = "System Admin"

// AdminUsername is the user created on first start.
const AdminUsername = "admin"

// ParsePermissions reads a comma-separated list of permission names.
func ParsePermissions(field, list string) ([]Permission, error) {
	var out []Permission
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(AllPermissions, Permission(p)) {
			return nil, FieldErrorf(field, "unknown permission %q; known: activities:read, activities:write, activities:export, admin", truncate(p, 40))
		}
		if !slices.Contains(out, Permission(p)) {
			out = append(out, Permission(p))
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

// User is a person who logs in, member of one permission group.
type User struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	GroupID   int64     `json:"group_id"`
	GroupName string    `json:"group"`
	Disabled  bool      `json:"disabled"`
	Created   time.Time `json:"created"`
	// PasswordHash is the encoded password hash; never serialized.
	PasswordHash string `json:"-"`
}

// Token is an API token as stored: its secret is kept only as a hash.
type Token struct {
	ID      int64        `json:"id"`
	Name    string       `json:"name"`
	Scopes  []Permission `json:"scopes"`
	UserID  int64        `json:"user_id,omitempty"` // 0 for a machine account
	Created time.Time    `json:"created"`
	// Expires is the zero time for a token that does not expire.
	Expires time.Time `json:"expires"`
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

// GenerateTokenSecret returns a new random API token (256 bits of entropy).
func GenerateTokenSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the stored form of a token secret. A fast hash suffices:
// the secret has 256 bits of entropy, so it cannot be guessed from its hash.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Principal is whoever makes a request: a user through a token tied to them,
// or a machine account through its own token.
type Principal struct {
	TokenID  int64
	Name     string // the token's name
	UserID   int64  // 0 for a machine account
	Username string // empty for a machine account
	// Permissions are the token's scopes, narrowed to the user's group's
	// permissions for a token tied to a user.
	Permissions []Permission
}

// Can reports whether the principal holds permission p.
func (p *Principal) Can(perm Permission) bool {
	return p != nil && slices.Contains(p.Permissions, perm)
}

// Operator is the operator under which the principal's own actions are recorded.
func (p *Principal) Operator() Operator {
	if p.UserID != 0 {
		return OperatorHuman
	}
	return OperatorMachine
}

// AuthService manages users, permission groups and API tokens.
type AuthService interface {
	// Bootstrap creates the System Admin group and the admin user with the
	// given password hash when the store has no users. It reports whether it
	// created them.
	Bootstrap(ctx context.Context, adminPasswordHash string) (bool, error)
	// CreateGroup creates a permission group; ECONFLICT when the name is taken.
	CreateGroup(ctx context.Context, name string, perms []Permission) (*Group, error)
	// CreateUser creates a user in an existing group.
	CreateUser(ctx context.Context, username, groupName, passwordHash string) (*User, error)
	// CreateToken stores a token for the given secret (only its hash is kept).
	CreateToken(ctx context.Context, t NewToken, secret string) (*Token, error)
	// Authenticate returns the principal behind a token secret, or
	// EUNAUTHORIZED when it is unknown, revoked or expired.
	Authenticate(ctx context.Context, secret string) (*Principal, error)
}

// Store is everything the service keeps: one implementation per database.
type Store interface {
	ActivityService
	ActivityTypeService
	AuthService
	TreeService
	// Ping reports whether the store can be reached.
	Ping(ctx context.Context) error
	// Close waits for pending writes and releases the store.
	Close() error
}
