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

// searchDialect keeps the full-text index in FTS5 tables (migration
// 0012_search.sql): contentless, each document its words separated by
// spaces, which FTS5's unicode61 tokenizer (with "_" a word character)
// reads back one for one. A query is an FTS5 expression of quoted
// phrases, which the same tokenizer reads.
//
// A page walks the index newest first (FTS5 reads its documents in key
// order, and stops after the page): the planner has no statistics of an
// FTS5 table to choose otherwise.
var searchDialect = sqlstore.SearchDialect{
	Document: func(words []string) string { return strings.Join(words, " ") },
	Query: func(groups [][][]string) string {
		ands := make([]string, len(groups))
		for i, g := range groups {
			ors := make([]string, len(g))
			for j, phrase := range g {
				ors[j] = `"` + strings.Join(phrase, " ") + `"`
			}
			ands[i] = "(" + strings.Join(ors, " OR ") + ")"
		}
		return strings.Join(ands, " AND ")
	},
	Exists: func(table auditlog.SearchTable, param, id string) string {
		if table == auditlog.SearchRows {
			return "EXISTS (SELECT 1 FROM search_rows AS r WHERE r.search_rows MATCH " + param +
				" AND r.rowid BETWEEN " + id + " << 8 AND (" + id + " << 8) + 255)"
		}
		return "EXISTS (SELECT 1 FROM search_activities AS s WHERE s.search_activities MATCH " + param + " AND s.rowid = " + id + ")"
	},
	Drives: func(table auditlog.SearchTable, param string) (string, []string, string, string) {
		if table == auditlog.SearchRows {
			// Each activity once: at the last of its rows that matches.
			return "search_rows AS r", []string{
				"r.search_rows MATCH " + param,
				"NOT EXISTS (SELECT 1 FROM search_rows AS later WHERE later.search_rows MATCH " + param +
					" AND later.rowid > r.rowid AND later.rowid <= (r.rowid | 255))",
			}, "r.rowid", "(r.rowid >> 8)"
		}
		return "search_activities AS s", []string{"s.search_activities MATCH " + param}, "s.rowid", "s.rowid"
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
