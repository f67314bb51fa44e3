// Package postgres is the store for several service nodes on one
// PostgreSQL database. It behaves as the embedded SQLite store does: dense
// ids that strictly increase in commit order, the Merkle tree written in
// the same transaction as its activities, one sequence of checkpoints. The
// nodes take turns only for assigning ids and appending leaves, under a
// transaction-level advisory lock; validation, canonicalisation and leaf
// templates happen before it, in each request's goroutine.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sequencer"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

//go:embed migration/*.sql
var migrations embed.FS

// Advisory lock keys, one per thing the nodes take turns at. They live in
// the database's own lock space, so databases on one server do not share them.
const (
	migrationLock int64 = 0x61756469746c6f01 // applying migrations
	treeLock      int64 = 0x61756469746c6f02 // assigning ids and appending leaves
	bootstrapLock int64 = 0x61756469746c6f03 // creating the first admin
)

// Config configures a DB.
type Config struct {
	// URL is the PostgreSQL connection string (postgres://user@host:port/db?...).
	URL string
	// Builtin is the seed's activity catalogue.
	Builtin []auditlog.ActivityType
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxGroupRows bounds how many activities one group commit writes; 0 means 20,000.
	MaxGroupRows int
	// MaxConns bounds the connection pool; 0 means 16.
	MaxConns int
	// ReadOnly opens the store for reading only, as auditlog verify does:
	// every session is read-only (default_transaction_read_only), nothing
	// is migrated, and every change fails. A store that needs a migration
	// is refused.
	ReadOnly bool
}

// DB is the PostgreSQL store. It implements auditlog.Store.
type DB struct {
	pool *pgxpool.Pool
	now  func() time.Time

	catalog *sqlstore.Catalog

	seq *sequencer.Sequencer
	// index keeps the full-text index behind the writer.
	index *sqlstore.Indexer

	// Shared implements reading activities and the tree, checkpoints,
	// custom activity types and the auth service (users, groups, tokens,
	// sessions), as the other SQL store does.
	*sqlstore.Shared
}

var _ auditlog.Store = (*DB)(nil)

// Open connects to the database, applies pending migrations (once, even
// when several nodes start at the same moment) and starts the writer.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres: no database URL")
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, auditlog.FieldErrorf("--database-url", "the database URL is not a PostgreSQL connection string: %v", err)
	}
	pc.MaxConns = int32(cfg.MaxConns)
	if pc.MaxConns <= 0 {
		pc.MaxConns = 16
	}
	// A node whose host dies in the middle of a commit leaves its session
	// idle in a transaction that holds the tree lock, and no closed socket
	// tells the server so: end such transactions after a minute, so that
	// the other nodes go on. No transaction of the store waits that long
	// between two statements.
	pc.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "60000"
	if cfg.ReadOnly {
		pc.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	db := &DB{pool: pool, now: cfg.Now, catalog: sqlstore.NewCatalog(cfg.Builtin)}
	if db.now == nil {
		db.now = time.Now
	}
	if cfg.ReadOnly {
		if err := sqlstore.CheckMigrated(ctx, pgQuerier{pool}, migrations); err != nil {
			pool.Close()
			return nil, err
		}
		db.Shared = db.shared()
		db.Shared.Index = &sqlstore.Indexer{Indexed: db.indexedThrough}
		db.Shared.MakeReadOnly()
		return db, nil
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	db.index = db.newIndexer()
	db.seq = sequencer.New(sequencer.Config{
		Begin:   db.beginWrite,
		Dialect: dialect,
		Lookup: func(ctx context.Context, name string) (*auditlog.ActivityType, error) {
			return db.LookupActivityType(ctx, name)
		},
		Now:          db.now,
		Snapshot:     db.snapshot,
		MaxGroupRows: cfg.MaxGroupRows,
		AfterCommit:  func(uint64) { db.index.Committed() },
	})
	db.Shared = db.shared()
	db.Shared.Index = db.index
	db.index.Start()
	return db, nil
}

// migrate applies, in one transaction, every embedded migration not yet
// recorded in schema_migrations. The transaction's advisory lock makes
// nodes that start together take turns: the second sees what the first
// applied and applies nothing.
func (db *DB) migrate(ctx context.Context) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_us BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if name == "migration/0005_tiles.sql" {
			if err := moveTreeToTiles(ctx, tx); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_us) VALUES ($1, $2)`, name, db.now().UnixMicro()); err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
	}
	return tx.Commit(ctx)
}

// moveTreeToTiles stores the tree of tree_leaves, where the store kept it
// before migration 0005, as tiles: each row's first hash is its leaf's.
func moveTreeToTiles(ctx context.Context, tx pgx.Tx) error {
	if err := sqlstore.MoveTreeToTiles(ctx, pgQuerier{tx}, `SELECT substring(hashes FROM 1 FOR 32) FROM tree_leaves ORDER BY leaf`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DROP TABLE tree_leaves`)
	return err
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return auditlog.Errorf(auditlog.EUNAVAILABLE, "store unavailable")
	}
	return nil
}

// Close finishes pending writes and closes the connection pool.
func (db *DB) Close() error {
	if db.seq != nil {
		db.seq.Close()
	}
	if db.index != nil {
		db.index.Close()
	}
	db.pool.Close()
	return nil
}

// Analyze refreshes the query planner's statistics; worth running after a
// bulk load such as the demo data (autovacuum does it otherwise, later).
func (db *DB) Analyze(ctx context.Context) error {
	_, err := db.pool.Exec(ctx, "ANALYZE")
	return err
}

// storeError turns a database error into an auditlog error: a database
// that cannot be reached is EUNAVAILABLE, anything else internal.
func storeError(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *auditlog.Error
	if errors.As(err, &ae) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return auditlog.Errorf(auditlog.EUNAVAILABLE, "store unavailable; retry")
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}
