package main

import (
	"flag"
	"os"
	"path/filepath"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// keyFlags locate the log's checkpoint signing key.
type keyFlags struct {
	file   string
	origin string
}

// keyFileName is the signing key's file in the data directory.
const keyFileName = "checkpoint.key"

func (kf *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&kf.file, "signing-key-file", os.Getenv("AUDITLOG_SIGNING_KEY_FILE"),
		"Ed25519 checkpoint signing key in signed-note form (env AUDITLOG_SIGNING_KEY_FILE; default DATA/"+keyFileName+", created on first start; AUDITLOG_SIGNING_KEY may hold the key itself)")
	fs.StringVar(&kf.origin, "log-origin", os.Getenv("AUDITLOG_LOG_ORIGIN"),
		"the log's name in its checkpoints, used when the key is created (env AUDITLOG_LOG_ORIGIN; default auditlog/<random>)")
}

func (kf *keyFlags) path(sf *storeFlags) string {
	if kf.file != "" {
		return kf.file
	}
	return filepath.Join(sf.data, keyFileName)
}

// signer returns the log's signer: the key from AUDITLOG_SIGNING_KEY, or
// from the key file, which is created (mode 0600) when create is set and it
// does not exist.
func (kf *keyFlags) signer(sf *storeFlags, create bool) (*tlog.Signer, bool, error) {
	if skey := os.Getenv("AUDITLOG_SIGNING_KEY"); skey != "" {
		s, err := tlog.NewSigner(skey)
		if err != nil {
			return nil, false, auditlog.FieldErrorf("AUDITLOG_SIGNING_KEY", "AUDITLOG_SIGNING_KEY: %v", err)
		}
		return s, false, nil
	}
	path := kf.path(sf)
	if !create {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, false, auditlog.FieldErrorf("--signing-key-file", "read the signing key: %v", err)
		}
		s, err := tlog.NewSigner(string(b))
		return s, false, err
	}
	skey, created, err := tlog.LoadOrCreateKey(path, kf.origin)
	if err != nil {
		return nil, false, auditlog.FieldErrorf("--signing-key-file", "signing key %s: %v", path, err)
	}
	s, err := tlog.NewSigner(skey)
	if err != nil {
		return nil, false, auditlog.FieldErrorf("--signing-key-file", "signing key %s: %v", path, err)
	}
	return s, created, nil
}

// savedCheckpoint is where the service keeps the latest checkpoint it
// signed: in the data directory, for PostgreSQL too (each node's own).
func (sf *storeFlags) savedCheckpoint() tlog.SavedCheckpoint {
	return tlog.SavedCheckpoint{Path: filepath.Join(sf.data, tlog.SavedCheckpointFile)}
}
