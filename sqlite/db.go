// Package sqlite is the embedded store: every auditlog service on one SQLite
// database file, in WAL mode with synchronous=FULL, so that an acknowledged
// write survives a crash or a power cut.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sequencer"
	"github.com/auditlog/auditlog/internal/sqlstore"
	sqlite3 "github.com/mattn/go-sqlite3"
)

//go:embed migration/*.sql
var migrations embed.FS

// FileName is the database file inside the data directory.
const FileName = "auditlog.db"

// Config configures a DB.
type Config struct {
	// Dir is the data directory; it is created when missing.
	Dir string
	// Builtin is the seed's activity catalogue.
	Builtin []auditlog.ActivityType
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxGroupRows bounds how many activities one group commit writes; 0 means 20,000.
	MaxGroupRows int
	// ReadOnly opens an existing store for reading only, as auditlog
	// verify does: nothing is created, migrated or written, and every
	// change fails. A store that needs a migration is refused.
	ReadOnly bool
}

// DB is the SQLite store. It implements auditlog.Store.
type DB struct {
	write *sql.DB // one connection: all writes are serialised through it
	read  *sql.DB // a pool of read-only connections
	now   func() time.Time

	catalog *sqlstore.Catalog

	seq *sequencer.Sequencer
	// inserts are the prepared INSERTs of the sequencer's bulk inserts, by
	// number of rows (write.go).
	inserts map[int]*sql.Stmt
	// index keeps the full-text index behind the writer.
	index *indexer

	// optimizedAt is the number of activities when the planner statistics
	// were last refreshed: they are refreshed whenever the log doubles, so
	// that a server started on an empty store plans well at any size.
	optimizedAt uint64

	// Shared implements reading activities and the tree, checkpoints,
	// custom activity types and the auth service (users, groups, tokens,
	// sessions), as the other SQL store does.
	*sqlstore.Shared
}

var _ auditlog.Store = (*DB)(nil)

// Open opens (creating when needed) the database in cfg.Dir, applies pending
// migrations and starts the writer.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.Dir == "" {
		return nil, errors.New("sqlite: no data directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(cfg.Dir, FileName))
	if err != nil {
		return nil, err
	}
	if cfg.ReadOnly {
		return openReadOnly(ctx, cfg, path)
	}
	if err := ownerOnly(path); err != nil {
		return nil, err
	}
	db := newDB(cfg)

	// The durability settings live here and nowhere else.
	params := url.Values{}
	params.Set("_journal_mode", "WAL")
	params.Set("_synchronous", "FULL")
	params.Set("_busy_timeout", "10000")
	params.Set("_foreign_keys", "on")
	params.Set("_txlock", "immediate")
	// The writer's page cache holds the B-trees' hot pages (the right edge
	// of each index, the recent event ids) at any size of log, and its
	// WAL is checkpointed every 25,000 pages (about 100 MB) rather than
	// every 1,000: a page that many commits rewrite is copied into the
	// database once a checkpoint, not once a commit. docs/performance.md
	// has the figures behind both.
	db.write = sql.OpenDB(connector{dsn: "file:" + path + "?" + params.Encode(), pragmas: []string{
		"PRAGMA cache_size = -65536", // KiB: 64 MiB
		"PRAGMA wal_autocheckpoint = 25000",
		"PRAGMA journal_size_limit = 134217728", // the WAL is cut back to 128 MiB after a checkpoint
	}})
	db.write.SetMaxOpenConns(1)
	db.write.SetConnMaxLifetime(0)
	db.write.SetConnMaxIdleTime(0)
	if err := requireFTS5(ctx, db.write); err != nil {
		db.write.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.write.Close()
		return nil, err
	}
	var size int64
	if err := db.write.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM activities`).Scan(&size); err != nil {
		db.write.Close()
		return nil, fmt.Errorf("count activities: %w", err)
	}
	index, err := openIndexer(ctx, db, cfg.Dir, size, slog.Default())
	if err != nil {
		db.write.Close()
		return nil, err
	}
	db.index = index

	db.read = openReaders(path, params, attachIndex(index.path))

	// ANALYZE reads a sample of each index, not all of it: milliseconds on
	// any size of table.
	if _, err := db.write.ExecContext(ctx, "PRAGMA analysis_limit=1000"); err != nil {
		db.Close()
		return nil, fmt.Errorf("analysis limit: %w", err)
	}
	if err := db.optimize(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.optimizedAt = uint64(size)
	if err := db.prepareInserts(ctx); err != nil {
		db.Close()
		return nil, err
	}
	db.seq = sequencer.New(sequencer.Config{
		Begin:   db.beginWrite,
		Dialect: dialect,
		Lookup: func(ctx context.Context, name string) (*auditlog.ActivityType, error) {
			return db.LookupActivityType(ctx, name)
		},
		Now:          db.now,
		Snapshot:     db.snapshot,
		MaxGroupRows: cfg.MaxGroupRows,
		AfterCommit: func(size uint64) {
			index.Committed()
			db.optimizeAsTheLogGrows(size)
		},
	})
	db.Shared = db.shared()
	db.Shared.Index = index
	index.Start()
	return db, nil
}

// newDB is a DB with cfg's clock and catalogue, before its connections.
func newDB(cfg Config) *DB {
	db := &DB{now: cfg.Now, catalog: sqlstore.NewCatalog(cfg.Builtin), inserts: map[int]*sql.Stmt{}}
	if db.now == nil {
		db.now = time.Now
	}
	return db
}

// openReaders opens the pool of read-only connections with the connection
// parameters given, made read-only, each running the statements given
// (attaching the search index) when it opens.
func openReaders(path string, params url.Values, pragmas ...string) *sql.DB {
	params.Set("mode", "ro")
	params.Del("_txlock")
	// database/sql lends a connection to one goroutine at a time, so
	// SQLite's own per-call locking of it is pure cost (about a tenth of
	// the CPU of a large export).
	params.Set("_mutex", "no")
	read := sql.OpenDB(connector{dsn: "file:" + path + "?" + params.Encode(), pragmas: pragmas})
	read.SetMaxOpenConns(readConns)
	read.SetMaxIdleConns(readConns)
	// A connection plans with the statistics it loaded when it opened.
	read.SetConnMaxLifetime(10 * time.Minute)
	return read
}

// openReadOnly opens the store at path with read-only connections alone.
func openReadOnly(ctx context.Context, cfg Config, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store to read in %s: %w", cfg.Dir, err)
	}
	db := newDB(cfg)
	// A store never served has no index to search.
	var attach []string
	indexPath := filepath.Join(cfg.Dir, IndexFileName)
	if _, err := os.Stat(indexPath); err == nil {
		attach = append(attach, attachIndex(indexPath))
	}
	db.read = openReaders(path, url.Values{"_busy_timeout": {"10000"}}, attach...)
	if err := requireFTS5(ctx, db.read); err != nil {
		db.Close()
		return nil, err
	}
	if err := sqlstore.CheckMigrated(ctx, sqlQuerier{db.read}, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", cfg.Dir, err)
	}
	db.Shared = db.shared()
	index, err := openReadOnlyIndex(ctx, db.read, attach != nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	db.Shared.Index = index
	db.Shared.MakeReadOnly()
	return db, nil
}

// optimizeAsTheLogGrows refreshes the planner statistics whenever the log
// has doubled since they were last refreshed.
func (db *DB) optimizeAsTheLogGrows(size uint64) {
	if size >= 2*max(db.optimizedAt, 500) {
		if err := db.optimize(context.Background()); err == nil {
			db.optimizedAt = size
		}
	}
}

// connector opens connections to the database file with the mattn
// driver and runs pragmas on each, so that a connection the pool opens
// again has them too.
type connector struct {
	dsn     string
	pragmas []string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.Driver().Open(c.dsn) }

func (c connector) Driver() driver.Driver {
	return &sqlite3.SQLiteDriver{ConnectHook: func(conn *sqlite3.SQLiteConn) error {
		for _, p := range c.pragmas {
			if _, err := conn.Exec(p, nil); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	}}
}

// migrate applies, in one transaction, every embedded migration not yet
// recorded in schema_migrations. BEGIN IMMEDIATE makes concurrent openers
// of the same file take turns.
func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_us INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if name == "migration/0005_tiles.sql" {
			if err := moveTreeToTiles(ctx, tx); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_us) VALUES (?, ?)`, name, db.now().UnixMicro()); err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
	}
	return tx.Commit()
}

// moveTreeToTiles stores the tree of tree_nodes, where the store kept it
// before migration 0005, as tiles.
func moveTreeToTiles(ctx context.Context, tx *sql.Tx) error {
	if err := sqlstore.MoveTreeToTiles(ctx, sqlQuerier{tx}, `SELECT hash FROM tree_nodes WHERE level = 0 ORDER BY idx`); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DROP TABLE tree_nodes`)
	return err
}

// ownerOnly creates the database file, or narrows an existing one, so
// that only its owner may read it: SQLite creates the WAL and the
// shared-memory index with the database file's mode.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open the database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("make %s readable by its owner only: %w", p, err)
		}
	}
	return nil
}

// readConns is the size of the read-only connection pool.
const readConns = 8

// optimize refreshes the query planner's statistics where the tables
// changed, and has the read connections pick them up.
func (db *DB) optimize(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		return fmt.Errorf("optimize: %w", err)
	}
	if db.read != nil {
		db.read.SetMaxIdleConns(0) // closes the idle connections: new ones load the statistics
		db.read.SetMaxIdleConns(readConns)
	}
	return nil
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return auditlog.Errorf(auditlog.EUNAVAILABLE, "store unavailable")
	}
	return nil
}

// Close finishes pending writes, lets SQLite refresh its query planner
// statistics and closes the database.
func (db *DB) Close() error {
	if db.seq != nil {
		db.seq.Close()
	}
	var errs []error
	if db.index != nil {
		errs = append(errs, db.index.close())
	}
	for _, stmt := range db.inserts {
		stmt.Close()
	}
	if db.read != nil {
		errs = append(errs, db.read.Close())
	}
	if db.write != nil {
		_, _ = db.write.Exec("PRAGMA optimize")
		errs = append(errs, db.write.Close())
	}
	return errors.Join(errs...)
}

// Analyze refreshes the query planner's statistics; worth running after a
// bulk load such as the demo data.
func (db *DB) Analyze(ctx context.Context) error {
	_, err := db.write.ExecContext(ctx, "ANALYZE")
	return err
}

// storeError turns a database error into an auditlog error: a busy or
// locked database is EUNAVAILABLE, anything else internal.
func storeError(op string, err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked) {
		return auditlog.Errorf(auditlog.EUNAVAILABLE, "store busy; retry")
	}
	var ae *auditlog.Error
	if errors.As(err, &ae) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isUniqueViolation(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
