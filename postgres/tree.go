package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// querier is what reads need: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// treeSize is the number of leaves in the tree.
func treeSize(ctx context.Context, q querier) (uint64, error) {
	var size int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(leaf) + 1, 0) FROM tree_leaves`).Scan(&size)
	return uint64(size), err
}

// loadTree reads the border of the tree of the given size from its stored nodes.
func loadTree(ctx context.Context, q querier, size uint64) (*tlog.Tree, error) {
	border, err := fetchNodes(ctx, q, tlog.BorderNodes(size))
	if err != nil {
		return nil, err
	}
	return tlog.NewTree(size, border)
}

// hashSize is the size of one node's hash in tree_leaves.hashes.
const hashSize = 32

// nodeRow returns the leaf whose row holds node id: the leaf that completed
// it, (index+1)·2^level − 1, or false when that is beyond any tree.
func nodeRow(id auditlog.NodeID) (int64, bool) {
	if id.Level >= 63 || id.Index >= (1<<62)>>id.Level {
		return 0, false
	}
	return int64((id.Index+1)<<id.Level) - 1, true
}

// fetchNodes reads the hashes of the given nodes in one query, in order.
func fetchNodes(ctx context.Context, q querier, ids []auditlog.NodeID) ([][]byte, error) {
	if len(ids) == 0 {
		return [][]byte{}, nil
	}
	offsets := make([]int32, len(ids))
	leaves := make([]int64, len(ids))
	for i, id := range ids {
		leaf, ok := nodeRow(id)
		if !ok {
			leaf = -1 // no such row
		}
		offsets[i], leaves[i] = int32(id.Level)*hashSize, leaf
	}
	rows, err := q.Query(ctx, `SELECT substring(n.hashes FROM w.offs + 1 FOR 32) FROM unnest($1::int[], $2::bigint[]) WITH ORDINALITY AS w(offs, leaf, pos)
		LEFT JOIN tree_leaves n ON n.leaf = w.leaf ORDER BY w.pos`, offsets, leaves)
	if err != nil {
		return nil, storeError("read tree nodes", err)
	}
	out := make([][]byte, 0, len(ids))
	var hash []byte
	if _, err := pgx.ForEachRow(rows, []any{&hash}, func() error {
		if len(hash) != hashSize {
			id := ids[len(out)]
			return auditlog.Errorf(auditlog.ENOTFOUND, "tree node (%d, %d) is not in the tree", id.Level, id.Index)
		}
		out = append(out, hash)
		return nil
	}); err != nil {
		return nil, storeError("read tree nodes", err)
	}
	return out, nil
}

// TreeHead returns the size and root hash of the tree as of now.
func (db *DB) TreeHead(ctx context.Context) (auditlog.TreeHead, error) {
	var head auditlog.TreeHead
	err := db.readTx(ctx, func(tx pgx.Tx) error {
		size, err := treeSize(ctx, tx)
		if err != nil {
			return err
		}
		tree, err := loadTree(ctx, tx, size)
		if err != nil {
			return err
		}
		head = auditlog.TreeHead{Size: tree.Size(), Root: tree.Root()}
		return nil
	})
	if err != nil {
		return head, storeError("tree head", err)
	}
	return head, nil
}

// TreeNodes returns the hashes of complete subtrees.
func (db *DB) TreeNodes(ctx context.Context, ids []auditlog.NodeID) ([][]byte, error) {
	return fetchNodes(ctx, db.pool, ids)
}

// StreamLeafHashes calls fn with the stored leaf hashes from index from on.
func (db *DB) StreamLeafHashes(ctx context.Context, from uint64, fn func(index uint64, hash []byte) error) error {
	rows, err := db.pool.Query(ctx, `SELECT leaf, substring(hashes FROM 1 FOR 32) FROM tree_leaves WHERE leaf >= $1 ORDER BY leaf`, int64(from))
	if err != nil {
		return storeError("read leaves", err)
	}
	var index int64
	var hash []byte
	_, err = pgx.ForEachRow(rows, []any{&index, &hash}, func() error { return fn(uint64(index), hash) })
	return storeError("read leaves", err)
}

// AddCheckpoint stores a checkpoint unless one of that size exists: when
// two nodes sign the same tree size, the first one stored is kept.
func (db *DB) AddCheckpoint(ctx context.Context, c auditlog.Checkpoint) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO checkpoints (tree_size, root_hash, note, created_us) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tree_size) DO NOTHING`, int64(c.Size), c.Root, string(c.Note), c.Created.UnixMicro())
	return storeError("add checkpoint", err)
}

const checkpointColumns = `tree_size, root_hash, note, created_us`

func scanCheckpoint(row pgx.Row) (auditlog.Checkpoint, error) {
	var c auditlog.Checkpoint
	var size, created int64
	var note string
	if err := row.Scan(&size, &c.Root, &note, &created); err != nil {
		return c, err
	}
	c.Size, c.Note, c.Created = uint64(size), []byte(note), time.UnixMicro(created).UTC()
	return c, nil
}

func (db *DB) findCheckpoint(ctx context.Context, query string, args ...any) (*auditlog.Checkpoint, error) {
	c, err := scanCheckpoint(db.pool.QueryRow(ctx, `SELECT `+checkpointColumns+` FROM checkpoints `+query, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "no such checkpoint")
	}
	if err != nil {
		return nil, storeError("find checkpoint", err)
	}
	return &c, nil
}

// LatestCheckpoint returns the checkpoint of the largest tree.
func (db *DB) LatestCheckpoint(ctx context.Context) (*auditlog.Checkpoint, error) {
	return db.findCheckpoint(ctx, `ORDER BY tree_size DESC LIMIT 1`)
}

// FindCheckpoint returns the checkpoint of the given size.
func (db *DB) FindCheckpoint(ctx context.Context, size uint64) (*auditlog.Checkpoint, error) {
	c, err := db.findCheckpoint(ctx, `WHERE tree_size = $1`, int64(size))
	if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "no checkpoint was published for tree size %d", size)
	}
	return c, err
}

// Checkpoints lists every checkpoint by increasing size.
func (db *DB) Checkpoints(ctx context.Context) ([]auditlog.Checkpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+checkpointColumns+` FROM checkpoints ORDER BY tree_size`)
	if err != nil {
		return nil, storeError("list checkpoints", err)
	}
	defer rows.Close()
	var out []auditlog.Checkpoint
	for rows.Next() {
		c, err := scanCheckpoint(rows)
		if err != nil {
			return nil, storeError("list checkpoints", err)
		}
		out = append(out, c)
	}
	return out, storeError("list checkpoints", rows.Err())
}
