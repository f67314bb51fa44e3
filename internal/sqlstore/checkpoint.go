package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/auditlog/auditlog"
)

// AddCheckpoint stores a checkpoint unless one of that size exists: when
// nodes sign the same tree head, the first checkpoint stays.
func (db *Shared) AddCheckpoint(ctx context.Context, c auditlog.Checkpoint) error {
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		return nil, tx.Exec(ctx, `INSERT INTO checkpoints (tree_size, root_hash, note, created_us) VALUES ($1, $2, $3, $4)
			ON CONFLICT (tree_size) DO NOTHING`, int64(c.Size), c.Root, string(c.Note), c.Created.UnixMicro())
	})
	return db.Wrap("add checkpoint", err)
}

const checkpointColumns = `tree_size, root_hash, note, created_us`

func scanCheckpoint(row Row) (*auditlog.Checkpoint, error) {
	var c auditlog.Checkpoint
	var size, created int64
	var note string
	if err := row.Scan(&size, &c.Root, &note, &created); err != nil {
		return nil, err
	}
	c.Size, c.Note, c.Created = uint64(size), []byte(note), time.UnixMicro(created).UTC()
	return &c, nil
}

func (db *Shared) findCheckpoint(ctx context.Context, query string, args ...any) (*auditlog.Checkpoint, error) {
	c, err := scanCheckpoint(db.Read.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM checkpoints `+query, args...))
	if errors.Is(err, ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "no such checkpoint")
	}
	if err != nil {
		return nil, db.Wrap("find checkpoint", err)
	}
	return c, nil
}

// LatestCheckpoint returns the checkpoint of the largest tree.
func (db *Shared) LatestCheckpoint(ctx context.Context) (*auditlog.Checkpoint, error) {
	return db.findCheckpoint(ctx, `ORDER BY tree_size DESC LIMIT 1`)
}

// FindCheckpoint returns the checkpoint of the given size.
func (db *Shared) FindCheckpoint(ctx context.Context, size uint64) (*auditlog.Checkpoint, error) {
	c, err := db.findCheckpoint(ctx, `WHERE tree_size = $1`, int64(size))
	if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "no checkpoint was published for tree size %d", size)
	}
	return c, err
}

// Checkpoints lists every checkpoint by increasing size.
func (db *Shared) Checkpoints(ctx context.Context) ([]auditlog.Checkpoint, error) {
	out, err := queryAll(ctx, db.Read, scanCheckpoint, `SELECT `+checkpointColumns+` FROM checkpoints ORDER BY tree_size`)
	return out, db.Wrap("list checkpoints", err)
}
