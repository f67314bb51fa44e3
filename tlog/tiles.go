package tlog

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"

	"github.com/auditlog/auditlog"
)

// The stores keep the tree as C2SP tlog-tiles do: in tiles of height 8.
// A tile of level 0 holds up to 256 leaf hashes; a tile of level L the
// hashes of up to 256 subtrees of 256^L leaves, the nodes at tree level
// 8·L. Tile N of a level holds that level's hashes 256·N to 256·N+255. A
// full tile never changes once written; only the partial tile at the right
// edge of each level is written again as the tree grows, and what it held
// stays its prefix. Any node of the tree is the root of a run of hashes of
// one tile.
const (
	// TileHeight is the height of a tile.
	TileHeight = 8
	// TileWidth is the number of hashes in a full tile.
	TileWidth = 1 << TileHeight
	// HashSize is the size of one hash.
	HashSize = 32
)

// TileID names a tile: its level and its index within the level.
type TileID struct {
	Level uint
	Index uint64
}

// Tile is a tile's hashes, concatenated: TileWidth of them in a full tile,
// fewer in a partial one.
type Tile struct {
	TileID
	Hashes []byte
}

// Width is the number of hashes the tile holds.
func (t Tile) Width() int { return len(t.Hashes) / HashSize }

// hash returns the tile's hash at position i.
func (t Tile) hash(i uint64) []byte { return t.Hashes[i*HashSize : (i+1)*HashSize] }

// EdgeTiles returns the tiles a tree of the given size is loaded from, and
// how many hashes of each it needs: the partial tile of each level.
func EdgeTiles(size uint64) ([]TileID, []int) {
	var ids []TileID
	var widths []int
	for level := uint(0); size>>(TileHeight*level) > 0; level++ {
		n := size >> (TileHeight * level)
		if w := int(n % TileWidth); w > 0 {
			ids = append(ids, TileID{Level: level, Index: n / TileWidth})
			widths = append(widths, w)
		}
	}
	return ids, widths
}

// TileOfNode returns the tile that holds the hashes under node id, the
// position of the first of them and how many there are (a power of two).
func TileOfNode(id auditlog.NodeID) (TileID, uint64, uint64) {
	level, height := id.Level/TileHeight, id.Level%TileHeight
	first := id.Index << height
	return TileID{Level: level, Index: first / TileWidth}, first % TileWidth, 1 << height
}

// NodeHash returns the hash of node id from the tile that TileOfNode names,
// or ENOTFOUND when the tile does not hold every hash under the node yet.
func NodeHash(id auditlog.NodeID, t Tile) ([]byte, error) {
	want, first, n := TileOfNode(id)
	if t.TileID != want {
		return nil, fmt.Errorf("node (%d, %d) is not in tile %d/%d", id.Level, id.Index, t.Level, t.Index)
	}
	if uint64(t.Width()) < first+n {
		return nil, auditlog.Errorf(auditlog.ENOTFOUND, "tree node (%d, %d) is not in the tree", id.Level, id.Index)
	}
	if n == 1 {
		return t.hash(first), nil
	}
	// A perfect subtree: its compact range is its root.
	r := factory().NewEmptyRange(0)
	for i := first; i < first+n; i++ {
		if err := r.Append(t.hash(i), nil); err != nil {
			return nil, err
		}
	}
	return r.GetRootHash(nil)
}

// TiledTree is the tree as the stores keep it: it appends leaves and tells
// which tiles the appends completed or changed. It holds only the right
// edge of the tree: the partial tile of each level and the border of
// perfect subtrees over the leaves.
type TiledTree struct {
	r *compact.Range
	// edge[L] is the tile of level L that the next hash of that level goes
	// into: never full.
	edge []Tile
	// completed are the tiles the appends since the last call of Changes
	// filled, in order; grown are the levels whose edge tile they grew.
	completed []Tile
	grown     map[uint]bool
}

// NewTiledTree returns the tree of the given size from its edge tiles: the
// tiles EdgeTiles names, each with at least the hashes it needs (a tile
// written by a later append holds more; the rest is ignored).
func NewTiledTree(size uint64, tiles []Tile) (*TiledTree, error) {
	ids, widths := EdgeTiles(size)
	if len(tiles) != len(ids) {
		return nil, fmt.Errorf("tree of size %d: %d edge tiles, want %d", size, len(tiles), len(ids))
	}
	t := &TiledTree{grown: map[uint]bool{}}
	for level := uint(0); size>>(TileHeight*level) > 0; level++ {
		n := size >> (TileHeight * level)
		t.edge = append(t.edge, Tile{TileID: TileID{Level: level, Index: n / TileWidth}})
	}
	for i, id := range ids {
		if tiles[i].TileID != id || tiles[i].Width() < widths[i] {
			return nil, auditlog.Errorf(auditlog.ENOTFOUND, "tree of size %d: tile %d/%d holds %d of the %d hashes it needs",
				size, id.Level, id.Index, tiles[i].Width(), widths[i])
		}
		t.edge[id.Level].Hashes = bytes.Clone(tiles[i].Hashes[:widths[i]*HashSize])
	}
	border := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(border))
	for i, n := range border {
		id := auditlog.NodeID{Level: n.Level, Index: n.Index}
		h, err := NodeHash(id, t.edge[n.Level/TileHeight])
		if err != nil {
			return nil, fmt.Errorf("tree of size %d: %w", size, err)
		}
		hashes[i] = h
	}
	r, err := factory().NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("tree of size %d: %w", size, err)
	}
	t.r = r
	return t, nil
}

// Size is the number of leaves.
func (t *TiledTree) Size() uint64 { return t.r.End() }

// Root returns the root hash.
func (t *TiledTree) Root() []byte { return rootOf(t.r) }

// Append adds a leaf.
func (t *TiledTree) Append(leafHash []byte) error {
	var tileErr error
	err := t.r.Append(leafHash, func(id compact.NodeID, hash []byte) {
		if id.Level%TileHeight != 0 || tileErr != nil {
			return
		}
		level := id.Level / TileHeight
		if level == uint(len(t.edge)) {
			t.edge = append(t.edge, Tile{TileID: TileID{Level: level}})
		}
		e := &t.edge[level]
		if id.Index != e.Index*TileWidth+uint64(e.Width()) {
			tileErr = fmt.Errorf("node (%d, %d) does not follow tile %d/%d of width %d", id.Level, id.Index, e.Level, e.Index, e.Width())
			return
		}
		e.Hashes = append(e.Hashes, hash...)
		t.grown[level] = true
		if e.Width() == TileWidth {
			t.completed = append(t.completed, *e)
			*e = Tile{TileID: TileID{Level: level, Index: e.Index + 1}}
		}
	})
	if err != nil {
		return err
	}
	return tileErr
}

// Changes returns the tiles to write since the last call: every tile the
// appends completed, and the partial tiles they grew, with all their
// hashes.
func (t *TiledTree) Changes() []Tile {
	out := t.completed
	t.completed = nil
	for level := range t.edge {
		if e := t.edge[level]; t.grown[uint(level)] && e.Width() > 0 {
			out = append(out, Tile{TileID: e.TileID, Hashes: bytes.Clone(e.Hashes)})
		}
	}
	clear(t.grown)
	return out
}
