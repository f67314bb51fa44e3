-- The Merkle tree over the activities, in id order: leaf i is activity i+1.
-- Every completed node is kept (about two per leaf), so that any inclusion
-- or consistency proof is a handful of point reads.
CREATE TABLE tree_nodes (
  level INTEGER NOT NULL, -- 0 for leaves
  idx   INTEGER NOT NULL, -- position within the level
  hash  BLOB    NOT NULL,
  PRIMARY KEY (level, idx)
) WITHOUT ROWID;

-- Every signed checkpoint ever published, so that consistency can be
-- proven between any two of them.
CREATE TABLE checkpoints (
  tree_size  INTEGER PRIMARY KEY,
  root_hash  BLOB    NOT NULL,
  note       TEXT    NOT NULL, -- the C2SP signed note
  created_us INTEGER NOT NULL
);

-- The activities recorded before the tree existed: the only ones whose
-- leaves are built afterwards (on open). Any later activity gets its leaf in
-- its own transaction, so a row planted behind the service's back never
-- gets one.
CREATE TABLE tree_backfill (upto INTEGER NOT NULL);
INSERT INTO tree_backfill SELECT coalesce(max(id), 0) FROM activities;
