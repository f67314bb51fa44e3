package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog/internal/sequencer"
)

// writeTx is the write transaction the sequencer runs on; the tree lock
// (dialect.LockHead) makes it the only one to append to the log, across
// nodes, from the moment the sequencer takes the lock to the commit.
type writeTx struct {
	pgQuerier
	tx pgx.Tx
}

var _ sequencer.Tx = (*writeTx)(nil)

func (db *DB) beginWrite(ctx context.Context) (sequencer.Tx, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &writeTx{pgQuerier: pgQuerier{tx}, tx: tx}, nil
}

func (t *writeTx) Commit(ctx context.Context) error   { return t.tx.Commit(ctx) }
func (t *writeTx) Rollback(ctx context.Context) error { return t.tx.Rollback(ctx) }

// activityCopyColumns are the columns of activities the sequencer fills.
var activityCopyColumns = []string{"id", "created_us", "operator", "username", "activity_system_name", "activity_display_name",
	"subtype_system_name", "subtype_display_name", "extra", "object_id", "object_type",
	"object_name", "object_column_changes", "recorded_by"}

// InsertActivities COPYs the rows.
func (t *writeTx) InsertActivities(ctx context.Context, rows []sequencer.Row) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"activities"}, activityCopyColumns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		p := r.Pending
		return []any{r.ID, r.CreatedUS, string(p.Operator), p.Username, p.SystemName, p.DisplayName,
			p.SubtypeSystemName, p.SubtypeDisplayName, string(p.Extra), p.ObjectID, p.ObjectType,
			p.ObjectName, p.ChangesJSON, string(p.RecordedBy)}, nil
	}))
	return err
}

// InsertKeys COPYs the rows.
func (t *writeTx) InsertKeys(ctx context.Context, table string, columns []string, keys [][]string, ids []int64) error {
	row := make([]any, len(columns))
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) {
		for c := range keys {
			row[c] = keys[c][i]
		}
		row[len(keys)] = ids[i]
		return row, nil
	}))
	return err
}
