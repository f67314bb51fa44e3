package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// This file checks what a server returns against the checkpoints it
// signed, with the standard library only: the C2SP signed-note and
// tlog-checkpoint formats, the RFC 9162 proof checks, and the C2SP
// tlog-tiles entry bundles that hold each activity's leaf. Its tests check
// it against golang.org/x/mod/sumdb (note and tlog) and a real server.

// Checkpoint is a checkpoint whose signature has been verified.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   [sha256.Size]byte
	// Note is the signed note as served, cosignatures included.
	Note []byte
}

// ErrNotInLog is the error of a verification that failed: the server
// returned something the signed log does not commit to.
var ErrNotInLog = errors.New("auditlog: not what the signed log holds")

// VerifyActivity checks that activity id, as the server returns it, is
// the leaf that a checkpoint signed by verifierKey (the log's verifier key,
// obtained through a channel the caller trusts) commits to. It waits for a
// checkpoint that covers the activity (one is signed within about a second
// of recording) until ctx ends.
func (c *Client) VerifyActivity(ctx context.Context, id int64, verifierKey string) error {
	v, err := c.NewVerifier(verifierKey)
	if err != nil {
		return err
	}
	_, err = v.VerifyActivity(ctx, id)
	return err
}

// Verifier checks a server's answers against its signed checkpoints and
// remembers the latest checkpoint it verified: every newer one must be
// proved consistent with it, so a server that rewrites its history, or
// shows this verifier another history than before, is caught. It is safe
// for concurrent use.
type Verifier struct {
	c   *Client
	key verifierKey
	mu  sync.Mutex
	// last is the newest checkpoint verified; nil before the first.
	last *Checkpoint
}

// NewVerifier returns a verifier of the log signed by verifierKey
// (<name>+<hex key hash>+<base64 key>, as `auditlog serve` prints it).
func (c *Client) NewVerifier(verifierKey string) (*Verifier, error) {
	k, err := parseVerifierKey(verifierKey)
	if err != nil {
		return nil, err
	}
	return &Verifier{c: c, key: k}, nil
}

// Trust makes the verifier start from a checkpoint saved earlier (such as
// Checkpoint().Note of a previous run): later ones must extend it.
func (v *Verifier) Trust(signedNote []byte) error {
	cp, err := v.open(signedNote)
	if err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.last = &cp
	return nil
}

// Latest returns the newest checkpoint the verifier verified, or nil.
func (v *Verifier) Latest() *Checkpoint {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last == nil {
		return nil
	}
	cp := *v.last
	return &cp
}

// Checkpoint fetches the server's latest checkpoint, verifies its
// signature, proves it consistent with the newest one verified before,
// and remembers it.
func (v *Verifier) Checkpoint(ctx context.Context) (Checkpoint, error) {
	signed, err := v.c.Checkpoint(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	cp, err := v.open(signed)
	if err != nil {
		return Checkpoint{}, err
	}
	v.mu.Lock()
	last := v.last
	v.mu.Unlock()
	if last != nil {
		if cp.Size < last.Size {
			return Checkpoint{}, fmt.Errorf("%w: the log shrank: it serves a checkpoint of size %d after one of size %d", ErrNotInLog, cp.Size, last.Size)
		}
		var proof [][]byte
		if cp.Size > last.Size && last.Size > 0 {
			proof, err = v.c.Consistency(ctx, last.Size, cp.Size)
			var refused *Error
			if errors.As(err, &refused) && !refused.Temporary() {
				// The log signed the smaller tree, and this server cannot
				// prove it grew from it: it serves another history.
				return Checkpoint{}, fmt.Errorf("%w: the log forked: it cannot prove its tree of size %d extends the one of size %d verified before (%v)", ErrNotInLog, cp.Size, last.Size, err)
			}
			if err != nil {
				return Checkpoint{}, err
			}
		}
		if err := checkConsistency(proof, last.Size, cp.Size, last.Root, cp.Root); err != nil {
			return Checkpoint{}, fmt.Errorf("%w: the log forked: its tree of size %d does not extend the one of size %d verified before (%v)", ErrNotInLog, cp.Size, last.Size, err)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last == nil || cp.Size >= v.last.Size {
		v.last = &cp
	}
	return cp, nil
}

// VerifyActivity fetches activity id, its leaf and its inclusion proof,
// and checks them against a verified checkpoint that covers it (waiting
// for one until ctx ends). It returns the activity.
func (v *Verifier) VerifyActivity(ctx context.Context, id int64) (RecordedActivity, error) {
	if id <= 0 {
		return RecordedActivity{}, fmt.Errorf("auditlog: activity id %d: ids start at 1", id)
	}
	var cp Checkpoint
	for {
		var err error
		if cp, err = v.Checkpoint(ctx); err != nil {
			return RecordedActivity{}, err
		}
		if cp.Size >= uint64(id) {
			break
		}
		select {
		case <-ctx.Done():
			return RecordedActivity{}, fmt.Errorf("auditlog: activity %d is not covered by the latest checkpoint (size %d): %w", id, cp.Size, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	index := uint64(id - 1)
	served, err := v.c.callBytes(ctx, "/api/v1/activities/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return RecordedActivity{}, err
	}
	leaf, err := v.c.entry(ctx, index, cp.Size)
	if err != nil {
		return RecordedActivity{}, err
	}
	if err := sameActivity(served, leaf); err != nil {
		return RecordedActivity{}, fmt.Errorf("%w: activity %d as served is not its leaf: %v", ErrNotInLog, id, err)
	}
	proof, err := v.c.Proof(ctx, id, cp.Size)
	if err != nil {
		return RecordedActivity{}, err
	}
	hash := leafHash(leaf)
	if proof.LeafIndex != index || proof.TreeSize != cp.Size || !bytes.Equal(proof.LeafHash, hash[:]) {
		return RecordedActivity{}, fmt.Errorf("%w: activity %d: the proof is of leaf %d in the tree of size %d with another leaf hash", ErrNotInLog, id, proof.LeafIndex, proof.TreeSize)
	}
	if err := checkInclusion(proof.Hashes, index, cp.Size, hash, cp.Root); err != nil {
		return RecordedActivity{}, fmt.Errorf("%w: activity %d is not in the tree of size %d signed by %s: %v", ErrNotInLog, id, cp.Size, v.key.name, err)
	}
	var a RecordedActivity
	if err := json.Unmarshal(served, &a); err != nil {
		return RecordedActivity{}, fmt.Errorf("auditlog: decoding activity %d: %w", id, err)
	}
	return a, nil
}

// open verifies a signed checkpoint's signature and reads it.
func (v *Verifier) open(signed []byte) (Checkpoint, error) {
	text, err := v.key.verify(signed)
	if err != nil {
		return Checkpoint{}, err
	}
	lines := strings.SplitN(string(text), "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, fmt.Errorf("%w: the checkpoint has no origin, size and root hash lines", ErrNotInLog)
	}
	cp := Checkpoint{Origin: lines[0], Note: signed}
	if cp.Origin != v.key.name {
		return Checkpoint{}, fmt.Errorf("%w: the checkpoint's origin %q is not the key's name %q", ErrNotInLog, cp.Origin, v.key.name)
	}
	if cp.Size, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		return Checkpoint{}, fmt.Errorf("%w: the checkpoint's size %q: %v", ErrNotInLog, lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sha256.Size {
		return Checkpoint{}, fmt.Errorf("%w: the checkpoint's root hash %q is not a base64 SHA-256 hash", ErrNotInLog, lines[2])
	}
	copy(cp.Root[:], root)
	return cp, nil
}

// verifierKey is a signed-note Ed25519 verifier key.
type verifierKey struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func parseVerifierKey(s string) (verifierKey, error) {
	bad := func(why string) (verifierKey, error) {
		return verifierKey{}, fmt.Errorf("auditlog: verifier key %q: %s (want <name>+<hex key hash>+<base64 key>)", s, why)
	}
	name, rest, ok1 := strings.Cut(strings.TrimSpace(s), "+")
	hashHex, keyB64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || name == "" || strings.ContainsAny(name, " \t\n+") {
		return bad("malformed")
	}
	h, err := hex.DecodeString(hashHex)
	if err != nil || len(h) != 4 {
		return bad("the key hash is not 8 hex digits")
	}
	key, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 1 {
		return bad("the key is not a base64 Ed25519 key (algorithm 1)")
	}
	k := verifierKey{name: name, hash: binary.BigEndian.Uint32(h), key: ed25519.PublicKey(key[1:])}
	if k.hash != keyHash(name, key) {
		return bad("the key hash does not match the name and key")
	}
	return k, nil
}

// keyHash is a signed-note key's hash: the first four bytes of
// SHA-256(name || "\n" || algorithm byte || key).
func keyHash(name string, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// verify checks a signed note's signature by this key and returns its
// text. Other signatures (witnesses' cosignatures) are ignored.
func (k verifierKey) verify(msg []byte) ([]byte, error) {
	split := bytes.LastIndex(msg, []byte("\n\n"))
	if split < 0 {
		return nil, fmt.Errorf("%w: the checkpoint is not a signed note", ErrNotInLog)
	}
	text, sigs := msg[:split+1], msg[split+2:]
	for _, line := range strings.Split(strings.TrimSuffix(string(sigs), "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		if !ok {
			return nil, fmt.Errorf("%w: the checkpoint's signature line %q is malformed", ErrNotInLog, line)
		}
		name, b64, _ := strings.Cut(rest, " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if name != k.name || err != nil || len(sig) != 4+ed25519.SignatureSize || binary.BigEndian.Uint32(sig) != k.hash {
			continue
		}
		if !ed25519.Verify(k.key, text, sig[4:]) {
			return nil, fmt.Errorf("%w: the checkpoint's signature by %s does not verify", ErrNotInLog, k.name)
		}
		return text, nil
	}
	return nil, fmt.Errorf("%w: the checkpoint carries no signature by %s", ErrNotInLog, k.name)
}

// leafKeys are the keys of a leaf (../spec: "what a leaf is"); a leaf
// recorded before provenance was kept lacks recorded_by.
var leafKeys = []string{"id", "created", "operator", "username", "activity_system_name", "activity_display_name",
	"activity_subtype_system_name", "activity_subtype_display_name", "extra", "object_id", "object_type",
	"object_name", "object_column_changes", "recorded_by"}

// sameActivity checks that the activity as served holds exactly the
// leaf's values: every leaf key with the same JSON value, and no leaf key
// the leaf lacks.
func sameActivity(served, leaf []byte) error {
	var a, l map[string]any
	for _, d := range []struct {
		what string
		data []byte
		into *map[string]any
	}{{"the activity", served, &a}, {"the leaf", leaf, &l}} {
		dec := json.NewDecoder(bytes.NewReader(d.data))
		dec.UseNumber()
		if err := dec.Decode(d.into); err != nil {
			return fmt.Errorf("%s is not a JSON object: %v", d.what, err)
		}
	}
	if len(l) > len(leafKeys) {
		return fmt.Errorf("the leaf has %d keys, more than the %d of the format", len(l), len(leafKeys))
	}
	for _, k := range leafKeys {
		av, inA := a[k]
		lv, inL := l[k]
		if inA != inL || !reflect.DeepEqual(av, lv) {
			return fmt.Errorf("%s is %v in the activity and %v in the leaf", k, av, lv)
		}
	}
	return nil
}

// entry fetches leaf index of the tree of the given size from the C2SP
// tlog-tiles entry bundle that holds it.
func (c *Client) entry(ctx context.Context, index, size uint64) ([]byte, error) {
	n := index / 256
	path := "/tlog/tile/entries/" + tileIndexPath(n)
	if w := size - n*256; w < 256 {
		path += ".p/" + strconv.FormatUint(w, 10)
	}
	bundle, err := c.callBytes(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); ; i++ {
		if len(bundle) < 2 {
			return nil, fmt.Errorf("%w: the entry bundle %s ends before entry %d", ErrNotInLog, path, index)
		}
		l := int(binary.BigEndian.Uint16(bundle))
		if len(bundle) < 2+l {
			return nil, fmt.Errorf("%w: the entry bundle %s is cut in entry %d", ErrNotInLog, path, n*256+i)
		}
		if n*256+i == index {
			return bundle[2 : 2+l], nil
		}
		bundle = bundle[2+l:]
	}
}

// tileIndexPath encodes a tile index as C2SP tlog-tiles says: three-digit
// path elements, all but the last prefixed with x (1234067 is
// x001/x234/067).
func tileIndexPath(n uint64) string {
	elems := []string{fmt.Sprintf("%03d", n%1000)}
	for n >= 1000 {
		n /= 1000
		elems = append([]string{fmt.Sprintf("x%03d", n%1000)}, elems...)
	}
	return strings.Join(elems, "/")
}

// leafHash is RFC 9162's hash of a leaf: SHA-256(0x00 || leaf).
func leafHash(leaf []byte) [sha256.Size]byte {
	return sha256.Sum256(append([]byte{0}, leaf...))
}

// nodeHash is RFC 9162's hash of an interior node.
func nodeHash(left, right []byte) [sha256.Size]byte {
	b := make([]byte, 0, 1+2*sha256.Size)
	b = append(append(append(b, 1), left...), right...)
	return sha256.Sum256(b)
}

// checkInclusion verifies an inclusion proof (RFC 9162, 2.1.3.2).
func checkInclusion(proof [][]byte, index, size uint64, leaf, root [sha256.Size]byte) error {
	if index >= size {
		return fmt.Errorf("leaf %d is beyond the tree of size %d", index, size)
	}
	fn, sn, r := index, size-1, leaf
	for _, p := range proof {
		if len(p) != sha256.Size {
			return errors.New("a proof hash is not a SHA-256 hash")
		}
		if sn == 0 {
			return errors.New("the proof is too long")
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r[:])
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r[:], p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return errors.New("the proof is too short")
	}
	if r != root {
		return errors.New("the proof leads to another root")
	}
	return nil
}

// checkConsistency verifies a consistency proof between the trees of
// sizes first and second (RFC 9162, 2.1.4.2).
func checkConsistency(proof [][]byte, first, second uint64, firstRoot, secondRoot [sha256.Size]byte) error {
	switch {
	case first > second:
		return fmt.Errorf("the first tree (%d) is larger than the second (%d)", first, second)
	case first == second:
		if len(proof) != 0 || firstRoot != secondRoot {
			return errors.New("the trees have the same size and different roots")
		}
		return nil
	case first == 0:
		return nil // every tree extends the empty one
	case len(proof) == 0:
		return errors.New("the proof is empty")
	}
	for _, p := range proof {
		if len(p) != sha256.Size {
			return errors.New("a proof hash is not a SHA-256 hash")
		}
	}
	if first&(first-1) == 0 { // a power of two: the first root is a node of the second tree
		proof = append([][]byte{firstRoot[:]}, proof...)
	}
	fn, sn := first-1, second-1
	for fn&1 == 1 {
		fn >>= 1
		sn >>= 1
	}
	var fr, sr [sha256.Size]byte
	copy(fr[:], proof[0])
	copy(sr[:], proof[0])
	for _, c := range proof[1:] {
		if sn == 0 {
			return errors.New("the proof is too long")
		}
		if fn&1 == 1 || fn == sn {
			fr = nodeHash(c, fr[:])
			sr = nodeHash(c, sr[:])
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			sr = nodeHash(sr[:], c)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return errors.New("the proof is too short")
	}
	if fr != firstRoot || sr != secondRoot {
		return errors.New("the proof leads to other roots")
	}
	return nil
}
