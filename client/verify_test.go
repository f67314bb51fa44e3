package client

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// memTree is a tree built by golang.org/x/mod/sumdb/tlog, the oracle of
// this package's proof checks.
type memTree struct {
	hashes []tlog.Hash
	leaves int64
}

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memTree) add(t *testing.T, leaf []byte) {
	h, err := tlog.StoredHashes(m.leaves, leaf, m)
	if err != nil {
		t.Fatal(err)
	}
	m.hashes = append(m.hashes, h...)
	m.leaves++
}

func bytesOf(proof []tlog.Hash) [][]byte {
	out := make([][]byte, len(proof))
	for i, h := range proof {
		out[i] = h[:]
	}
	return out
}

func TestProofChecksAgreeWithSumdbTlog(t *testing.T) {
	m := &memTree{}
	const leaves = 300
	for i := range leaves {
		m.add(t, fmt.Appendf(nil, "leaf %d", i))
		if got := leafHash(fmt.Appendf(nil, "leaf %d", i)); got != sha256.Sum256(append([]byte{0}, fmt.Appendf(nil, "leaf %d", i)...)) || tlog.RecordHash(fmt.Appendf(nil, "leaf %d", i)) != got {
			t.Fatal("leafHash differs from RFC 9162's")
		}
	}
	root := func(n int64) [sha256.Size]byte {
		h, err := tlog.TreeHash(n, m)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	for range 2000 {
		size := 1 + rng.Int64N(leaves)
		index := rng.Int64N(size)
		proof, err := tlog.ProveRecord(size, index, m)
		if err != nil {
			t.Fatal(err)
		}
		leaf := tlog.RecordHash(fmt.Appendf(nil, "leaf %d", index))
		if err := checkInclusion(bytesOf(proof), uint64(index), uint64(size), leaf, root(size)); err != nil {
			t.Fatalf("inclusion of %d in %d: %v", index, size, err)
		}
		other := tlog.RecordHash(fmt.Appendf(nil, "leaf %d", (index+1)%leaves))
		if checkInclusion(bytesOf(proof), uint64(index), uint64(size), other, root(size)) == nil {
			t.Fatalf("inclusion of another leaf at %d in %d verified", index, size)
		}
		if len(proof) > 0 {
			bad := bytesOf(proof)
			bad[rng.IntN(len(bad))] = make([]byte, sha256.Size)
			if checkInclusion(bad, uint64(index), uint64(size), leaf, root(size)) == nil {
				t.Fatalf("a corrupted inclusion proof of %d in %d verified", index, size)
			}
			if checkInclusion(bytesOf(proof[:len(proof)-1]), uint64(index), uint64(size), leaf, root(size)) == nil {
				t.Fatalf("a cut inclusion proof of %d in %d verified", index, size)
			}
		}

		second := 1 + rng.Int64N(leaves)
		first := 1 + rng.Int64N(second)
		cproof, err := tlog.ProveTree(second, first, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkConsistency(bytesOf(cproof), uint64(first), uint64(second), root(first), root(second)); err != nil {
			t.Fatalf("consistency of %d and %d: %v", first, second, err)
		}
		if first < second {
			if checkConsistency(bytesOf(cproof), uint64(first), uint64(second), root(first), root(second-1)) == nil {
				t.Fatalf("consistency of %d and %d verified with another second root", first, second)
			}
			bad := bytesOf(cproof)
			bad[rng.IntN(len(bad))] = make([]byte, sha256.Size)
			if checkConsistency(bad, uint64(first), uint64(second), root(first), root(second)) == nil {
				t.Fatalf("a corrupted consistency proof of %d and %d verified", first, second)
			}
		}
	}
}

func TestCheckpointSignaturesAgreeWithSumdbNote(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "audit.example/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root"))
	text := fmt.Sprintf("audit.example/log\n42\n%s\n", tlog.Hash(root).String())
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := New(Config{URL: "http://127.0.0.1:1"})
	v, err := c.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.open(signed)
	if err != nil || cp.Size != 42 || cp.Root != root || cp.Origin != "audit.example/log" {
		t.Fatalf("open: %+v %v", cp, err)
	}
	// A cosignature by another key is ignored; a forged text is caught.
	wkey, _, _ := note.GenerateKey(rand.Reader, "witness.example/w")
	wsigner, _ := note.NewSigner(wkey)
	both, err := note.Sign(&note.Note{Text: text}, signer, wsigner)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.open(both); err != nil {
		t.Fatalf("a checkpoint with a second signature: %v", err)
	}
	forged := []byte(strings.Replace(string(signed), "\n42\n", "\n43\n", 1))
	if _, err := v.open(forged); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a forged checkpoint: %v", err)
	}
	_, otherKey, _ := note.GenerateKey(rand.Reader, "audit.example/log")
	other, _ := c.NewVerifier(otherKey)
	if _, err := other.open(signed); err == nil || !strings.Contains(err.Error(), "no signature by audit.example/log") {
		t.Fatalf("a checkpoint signed by another key of the same name: %v", err)
	}
	for _, bad := range []string{"", "name", vkey[:len(vkey)-2], strings.Replace(vkey, "+", "x+", 1)} {
		if _, err := c.NewVerifier(bad); err == nil || !strings.Contains(err.Error(), "verifier key") {
			t.Fatalf("verifier key %q: %v", bad, err)
		}
	}
}

func TestTileIndexPathsFollowTlogTiles(t *testing.T) {
	for n, want := range map[uint64]string{0: "000", 7: "007", 999: "999", 1000: "x001/000", 1234067: "x001/x234/067"} {
		if got := tileIndexPath(n); got != want {
			t.Errorf("tile %d: %s, want %s", n, got, want)
		}
	}
}
