package sqlstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
)

const streamColumns = `id, name, type, url, format, filter, batch_size, subject, ca_pem, paused, cursor, delivered,
	last_delivery_us, last_error, last_error_us, created_us`

func scanStream(row Row) (*auditlog.Stream, error) {
	var s auditlog.Stream
	var paused, lastDelivery, lastError, created int64
	if err := row.Scan(&s.ID, &s.Name, &s.Type, &s.URL, &s.Format, &s.Filter, &s.BatchSize, &s.Subject, &s.CAPEM,
		&paused, &s.Cursor, &s.Delivered, &lastDelivery, &s.LastError, &lastError, &created); err != nil {
		return nil, err
	}
	s.Paused = paused != 0
	s.LastDeliveryAt, s.LastErrorAt, s.Created = optionalTime(lastDelivery), optionalTime(lastError), TimeOf(created)
	return &s, nil
}

// optionalTime is the time of microseconds, or the zero time for 0.
func optionalTime(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return TimeOf(us)
}

func findStream(ctx context.Context, q Querier, id int64, forUpdate string) (*auditlog.Stream, error) {
	s, err := scanStream(q.QueryRow(ctx, `SELECT `+streamColumns+` FROM streams WHERE id = $1`+forUpdate, id))
	if errors.Is(err, ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "stream %d does not exist", id)
	}
	return s, err
}

// CreateStream implements auditlog.StreamService.
func (db *Shared) CreateStream(ctx context.Context, by auditlog.Actor, ns auditlog.NewStream) (*auditlog.Stream, error) {
	var s *auditlog.Stream
	types, err := db.ActivityTypes(ctx)
	if err != nil {
		return nil, err
	}
	err = db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var newest int64
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM activities`).Scan(&newest); err != nil {
			return nil, err
		}
		cursor, err := ns.Check(newest, types)
		if err != nil {
			return nil, err
		}
		var taken int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM streams WHERE name = $1`, ns.Name).Scan(&taken); err != nil {
			return nil, err
		}
		if taken > 0 {
			e := auditlog.Errorf(auditlog.ECONFLICT, "a stream named %q exists already", ns.Name)
			e.Field = "name"
			return nil, e
		}
		now := db.Now().UnixMicro()
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO streams (name, type, url, format, filter, batch_size, subject, ca_pem, secret,
			paused, cursor, delivered, last_delivery_us, last_error, last_error_us, lease_node, lease_until_us, created_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, 0, 0, '', 0, '', 0, $11) RETURNING id`,
			ns.Name, ns.Type, ns.URL, ns.Format, ns.Filter, ns.BatchSize, ns.Subject, ns.CAPEM, ns.Secret, cursor, now).Scan(&id); err != nil {
			return nil, err
		}
		if s, err = findStream(ctx, tx, id, ""); err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.StreamCreated(by, s, ns.Secret != "")}, nil
	})
	if err != nil {
		return nil, db.Wrap("create stream", err)
	}
	return s, nil
}

// Streams implements auditlog.StreamService.
func (db *Shared) Streams(ctx context.Context) ([]auditlog.Stream, error) {
	out, err := queryAll(ctx, db.Read, scanStream, `SELECT `+streamColumns+` FROM streams ORDER BY id`)
	return out, db.Wrap("list streams", err)
}

// FindStream implements auditlog.StreamService.
func (db *Shared) FindStream(ctx context.Context, id int64) (*auditlog.Stream, error) {
	s, err := findStream(ctx, db.Read, id, "")
	return s, db.Wrap("find stream", err)
}

// StreamSecret implements auditlog.StreamService.
func (db *Shared) StreamSecret(ctx context.Context, id int64) (string, error) {
	var secret string
	err := db.Read.QueryRow(ctx, `SELECT secret FROM streams WHERE id = $1`, id).Scan(&secret)
	if errors.Is(err, ErrNoRows) {
		return "", auditlog.Errorf(auditlog.ENOTFOUND, "stream %d does not exist", id)
	}
	return secret, db.Wrap("find stream secret", err)
}

// changeStream runs change on the stream, locked, in the write
// transaction, and records the activity it returns.
func (db *Shared) changeStream(ctx context.Context, what string, id int64, change func(ctx context.Context, tx Querier, s *auditlog.Stream) (auditlog.NewActivity, error)) (*auditlog.Stream, error) {
	var out *auditlog.Stream
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		s, err := findStream(ctx, tx, id, db.ForUpdate("streams"))
		if err != nil {
			return nil, err
		}
		a, err := change(ctx, tx, s)
		if err != nil {
			return nil, err
		}
		out = s
		return []auditlog.NewActivity{a}, nil
	})
	if err != nil {
		return nil, db.Wrap(what, err)
	}
	return out, nil
}

// PauseStream implements auditlog.StreamService.
func (db *Shared) PauseStream(ctx context.Context, by auditlog.Actor, id int64, paused bool) (*auditlog.Stream, error) {
	return db.changeStream(ctx, "pause stream", id, func(ctx context.Context, tx Querier, s *auditlog.Stream) (auditlog.NewActivity, error) {
		if s.Paused == paused {
			return auditlog.NewActivity{}, auditlog.Errorf(auditlog.ECONFLICT, "stream %d is %s already", id, s.State())
		}
		s.Paused = paused
		flag := 0
		if paused {
			flag = 1
		}
		return auditlog.StreamPauseChanged(by, s), tx.Exec(ctx, `UPDATE streams SET paused = $1 WHERE id = $2`, flag, id)
	})
}

// ReplayStream implements auditlog.StreamService.
func (db *Shared) ReplayStream(ctx context.Context, by auditlog.Actor, id, fromID int64) (*auditlog.Stream, error) {
	if fromID < 1 {
		return nil, auditlog.FieldErrorf("from_id", "from_id must be an activity id (1 or more), not %d", fromID)
	}
	return db.changeStream(ctx, "replay stream", id, func(ctx context.Context, tx Querier, s *auditlog.Stream) (auditlog.NewActivity, error) {
		old := s.Cursor
		s.Cursor = fromID - 1
		return auditlog.StreamReplayed(by, s, old), tx.Exec(ctx, `UPDATE streams SET cursor = $1 WHERE id = $2`, s.Cursor, id)
	})
}

// DeleteStream implements auditlog.StreamService.
func (db *Shared) DeleteStream(ctx context.Context, by auditlog.Actor, id int64) error {
	_, err := db.changeStream(ctx, "delete stream", id, func(ctx context.Context, tx Querier, s *auditlog.Stream) (auditlog.NewActivity, error) {
		return auditlog.StreamDeleted(by, s), tx.Exec(ctx, `DELETE FROM streams WHERE id = $1`, id)
	})
	return err
}

// LeaseStream implements auditlog.StreamService.
func (db *Shared) LeaseStream(ctx context.Context, id int64, node string, until time.Time) (bool, error) {
	held := false
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var holder string
		var holdUntil int64
		err := tx.QueryRow(ctx, `SELECT lease_node, lease_until_us FROM streams WHERE id = $1`+db.ForUpdate("streams"), id).Scan(&holder, &holdUntil)
		if errors.Is(err, ErrNoRows) {
			return nil, nil // deleted: nobody holds it
		}
		if err != nil {
			return nil, err
		}
		if holder != node && holdUntil > db.Now().UnixMicro() {
			return nil, nil
		}
		held = true
		return nil, tx.Exec(ctx, `UPDATE streams SET lease_node = $1, lease_until_us = $2 WHERE id = $3`, node, until.UnixMicro(), id)
	})
	return held, db.Wrap("lease stream", err)
}

// StreamDelivered implements auditlog.StreamService.
func (db *Shared) StreamDelivered(ctx context.Context, id int64, node string, from, to int64, n int, until time.Time) (bool, error) {
	moved := false
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		var holder string
		var cursor, holdUntil int64
		err := tx.QueryRow(ctx, `SELECT lease_node, lease_until_us, cursor FROM streams WHERE id = $1`+db.ForUpdate("streams"), id).Scan(&holder, &holdUntil, &cursor)
		if errors.Is(err, ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		now := db.Now().UnixMicro()
		if holder != node || holdUntil <= now || cursor != from {
			return nil, nil
		}
		moved = true
		return nil, tx.Exec(ctx, `UPDATE streams SET cursor = $1, delivered = delivered + $2, last_delivery_us = $3, lease_until_us = $4 WHERE id = $5`,
			to, n, now, until.UnixMicro(), id)
	})
	return moved, db.Wrap("move stream cursor", err)
}

// StreamFailed implements auditlog.StreamService.
func (db *Shared) StreamFailed(ctx context.Context, id int64, node string, reason string) error {
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		return nil, tx.Exec(ctx, `UPDATE streams SET last_error = $1, last_error_us = $2 WHERE id = $3 AND lease_node = $4`,
			auditlog.Clip(strings.ToValidUTF8(reason, "?"), 1024), db.Now().UnixMicro(), id, node)
	})
	return db.Wrap("record stream failure", err)
}
