package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
	"github.com/auditlog/auditlog/tlog"
)

// querier is what tree reads need: the database, a connection or a transaction.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// treeSize is the number of leaves in the tree.
func treeSize(ctx context.Context, q querier) (uint64, error) {
	var size int64
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(idx) + 1, 0) FROM tree_nodes WHERE level = 0`).Scan(&size)
	return uint64(size), err
}

// loadTree reads the tree's border from its stored nodes.
func loadTree(ctx context.Context, q querier) (*tlog.Tree, error) {
	size, err := treeSize(ctx, q)
	if err != nil {
		return nil, err
	}
	border, err := fetchNodes(ctx, q, tlog.BorderNodes(size))
	if err != nil {
		return nil, err
	}
	return tlog.NewTree(size, border)
}

func fetchNodes(ctx context.Context, q querier, ids []auditlog.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		err := q.QueryRowContext(ctx, `SELECT hash FROM tree_nodes WHERE level = ? AND idx = ?`, id.Level, id.Index).Scan(&out[i])
		if errors.Is(err, sql.ErrNoRows) {
			return nil, auditlog.Errorf(auditlog.ENOTFOUND, "tree node (%d, %d) is not in the tree", id.Level, id.Index)
		}
		if err != nil {
			return nil, storeError("read tree node", err)
		}
	}
	return out, nil
}

// readTx runs fn in a read-only transaction: one snapshot for all its reads.
func (db *DB) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storeError("begin read", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// TreeHead returns the size and root hash of the tree as of now.
func (db *DB) TreeHead(ctx context.Context) (auditlog.TreeHead, error) {
	var head auditlog.TreeHead
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		tree, err := loadTree(ctx, tx)
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
	var out [][]byte
	err := db.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = fetchNodes(ctx, tx, ids)
		return err
	})
	return out, err
}

// StreamLeafHashes calls fn with the stored leaf hashes from index from on.
func (db *DB) StreamLeafHashes(ctx context.Context, from uint64, fn func(index uint64, hash []byte) error) error {
	rows, err := db.read.QueryContext(ctx, `SELECT idx, hash FROM tree_nodes WHERE level = 0 AND idx >= ? ORDER BY idx`, from)
	if err != nil {
		return storeError("read leaves", err)
	}
	defer rows.Close()
	for rows.Next() {
		var index uint64
		var hash []byte
		if err := rows.Scan(&index, &hash); err != nil {
			return storeError("read leaves", err)
		}
		if err := fn(index, hash); err != nil {
			return err
		}
	}
	return storeError("read leaves", rows.Err())
}

// catchUpTree adds the leaves of the activities recorded before the tree
// existed (a store from before migration 0002), and of no other: every write
// since records its leaves in its own transaction.
func (db *DB) catchUpTree(ctx context.Context) error {
	for {
		done, err := db.catchUpBatch(ctx, 10000)
		if err != nil || done {
			return err
		}
	}
}

func (db *DB) catchUpBatch(ctx context.Context, n int) (done bool, err error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	tree, err := loadTree(ctx, tx)
	if err != nil {
		return false, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlstore.ActivityColumns+` FROM activities
		WHERE id > ? AND id <= (SELECT upto FROM tree_backfill) ORDER BY id LIMIT ?`, tree.Size(), n)
	if err != nil {
		return false, err
	}
	var leaves [][]byte
	for rows.Next() {
		a, err := scanActivity(rows)
		if err != nil {
			rows.Close()
			return false, err
		}
		if uint64(a.ID) != tree.Size()+uint64(len(leaves))+1 {
			rows.Close()
			return false, fmt.Errorf("activity %d follows leaf %d: ids must be contiguous to build the tree", a.ID, tree.Size()+uint64(len(leaves)))
		}
		leaf, err := tlog.ActivityLeafHash(&a)
		if err != nil {
			rows.Close()
			return false, err
		}
		leaves = append(leaves, leaf)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	if len(leaves) == 0 {
		return true, nil
	}
	for _, leaf := range leaves {
		var nodeErr error
		tree.Append(leaf, func(id auditlog.NodeID, hash []byte) {
			if nodeErr == nil {
				_, nodeErr = tx.ExecContext(ctx, `INSERT INTO tree_nodes (level, idx, hash) VALUES (?, ?, ?)`, id.Level, id.Index, hash)
			}
		})
		if nodeErr != nil {
			return false, nodeErr
		}
	}
	return false, tx.Commit()
}
