package postgres

import (
	"context"

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
