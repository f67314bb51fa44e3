package tlog

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/testonly"

	"github.com/auditlog/auditlog"
)

func dh(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// memTree is a tree kept in tiles in memory, as a store keeps them.
type memTree struct {
	tree  *TiledTree
	tiles map[TileID]Tile
	roots [][]byte // roots[n] is the root of the first n leaves
}

func newMemTree() *memTree {
	t, err := NewTiledTree(0, nil)
	if err != nil {
		panic(err)
	}
	return &memTree{tree: t, tiles: map[TileID]Tile{}, roots: [][]byte{EmptyRoot()}}
}

func (m *memTree) append(leafHash []byte) {
	if err := m.tree.Append(leafHash); err != nil {
		panic(err)
	}
	for _, t := range m.tree.Changes() {
		m.tiles[t.TileID] = t
	}
	m.roots = append(m.roots, m.tree.Root())
}

func (m *memTree) tile(id TileID) Tile {
	if t, ok := m.tiles[id]; ok {
		return t
	}
	return Tile{TileID: id}
}

func (m *memTree) fetch(ids []auditlog.NodeID) ([][]byte, error) {
	out := make([][]byte, len(ids))
	for i, id := range ids {
		tile, _, _ := TileOfNode(id)
		h, err := NodeHash(id, m.tile(tile))
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// The RFC 6962 test vectors, as published with Certificate Transparency and
// transparency-dev/merkle: proofs for the tree of testonly.LeafInputs().
var (
	inclusionVectors = []struct {
		index, size uint64
		proof       [][]byte
	}{
		{0, 1, nil},
		{0, 8, [][]byte{dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"), dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
		{5, 8, [][]byte{dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"), dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"), dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
		{2, 3, [][]byte{dh("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")}},
		{1, 5, [][]byte{dh("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"), dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
	}
	consistencyVectors = []struct {
		size1, size2 uint64
		proof        [][]byte
	}{
		{1, 1, nil},
		{1, 8, [][]byte{dh("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"), dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")}},
		{6, 8, [][]byte{dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"), dh("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"), dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
		{2, 5, [][]byte{dh("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"), dh("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")}},
		{6, 7, [][]byte{dh("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"), dh("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"), dh("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")}},
	}
)

func vectorTree(t *testing.T) *memTree {
	m := newMemTree()
	for i, leaf := range testonly.LeafInputs() {
		m.append(LeafHash(leaf))
		if want := testonly.RootHashes()[i+1]; !bytes.Equal(m.roots[i+1], want) {
			t.Fatalf("root of %d leaves = %x, want %x", i+1, m.roots[i+1], want)
		}
	}
	return m
}

func TestTreeMatchesRFC6962Vectors(t *testing.T) {
	m := vectorTree(t)
	if !bytes.Equal(m.roots[0], testonly.EmptyRootHash()) {
		t.Fatalf("empty root %x", m.roots[0])
	}
	for _, v := range inclusionVectors {
		got, err := InclusionProof(v.index, v.size, m.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if !equalHashes(got, v.proof) {
			t.Errorf("inclusion proof of %d in %d = %x, want %x", v.index, v.size, got, v.proof)
		}
		if err := VerifyInclusion(v.index, v.size, LeafHash(testonly.LeafInputs()[v.index]), got, m.roots[v.size]); err != nil {
			t.Errorf("inclusion proof of %d in %d does not verify: %v", v.index, v.size, err)
		}
	}
	for _, v := range consistencyVectors {
		got, err := ConsistencyProof(v.size1, v.size2, m.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if !equalHashes(got, v.proof) {
			t.Errorf("consistency proof %d→%d = %x, want %x", v.size1, v.size2, got, v.proof)
		}
		if err := VerifyConsistency(v.size1, v.size2, got, m.roots[v.size1], m.roots[v.size2]); err != nil {
			t.Errorf("consistency proof %d→%d does not verify: %v", v.size1, v.size2, err)
		}
	}
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// forgeries returns every proof one small change away from p.
func forgeries(p [][]byte) map[string][][]byte {
	out := map[string][][]byte{
		"an extra hash":       append(clone(p), dh("abacaba000000000000000000000000000000000000000000060061e00123456")),
		"an empty hash added": append(clone(p), []byte{}),
	}
	if len(p) > 0 {
		out["the last hash dropped"] = clone(p)[:len(p)-1]
		out["the first hash dropped"] = clone(p)[1:]
		out["the last hash repeated"] = append(clone(p), p[len(p)-1])
	}
	for i := range p {
		f := clone(p)
		f[i] = append([]byte(nil), f[i]...)
		f[i][i%len(f[i])] ^= 1
		out[fmt.Sprintf("hash %d with a bit flipped", i)] = f
		if i > 0 {
			s := clone(p)
			s[i], s[i-1] = s[i-1], s[i]
			out[fmt.Sprintf("hashes %d and %d swapped", i-1, i)] = s
		}
	}
	return out
}

func clone(p [][]byte) [][]byte { return append([][]byte(nil), p...) }

func TestForgedProofsAreRejected(t *testing.T) {
	m := vectorTree(t)
	for _, v := range inclusionVectors {
		leaf := LeafHash(testonly.LeafInputs()[v.index])
		for name, f := range forgeries(v.proof) {
			if equalHashes(f, v.proof) {
				continue
			}
			if VerifyInclusion(v.index, v.size, leaf, f, m.roots[v.size]) == nil {
				t.Errorf("inclusion of %d in %d accepted a proof with %s", v.index, v.size, name)
			}
		}
		if v.size > 1 && VerifyInclusion((v.index+1)%v.size, v.size, leaf, v.proof, m.roots[v.size]) == nil {
			t.Errorf("inclusion of %d in %d accepted at another index", v.index, v.size)
		}
		if VerifyInclusion(v.index, v.size, LeafHash([]byte("forged")), v.proof, m.roots[v.size]) == nil {
			t.Errorf("inclusion of %d in %d accepted another leaf", v.index, v.size)
		}
	}
	for _, v := range consistencyVectors {
		for name, f := range forgeries(v.proof) {
			if equalHashes(f, v.proof) {
				continue
			}
			if VerifyConsistency(v.size1, v.size2, f, m.roots[v.size1], m.roots[v.size2]) == nil {
				t.Errorf("consistency %d→%d accepted a proof with %s", v.size1, v.size2, name)
			}
		}
		if v.size1 != v.size2 {
			// The classic bug: accepting a proof between a root and a rewritten history.
			if VerifyConsistency(v.size1, v.size2, v.proof, m.roots[v.size1], LeafHash([]byte("rewritten"))) == nil {
				t.Errorf("consistency %d→%d accepted a rewritten newer root", v.size1, v.size2)
			}
			if VerifyConsistency(v.size1, v.size2, v.proof, LeafHash([]byte("rewritten")), m.roots[v.size2]) == nil {
				t.Errorf("consistency %d→%d accepted a rewritten older root", v.size1, v.size2)
			}
		}
	}
	if VerifyConsistency(3, 3, [][]byte{m.roots[3]}, m.roots[3], m.roots[3]) == nil {
		t.Error("a non-empty proof between equal sizes was accepted")
	}
	if VerifyConsistency(3, 3, nil, m.roots[3], m.roots[4]) == nil {
		t.Error("two different roots of one size were accepted as consistent")
	}
}

func TestProofsOfRandomTreesVerifyAndBordersResume(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := newMemTree()
	for i := 0; i < 300; i++ {
		m.append(LeafHash([]byte(fmt.Sprint("leaf ", i))))
	}
	for range 200 {
		size := 1 + rng.Uint64N(300)
		index := rng.Uint64N(size)
		p, err := InclusionProof(index, size, m.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyInclusion(index, size, LeafHash([]byte(fmt.Sprint("leaf ", index))), p, m.roots[size]); err != nil {
			t.Fatalf("inclusion %d in %d: %v", index, size, err)
		}
		size1 := 1 + rng.Uint64N(size)
		c, err := ConsistencyProof(size1, size, m.fetch)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyConsistency(size1, size, c, m.roots[size1], m.roots[size]); err != nil {
			t.Fatalf("consistency %d→%d: %v", size1, size, err)
		}
	}
	// A tree loaded from its stored edge tiles goes on exactly as the
	// original (the tiles stored are those of size 300, wider than needed).
	for _, size := range []uint64{0, 1, 2, 7, 64, 127, 200, 256, 257} {
		ids, _ := EdgeTiles(size)
		tiles := make([]Tile, len(ids))
		for i, id := range ids {
			tiles[i] = m.tile(id)
		}
		tree, err := NewTiledTree(size, tiles)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tree.Root(), m.roots[size]) {
			t.Fatalf("the tree loaded at size %d has another root", size)
		}
		for i := size; i < 300; i++ {
			if err := tree.Append(LeafHash([]byte(fmt.Sprint("leaf ", i)))); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(tree.Root(), m.roots[300]) {
			t.Fatalf("a tree resumed at %d ends at another root", size)
		}
	}
}

func TestCheckpointsAreSignedAndChecked(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "checkpoint.key")
	skey, created, err := LoadOrCreateKey(path, "example.com/audit")
	if err != nil || !created {
		t.Fatalf("create key: %v %v", created, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreateKey(path, "other")
	if err != nil || created || again != skey {
		t.Fatal("a second load did not return the same key")
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.VerifierKey, "example.com/audit+") {
		t.Fatalf("verifier key %q", s.VerifierKey)
	}
	root := dh("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
	signed, err := s.Sign(8, root)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(signed), "\n")
	if lines[0] != "example.com/audit" || lines[1] != "8" || lines[2] != base64.StdEncoding.EncodeToString(root) || lines[3] != "" ||
		!strings.HasPrefix(lines[4], "— example.com/audit ") {
		t.Fatalf("checkpoint not in the C2SP form:\n%s", signed)
	}
	v, err := NewVerifier(s.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	size, gotRoot, err := OpenCheckpoint(signed, v)
	if err != nil || size != 8 || !bytes.Equal(gotRoot, root) {
		t.Fatalf("open: %d %x %v", size, gotRoot, err)
	}
	other, _ := GenerateKey("example.com/audit")
	os2, _ := NewSigner(other)
	ov, _ := NewVerifier(os2.VerifierKey)
	for name, bad := range map[string][]byte{
		"a changed size":       bytes.Replace(signed, []byte("\n8\n"), []byte("\n9\n"), 1),
		"a changed root":       bytes.Replace(signed, []byte("XcnaeacG"), []byte("YcnaeacG"), 1),
		"no signature":         []byte(strings.Join(lines[:4], "\n") + "\n"),
		"a truncated note":     signed[:len(signed)/2],
		"another log's origin": bytes.Replace(signed, []byte("example.com/audit\n"), []byte("example.com/other\n"), 1),
	} {
		if _, _, err := OpenCheckpoint(bad, v); err == nil {
			t.Errorf("a checkpoint with %s was accepted", name)
		}
	}
	if _, _, err := OpenCheckpoint(signed, ov); err == nil {
		t.Error("a checkpoint was accepted under another key of the same name")
	}
}

func TestLeafDataIsTheCanonicalJSONOfTheActivity(t *testing.T) {
	a := auditlog.Activity{
		ID: 1042, Created: time.Date(2026, 11, 26, 9, 14, 3, 123456000, time.UTC), Operator: auditlog.OperatorHuman,
		Username: "jdoe", DisplayName: "Edit Permission Group", SystemName: "EDIT_PERMISSION_GROUP",
		Extra: json.RawMessage(`{"browser":"Firefox 131"}`), ObjectID: "17", ObjectType: "PermissionGroup", ObjectName: "Keyers <é>",
		Changes: []auditlog.Change{{ColumnName: "permissions", OldValue: "read", NewValue: "read,write"}},
	}
	got, err := LeafData(&a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"activity_display_name":"Edit Permission Group","activity_subtype_display_name":"","activity_subtype_system_name":"",` +
		`"activity_system_name":"EDIT_PERMISSION_GROUP","created":"2026-11-26T09:14:03.123456Z","extra":{"browser":"Firefox 131"},` +
		`"id":1042,"object_column_changes":[{"column_name":"permissions","new_value":"read,write","old_value":"read"}],` +
		`"object_id":"17","object_name":"Keyers <é>","object_type":"PermissionGroup","operator":"human","username":"jdoe"}`
	if string(got) != want {
		t.Fatalf("leaf data\n got %s\nwant %s", got, want)
	}
	if oracle := apiLeafData(t, &a); string(oracle) != want {
		t.Fatalf("the canonical JSON of the API form\n got %s\nwant %s", oracle, want)
	}
}

func FuzzOpenCheckpoint(f *testing.F) {
	skey, _ := GenerateKey("example.com/audit")
	s, _ := NewSigner(skey)
	v, _ := NewVerifier(s.VerifierKey)
	signed, _ := s.Sign(8, dh("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"))
	f.Add(signed)
	f.Add([]byte("example.com/audit\n8\nAAAA\n\n— example.com/audit AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		size, root, err := OpenCheckpoint(data, v)
		if err == nil && !bytes.Equal(data, signed) {
			// Only a note that carries a valid signature opens.
			resigned, _ := s.Sign(size, root)
			if !bytes.Equal(resigned[:bytes.LastIndex(resigned, []byte("\n\n"))], data[:bytes.LastIndex(data, []byte("\n\n"))]) {
				t.Fatalf("opened a checkpoint whose body was not signed: %q", data)
			}
		}
	})
}

func FuzzVerifyProofs(f *testing.F) {
	m := newMemTree()
	for _, leaf := range testonly.LeafInputs() {
		m.append(LeafHash(leaf))
	}
	f.Add(uint64(0), uint64(8), []byte{}, uint8(3))
	f.Add(uint64(5), uint64(8), bytes.Repeat([]byte{7}, 96), uint8(3))
	f.Fuzz(func(t *testing.T, a, b uint64, raw []byte, n uint8) {
		size := b%8 + 1
		index := a % size
		var p [][]byte
		for i := 0; i < int(n%10) && len(raw) >= 32*(i+1); i++ {
			p = append(p, raw[32*i:32*(i+1)])
		}
		real, _ := InclusionProof(index, size, m.fetch)
		if VerifyInclusion(index, size, LeafHash(testonly.LeafInputs()[index]), p, m.roots[size]) == nil && !equalHashes(p, real) {
			t.Fatalf("accepted a forged inclusion proof %x for %d in %d", p, index, size)
		}
		size1 := a%size + 1
		realC, _ := ConsistencyProof(size1, size, m.fetch)
		if VerifyConsistency(size1, size, p, m.roots[size1], m.roots[size]) == nil && !equalHashes(p, realC) {
			t.Fatalf("accepted a forged consistency proof %x for %d→%d", p, size1, size)
		}
	})
}

func FuzzVerifyBundle(f *testing.F) {
	skey, _ := GenerateKey("example.com/audit")
	s, _ := NewSigner(skey)
	v, _ := NewVerifier(s.VerifierKey)
	m := newMemTree()
	leafJSON := []byte(`{"id":1,"x":"a"}`)
	m.append(LeafHash(leafJSON))
	note, _ := s.Sign(1, m.roots[1])
	var buf bytes.Buffer
	bw, _ := NewBundleWriter(&buf, BundleHeader{Checkpoint: string(note), VerifierKey: s.VerifierKey})
	bw.Write(BundleEntry{Activity: leafJSON, LeafIndex: 0, Hashes: [][]byte{}})
	bw.Close()
	valid := buf.Bytes()
	if _, err := VerifyBundle(bytes.NewReader(valid), v); err != nil {
		f.Fatalf("the seed bundle does not verify: %v", err)
	}
	f.Add(valid)
	f.Add([]byte(`{"activities":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		report, err := VerifyBundle(bytes.NewReader(data), v)
		if err != nil || report.Activities == 0 {
			return
		}
		// Whatever verifies must carry the one signed activity, unchanged in value.
		if !bytes.Contains(data, []byte(`"x"`)) {
			t.Fatalf("a bundle without the signed activity verified: %q", data)
		}
	})
}

func TestDeriveKeyIsStablePerKeyAndPurpose(t *testing.T) {
	k1, _ := GenerateKey("example.com/a")
	k2, _ := GenerateKey("example.com/a")
	s1, _ := NewSigner(k1)
	again, _ := NewSigner(k1 + "\n")
	s2, _ := NewSigner(k2)
	a := s1.DeriveKey("device cookies")
	if len(a) != 32 || !bytes.Equal(a, again.DeriveKey("device cookies")) {
		t.Fatalf("one key derives %x and %x", a, again.DeriveKey("device cookies"))
	}
	if bytes.Equal(a, s1.DeriveKey("other")) || bytes.Equal(a, s2.DeriveKey("device cookies")) {
		t.Fatal("another purpose or another key derives the same secret")
	}
}
