package tlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/gowebpki/jcs"
	"golang.org/x/mod/sumdb/note"
)

// A bundle carries activities with their inclusion proofs and the signed
// checkpoint the proofs lead to, so that they can be checked offline with
// nothing but the log's verifier key:
//
//	{"checkpoint": "<signed note>", "verifier_key": "<key>",
//	 "activities": [{"activity": {...}, "leaf_index": 0, "hashes": ["<base64>", ...]}, ...]}
//
// Each activity is exactly the detail endpoint's JSON: its leaf is the
// RFC 8785 form of that object.

// BundleHeader is what precedes the activities of a bundle.
type BundleHeader struct {
	Checkpoint  string `json:"checkpoint"`
	VerifierKey string `json:"verifier_key"`
}

// BundleEntry is one activity with its inclusion proof.
type BundleEntry struct {
	Activity  json.RawMessage `json:"activity"`
	LeafIndex uint64          `json:"leaf_index"`
	Hashes    [][]byte        `json:"hashes"`
}

// BundleWriter streams a bundle.
type BundleWriter struct {
	w     io.Writer
	count int
}

// NewBundleWriter writes the header of a bundle to w.
func NewBundleWriter(w io.Writer, h BundleHeader) (*BundleWriter, error) {
	head, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	// The header object is left open for the activities array.
	if _, err := w.Write(append(head[:len(head)-1], []byte(`,"activities":[`)...)); err != nil {
		return nil, err
	}
	return &BundleWriter{w: w}, nil
}

// Write adds one activity.
func (b *BundleWriter) Write(e BundleEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	sep := "\n"
	if b.count > 0 {
		sep = ",\n"
	}
	b.count++
	_, err = b.w.Write(append([]byte(sep), line...))
	return err
}

// Close ends the bundle.
func (b *BundleWriter) Close() error {
	_, err := b.w.Write([]byte("\n]}\n"))
	return err
}

// BundleReport is what VerifyBundle found.
type BundleReport struct {
	Size       uint64 // the checkpoint's tree size
	Activities int    // activities checked
	// Checkpoint is the bundle's signed checkpoint, with the cosignatures
	// it carries.
	Checkpoint []byte
}

// VerifyBundle checks every activity of a bundle against the bundle's
// checkpoint, whose signature is checked with v. It reads the bundle as a
// stream and stops at the first activity that does not verify.
func VerifyBundle(r io.Reader, v note.Verifier) (*BundleReport, error) {
	dec := json.NewDecoder(r)
	expect := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil || tok != want {
			return fmt.Errorf("bundle: expected %q", want)
		}
		return nil
	}
	if err := expect('{'); err != nil {
		return nil, err
	}
	var checkpoint []byte
	report := &BundleReport{}
	var root []byte
	seenActivities := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("bundle: %w", err)
		}
		switch tok {
		case "checkpoint":
			var s string
			if err := dec.Decode(&s); err != nil {
				return nil, fmt.Errorf("bundle: checkpoint: %w", err)
			}
			checkpoint = []byte(s)
			report.Checkpoint = checkpoint
			if report.Size, root, err = OpenCheckpoint(checkpoint, v); err != nil {
				return nil, fmt.Errorf("bundle: %w", err)
			}
		case "verifier_key":
			var s string
			if err := dec.Decode(&s); err != nil {
				return nil, fmt.Errorf("bundle: verifier_key: %w", err)
			}
		case "activities":
			if checkpoint == nil {
				return nil, fmt.Errorf("bundle: the checkpoint must come before the activities")
			}
			seenActivities = true
			if err := expect('['); err != nil {
				return nil, err
			}
			for dec.More() {
				var e BundleEntry
				if err := dec.Decode(&e); err != nil {
					return nil, fmt.Errorf("bundle: activity %d: %w", report.Activities, err)
				}
				if err := verifyEntry(e, report.Size, root); err != nil {
					return nil, err
				}
				report.Activities++
			}
			if err := expect(']'); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("bundle: unknown key %v", tok)
		}
	}
	if err := expect('}'); err != nil {
		return nil, err
	}
	if !seenActivities {
		return nil, fmt.Errorf("bundle: no activities")
	}
	return report, nil
}

// verifyEntry checks one activity: its id is its leaf index plus one, and
// its leaf, computed from its JSON alone, is in the signed tree.
func verifyEntry(e BundleEntry, size uint64, root []byte) error {
	var head struct {
		ID *int64 `json:"id"`
	}
	if err := json.Unmarshal(e.Activity, &head); err != nil || head.ID == nil {
		return fmt.Errorf("bundle: an activity without an id at leaf %d", e.LeafIndex)
	}
	if uint64(*head.ID) != e.LeafIndex+1 {
		return fmt.Errorf("activity %d: it claims leaf %d, but activity n is leaf n-1", *head.ID, e.LeafIndex)
	}
	canonical, err := jcs.Transform(bytes.TrimSpace(e.Activity))
	if err != nil {
		return fmt.Errorf("activity %d: %w", *head.ID, err)
	}
	if err := VerifyInclusion(e.LeafIndex, size, LeafHash(canonical), e.Hashes, root); err != nil {
		return fmt.Errorf("activity %d does not verify against the checkpoint of size %d: it was altered or does not belong to this log: %w", *head.ID, size, err)
	}
	return nil
}
