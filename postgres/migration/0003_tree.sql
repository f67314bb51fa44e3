-- The Merkle tree over the activities, in id order: leaf i is activity i+1.
-- Every completed node is kept, so that any inclusion or consistency proof
-- is a handful of point reads, one row per leaf: appending leaf i completes
-- the leaf itself and the nodes (l, i >> l) for each of the l trailing one
-- bits of i, and hashes holds their 32-byte hashes from level 0 up. Node
-- (l, k) is thus in the row of leaf (k+1)·2^l − 1, at byte 32·l. Written in
-- the same transaction as the activities it covers.
CREATE TABLE tree_leaves (
  leaf   BIGINT PRIMARY KEY, -- the leaf's index: activity id − 1
  hashes BYTEA  NOT NULL     -- the leaf's hash, then those of the nodes it completes
);

-- Every signed checkpoint ever published, so that consistency can be
-- proven between any two of them.
CREATE TABLE checkpoints (
  tree_size  BIGINT PRIMARY KEY,
  root_hash  BYTEA  NOT NULL,
  note       TEXT   NOT NULL, -- the C2SP signed note
  created_us BIGINT NOT NULL
);
