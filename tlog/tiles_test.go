package tlog

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	sumdb "golang.org/x/mod/sumdb/tlog"

	"github.com/auditlog/auditlog"
)

// referenceTiles builds the tree of n leaves with golang.org/x/mod's tlog
// package, an independent implementation of the same tiles, and returns a
// reader of its tiles of height 8 and its root.
func referenceTiles(t *testing.T, leaves [][]byte) (func(TileID, int) []byte, []byte) {
	t.Helper()
	var stored []sumdb.Hash
	read := sumdb.HashReaderFunc(func(idx []int64) ([]sumdb.Hash, error) {
		out := make([]sumdb.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, leaf := range leaves {
		hs, err := sumdb.StoredHashesForRecordHash(int64(i), sumdb.Hash(leaf), read)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	root, err := sumdb.TreeHash(int64(len(leaves)), read)
	if err != nil {
		t.Fatal(err)
	}
	tile := func(id TileID, width int) []byte {
		data, err := sumdb.ReadTileData(sumdb.Tile{H: TileHeight, L: int(id.Level), N: int64(id.Index), W: width}, read)
		if err != nil {
			t.Fatalf("reference tile %d/%d.p/%d: %v", id.Level, id.Index, width, err)
		}
		return data
	}
	return tile, root[:]
}

func testLeaves(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = LeafHash([]byte(fmt.Sprint("leaf ", i)))
	}
	return out
}

func TestTilesAreThoseOfTheSumdbTileFormat(t *testing.T) {
	// Past 65,536 leaves the tree has a tile of level 2.
	const n = 66_000
	leaves := testLeaves(n)
	ref, refRoot := referenceTiles(t, leaves)

	// Appended in batches of random sizes, with the changed tiles written
	// after each, as a store's commits write them.
	tree, err := NewTiledTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[TileID]Tile{}
	writes := map[TileID]int{}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < n; {
		batch := min(1+rng.IntN(700), n-i)
		for _, leaf := range leaves[i : i+batch] {
			if err := tree.Append(leaf); err != nil {
				t.Fatal(err)
			}
		}
		i += batch
		for _, tile := range tree.Changes() {
			if old, ok := stored[tile.TileID]; ok {
				if old.Width() == TileWidth {
					t.Fatalf("full tile %d/%d written again", tile.Level, tile.Index)
				}
				if !bytes.HasPrefix(tile.Hashes, old.Hashes) {
					t.Fatalf("tile %d/%d rewritten with another prefix", tile.Level, tile.Index)
				}
			}
			stored[tile.TileID] = tile
			writes[tile.TileID]++
		}
		// The tiles stored are enough to load the tree at this size.
		if rng.IntN(20) == 0 {
			ids, _ := EdgeTiles(uint64(i))
			edge := make([]Tile, len(ids))
			for k, id := range ids {
				edge[k] = stored[id]
			}
			loaded, err := NewTiledTree(uint64(i), edge)
			if err != nil {
				t.Fatalf("load at %d: %v", i, err)
			}
			if !bytes.Equal(loaded.Root(), tree.Root()) {
				t.Fatalf("the tree loaded at %d has another root", i)
			}
		}
	}
	if !bytes.Equal(tree.Root(), refRoot) {
		t.Fatal("the root differs from the reference implementation's")
	}
	for _, rt := range sumdb.NewTiles(TileHeight, 0, n) {
		id := TileID{Level: uint(rt.L), Index: uint64(rt.N)}
		got, ok := stored[id]
		if !ok {
			t.Fatalf("tile %d/%d was never written", id.Level, id.Index)
		}
		if got.Width() != rt.W || !bytes.Equal(got.Hashes, ref(id, rt.W)) {
			t.Fatalf("tile %d/%d: width %d, want %d, or other hashes", id.Level, id.Index, got.Width(), rt.W)
		}
	}
	if len(stored) != len(sumdb.NewTiles(TileHeight, 0, n)) {
		t.Fatalf("%d tiles stored, the reference has %d", len(stored), len(sumdb.NewTiles(TileHeight, 0, n)))
	}
	// 66,000 leaves in about 190 commits write each full tile once.
	if w := writes[TileID{Level: 0, Index: 0}]; w > 3 {
		t.Fatalf("the first tile was written %d times", w)
	}
}

func TestNodeHashesComeFromTheirTile(t *testing.T) {
	const n = 1000
	m := newMemTree()
	for _, leaf := range testLeaves(n) {
		m.append(leaf)
	}
	// Every node of the reference tree, checked through the RFC 6962 root
	// of the leaves it covers.
	leaves := testLeaves(n)
	for level := uint(0); level <= 9; level++ {
		for index := uint64(0); (index+1)<<level <= n; index++ {
			id := auditlog.NodeID{Level: level, Index: index}
			tile, _, _ := TileOfNode(id)
			got, err := NodeHash(id, m.tile(tile))
			if err != nil {
				t.Fatalf("node (%d, %d): %v", level, index, err)
			}
			sub := NewTree()
			for _, leaf := range leaves[index<<level : (index+1)<<level] {
				if err := sub.Append(leaf); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, sub.Root()) {
				t.Fatalf("node (%d, %d) has the wrong hash", level, index)
			}
		}
	}
	// A node whose leaves are not all there yet is not found.
	for _, id := range []auditlog.NodeID{{Level: 0, Index: n}, {Level: 3, Index: n / 8}, {Level: 10, Index: 0}} {
		tile, _, _ := TileOfNode(id)
		if _, err := NodeHash(id, m.tile(tile)); auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
			t.Errorf("node (%d, %d) beyond the tree: %v, want ENOTFOUND", id.Level, id.Index, err)
		}
	}
}

func TestATreeIsNotLoadedFromTilesThatAreTooShort(t *testing.T) {
	m := newMemTree()
	for _, leaf := range testLeaves(300) {
		m.append(leaf)
	}
	ids, _ := EdgeTiles(300)
	short := []Tile{m.tile(ids[0]), m.tile(ids[1])}
	short[0].Hashes = short[0].Hashes[:HashSize*10] // 300 needs 44 hashes of tile 0/1
	if _, err := NewTiledTree(300, short); err == nil {
		t.Fatal("a tree was loaded from a tile that lacks hashes")
	}
	if _, err := NewTiledTree(300, short[:1]); err == nil {
		t.Fatal("a tree was loaded without one of its edge tiles")
	}
}
