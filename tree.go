package auditlog

import (
	"context"
	"time"
)

// NodeID names a node of the Merkle tree: level 0 holds the leaves; the
// node (level, index) covers leaves [index·2^level, (index+1)·2^level).
type NodeID struct {
	Level uint
	Index uint64
}

// TreeHead is the size and root hash of the log's Merkle tree.
type TreeHead struct {
	Size uint64
	Root []byte
}

// Checkpoint is a signed commitment to a tree head, kept forever.
type Checkpoint struct {
	TreeHead
	// Note is the C2SP signed note: origin, size, base64 root, signature.
	Note    []byte
	Created time.Time
}

// TreeService keeps the Merkle tree of the log (written with the
// activities, in the same transaction) and its checkpoints.
type TreeService interface {
	// TreeHead returns the current size and root hash.
	TreeHead(ctx context.Context) (TreeHead, error)
	// TreeNodes returns the stored hashes of complete subtrees, in order;
	// ENOTFOUND when one is not (yet) in the tree.
	TreeNodes(ctx context.Context, ids []NodeID) ([][]byte, error)
	// TileHashes returns the hashes the stored tile (level, index) of the
	// tree holds, as C2SP tlog-tiles of height 8 lay them out: up to 256
	// hashes of 32 bytes, fewer in the partial tile at the tree's right
	// edge; ENOTFOUND when the tree has none of them yet.
	TileHashes(ctx context.Context, level uint, index uint64) ([]byte, error)
	// StreamLeafHashes calls fn with the stored leaf hashes from index from on, in order.
	StreamLeafHashes(ctx context.Context, from uint64, fn func(index uint64, hash []byte) error) error
	// AddCheckpoint stores a checkpoint; one that exists for the size is left as it is.
	AddCheckpoint(ctx context.Context, c Checkpoint) error
	// LatestCheckpoint returns the checkpoint of the largest tree; ENOTFOUND when none.
	LatestCheckpoint(ctx context.Context) (*Checkpoint, error)
	// FindCheckpoint returns the checkpoint of the given tree size; ENOTFOUND when none.
	FindCheckpoint(ctx context.Context, size uint64) (*Checkpoint, error)
	// Checkpoints lists every checkpoint by increasing size.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	// RefuseWrites makes every later write of the store fail, with
	// EUNAVAILABLE and reason's message, until the process starts anew:
	// the stored tree no longer extends what was signed.
	RefuseWrites(reason error)
}

// Cosignature is a witness's cosignature of the log's checkpoint of a
// tree size: a signed-note signature line ("— <name> <base64>"), which a
// verifier appends to the checkpoint's note.
type Cosignature struct {
	Witness string
	Size    uint64
	Line    string
}

// WitnessState is what the log knows of one witness.
type WitnessState struct {
	Witness string
	// Size is the size of the latest checkpoint the witness cosigned, as
	// far as the log knows (0 before the first).
	Size uint64
	// LastError is why the last submission failed, "" when it succeeded.
	LastError string
	Updated   time.Time
}

// WitnessService keeps the witnesses' cosignatures and states.
type WitnessService interface {
	// AddCosignature stores a cosignature and records that its witness
	// cosigned the checkpoint of its size, with no error.
	AddCosignature(ctx context.Context, c Cosignature) error
	// SetWitnessState records a witness's size and last error.
	SetWitnessState(ctx context.Context, s WitnessState) error
	// WitnessStates lists the witnesses the log has submitted to, by name.
	WitnessStates(ctx context.Context) ([]WitnessState, error)
	// Cosignatures returns the cosignatures of the checkpoint of a size.
	Cosignatures(ctx context.Context, size uint64) ([]Cosignature, error)
}
