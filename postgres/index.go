package postgres

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog/internal/sqlstore"
)

// newIndexer keeps the full-text index just behind the writer, from
// every node (sqlstore.Indexer): the node that locks the one row of
// search_indexed indexes the next activities and moves it on; the others
// find it locked and look again. Commits are in id order (the head's
// lock), so the activities after the row's id are all committed ones.
func (db *DB) newIndexer() *sqlstore.Indexer {
	return &sqlstore.Indexer{Next: db.indexNext, Indexed: db.indexedThrough, Log: slog.Default()}
}

// indexNext indexes the activities after search_indexed's id, in one
// transaction, unless another node is at it.
func (db *DB) indexNext(ctx context.Context) (int, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	var after int64
	err = tx.QueryRow(ctx, `SELECT through FROM search_indexed FOR UPDATE SKIP LOCKED`).Scan(&after)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	q := pgQuerier{tx}
	insert := func(ctx context.Context, table string, docs sqlstore.Documents) error {
		return insertDocuments(ctx, q, table, docs)
	}
	last, err := sqlstore.IndexNext(ctx, q, searchDialect, after, insert)
	if err != nil || last == after {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE search_indexed SET through = $1`, last); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	return int(last - after), nil
}

// indexedThrough reads how far the index is.
func (db *DB) indexedThrough(ctx context.Context) (int64, error) {
	var through int64
	err := db.pool.QueryRow(ctx, `SELECT through FROM search_indexed`).Scan(&through)
	return through, err
}
