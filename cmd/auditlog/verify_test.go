package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/sqlite"
	"github.com/auditlog/auditlog/tlog"
)

// signedLog makes a data directory with 60 activities (58 from the demo,
// and at 29 and 30 the first start's group and admin user) and signed
// checkpoints at sizes 30 and 60, written by real server processes.
func signedLog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, count := range []string{"28", "30"} {
		mustCLI(t, "demo", "--data", dir, "--count", count, "--seed", "3")
		startServer(t, dir).kill() // it signs the tree head when it starts
	}
	return dir
}

// copyLog copies a data directory so that each case tampers with its own.
func copyLog(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// tamper runs SQL on the database file behind the service's back, also
// while it serves (waiting for its write lock).
func tamper(t *testing.T, dir string, statements ...string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, sqlite.FileName)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range statements {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// releaf recomputes activity id's leaf as a forger would, so that the
// activity and its leaf agree again.
func releaf(t *testing.T, dir string, id int64) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := store.FindActivityByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := tlog.ActivityLeafHash(a)
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	db, err := sql.Open("sqlite3", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	index := id - 1
	if _, err := db.Exec(`UPDATE tiles SET hashes = CAST(substr(hashes, 1, ?) || ? || substr(hashes, ?) AS BLOB) WHERE level = 0 AND idx = ?`,
		index%tlog.TileWidth*tlog.HashSize, leaf, (index%tlog.TileWidth+1)*tlog.HashSize+1, index/tlog.TileWidth); err != nil {
		t.Fatal(err)
	}
}

// forgeTree makes the tree anew from the activities as they now are, as a
// forger who knows the format would, and throws the checkpoints away.
func forgeTree(t *testing.T, dir string) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := tlog.NewTiledTree(0, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = store.StreamActivities(context.Background(), auditlog.Filter{OldestFirst: true}, func(a *auditlog.Activity) error {
		leaf, err := tlog.ActivityLeafHash(a)
		if err != nil {
			return err
		}
		return tree.Append(leaf)
	})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", filepath.Join(dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{`DELETE FROM tiles`, `DELETE FROM checkpoints`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, tile := range tree.Changes() {
		if _, err := db.Exec(`INSERT INTO tiles (level, idx, hashes) VALUES (?, ?, ?)`, tile.Level, tile.Index, tile.Hashes); err != nil {
			t.Fatal(err)
		}
	}
}

func TestVerifyPassesOnAnIntactLog(t *testing.T) {
	dir := signedLog(t)
	out := mustCLI(t, "verify", "--data", dir)
	if !strings.Contains(out, "verified 60 activities") || !strings.Contains(out, "latest signed checkpoint: size 60") {
		t.Fatalf("verify printed %q", out)
	}
}

func TestVerifyNamesTheFirstActivityThatWasTamperedWith(t *testing.T) {
	signed := signedLog(t)
	cases := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string // in the error: the activity named and why
	}{
		{"an edited activity", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE activities SET username = 'mallory' WHERE id = 17`)
		}, "activity 17 was altered"},
		{"an activity passed off as the service's own", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE activities SET recorded_by = 'auditlog' WHERE id = 18`)
		}, "activity 18 was altered"},
		{"an activity's recorder erased, as if recorded before provenance", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE activities SET recorded_by = '' WHERE id = 19`)
		}, "activity 19 was altered"},
		{"an edited column change", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE activities SET object_column_changes = '[]' WHERE id = (SELECT min(id) FROM activities WHERE object_column_changes != '[]' AND id > 40)`)
		}, "was altered"},
		{"an edited activity whose leaf was forged to match", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE activities SET object_name = 'nothing to see' WHERE id = 40`)
			releaf(t, dir, 40)
		}, "activity 31: activities 31 to 60 do not match the saved checkpoint of size 60"},
		{"a deleted activity", func(t *testing.T, dir string) {
			tamper(t, dir, `DELETE FROM activities WHERE id = 23`)
		}, "activity 23 is missing"},
		{"a deleted activity and its leaf", func(t *testing.T, dir string) {
			tamper(t, dir, `DELETE FROM activities WHERE id = 23`, `UPDATE tiles SET hashes = CAST(substr(hashes, 1, 22 * 32) || substr(hashes, 23 * 32 + 1) AS BLOB) WHERE level = 0 AND idx = 0`)
		}, "activity 23"},
		{"two activities swapped", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE activities SET id = -30 WHERE id = 30`, `UPDATE activities SET id = 30 WHERE id = 31`, `UPDATE activities SET id = 31 WHERE id = -30`)
		}, "activity 30 was altered"},
		{"an activity inserted at the end", func(t *testing.T, dir string) {
			tamper(t, dir, `INSERT INTO activities (id, created_us, operator, username, activity_system_name, activity_display_name,
				subtype_system_name, subtype_display_name, extra, object_id, object_type, object_name, object_column_changes)
				SELECT 61, created_us, operator, username, activity_system_name, activity_display_name, subtype_system_name,
				subtype_display_name, extra, object_id, object_type, 'planted', object_column_changes FROM activities WHERE id = 5`)
		}, "activity 61 is not in the Merkle tree"},
		{"the newest activities cut off with their tree", func(t *testing.T, dir string) {
			tamper(t, dir, `DELETE FROM activities WHERE id > 55`, `UPDATE tiles SET hashes = substr(hashes, 1, 55 * 32) WHERE level = 0 AND idx = 0`)
		}, "activities 56 to 60 are missing"},
		{"the newest activities cut off, their leaves left", func(t *testing.T, dir string) {
			tamper(t, dir, `DELETE FROM activities WHERE id > 57`)
		}, "activity 58 is missing"},
		{"a checkpoint with a forged signature", func(t *testing.T, dir string) {
			tamper(t, dir, `UPDATE checkpoints SET note = replace(note, char(10) || '60' || char(10), char(10) || '61' || char(10)) WHERE tree_size = 60`)
		}, "does not carry a valid signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyLog(t, signed)
			c.tamper(t, dir)
			out, errOut, err := cli(t, "", "verify", "--data", dir)
			if err == nil {
				t.Fatalf("verify passed a tampered log:\n%s", out)
			}
			if msg := describe(err); !strings.Contains(msg, c.want) {
				t.Fatalf("verify said %q (details: %s); want it to name %q", msg, errOut, c.want)
			}
		})
	}
}

func TestASavedCheckpointCatchesHistoryRewrittenWithTheSigningKey(t *testing.T) {
	dir := signedLog(t)
	store, err := sqlite.Open(context.Background(), sqlite.Config{Dir: dir, Builtin: catalog.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := store.LatestCheckpoint(context.Background())
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	saved := filepath.Join(t.TempDir(), "checkpoint-60.txt")
	if err := os.WriteFile(saved, latest.Note, 0o600); err != nil {
		t.Fatal(err)
	}

	// Someone with the database and the signing key rewrites activity 10,
	// makes the tree anew to match and throws the checkpoints away; the
	// server then signs the forged tree.
	tamper(t, dir, `UPDATE activities SET username = 'nobody' WHERE id = 10`)
	forgeTree(t, dir)
	// They hold the data directory, so the checkpoint the service saved
	// there goes too; the auditor's copy elsewhere stays.
	if err := os.Remove(filepath.Join(dir, tlog.SavedCheckpointFile)); err != nil {
		t.Fatal(err)
	}
	startServer(t, dir).kill()
	if _, _, err := cli(t, "", "verify", "--data", dir); err != nil {
		t.Fatalf("the rewritten log does not even verify on its own terms: %v", err)
	}
	_, _, err = cli(t, "", "verify", "--data", dir, "--checkpoint", saved)
	if err == nil || !strings.Contains(describe(err), "do not match the saved checkpoint of size 60") {
		t.Fatalf("verify with the saved checkpoint: %v", err)
	}
}

func TestVerifyWithTheAuditorsOwnKey(t *testing.T) {
	dir := signedLog(t)
	other, _ := tlog.GenerateKey("impostor.example/log")
	s, _ := tlog.NewSigner(other)
	_, _, err := cli(t, "", "verify", "--data", dir, "--verifier-key", s.VerifierKey)
	if err == nil || !strings.Contains(describe(err), "of another log") || !strings.Contains(describe(err), `the key of log "impostor.example/log"`) {
		t.Fatalf("verify under another log's key: %v; want it to say the key is another log's, naming both", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := tlog.NewSigner(string(b))
	// A key that takes the log's name but is not its key: the signatures
	// fail, which is what a forger's checkpoints would do.
	forged, _ := tlog.GenerateKey(mine.Origin())
	fs, _ := tlog.NewSigner(forged)
	if _, _, err := cli(t, "", "verify", "--data", dir, "--verifier-key", fs.VerifierKey); err == nil || !strings.Contains(describe(err), "valid signature") {
		t.Fatalf("verify under a key with the log's name: %v", err)
	}
	out := mustCLI(t, "verify", "--data", dir, "--verifier-key", mine.VerifierKey)
	if !strings.Contains(out, "verified 60 activities") {
		t.Fatalf("verify with the log's own key printed %q", out)
	}
	info, err := os.Stat(filepath.Join(dir, keyFileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the signing key file has mode %v", info.Mode().Perm())
	}
}

func TestProofBundlesVerifyOfflineAndCatchEdits(t *testing.T) {
	dir := signedLog(t)
	b, err := os.ReadFile(filepath.Join(dir, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := tlog.NewSigner(string(b))
	bundle := filepath.Join(t.TempDir(), "humans.bundle.json")
	mustCLI(t, "export", "--data", dir, "--with-proofs", "--operator", "human", "--output", bundle)

	// Offline: no data directory, only the bundle and the verifier key.
	out := mustCLI(t, "verify", "--data", t.TempDir(), "--bundle", bundle, "--verifier-key", signer.VerifierKey)
	if !strings.Contains(out, "against the checkpoint of size 60") {
		t.Fatalf("verify --bundle printed %q", out)
	}

	body, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := tlog.GenerateKey("impostor.example/log")
	impostor, _ := tlog.NewSigner(other)
	cases := []struct {
		name  string
		edit  func(string) string
		vkey  string
		wants string
	}{
		{"a username changed in the bundle", func(s string) string {
			return strings.Replace(s, `"operator":"human","username":"`, `"operator":"human","username":"x`, 1)
		}, signer.VerifierKey, "does not verify"},
		{"an activity renumbered", func(s string) string { return strings.Replace(s, `"leaf_index":`, `"leaf_index":1`, 1) }, signer.VerifierKey, "leaf"},
		{"another log's key", func(s string) string { return s }, impostor.VerifierKey, "checkpoint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			edited := filepath.Join(t.TempDir(), "edited.json")
			if err := os.WriteFile(edited, []byte(c.edit(string(body))), 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := cli(t, "", "verify", "--data", t.TempDir(), "--bundle", edited, "--verifier-key", c.vkey)
			if err == nil || !strings.Contains(describe(err), c.wants) {
				t.Fatalf("verify --bundle of %s: %v", c.name, err)
			}
		})
	}
}
