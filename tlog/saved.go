package tlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/auditlog/auditlog"
	"golang.org/x/mod/sumdb/note"
)

// SavedCheckpointFile is the saved checkpoint's name in a data directory,
// beside the signing key.
const SavedCheckpointFile = "checkpoint.latest"

// SavedCheckpoint is a file outside the store that holds the latest
// checkpoint the service signed (the signed note, as GET
// /api/v1/checkpoint serves it), so that whoever can write to the
// database cannot make the service forget what it signed: the stored tree
// must extend it before anything else is signed or recorded.
type SavedCheckpoint struct {
	Path string
}

// Load returns the saved checkpoint, opened with v; nil when none is saved.
func (s SavedCheckpoint) Load(v note.Verifier) (*auditlog.Checkpoint, error) {
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the saved checkpoint: %w", err)
	}
	size, root, err := OpenCheckpoint(b, v)
	if err != nil {
		return nil, fmt.Errorf("the checkpoint saved in %s is not one of this log's: %w", s.Path, err)
	}
	return &auditlog.Checkpoint{TreeHead: auditlog.TreeHead{Size: size, Root: root}, Note: b}, nil
}

// Save replaces the saved checkpoint with signed, atomically: a crash
// leaves either the old file or the new one, each whole. The file is
// readable by its owner only.
func (s SavedCheckpoint) Save(signed []byte) error {
	dir := filepath.Dir(s.Path)
	tmp, err := os.CreateTemp(dir, filepath.Base(s.Path)+".*")
	if err != nil {
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	if _, err := tmp.Write(signed); err != nil {
		tmp.Close()
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.Path); err != nil {
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("save the checkpoint: %w", err)
	}
	return nil
}
