-- The full-text index of search (internal/sqlstore/search.go): one
-- document per activity, keyed by its id, and one per row of its column
-- changes, keyed by id << 8 | row. Contentless: the words are kept only in
-- the index. The documents of the activities recorded before this
-- migration are added by the code that runs it (sqlite/db.go).
CREATE VIRTUAL TABLE search_activities USING fts5(
  words, content = '', columnsize = 0, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
CREATE VIRTUAL TABLE search_rows USING fts5(
  words, content = '', columnsize = 0, tokenize = "unicode61 remove_diacritics 0 tokenchars '_'"
);
