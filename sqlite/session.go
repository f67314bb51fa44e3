package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// sessionTouchInterval is how often a session's last use is written: the
// idle timeout is exact to within it, and a busy session costs one write a
// minute, not one a request.
const sessionTouchInterval = time.Minute

// endedSessionRetention is how long ended and expired sessions are kept
// (for Sessions' history in the database) before they are pruned.
const endedSessionRetention = 30 * 24 * time.Hour

const sessionSelect = `SELECT s.id, s.user_id, u.username, s.created_us, s.expires_us, s.idle_timeout_us, s.last_seen_us,
	s.client_address, s.user_agent FROM sessions s JOIN users u ON u.id = s.user_id`

// liveSession is the condition that a session of the query above is live at ?.
const liveSession = `s.ended_us = 0 AND s.expires_us > ?1 AND s.last_seen_us + s.idle_timeout_us > ?1`

func scanSession(row rowScanner) (*auditlog.Session, error) {
	var s auditlog.Session
	var created, expires, idle, seen int64
	if err := row.Scan(&s.ID, &s.UserID, &s.Username, &created, &expires, &idle, &seen, &s.ClientAddress, &s.UserAgent); err != nil {
		return nil, err
	}
	s.Created, s.Expires, s.LastSeen = sqlstore.TimeOf(created), sqlstore.TimeOf(expires), sqlstore.TimeOf(seen)
	s.IdleTimeout = time.Duration(idle) * time.Microsecond
	return &s, nil
}

func (db *DB) liveSessions(ctx context.Context, q querier, where string, args ...any) ([]auditlog.Session, error) {
	args = append([]any{db.now().UnixMicro()}, args...)
	return queryAll(ctx, q, scanSession, sessionSelect+` WHERE `+liveSession+where+` ORDER BY s.id DESC`, args...)
}

// CreateSession opens a session for an active user and records the login.
func (db *DB) CreateSession(ctx context.Context, by auditlog.Actor, ns auditlog.NewSession, secret string) (*auditlog.Session, error) {
	var s *auditlog.Session
	err := db.change(ctx, func(ctx context.Context, tx *sql.Tx) ([]auditlog.NewActivity, error) {
		u, err := findUser(ctx, tx, ns.Username)
		if err != nil {
			return nil, err
		}
		if !u.Active() {
			return nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "user %q is disabled or deleted", u.Username)
		}
		now := db.now().UnixMicro()
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE (ended_us != 0 OR expires_us <= ?) AND created_us < ?`,
			now, now-endedSessionRetention.Microseconds()); err != nil {
			return nil, err
		}
		s = &auditlog.Session{UserID: u.ID, Username: u.Username, Created: sqlstore.TimeOf(now), Expires: ns.Expires,
			LastSeen: sqlstore.TimeOf(now), IdleTimeout: ns.IdleTimeout, ClientAddress: ns.ClientAddress, UserAgent: ns.UserAgent}
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions (secret_hash, user_id, created_us, expires_us, idle_timeout_us,
			last_seen_us, client_address, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			auditlog.HashToken(secret), u.ID, now, sqlstore.Micros(ns.Expires), ns.IdleTimeout.Microseconds(), now, ns.ClientAddress, ns.UserAgent)
		if err != nil {
			return nil, err
		}
		if s.ID, err = res.LastInsertId(); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.LoggedIn(by, u, s)}, nil
	})
	if err != nil {
		return nil, storeError("create session", err)
	}
	return s, nil
}

// AuthenticateSession finds the principal behind a session secret.
func (db *DB) AuthenticateSession(ctx context.Context, secret string) (*auditlog.Principal, error) {
	var (
		p     auditlog.Principal
		perms string
		seen  int64
	)
	err := db.read.QueryRowContext(ctx, `SELECT s.id, s.user_id, u.username, g.permissions, s.last_seen_us
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN permission_groups g ON g.id = u.group_id
		WHERE s.secret_hash = ?2 AND u.disabled = 0 AND u.deleted_us = 0 AND `+liveSession,
		db.now().UnixMicro(), auditlog.HashToken(secret)).Scan(&p.SessionID, &p.UserID, &p.Username, &perms, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "the session has ended: log in again")
	}
	if err != nil {
		return nil, storeError("authenticate session", err)
	}
	p.Name, p.Permissions = "session", sqlstore.SplitPermissions(perms)
	if now := db.now().UnixMicro(); now-seen >= sessionTouchInterval.Microseconds() {
		_, err := db.writer.submit(&writeJob{ctx: ctx, apply: func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_us = max(last_seen_us, ?) WHERE id = ?`, now, p.SessionID)
			return err
		}})
		if err != nil {
			return nil, storeError("touch session", err)
		}
	}
	return &p, nil
}

// EndSession logs the session of secret out.
func (db *DB) EndSession(ctx context.Context, by auditlog.Actor, secret string) error {
	err := db.change(ctx, func(ctx context.Context, tx *sql.Tx) ([]auditlog.NewActivity, error) {
		live, err := db.liveSessions(ctx, tx, ` AND s.secret_hash = ?2`, auditlog.HashToken(secret))
		if err != nil {
			return nil, err
		}
		if len(live) == 0 {
			return nil, auditlog.Errorf(auditlog.ENOTFOUND, "no live session to end")
		}
		if err := db.endSessions(ctx, tx, live); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.LoggedOut(by, &live[0])}, nil
	})
	return storeError("end session", err)
}

func (db *DB) endSessions(ctx context.Context, tx *sql.Tx, sessions []auditlog.Session) error {
	now := db.now().UnixMicro()
	for _, s := range sessions {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET ended_us = ? WHERE id = ?`, now, s.ID); err != nil {
			return err
		}
	}
	return nil
}

// RevokeSessions ends the selected live sessions.
func (db *DB) RevokeSessions(ctx context.Context, by auditlog.Actor, sel auditlog.SessionSelector) (int, error) {
	n := 0
	err := db.change(ctx, func(ctx context.Context, tx *sql.Tx) ([]auditlog.NewActivity, error) {
		var (
			live []auditlog.Session
			err  error
		)
		switch {
		case sel.ID != 0:
			live, err = db.liveSessions(ctx, tx, ` AND s.id = ?2`, sel.ID)
			if err == nil && len(live) == 0 {
				return nil, auditlog.Errorf(auditlog.ENOTFOUND, "session %d is not live", sel.ID)
			}
		case sel.Username != "":
			if _, err = findUser(ctx, tx, sel.Username); err == nil {
				live, err = db.liveSessions(ctx, tx, ` AND u.username = ?2`, sel.Username)
			}
		case sel.Group != "":
			if _, err = findGroup(ctx, tx, sel.Group); err == nil {
				live, err = db.liveSessions(ctx, tx, ` AND u.group_id = (SELECT id FROM permission_groups WHERE name = ?2)`, sel.Group)
			}
		default:
			return nil, auditlog.FieldErrorf("session", "choose the sessions to revoke: by id, user or permission group")
		}
		if err != nil {
			return nil, err
		}
		if err := db.endSessions(ctx, tx, live); err != nil {
			return nil, err
		}
		n = len(live)
		return []auditlog.NewActivity{auditlog.SessionsRevoked(by, sel, live)}, nil
	})
	if err != nil {
		return 0, storeError("revoke sessions", err)
	}
	return n, nil
}

// Sessions lists the live sessions, newest first.
func (db *DB) Sessions(ctx context.Context) ([]auditlog.Session, error) {
	s, err := db.liveSessions(ctx, db.read, "")
	return s, storeError("list sessions", err)
}
