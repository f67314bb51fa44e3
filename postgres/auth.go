package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// Bootstrap creates the System Admin group (when missing) and the admin user
// when the store has no users, in one transaction.
func (db *DB) Bootstrap(ctx context.Context, adminPasswordHash string) (bool, error) {
	created := false
	_, err := db.writer.submit(&writeJob{ctx: ctx, apply: func(ctx context.Context, tx pgx.Tx) error {
		created = false
		// Nodes that start together on an empty database take turns here,
		// so that exactly one creates the admin.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, bootstrapLock); err != nil {
			return err
		}
		var users int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
			return err
		}
		if users > 0 {
			return nil
		}
		now := db.now().UnixMicro()
		if _, err := tx.Exec(ctx, `INSERT INTO permission_groups (name, permissions, created_us) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO NOTHING`, auditlog.SystemAdminGroup, sqlstore.JoinPermissions(auditlog.AllPermissions), now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO users (username, group_id, password_hash, created_us)
			SELECT $1, id, $2, $3 FROM permission_groups WHERE name = $4`,
			auditlog.AdminUsername, adminPasswordHash, now, auditlog.SystemAdminGroup); err != nil {
			return err
		}
		created = true
		return nil
	}})
	if err != nil {
		return false, storeError("bootstrap", err)
	}
	return created, nil
}

// CreateGroup creates a permission group.
func (db *DB) CreateGroup(ctx context.Context, name string, perms []auditlog.Permission) (*auditlog.Group, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, auditlog.FieldErrorf("name", "name is required")
	}
	if msg := auditlog.CheckText(name, auditlog.MaxDisplayNameLen, true); msg != "" {
		return nil, auditlog.FieldErrorf("name", "name %s", msg)
	}
	g := &auditlog.Group{Name: name, Permissions: perms, Created: time.UnixMicro(db.now().UnixMicro()).UTC()}
	if g.Permissions == nil {
		g.Permissions = []auditlog.Permission{}
	}
	_, err := db.writer.submit(&writeJob{ctx: ctx, apply: func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO permission_groups (name, permissions, created_us) VALUES ($1, $2, $3) RETURNING id`,
			name, sqlstore.JoinPermissions(perms), g.Created.UnixMicro()).Scan(&g.ID)
		if isUniqueViolation(err) {
			e := auditlog.Errorf(auditlog.ECONFLICT, "permission group %q exists already", name)
			e.Field = "name"
			return e
		}
		return err
	}})
	if err != nil {
		return nil, storeError("create group", err)
	}
	return g, nil
}

// CreateUser creates a user in an existing permission group.
func (db *DB) CreateUser(ctx context.Context, username, groupName, passwordHash string) (*auditlog.User, error) {
	if strings.TrimSpace(username) == "" {
		return nil, auditlog.FieldErrorf("username", "username is required")
	}
	if msg := auditlog.CheckText(username, auditlog.MaxUsernameLen, true); msg != "" {
		return nil, auditlog.FieldErrorf("username", "username %s", msg)
	}
	u := &auditlog.User{Username: username, GroupName: groupName, PasswordHash: passwordHash,
		Created: time.UnixMicro(db.now().UnixMicro()).UTC()}
	_, err := db.writer.submit(&writeJob{ctx: ctx, apply: func(ctx context.Context, tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id, name FROM permission_groups WHERE name = $1`, groupName).Scan(&u.GroupID, &u.GroupName)
		if errors.Is(err, pgx.ErrNoRows) {
			return auditlog.FieldErrorf("group", "permission group %q does not exist", groupName)
		}
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `INSERT INTO users (username, group_id, password_hash, created_us) VALUES ($1, $2, $3, $4) RETURNING id`,
			username, u.GroupID, passwordHash, u.Created.UnixMicro()).Scan(&u.ID)
		if isUniqueViolation(err) {
			e := auditlog.Errorf(auditlog.ECONFLICT, "user %q exists already", username)
			e.Field = "username"
			return e
		}
		return err
	}})
	if err != nil {
		return nil, storeError("create user", err)
	}
	return u, nil
}

// CreateToken stores the hash of secret as a new API token.
func (db *DB) CreateToken(ctx context.Context, nt auditlog.NewToken, secret string) (*auditlog.Token, error) {
	name := strings.TrimSpace(nt.Name)
	if name == "" {
		return nil, auditlog.FieldErrorf("name", "name is required")
	}
	if msg := auditlog.CheckText(name, auditlog.MaxDisplayNameLen, true); msg != "" {
		return nil, auditlog.FieldErrorf("name", "name %s", msg)
	}
	if len(nt.Scopes) == 0 {
		return nil, auditlog.FieldErrorf("scopes", "at least one scope is required")
	}
	t := &auditlog.Token{Name: name, Scopes: nt.Scopes, Created: time.UnixMicro(db.now().UnixMicro()).UTC(), Expires: nt.Expires}
	var expires int64
	if !nt.Expires.IsZero() {
		expires = nt.Expires.UnixMicro()
	}
	_, err := db.writer.submit(&writeJob{ctx: ctx, apply: func(ctx context.Context, tx pgx.Tx) error {
		var userID *int64
		if nt.Username != "" {
			var disabled bool
			err := tx.QueryRow(ctx, `SELECT id, disabled FROM users WHERE username = $1`, nt.Username).Scan(&t.UserID, &disabled)
			if errors.Is(err, pgx.ErrNoRows) {
				return auditlog.FieldErrorf("user", "user %q does not exist", nt.Username)
			}
			if err != nil {
				return err
			}
			if disabled {
				return auditlog.FieldErrorf("user", "user %q is disabled", nt.Username)
			}
			userID = &t.UserID
		}
		return tx.QueryRow(ctx, `INSERT INTO api_tokens (name, secret_hash, scopes, user_id, created_us, expires_us)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, name, auditlog.HashToken(secret), sqlstore.JoinPermissions(nt.Scopes), userID, t.Created.UnixMicro(), expires).Scan(&t.ID)
	}})
	if err != nil {
		return nil, storeError("create token", err)
	}
	return t, nil
}

// Authenticate finds the principal behind a token secret.
func (db *DB) Authenticate(ctx context.Context, secret string) (*auditlog.Principal, error) {
	unauthorized := auditlog.Errorf(auditlog.EUNAUTHORIZED, "invalid, expired or revoked token")
	var (
		p                    auditlog.Principal
		scopes               string
		userID               *int64
		username, groupPerms *string
		disabled             *bool
		expires, revoked     int64
	)
	err := db.pool.QueryRow(ctx, `
		SELECT t.id, t.name, t.scopes, t.user_id, t.expires_us, t.revoked_us, u.username, u.disabled, g.permissions
		FROM api_tokens t
		LEFT JOIN users u ON u.id = t.user_id
		LEFT JOIN permission_groups g ON g.id = u.group_id
		WHERE t.secret_hash = $1`, auditlog.HashToken(secret)).
		Scan(&p.TokenID, &p.Name, &scopes, &userID, &expires, &revoked, &username, &disabled, &groupPerms)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, storeError("authenticate", err)
	}
	if revoked != 0 || (expires != 0 && db.now().UnixMicro() >= expires) {
		return nil, unauthorized
	}
	p.Permissions = sqlstore.SplitPermissions(scopes)
	if userID != nil {
		if disabled == nil || *disabled || username == nil || groupPerms == nil {
			return nil, unauthorized
		}
		p.UserID, p.Username = *userID, *username
		granted := sqlstore.SplitPermissions(*groupPerms)
		p.Permissions = slices.DeleteFunc(p.Permissions, func(perm auditlog.Permission) bool {
			return !slices.Contains(granted, perm)
		})
	}
	return &p, nil
}
