package tlog

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/auditlog/auditlog"
)

// Signer signs checkpoints with the log's Ed25519 key. The key's name is
// the log's origin, the first line of every checkpoint.
type Signer struct {
	signer   note.Signer
	verifier note.Verifier
	skey     string
	// VerifierKey is the public key in signed-note form: <name>+<hash>+<base64>.
	VerifierKey string
}

// GenerateKey makes a new Ed25519 signing key named origin, in signed-note
// form ("PRIVATE+KEY+<name>+<hash>+<base64>").
func GenerateKey(origin string) (string, error) {
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	return skey, err
}

// DefaultOrigin names a new log: unique, so that checkpoints of two
// installations can never be confused.
func DefaultOrigin() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "auditlog/" + hex.EncodeToString(b)
}

// NewSigner reads a signing key in signed-note form.
func NewSigner(skey string) (*Signer, error) {
	signer, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	// The verifier key is derived from the signing key by the note package.
	vkey, err := verifierKeyOf(strings.TrimSpace(skey))
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	return &Signer{signer: signer, verifier: verifier, skey: strings.TrimSpace(skey), VerifierKey: vkey}, nil
}

// DeriveKey returns a 32-byte secret for another purpose (HKDF-SHA256 of
// the signing key, with purpose as its info), so that every node that
// holds the signing key derives the same secret and no other can.
func (s *Signer) DeriveKey(purpose string) []byte {
	key, err := hkdf.Key(sha256.New, []byte(s.skey), nil, "auditlog "+purpose, 32)
	if err != nil {
		panic(err) // only for an output length HKDF cannot give
	}
	return key
}

// LoadOrCreateKey reads the signing key at path, or creates one named
// origin there (mode 0600) when the file does not exist.
func LoadOrCreateKey(path, origin string) (skey string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", false, err
	}
	if origin == "" {
		origin = DefaultOrigin()
	}
	skey, err = GenerateKey(origin)
	if err != nil {
		return "", false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, err
	}
	if _, err := f.WriteString(skey + "\n"); err != nil {
		f.Close()
		return "", false, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", false, err
	}
	return skey, true, f.Close()
}

// Origin is the log's origin line.
func (s *Signer) Origin() string { return s.signer.Name() }

// Sign returns the signed checkpoint of a tree head.
func (s *Signer) Sign(size uint64, root []byte) ([]byte, error) {
	body := log.Checkpoint{Origin: s.signer.Name(), Size: size, Hash: root}.Marshal()
	return note.Sign(&note.Note{Text: string(body)}, s.signer)
}

// NewVerifier reads a verifier key in signed-note form.
func NewVerifier(vkey string) (note.Verifier, error) {
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return nil, fmt.Errorf("verifier key: %w", err)
	}
	return v, nil
}

// OpenCheckpoint checks a signed checkpoint against the verifier and
// returns what it commits to.
func OpenCheckpoint(signed []byte, v note.Verifier) (size uint64, root []byte, err error) {
	c, _, _, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint: %w", err)
	}
	return c.Size, c.Hash, nil
}

// verifierKeyOf derives the verifier key from an Ed25519 signing key in
// signed-note form: PRIVATE+KEY+<name>+<hash>+<base64(0x01 ‖ seed)>.
func verifierKeyOf(skey string) (string, error) {
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("signing key: not in signed-note form PRIVATE+KEY+<name>+<hash>+<key>")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("signing key: not an Ed25519 key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// WithCosignatures returns the checkpoint's signed note with the
// witnesses' cosignatures of it appended, as the service serves it and as
// any signed-note verifier given a witness's key reads it.
func WithCosignatures(ctx context.Context, ws auditlog.WitnessService, c *auditlog.Checkpoint) ([]byte, error) {
	cs, err := ws.Cosignatures(ctx, c.Size)
	if err != nil {
		return nil, err
	}
	signed := append([]byte{}, c.Note...)
	for _, cs := range cs {
		signed = append(signed, cs.Line...)
	}
	return signed, nil
}
