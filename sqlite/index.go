package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// IndexFileName is the full-text index's database file in the data
// directory, beside FileName. The index is derived from the activities
// alone: a missing file, or one that holds activities the store does not,
// is built again from the activities.
const IndexFileName = "search.db"

// indexVersion is the version of the documents the index holds, kept as
// the file's user_version: an index of an earlier version lacks words
// that this one asks for, and is built again. 2: activities' documents
// hold their object's facet word (auditlog.ObjectFacetWord).
const indexVersion = 2

// indexSchema is the index's database: the two FTS5 tables of
// internal/sqlstore/search.go, contentless (the words are kept only in
// the index), and the id up to which they hold every activity.
const indexSchema = `
CREATE VIRTUAL TABLE IF NOT EXISTS search_activities USING fts5(
  words, content = '', columnsize = 0, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE VIRTUAL TABLE IF NOT EXISTS search_rows USING fts5(
  words, content = '', columnsize = 0, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE TABLE IF NOT EXISTS indexed (through INTEGER NOT NULL);
INSERT INTO indexed (through) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM indexed);
`

// indexer keeps the full-text index in its own database file, just behind
// the writer (sqlstore.Indexer): searches read the file attached to every
// read connection as "search".
type indexer struct {
	store *DB
	// path is the index's file.
	path    string
	write   *sql.DB
	log     *slog.Logger
	through atomic.Int64
	*sqlstore.Indexer
}

// openIndexer opens (creating or rebuilding when needed) the index of the
// store whose newest activity is newest, in dir.
func openIndexer(ctx context.Context, store *DB, dir string, newest int64, log *slog.Logger) (*indexer, error) {
	path := filepath.Join(dir, IndexFileName)
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	params := url.Values{}
	params.Set("_journal_mode", "WAL")
	// The index is rebuilt from the activities, and its position is in
	// the transactions it writes: a commit lost to a power cut is done
	// again, so it need not wait for the disk.
	params.Set("_synchronous", "NORMAL")
	params.Set("_busy_timeout", "10000")
	params.Set("_txlock", "immediate")
	write := sql.OpenDB(connector{dsn: "file:" + path + "?" + params.Encode(), pragmas: []string{"PRAGMA cache_size = -16384"}})
	write.SetMaxOpenConns(1)
	x := &indexer{store: store, path: path, write: write, log: log}
	x.Indexer = &sqlstore.Indexer{Next: x.indexNext, Log: log,
		Indexed: func(context.Context) (int64, error) { return x.through.Load(), nil }}
	if err := x.open(ctx, newest); err != nil {
		write.Close()
		return nil, fmt.Errorf("open the search index %s: %w", path, err)
	}
	return x, nil
}

// open creates the index's tables, and empties them when they hold
// activities beyond the store's newest (the store was restored from an
// older copy than the index).
func (x *indexer) open(ctx context.Context, newest int64) error {
	if _, err := x.write.ExecContext(ctx, indexSchema); err != nil {
		return err
	}
	var through, version int64
	if err := x.write.QueryRowContext(ctx, `SELECT through FROM indexed`).Scan(&through); err != nil {
		return err
	}
	if err := x.write.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	rebuild := ""
	switch {
	case through > newest:
		rebuild = "the search index holds activities the store does not: building it again"
	case through > 0 && version < indexVersion:
		rebuild = "the search index is of an earlier version, without words this one asks for: building it again"
	}
	if rebuild != "" {
		x.log.Warn(rebuild, "indexed_through", through, "newest", newest, "version", version)
		for _, stmt := range []string{`INSERT INTO search_activities (search_activities) VALUES ('delete-all')`,
			`INSERT INTO search_rows (search_rows) VALUES ('delete-all')`, `UPDATE indexed SET through = 0`} {
			if _, err := x.write.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		through = 0
	}
	// Only once the index is empty or of this version: a crash before
	// leaves it to be emptied again.
	if _, err := x.write.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(indexVersion)); err != nil {
		return err
	}
	x.through.Store(through)
	return nil
}

// attach is the statement that attaches the index at path to a read
// connection.
func attachIndex(path string) string {
	uri := "file:" + path + "?mode=ro"
	return "ATTACH DATABASE '" + strings.ReplaceAll(uri, "'", "''") + "' AS search"
}

// indexNext indexes the next activities after through, in one
// transaction, and returns how many.
func (x *indexer) indexNext(ctx context.Context) (int, error) {
	after := x.through.Load()
	tx, err := x.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	last, err := sqlstore.IndexNext(ctx, sqlQuerier{x.store.read}, searchDialect, after, (&writeTx{tx: tx}).InsertDocuments)
	if err != nil || last == after {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE indexed SET through = ?`, last); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	x.through.Store(last)
	return int(last - after), nil
}

// close stops the indexer and closes its database.
func (x *indexer) close() error {
	x.Close()
	return x.write.Close()
}

var _ sqlstore.IndexKeeper = (*indexer)(nil)

// readOnlyIndex is the index of a store opened read-only, as far as its
// indexer got (nothing indexes it meanwhile), or none when the store was
// never served since search existed, or since the index's version.
type readOnlyIndex struct {
	read *sql.DB
	// missing, when set, says why there is no index to read.
	missing string
}

// openReadOnlyIndex is the index of the read-only store whose readers
// attached the index's file when attached is true.
func openReadOnlyIndex(ctx context.Context, read *sql.DB, attached bool) (readOnlyIndex, error) {
	r := readOnlyIndex{read: read}
	if !attached {
		r.missing = "this store has no search index yet (" + IndexFileName + "): auditlog serve builds it"
		return r, nil
	}
	var version int64
	if err := read.QueryRowContext(ctx, `PRAGMA search.user_version`).Scan(&version); err != nil {
		return r, fmt.Errorf("read the search index's version: %w", err)
	}
	if version < indexVersion {
		r.missing = "this store's search index (" + IndexFileName + ") is of an earlier version: auditlog serve builds it again"
	}
	return r, nil
}

// Through implements sqlstore.IndexKeeper.
func (r readOnlyIndex) Through(ctx context.Context) (int64, error) {
	if r.missing != "" {
		return 0, auditlog.Errorf(auditlog.EUNAVAILABLE, "%s", r.missing)
	}
	var through int64
	err := r.read.QueryRowContext(ctx, `SELECT through FROM search.indexed`).Scan(&through)
	return through, err
}

// Await implements sqlstore.IndexKeeper: there is nothing to wait for.
func (readOnlyIndex) Await(context.Context, int64) error { return nil }
