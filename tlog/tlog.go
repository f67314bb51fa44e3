// Package tlog makes the audit log tamper-evident: every activity is a leaf
// of an RFC 6962 / RFC 9162 Merkle tree in recording order, and signed
// checkpoints (C2SP tlog-checkpoint signed notes) commit to the tree's size
// and root hash. It holds the leaf encoding, the tree's right border, proofs
// and signatures, and uses transparency-dev/merkle and golang.org/x/mod's
// note package for all of it. It never imports the stores or the HTTP API.
package tlog

import (
	"bytes"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/auditlog/auditlog"
)

// hasher is RFC 6962's SHA-256 tree hasher.
var hasher = rfc6962.DefaultHasher

// EmptyRoot is the root hash of the empty tree.
func EmptyRoot() []byte { return hasher.EmptyRoot() }

// Tree is the right border of a tree: the roots of the perfect subtrees
// that cover its leaves, enough to append leaves and compute the root hash.
// It is the tree a verifier recomputes; the stores keep theirs in tiles
// (TiledTree).
type Tree struct {
	r *compact.Range
}

func factory() *compact.RangeFactory {
	return &compact.RangeFactory{Hash: hasher.HashChildren}
}

// NewTree returns the empty tree.
func NewTree() *Tree { return &Tree{r: factory().NewEmptyRange(0)} }

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.r.End() }

// Append adds a leaf.
func (t *Tree) Append(leafHash []byte) error { return t.r.Append(leafHash, nil) }

// Root returns the root hash.
func (t *Tree) Root() []byte { return rootOf(t.r) }

// rootOf returns the root hash of a range that begins at leaf 0.
func rootOf(r *compact.Range) []byte {
	if r.End() == 0 {
		return EmptyRoot()
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(err) // a range that begins at 0 always has a root
	}
	return root
}

// NodeFetcher returns the stored hashes of the given nodes, in order.
type NodeFetcher func(ids []auditlog.NodeID) ([][]byte, error)

// InclusionProof builds the proof that leaf index is in the tree of size.
func InclusionProof(index, size uint64, fetch NodeFetcher) ([][]byte, error) {
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, err
	}
	return rehash(nodes, fetch)
}

// ConsistencyProof builds the proof that the tree of size1 is a prefix of
// the tree of size2.
func ConsistencyProof(size1, size2 uint64, fetch NodeFetcher) ([][]byte, error) {
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, err
	}
	return rehash(nodes, fetch)
}

func rehash(nodes proof.Nodes, fetch NodeFetcher) ([][]byte, error) {
	if len(nodes.IDs) == 0 {
		return [][]byte{}, nil
	}
	hashes, err := fetch(fromCompact(nodes.IDs))
	if err != nil {
		return nil, err
	}
	if len(hashes) != len(nodes.IDs) {
		return nil, fmt.Errorf("fetched %d of %d proof nodes", len(hashes), len(nodes.IDs))
	}
	return nodes.Rehash(hashes, hasher.HashChildren)
}

// VerifyInclusion checks an inclusion proof against a root hash.
func VerifyInclusion(index, size uint64, leafHash []byte, hashes [][]byte, root []byte) error {
	return proof.VerifyInclusion(hasher, index, size, leafHash, hashes, root)
}

// VerifyConsistency checks a consistency proof between two root hashes.
func VerifyConsistency(size1, size2 uint64, hashes [][]byte, root1, root2 []byte) error {
	return proof.VerifyConsistency(hasher, size1, size2, hashes, root1, root2)
}

func fromCompact(ids []compact.NodeID) []auditlog.NodeID {
	out := make([]auditlog.NodeID, len(ids))
	for i, id := range ids {
		out[i] = auditlog.NodeID{Level: id.Level, Index: id.Index}
	}
	return out
}

// SameHash reports whether two hashes are equal.
func SameHash(a, b []byte) bool { return bytes.Equal(a, b) }
