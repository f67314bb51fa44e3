-- The Merkle tree over the activities, in id order: leaf i is activity i+1.
-- Every completed node is kept (about two per leaf), so that any inclusion
-- or consistency proof is a handful of point reads. Written in the same
-- transaction as the activities it covers.
CREATE TABLE tree_nodes (
  level SMALLINT NOT NULL, -- 0 for leaves
  idx   BIGINT   NOT NULL, -- position within the level
  hash  BYTEA    NOT NULL,
  PRIMARY KEY (level, idx)
);

-- Every signed checkpoint ever published, so that consistency can be
-- proven between any two of them.
CREATE TABLE checkpoints (
  tree_size  BIGINT PRIMARY KEY,
  root_hash  BYTEA  NOT NULL,
  note       TEXT   NOT NULL, -- the C2SP signed note
  created_us BIGINT NOT NULL
);
