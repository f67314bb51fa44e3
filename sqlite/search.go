package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// searchDialect keeps the full-text index in FTS5 tables, in a database
// file of their own that an indexer keeps behind the writer (index.go):
// contentless, each document its words separated by spaces, which FTS5's
// unicode61 tokenizer (with "_" a word character) reads back one for one. A query is an FTS5 expression of quoted
// phrases, which the same tokenizer reads.
//
// A search walks the index newest first (FTS5 reads its documents in key
// order, and stops after the page), and the activities' documents hold
// their facet words: SQLite's planner has no statistics of an FTS5 table
// to choose between the index and the activities' B-trees, and FTS5
// intersects and subtracts its own lists of documents far faster than a
// probe per activity could.
var searchDialect = sqlstore.SearchDialect{
	Document: func(words []string) string { return strings.Join(words, " ") },
	Query: func(q auditlog.TextQuery) string {
		group := func(g [][]string) string {
			ors := make([]string, len(g))
			for j, phrase := range g {
				ors[j] = `"` + strings.Join(phrase, " ") + `"`
			}
			return "(" + strings.Join(ors, " OR ") + ")"
		}
		ands := make([]string, len(q.Groups))
		for i, g := range q.Groups {
			ands[i] = group(g)
		}
		expr := "(" + strings.Join(ands, " AND ") + ")"
		for _, g := range q.Excluded {
			expr = "(" + expr + " NOT " + group(g) + ")"
		}
		return expr
	},
	Exists: func(table auditlog.SearchTable, param, lo, hi string) string {
		t := sqlstore.SearchTables[table]
		return "EXISTS (SELECT 1 FROM " + t + " AS d WHERE d." + t + " MATCH " + param + " AND d.rowid BETWEEN " + lo + " AND " + hi + ")"
	},
	Walk: func(table auditlog.SearchTable, param string) (from, match, key string) {
		t := sqlstore.SearchTables[table]
		return t + " AS d", "d." + t + " MATCH " + param, "d.rowid"
	},
}

// InsertDocuments inserts the documents as one JSON array of [key, text]
// pairs, which one short statement unpacks.
func (t *writeTx) InsertDocuments(ctx context.Context, table string, docs sqlstore.Documents) error {
	pairs := make([][2]any, len(docs.Keys))
	for i := range docs.Keys {
		pairs[i] = [2]any{docs.Keys[i], docs.Texts[i]}
	}
	arg, err := jsonArray(pairs)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO `+table+` (rowid, words) SELECT value->>0, value->>1 FROM json_each(?)`, arg)
	return err
}

// requireFTS5 refuses a build of the driver without FTS5, which the
// search index needs: go-sqlite3 compiles it in with the sqlite_fts5 tag.
func requireFTS5(ctx context.Context, db *sql.DB) error {
	var used bool
	if err := db.QueryRowContext(ctx, "SELECT sqlite_compileoption_used('ENABLE_FTS5')").Scan(&used); err != nil {
		return fmt.Errorf("sqlite: read compile options: %w", err)
	}
	if !used {
		return errors.New("sqlite: this binary's SQLite has no FTS5, which the search index needs: build it with -tags sqlite_fts5 (the Makefile does)")
	}
	return nil
}
