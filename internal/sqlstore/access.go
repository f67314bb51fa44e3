package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/auditlog/auditlog"
)

// Users, permission groups and API tokens (auditlog.AuthService but for
// sessions, which are in session.go).

// Bootstrap creates the System Admin group (when missing) and the admin user
// when the store has no users, in one transaction with their records.
func (db *Shared) Bootstrap(ctx context.Context, adminPasswordHash string) (bool, error) {
	created := false
	by := auditlog.MachineActor(map[string]string{"client": "auditlog serve", "reason": "first start"})
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		created = false
		if db.BootstrapLock != "" {
			if err := tx.Exec(ctx, db.BootstrapLock); err != nil {
				return nil, err
			}
		}
		var users int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&users); err != nil {
			return nil, err
		}
		if users > 0 {
			return nil, nil
		}
		var acts []auditlog.NewActivity
		g, err := findGroup(ctx, tx, auditlog.SystemAdminGroup)
		if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
			if g, err = db.insertGroup(ctx, tx, auditlog.SystemAdminGroup, auditlog.AllPermissions); err != nil {
				return nil, err
			}
			acts = append(acts, auditlog.GroupCreated(by, g))
		} else if err != nil {
			return nil, err
		}
		u, err := db.insertUser(ctx, tx, auditlog.AdminUsername, g, adminPasswordHash)
		if err != nil {
			return nil, err
		}
		created = true
		return append(acts, auditlog.UserCreated(by, u)), nil
	})
	if err != nil {
		return false, db.Wrap("bootstrap", err)
	}
	return created, nil
}

const groupColumns = `id, name, permissions, created_us`

func scanGroup(row Row) (*auditlog.Group, error) {
	var g auditlog.Group
	var perms string
	var created int64
	if err := row.Scan(&g.ID, &g.Name, &perms, &created); err != nil {
		return nil, err
	}
	g.Permissions, g.Created = SplitPermissions(perms), TimeOf(created)
	return &g, nil
}

func findGroup(ctx context.Context, q Querier, name string, lock ...string) (*auditlog.Group, error) {
	g, err := scanGroup(q.QueryRow(ctx, `SELECT `+groupColumns+` FROM permission_groups WHERE name = $1 AND deleted_us = 0`+strings.Join(lock, ""), name))
	if errors.Is(err, ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "permission group %q does not exist", name)
	}
	return g, err
}

func (db *Shared) insertGroup(ctx context.Context, tx Querier, name string, perms []auditlog.Permission) (*auditlog.Group, error) {
	g := &auditlog.Group{Name: name, Permissions: slices.Clone(perms), Created: TimeOf(db.Now().UnixMicro())}
	if g.Permissions == nil {
		g.Permissions = []auditlog.Permission{}
	}
	err := tx.QueryRow(ctx, `INSERT INTO permission_groups (name, permissions, created_us) VALUES ($1, $2, $3) RETURNING id`,
		name, JoinPermissions(g.Permissions), Micros(g.Created)).Scan(&g.ID)
	if db.IsUniqueViolation(err) {
		e := auditlog.Errorf(auditlog.ECONFLICT, "permission group %q exists already", name)
		e.Field = "name"
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// CreateGroup creates a permission group.
func (db *Shared) CreateGroup(ctx context.Context, by auditlog.Actor, name string, perms []auditlog.Permission) (*auditlog.Group, error) {
	name, err := auditlog.CheckName("name", name, auditlog.MaxDisplayNameLen)
	if err != nil {
		return nil, err
	}
	var g *auditlog.Group
	err = db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var err error
		if g, err = db.insertGroup(ctx, tx, name, perms); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.GroupCreated(by, g)}, nil
	})
	if err != nil {
		return nil, db.Wrap("create group", err)
	}
	return g, nil
}

// UpdateGroup renames a group or changes its permissions.
func (db *Shared) UpdateGroup(ctx context.Context, by auditlog.Actor, name string, ch auditlog.GroupChange) (*auditlog.Group, error) {
	var newName string
	if ch.Name != nil {
		var err error
		if newName, err = auditlog.CheckName("name", *ch.Name, auditlog.MaxDisplayNameLen); err != nil {
			return nil, err
		}
	}
	var updated *auditlog.Group
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		old, err := findGroup(ctx, tx, name, db.ForUpdate("permission_groups"))
		if err != nil {
			return nil, err
		}
		if err := auditlog.CheckGroupChange(old, ch); err != nil {
			return nil, err
		}
		g := *old
		if ch.Name != nil {
			g.Name = newName
		}
		if ch.Permissions != nil {
			g.Permissions = slices.Clone(*ch.Permissions)
		}
		err = tx.Exec(ctx, `UPDATE permission_groups SET name = $1, permissions = $2 WHERE id = $3`,
			g.Name, JoinPermissions(g.Permissions), g.ID)
		if db.IsUniqueViolation(err) {
			e := auditlog.Errorf(auditlog.ECONFLICT, "permission group %q exists already", g.Name)
			e.Field = "name"
			return nil, e
		}
		if err != nil {
			return nil, err
		}
		updated = &g
		return []auditlog.NewActivity{auditlog.GroupEdited(by, old, &g)}, nil
	})
	if err != nil {
		return nil, db.Wrap("update group", err)
	}
	return updated, nil
}

// DeleteGroups deletes groups that no user belongs to but deleted ones. A
// group with deleted members is kept for them, marked deleted and renamed
// "<name> (deleted #<id>)", so that its name is free again.
func (db *Shared) DeleteGroups(ctx context.Context, by auditlog.Actor, names []string) error {
	if len(names) == 0 {
		return auditlog.FieldErrorf("names", "name at least one permission group")
	}
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var acts []auditlog.NewActivity
		for _, name := range names {
			g, err := findGroup(ctx, tx, name, db.ForUpdate("permission_groups"))
			if err != nil {
				return nil, err
			}
			var members, deleted int
			if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE deleted_us = 0), count(*) FILTER (WHERE deleted_us <> 0) FROM users WHERE group_id = $1`,
				g.ID).Scan(&members, &deleted); err != nil {
				return nil, err
			}
			if err := auditlog.CheckGroupDeletion(g, members); err != nil {
				return nil, err
			}
			if deleted == 0 {
				err = tx.Exec(ctx, `DELETE FROM permission_groups WHERE id = $1`, g.ID)
			} else {
				err = tx.Exec(ctx, `UPDATE permission_groups SET deleted_us = $1, name = $2 WHERE id = $3`,
					db.Now().UnixMicro(), fmt.Sprintf("%s (deleted #%d)", g.Name, g.ID), g.ID)
			}
			if err != nil {
				return nil, err
			}
			acts = append(acts, auditlog.GroupDeleted(by, g))
		}
		return acts, nil
	})
	return db.Wrap("delete groups", err)
}

// Groups lists every group by name.
func (db *Shared) Groups(ctx context.Context) ([]auditlog.Group, error) {
	groups, err := queryAll(ctx, db.Read, scanGroup, `SELECT `+groupColumns+` FROM permission_groups WHERE deleted_us = 0 ORDER BY name`)
	return groups, db.Wrap("list groups", err)
}

// FindGroup returns one group.
func (db *Shared) FindGroup(ctx context.Context, name string) (*auditlog.Group, error) {
	g, err := findGroup(ctx, db.Read, name)
	return g, db.Wrap("find group", err)
}

const userSelect = `SELECT u.id, u.username, u.group_id, g.name, u.disabled, u.deleted_us, u.created_us, u.password_hash
	FROM users u JOIN permission_groups g ON g.id = u.group_id`

func scanUser(row Row) (*auditlog.User, error) {
	var u auditlog.User
	var deleted, created int64
	if err := row.Scan(&u.ID, &u.Username, &u.GroupID, &u.GroupName, &u.Disabled, &deleted, &created, &u.PasswordHash); err != nil {
		return nil, err
	}
	u.Deleted, u.Created = deleted != 0, TimeOf(created)
	return &u, nil
}

func findUser(ctx context.Context, q Querier, username string, lock ...string) (*auditlog.User, error) {
	u, err := scanUser(q.QueryRow(ctx, userSelect+` WHERE u.username = $1`+strings.Join(lock, ""), username))
	if errors.Is(err, ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "user %q does not exist", username)
	}
	return u, err
}

func (db *Shared) insertUser(ctx context.Context, tx Querier, username string, g *auditlog.Group, passwordHash string) (*auditlog.User, error) {
	u := &auditlog.User{Username: username, GroupID: g.ID, GroupName: g.Name, PasswordHash: passwordHash,
		Created: TimeOf(db.Now().UnixMicro())}
	err := tx.QueryRow(ctx, `INSERT INTO users (username, group_id, password_hash, created_us) VALUES ($1, $2, $3, $4) RETURNING id`,
		username, g.ID, passwordHash, Micros(u.Created)).Scan(&u.ID)
	if db.IsUniqueViolation(err) {
		e := auditlog.Errorf(auditlog.ECONFLICT, "user %q exists already", username)
		e.Field = "username"
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	return u, nil
}

// CreateUser creates a user in an existing permission group.
func (db *Shared) CreateUser(ctx context.Context, by auditlog.Actor, username, groupName, passwordHash string) (*auditlog.User, error) {
	username, err := auditlog.CheckName("username", username, auditlog.MaxUsernameLen)
	if err != nil {
		return nil, err
	}
	var u *auditlog.User
	err = db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		g, err := findGroup(ctx, tx, groupName)
		if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
			return nil, auditlog.FieldErrorf("group", "permission group %q does not exist", groupName)
		}
		if err != nil {
			return nil, err
		}
		if u, err = db.insertUser(ctx, tx, username, g, passwordHash); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.UserCreated(by, u)}, nil
	})
	if err != nil {
		return nil, db.Wrap("create user", err)
	}
	return u, nil
}

// activeAdmins counts the active members of System Admin other than userID.
func activeAdmins(ctx context.Context, tx Querier, userID int64) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM users u JOIN permission_groups g ON g.id = u.group_id
		WHERE g.name = $1 AND NOT u.disabled AND u.deleted_us = 0 AND u.id != $2`, auditlog.SystemAdminGroup, userID).Scan(&n)
	return n, err
}

// saveUser writes the user's changed row, ending their live sessions when
// the change takes their access away or changes their password.
func (db *Shared) saveUser(ctx context.Context, tx Querier, old, u *auditlog.User) error {
	deleted := int64(0)
	if u.Deleted {
		deleted = db.Now().UnixMicro()
	}
	if err := tx.Exec(ctx, `UPDATE users SET group_id = $1, password_hash = $2, disabled = $3, deleted_us = $4 WHERE id = $5`,
		u.GroupID, u.PasswordHash, u.Disabled, deleted, u.ID); err != nil {
		return err
	}
	if auditlog.EndsSessions(old, u) {
		err := tx.Exec(ctx, `UPDATE sessions SET ended_us = $1 WHERE user_id = $2 AND ended_us = 0`, db.Now().UnixMicro(), u.ID)
		return err
	}
	return nil
}

// editUser loads a user, lets edit change a copy and saves it with the
// activity that record returns.
func (db *Shared) editUser(ctx context.Context, op, username string, edit func(ctx context.Context, tx Querier, u *auditlog.User) error,
	record func(old, new *auditlog.User) auditlog.NewActivity) (*auditlog.User, error) {
	var updated *auditlog.User
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		old, err := findUser(ctx, tx, username, db.ForUpdate("u"))
		if err != nil {
			return nil, err
		}
		u := *old
		if err := edit(ctx, tx, &u); err != nil {
			return nil, err
		}
		if old.GroupName == auditlog.SystemAdminGroup && old.Active() && (!u.Active() || u.GroupName != old.GroupName) {
			n, err := activeAdmins(ctx, tx, u.ID)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, auditlog.Errorf(auditlog.ECONFLICT, "%q is the last active member of %s: add another one first", u.Username, auditlog.SystemAdminGroup)
			}
		}
		if err := db.saveUser(ctx, tx, old, &u); err != nil {
			return nil, err
		}
		updated = &u
		return []auditlog.NewActivity{record(old, &u)}, nil
	})
	if err != nil {
		return nil, db.Wrap(op, err)
	}
	return updated, nil
}

// UpdateUser moves a user to another group, sets their password or
// disables or enables them.
func (db *Shared) UpdateUser(ctx context.Context, by auditlog.Actor, username string, ch auditlog.UserChange) (*auditlog.User, error) {
	return db.editUser(ctx, "update user", username, func(ctx context.Context, tx Querier, u *auditlog.User) error {
		if ch.Group != nil {
			g, err := findGroup(ctx, tx, *ch.Group)
			if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
				return auditlog.FieldErrorf("group", "permission group %q does not exist", *ch.Group)
			}
			if err != nil {
				return err
			}
			u.GroupID, u.GroupName = g.ID, g.Name
		}
		if ch.PasswordHash != nil {
			u.PasswordHash = *ch.PasswordHash
		}
		if ch.Disabled != nil {
			u.Disabled = *ch.Disabled
		}
		return nil
	}, func(old, new *auditlog.User) auditlog.NewActivity {
		return auditlog.UserEdited(by, old, new, ch.PasswordHash != nil)
	})
}

// DeleteUser marks a user deleted.
func (db *Shared) DeleteUser(ctx context.Context, by auditlog.Actor, username string) (*auditlog.User, error) {
	return db.editUser(ctx, "delete user", username, func(_ context.Context, _ Querier, u *auditlog.User) error {
		if u.Deleted {
			return auditlog.Errorf(auditlog.ECONFLICT, "user %q is deleted already", u.Username)
		}
		u.Deleted = true
		return nil
	}, func(old, new *auditlog.User) auditlog.NewActivity { return auditlog.UserDeleted(by, old, new) })
}

// RestoreUser brings a deleted user back.
func (db *Shared) RestoreUser(ctx context.Context, by auditlog.Actor, username string) (*auditlog.User, error) {
	return db.editUser(ctx, "restore user", username, func(ctx context.Context, tx Querier, u *auditlog.User) error {
		if !u.Deleted {
			return auditlog.Errorf(auditlog.ECONFLICT, "user %q is not deleted", u.Username)
		}
		var groupDeleted int64
		if err := tx.QueryRow(ctx, `SELECT deleted_us FROM permission_groups WHERE id = $1`, u.GroupID).Scan(&groupDeleted); err != nil {
			return err
		}
		if groupDeleted != 0 {
			return auditlog.Errorf(auditlog.ECONFLICT, "the permission group of %q was deleted (%s): move them to another group first (auditlog user edit --username %s --group GROUP), then restore them", u.Username, u.GroupName, u.Username)
		}
		u.Deleted = false
		return nil
	}, func(old, new *auditlog.User) auditlog.NewActivity { return auditlog.UserRestored(by, old, new) })
}

// Users lists every user by username.
func (db *Shared) Users(ctx context.Context) ([]auditlog.User, error) {
	users, err := queryAll(ctx, db.Read, scanUser, userSelect+` ORDER BY u.username`)
	for i := range users {
		users[i].PasswordHash = ""
	}
	return users, db.Wrap("list users", err)
}

// FindUser returns one user with their password hash.
func (db *Shared) FindUser(ctx context.Context, username string) (*auditlog.User, error) {
	u, err := findUser(ctx, db.Read, username)
	return u, db.Wrap("find user", err)
}

const tokenSelect = `SELECT t.id, t.name, t.scopes, coalesce(t.user_id, 0), coalesce(u.username, ''), t.created_us, t.expires_us, t.revoked_us
	FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id`

func scanToken(row Row) (*auditlog.Token, error) {
	var t auditlog.Token
	var scopes string
	var created, expires, revoked int64
	if err := row.Scan(&t.ID, &t.Name, &scopes, &t.UserID, &t.Username, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	t.Scopes, t.Created, t.Expires, t.Revoked = SplitPermissions(scopes), TimeOf(created), TimeOf(expires), revoked != 0
	return &t, nil
}

func findToken(ctx context.Context, q Querier, id int64, lock ...string) (*auditlog.Token, error) {
	t, err := scanToken(q.QueryRow(ctx, tokenSelect+` WHERE t.id = $1`+strings.Join(lock, ""), id))
	if errors.Is(err, ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "token %d does not exist", id)
	}
	return t, err
}

// CreateToken stores the hash of secret as a new API token.
func (db *Shared) CreateToken(ctx context.Context, by auditlog.Actor, nt auditlog.NewToken, secret string) (*auditlog.Token, error) {
	name, err := auditlog.CheckName("name", nt.Name, auditlog.MaxDisplayNameLen)
	if err != nil {
		return nil, err
	}
	if len(nt.Scopes) == 0 {
		return nil, auditlog.FieldErrorf("scopes", "at least one scope is required")
	}
	t := &auditlog.Token{Name: name, Scopes: slices.Clone(nt.Scopes), Created: TimeOf(db.Now().UnixMicro()), Expires: nt.Expires}
	err = db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var userID *int64
		if nt.Username != "" {
			u, err := findUser(ctx, tx, nt.Username)
			if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
				return nil, auditlog.FieldErrorf("user", "user %q does not exist", nt.Username)
			}
			if err != nil {
				return nil, err
			}
			if !u.Active() {
				return nil, auditlog.FieldErrorf("user", "user %q is disabled or deleted", nt.Username)
			}
			// A token acts as its user: it may hold no more than the
			// user's group does. The group is locked, so that a change of
			// its permissions through another node waits for this one.
			g, err := findGroup(ctx, tx, u.GroupName, db.ForUpdate("permission_groups"))
			if err != nil {
				return nil, err
			}
			for _, scope := range t.Scopes {
				if !slices.Contains(g.Permissions, scope) {
					return nil, auditlog.FieldErrorf("scopes", "user %q is in the group %q, which does not hold %s: a token may hold only its user's permissions", u.Username, g.Name, scope)
				}
			}
			t.UserID, t.Username, userID = u.ID, u.Username, &u.ID
		}
		if err := tx.QueryRow(ctx, `INSERT INTO api_tokens (name, secret_hash, scopes, user_id, created_us, expires_us)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, name, auditlog.HashToken(secret), JoinPermissions(t.Scopes), userID,
			Micros(t.Created), Micros(t.Expires)).Scan(&t.ID); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.TokenCreated(by, t)}, nil
	})
	if err != nil {
		return nil, db.Wrap("create token", err)
	}
	return t, nil
}

// RevokeToken revokes a token.
func (db *Shared) RevokeToken(ctx context.Context, by auditlog.Actor, id int64) (*auditlog.Token, error) {
	var revoked *auditlog.Token
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		old, err := findToken(ctx, tx, id, db.ForUpdate("t"))
		if err != nil {
			return nil, err
		}
		if old.Revoked {
			return nil, auditlog.Errorf(auditlog.ECONFLICT, "token %d is revoked already", id)
		}
		if err := tx.Exec(ctx, `UPDATE api_tokens SET revoked_us = $1 WHERE id = $2`, db.Now().UnixMicro(), id); err != nil {
			return nil, err
		}
		t := *old
		t.Revoked = true
		revoked = &t
		return []auditlog.NewActivity{auditlog.TokenRevoked(by, old, &t)}, nil
	})
	if err != nil {
		return nil, db.Wrap("revoke token", err)
	}
	return revoked, nil
}

// ResetToken gives a live token a new secret.
func (db *Shared) ResetToken(ctx context.Context, by auditlog.Actor, id int64, secret string) (*auditlog.Token, error) {
	var t *auditlog.Token
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var err error
		if t, err = findToken(ctx, tx, id, db.ForUpdate("t")); err != nil {
			return nil, err
		}
		if err := auditlog.CheckTokenLive(t, db.Now()); err != nil {
			return nil, err
		}
		if err := tx.Exec(ctx, `UPDATE api_tokens SET secret_hash = $1 WHERE id = $2`, auditlog.HashToken(secret), id); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.TokenReset(by, t)}, nil
	})
	if err != nil {
		return nil, db.Wrap("reset token", err)
	}
	return t, nil
}

// Tokens lists every token by id.
func (db *Shared) Tokens(ctx context.Context) ([]auditlog.Token, error) {
	tokens, err := queryAll(ctx, db.Read, scanToken, tokenSelect+` ORDER BY t.id`)
	return tokens, db.Wrap("list tokens", err)
}

// Authenticate finds the principal behind a token secret.
func (db *Shared) Authenticate(ctx context.Context, secret string) (*auditlog.Principal, error) {
	unauthorized := auditlog.Errorf(auditlog.EUNAUTHORIZED, "invalid, expired or revoked token")
	var (
		p                    auditlog.Principal
		scopes               string
		userID, deleted      *int64
		username, groupPerms *string
		disabled             *bool
		expires, revoked     int64
	)
	err := db.Read.QueryRow(ctx, `
		SELECT t.id, t.name, t.scopes, t.user_id, t.expires_us, t.revoked_us, u.username, u.disabled, u.deleted_us, g.permissions
		FROM api_tokens t
		LEFT JOIN users u ON u.id = t.user_id
		LEFT JOIN permission_groups g ON g.id = u.group_id
		WHERE t.secret_hash = $1`, auditlog.HashToken(secret)).
		Scan(&p.TokenID, &p.Name, &scopes, &userID, &expires, &revoked, &username, &disabled, &deleted, &groupPerms)
	if errors.Is(err, ErrNoRows) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, db.Wrap("authenticate", err)
	}
	if revoked != 0 || (expires != 0 && db.Now().UnixMicro() >= expires) {
		return nil, unauthorized
	}
	p.Permissions = SplitPermissions(scopes)
	if userID != nil {
		if disabled == nil || *disabled || deleted == nil || *deleted != 0 || username == nil || groupPerms == nil {
			return nil, unauthorized
		}
		p.UserID, p.Username = *userID, *username
		granted := SplitPermissions(*groupPerms)
		p.Permissions = slices.DeleteFunc(p.Permissions, func(perm auditlog.Permission) bool {
			return !slices.Contains(granted, perm)
		})
	}
	return &p, nil
}
