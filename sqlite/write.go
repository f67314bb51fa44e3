package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/auditlog/auditlog/internal/sequencer"
)

// writeTx is the write transaction the sequencer runs on: BEGIN IMMEDIATE
// (the DSN's _txlock) takes the database's write lock at its start, so it
// is the only one to append to the log until it ends.
type writeTx struct {
	sqlQuerier
	tx *sql.Tx
	db *DB
}

var _ sequencer.Tx = (*writeTx)(nil)

func (db *DB) beginWrite(ctx context.Context) (sequencer.Tx, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &writeTx{sqlQuerier: sqlQuerier{tx}, tx: tx, db: db}, nil
}

func (t *writeTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t *writeTx) Rollback(context.Context) error { return t.tx.Rollback() }

// insertSizes are the numbers of activities the prepared INSERTs write:
// powers of two, so that any number of rows takes a few statements of 64
// and at most one of each smaller size. 64 rows of 14 values stay well
// within SQLite's limit of 32,766 values per statement, and few enough
// that a statement's values stay in the CPU's caches.
var insertSizes = []int{64, 32, 16, 8, 4, 2, 1}

const insertActivityColumns = `INSERT INTO activities (
  id, created_us, operator, username, activity_system_name, activity_display_name,
  subtype_system_name, subtype_display_name, extra, object_id, object_type,
  object_name, object_column_changes, recorded_by
) VALUES `

// prepareInserts prepares the INSERT of each of insertSizes, on the write
// connection, before the sequencer starts.
func (db *DB) prepareInserts(ctx context.Context) error {
	values := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	for _, n := range insertSizes {
		stmt, err := db.write.PrepareContext(ctx, insertActivityColumns+strings.Repeat(values+", ", n-1)+values)
		if err != nil {
			return fmt.Errorf("prepare insert: %w", err)
		}
		db.inserts[n] = stmt
	}
	return nil
}

// InsertActivities inserts the rows through the prepared multi-row INSERTs.
func (t *writeTx) InsertActivities(ctx context.Context, rows []sequencer.Row) error {
	args := make([]any, 0, 14*insertSizes[0])
	for len(rows) > 0 {
		n := insertSizes[0]
		for n > len(rows) {
			n /= 2
		}
		chunk := rows[:n]
		rows = rows[n:]
		args = args[:0]
		for _, r := range chunk {
			p := r.Pending
			args = append(args, r.ID, r.CreatedUS, string(p.Operator), p.Username, p.SystemName, p.DisplayName,
				p.SubtypeSystemName, p.SubtypeDisplayName, string(p.Extra), p.ObjectID, p.ObjectType,
				p.ObjectName, p.ChangesJSON, string(p.RecordedBy))
		}
		if _, err := t.tx.StmtContext(ctx, t.db.inserts[n]).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// InsertKeys inserts the rows as one JSON array of [key..., id] arrays,
// which one short statement unpacks.
func (t *writeTx) InsertKeys(ctx context.Context, table string, columns []string, keys [][]string, ids []int64) error {
	rows := make([][]any, len(ids))
	for i := range ids {
		row := make([]any, 0, len(columns))
		for c := range keys {
			row = append(row, keys[c][i])
		}
		rows[i] = append(row, ids[i])
	}
	arg, err := jsonArray(rows)
	if err != nil {
		return err
	}
	values := make([]string, len(columns))
	for c := range columns {
		values[c] = "value->>" + strconv.Itoa(c)
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO `+table+` (`+strings.Join(columns, ", ")+`) SELECT `+strings.Join(values, ", ")+` FROM json_each(?)`, arg)
	return err
}
