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
		// Each lexeme once, in the order of its first position, with all
		// its positions; a gap takes a position and holds no lexeme.
		type lexemePositions struct {
			word      string
			positions []int
		}
		entries := make([]lexemePositions, 0, len(words))
		index := make(map[string]int, len(words))
		size := 0
		for i, w := range words {
			if w == "_" {
				continue
			}
			k, seen := index[w]
			if !seen {
				k = len(entries)
				index[w] = k
				entries = append(entries, lexemePositions{word: w})
				size += len(w) + 4
			}
			entries[k].positions = append(entries[k].positions, min(i+1, 16383))
			size += 6
		}
		var b strings.Builder
		b.Grow(size)
		for _, e := range entries {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			writeLexeme(&b, e.word)
			for j, p := range e.positions {
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
	Exists: func(table auditlog.SearchTable, param, lo, hi string) string {
		return "EXISTS (SELECT 1 FROM " + sqlstore.SearchTables[table] + " AS d WHERE d.id BETWEEN " + lo + " AND " + hi + " AND d.doc @@ " + param + "::tsquery)"
	},
}

// lexeme quotes a word as a tsvector or tsquery lexeme.
func lexeme(w string) string {
	var b strings.Builder
	writeLexeme(&b, w)
	return b.String()
}

var lexemeEscapes = strings.NewReplacer(`\`, `\\`, `'`, `''`)

func writeLexeme(b *strings.Builder, w string) {
	b.WriteByte('\'')
	if strings.ContainsAny(w, `\'`) {
		lexemeEscapes.WriteString(b, w)
	} else {
		b.WriteString(w)
	}
	b.WriteByte('\'')
}

// insertDocuments inserts the documents, read as tsvector text.
func insertDocuments(ctx context.Context, q sqlstore.Querier, table string, docs sqlstore.Documents) error {
	return q.Exec(ctx, `INSERT INTO `+table+` (id, doc) SELECT id, doc::tsvector FROM unnest($1::bigint[], $2::text[]) AS d(id, doc)`, docs.Keys, docs.Texts)
}
