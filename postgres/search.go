package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// searchDialect keeps the full-text index in tsvector columns with GIN
// indexes (migration 0013_search.sql). A document is written as tsvector
// text, each word a lexeme at its own position (a gap between fields
// takes a position and is no lexeme), so that no text-search
// configuration re-reads the words; a query is tsquery text of the same
// lexemes, phrases joined by <->.
//
// PostgreSQL keeps at most 256 positions of one lexeme, and none past
// 16,383: a phrase is found in the first 16,383 words of an activity.
var searchDialect = sqlstore.SearchDialect{
	Document: func(words []string) string {
		positions := map[string][]int{}
		var order []string
		for i, w := range words {
			if w == "_" {
				continue
			}
			if _, seen := positions[w]; !seen {
				order = append(order, w)
			}
			positions[w] = append(positions[w], min(i+1, 16383))
		}
		var b strings.Builder
		for _, w := range order {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(lexeme(w))
			for j, p := range positions[w] {
				if j == 0 {
					b.WriteByte(':')
				} else {
					b.WriteByte(',')
				}
				b.WriteString(strconv.Itoa(p))
			}
		}
		return b.String()
	},
	Query: func(q auditlog.TextQuery) string {
		group := func(g [][]string) string {
			ors := make([]string, len(g))
			for j, phrase := range g {
				ls := make([]string, len(phrase))
				for k, w := range phrase {
					ls[k] = lexeme(w)
				}
				ors[j] = "(" + strings.Join(ls, " <-> ") + ")"
			}
			return "(" + strings.Join(ors, " | ") + ")"
		}
		var ands []string
		for _, g := range q.Groups {
			ands = append(ands, group(g))
		}
		for _, g := range q.Excluded {
			ands = append(ands, "!"+group(g))
		}
		return strings.Join(ands, " & ")
	},
	Exists: func(table auditlog.SearchTable, param, id string) string {
		if table == auditlog.SearchRows {
			return "EXISTS (SELECT 1 FROM search_rows AS r WHERE r.id BETWEEN " + id + " * 256 AND " + id + " * 256 + 255 AND r.doc @@ " + param + "::tsquery)"
		}
		return "EXISTS (SELECT 1 FROM search_activities AS s WHERE s.id = " + id + " AND s.doc @@ " + param + "::tsquery)"
	},
}

// lexeme quotes a word as a tsvector or tsquery lexeme.
func lexeme(w string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(w) + "'"
}

// InsertDocuments inserts the documents, read as tsvector text.
func (t *writeTx) InsertDocuments(ctx context.Context, table string, docs sqlstore.Documents) error {
	return insertDocuments(ctx, pgQuerier{t.tx}, table, docs)
}

func insertDocuments(ctx context.Context, q sqlstore.Querier, table string, docs sqlstore.Documents) error {
	return q.Exec(ctx, `INSERT INTO `+table+` (id, doc) SELECT id, doc::tsvector FROM unnest($1::bigint[], $2::text[]) AS d(id, doc)`, docs.Keys, docs.Texts)
}
