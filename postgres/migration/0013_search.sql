-- The full-text index of search (internal/sqlstore/search.go): one
-- document per activity, keyed by its id, and one per row of its column
-- changes, keyed by id * 256 + row, each with a GIN index, and the id up
-- to which they hold every activity. The nodes' indexers fill them just
-- behind the writer (postgres/index.go), from the first activity on.
CREATE TABLE search_activities (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE TABLE search_rows (id BIGINT PRIMARY KEY, doc TSVECTOR NOT NULL);
CREATE INDEX search_activities_doc ON search_activities USING gin (doc);
CREATE INDEX search_rows_doc ON search_rows USING gin (doc);
CREATE TABLE search_indexed (through BIGINT NOT NULL);
INSERT INTO search_indexed (through) VALUES (0);
