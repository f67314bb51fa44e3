package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// The Merkle tree is stored as C2SP tlog-tiles (tlog/tiles.go) in the
// table tiles (level, idx, hashes): a full tile is written once, the
// partial tile at the right edge of each level again by each commit that
// grows it.

// TreeSize reads the tree's size from its level-0 tiles: 256 leaves in each
// tile but the last, and the last's width.
func TreeSize(ctx context.Context, q Querier) (uint64, error) {
	var idx, bytes int64
	err := q.QueryRow(ctx, `SELECT idx, length(hashes) FROM tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1`).Scan(&idx, &bytes)
	if errors.Is(err, ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the tree size: %w", err)
	}
	return uint64(idx)*tlog.TileWidth + uint64(bytes)/tlog.HashSize, nil
}

// readTile returns the stored tile, with no hashes when there is none.
func readTile(ctx context.Context, q Querier, id tlog.TileID) (tlog.Tile, error) {
	t := tlog.Tile{TileID: id}
	err := q.QueryRow(ctx, `SELECT hashes FROM tiles WHERE level = $1 AND idx = $2`, int64(id.Level), int64(id.Index)).Scan(&t.Hashes)
	if err != nil && !errors.Is(err, ErrNoRows) {
		return t, fmt.Errorf("read tile %d/%d: %w", id.Level, id.Index, err)
	}
	return t, nil
}

// TileHashes returns the hashes of one stored tile.
func (db *Shared) TileHashes(ctx context.Context, level uint, index uint64) ([]byte, error) {
	t, err := readTile(ctx, db.Read, tlog.TileID{Level: level, Index: index})
	if err != nil {
		return nil, db.Wrap("read tile", err)
	}
	if len(t.Hashes) == 0 {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "the tree has no tile %d/%d", level, index)
	}
	return t.Hashes, nil
}

// LoadTree reads the tree as stored: its size, and its edge tiles.
func LoadTree(ctx context.Context, q Querier) (*tlog.TiledTree, error) {
	size, err := TreeSize(ctx, q)
	if err != nil {
		return nil, err
	}
	ids, _ := tlog.EdgeTiles(size)
	tiles := make([]tlog.Tile, len(ids))
	for i, id := range ids {
		if tiles[i], err = readTile(ctx, q, id); err != nil {
			return nil, err
		}
	}
	return tlog.NewTiledTree(size, tiles)
}

// WriteTiles stores tiles, each in place of the narrower one of its
// position, if any.
func WriteTiles(ctx context.Context, q Querier, tiles []tlog.Tile) error {
	for _, t := range tiles {
		if err := q.Exec(ctx, `INSERT INTO tiles (level, idx, hashes) VALUES ($1, $2, $3)
			ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes`, int64(t.Level), int64(t.Index), t.Hashes); err != nil {
			return fmt.Errorf("write tile %d/%d: %w", t.Level, t.Index, err)
		}
	}
	return nil
}

// TreeHead returns the size and root hash of the tree as of now.
func (db *Shared) TreeHead(ctx context.Context) (auditlog.TreeHead, error) {
	// No snapshot is needed: a tile read after a later commit holds the
	// same hashes and more, which LoadTree ignores.
	tree, err := LoadTree(ctx, db.Read)
	if err != nil {
		return auditlog.TreeHead{}, db.Wrap("tree head", err)
	}
	return auditlog.TreeHead{Size: tree.Size(), Root: tree.Root()}, nil
}

// TreeNodes returns the hashes of complete subtrees, each read from its
// tile (a tile is read once however many of the nodes it holds).
func (db *Shared) TreeNodes(ctx context.Context, ids []auditlog.NodeID) ([][]byte, error) {
	tiles := map[tlog.TileID]tlog.Tile{}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		tid, _, _ := tlog.TileOfNode(id)
		t, ok := tiles[tid]
		if !ok {
			var err error
			if t, err = readTile(ctx, db.Read, tid); err != nil {
				return nil, db.Wrap("read tree nodes", err)
			}
			tiles[tid] = t
		}
		h, err := tlog.NodeHash(id, t)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// StreamLeafHashes calls fn with the stored leaf hashes from index from on.
func (db *Shared) StreamLeafHashes(ctx context.Context, from uint64, fn func(index uint64, hash []byte) error) error {
	rows, err := db.Read.Query(ctx, `SELECT idx, hashes FROM tiles WHERE level = 0 AND idx >= $1 ORDER BY idx`, int64(from/tlog.TileWidth))
	if err != nil {
		return db.Wrap("read leaves", err)
	}
	defer rows.Close()
	next := from
	for rows.Next() {
		t := tlog.Tile{}
		var idx int64
		if err := rows.Scan(&idx, &t.Hashes); err != nil {
			return db.Wrap("read leaves", err)
		}
		first := uint64(idx) * tlog.TileWidth
		if first > next {
			return fmt.Errorf("read leaves: tile 0/%d follows leaf %d: the tiles before it are missing", idx, next)
		}
		for i := next - first; i < uint64(t.Width()); i++ {
			if err := fn(first+i, t.Hashes[i*tlog.HashSize:(i+1)*tlog.HashSize]); err != nil {
				return err
			}
			next = first + i + 1
		}
	}
	return db.Wrap("read leaves", rows.Err())
}

// MoveTreeToTiles stores as tiles the tree that a store of an earlier
// version kept otherwise: leaves is the query of its stored leaf hashes, in
// order. The tree is built from those hashes, never from activity rows.
func MoveTreeToTiles(ctx context.Context, tx Querier, leaves string) error {
	tree, err := tlog.NewTiledTree(0, nil)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, leaves)
	if err != nil {
		return fmt.Errorf("read the stored leaves: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hash []byte
		if err := rows.Scan(&hash); err != nil {
			return fmt.Errorf("read the stored leaves: %w", err)
		}
		if len(hash) != tlog.HashSize {
			return fmt.Errorf("stored leaf %d is %d bytes, not a hash", tree.Size(), len(hash))
		}
		if err := tree.Append(hash); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the stored leaves: %w", err)
	}
	rows.Close()
	return WriteTiles(ctx, tx, tree.Changes())
}
