-- The Merkle tree as C2SP tlog-tiles of height 8 (internal/sqlstore/tree.go):
-- a full tile of 256 hashes is written once, the partial tile at the right
-- edge of each level again by each commit that grows it. An ingest of 1,000
-- activities writes a handful of rows, where tree_leaves took one per
-- activity. The store moves tree_leaves' leaves into tiles when it applies
-- this migration, and drops tree_leaves.
CREATE TABLE tiles (
  level  INT    NOT NULL, -- 0 holds leaf hashes; level L the hashes of subtrees of 256^L leaves
  idx    BIGINT NOT NULL, -- the tile's index within its level
  hashes BYTEA  NOT NULL, -- its hashes, 32 bytes each: 256 in a full tile
  PRIMARY KEY (level, idx)
);
