package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/auditlog/auditlog"
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

// liveSession is the condition that a session of the query above is live
// at the time of the query's first argument; it comes first in the query.
const liveSession = `s.ended_us = 0 AND s.expires_us > $1 AND s.last_seen_us + s.idle_timeout_us > $1`

func scanSession(row Row) (*auditlog.Session, error) {
	var s auditlog.Session
	var created, expires, idle, seen int64
	if err := row.Scan(&s.ID, &s.UserID, &s.Username, &created, &expires, &idle, &seen, &s.ClientAddress, &s.UserAgent); err != nil {
		return nil, err
	}
	s.Created, s.Expires, s.LastSeen = TimeOf(created), TimeOf(expires), TimeOf(seen)
	s.IdleTimeout = time.Duration(idle) * time.Microsecond
	return &s, nil
}

func (db *Shared) liveSessions(ctx context.Context, q Querier, where string, args ...any) ([]auditlog.Session, error) {
	args = append([]any{db.Now().UnixMicro()}, args...)
	return queryAll(ctx, q, scanSession, sessionSelect+` WHERE `+liveSession+where+` ORDER BY s.id DESC`, args...)
}

// CreateSession opens a session for an active user and records the login.
func (db *Shared) CreateSession(ctx context.Context, by auditlog.Actor, ns auditlog.NewSession, secret string) (*auditlog.Session, error) {
	var s *auditlog.Session
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		u, err := findUser(ctx, tx, ns.Username)
		if err != nil {
			return nil, err
		}
		if !u.Active() {
			return nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "user %q is disabled or deleted", u.Username)
		}
		now := db.Now().UnixMicro()
		if err := tx.Exec(ctx, `DELETE FROM sessions WHERE (ended_us != 0 OR expires_us <= $1) AND created_us < $2`,
			now, now-endedSessionRetention.Microseconds()); err != nil {
			return nil, err
		}
		s = &auditlog.Session{UserID: u.ID, Username: u.Username, Created: TimeOf(now), Expires: ns.Expires,
			LastSeen: TimeOf(now), IdleTimeout: ns.IdleTimeout, ClientAddress: ns.ClientAddress, UserAgent: ns.UserAgent}
		if err := tx.QueryRow(ctx, `INSERT INTO sessions (secret_hash, user_id, created_us, expires_us, idle_timeout_us,
			last_seen_us, client_address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			auditlog.HashToken(secret), u.ID, now, Micros(ns.Expires), ns.IdleTimeout.Microseconds(), now, ns.ClientAddress, ns.UserAgent).Scan(&s.ID); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.LoggedIn(by, u, s)}, nil
	})
	if err != nil {
		return nil, db.Wrap("create session", err)
	}
	return s, nil
}

// AuthenticateSession finds the principal behind a session secret.
func (db *Shared) AuthenticateSession(ctx context.Context, secret string) (*auditlog.Principal, error) {
	var (
		p     auditlog.Principal
		perms string
		seen  int64
	)
	err := db.Read.QueryRow(ctx, `SELECT s.id, s.user_id, u.username, g.permissions, s.last_seen_us
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN permission_groups g ON g.id = u.group_id
		WHERE `+liveSession+` AND s.secret_hash = $2 AND NOT u.disabled AND u.deleted_us = 0`,
		db.Now().UnixMicro(), auditlog.HashToken(secret)).Scan(&p.SessionID, &p.UserID, &p.Username, &perms, &seen)
	if errors.Is(err, ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.EUNAUTHORIZED, "the session has ended: log in again")
	}
	if err != nil {
		return nil, db.Wrap("authenticate session", err)
	}
	p.Name, p.Permissions = "session", SplitPermissions(perms)
	if now := db.Now().UnixMicro(); now-seen >= sessionTouchInterval.Microseconds() {
		err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
			return nil, tx.Exec(ctx, `UPDATE sessions SET last_seen_us = $1 WHERE id = $2 AND last_seen_us < $3`, now, p.SessionID, now)
		})
		if err != nil {
			return nil, db.Wrap("touch session", err)
		}
	}
	return &p, nil
}

// EndSession logs the session of secret out.
func (db *Shared) EndSession(ctx context.Context, by auditlog.Actor, secret string) error {
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		live, err := db.liveSessions(ctx, tx, ` AND s.secret_hash = $2`, auditlog.HashToken(secret))
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
	return db.Wrap("end session", err)
}

func (db *Shared) endSessions(ctx context.Context, tx Querier, sessions []auditlog.Session) error {
	now := db.Now().UnixMicro()
	for _, s := range sessions {
		if err := tx.Exec(ctx, `UPDATE sessions SET ended_us = $1 WHERE id = $2`, now, s.ID); err != nil {
			return err
		}
	}
	return nil
}

// RevokeSessions ends the selected live sessions.
func (db *Shared) RevokeSessions(ctx context.Context, by auditlog.Actor, sel auditlog.SessionSelector) (int, error) {
	n := 0
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var (
			live []auditlog.Session
			err  error
		)
		switch {
		case sel.ID != 0:
			live, err = db.liveSessions(ctx, tx, ` AND s.id = $2`, sel.ID)
			if err == nil && len(live) == 0 {
				return nil, auditlog.Errorf(auditlog.ENOTFOUND, "session %d is not live", sel.ID)
			}
		case sel.Username != "":
			if _, err = findUser(ctx, tx, sel.Username); err == nil {
				live, err = db.liveSessions(ctx, tx, ` AND u.username = $2`, sel.Username)
			}
		case sel.Group != "":
			if _, err = findGroup(ctx, tx, sel.Group); err == nil {
				live, err = db.liveSessions(ctx, tx, ` AND u.group_id = (SELECT id FROM permission_groups WHERE name = $2 AND deleted_us = 0)`, sel.Group)
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
		return 0, db.Wrap("revoke sessions", err)
	}
	return n, nil
}

// Sessions lists the live sessions, newest first.
func (db *Shared) Sessions(ctx context.Context) ([]auditlog.Session, error) {
	s, err := db.liveSessions(ctx, db.Read, "")
	return s, db.Wrap("list sessions", err)
}
