-- The Merkle tree as C2SP tlog-tiles of height 8 (internal/sqlstore/tree.go):
-- a full tile of 256 hashes is written once, the partial tile at the right
-- edge of each level again by each commit that grows it. An ingest of 1,000
-- activities writes a handful of rows, where tree_nodes took two per
-- activity. The store moves tree_nodes' leaves into tiles when it applies
-- this migration, and drops tree_nodes.
CREATE TABLE tiles (
  level  INTEGER NOT NULL, -- 0 holds leaf hashes; level L the hashes of subtrees of 256^L leaves
  idx    INTEGER NOT NULL, -- the tile's index within its level
  hashes BLOB    NOT NULL, -- its hashes, 32 bytes each: 256 in a full tile
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- The tree is never built from activity rows: what a row says is what the
-- tree must vouch for, not where it comes from.
DROP TABLE tree_backfill;

-- Indexes that others serve: (activity_system_name, operator) and
-- (object_type, operator) answer every query by their first column alone,
-- in id order within each value; a date range becomes an id range by
-- probing the primary key (created never decreases with id).
DROP INDEX activities_by_activity;
DROP INDEX activities_by_object_type;
DROP INDEX activities_by_created;
