package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
	"github.com/auditlog/auditlog/witness"
)

// runVerify recomputes every leaf and the tree from the stored activities
// and checks them against every signed checkpoint (and an auditor's saved
// one); it fails naming the first activity that does not match.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	vkey := fs.String("verifier-key", os.Getenv("AUDITLOG_VERIFIER_KEY"),
		"the log's verifier key <name>+<hash>+<key> (env AUDITLOG_VERIFIER_KEY); default: derived from the signing key. An auditor should pass the copy they trust")
	saved := fs.String("checkpoint", "", "a checkpoint saved earlier (GET /api/v1/checkpoint): the log must still extend it (default: the one the service saved in DATA/"+tlog.SavedCheckpointFile+", when there is one)")
	bundle := fs.String("bundle", "", "check a proof bundle (auditlog export --with-proofs) offline, without the store")
	policyFile := fs.String("policy", "", "a witness policy file: the checkpoint checked must carry the cosignatures of its quorum")
	var sf storeFlags
	var kf keyFlags
	sf.register(fs)
	kf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	verifier, err := verifierFor(*vkey, &kf, &sf)
	if err != nil {
		return err
	}
	var policy *witness.Policy
	if *policyFile != "" {
		if policy, err = witness.LoadPolicy(*policyFile); err != nil {
			return auditlog.FieldErrorf("--policy", "%v", err)
		}
	}
	if *bundle != "" {
		return verifyBundle(*bundle, verifier, policy, stdout)
	}
	var savedNote []byte
	if *saved == "" {
		// The latest checkpoint the service signed, which it keeps out of
		// the database.
		if _, err := os.Stat(sf.savedCheckpoint().Path); err == nil {
			*saved = sf.savedCheckpoint().Path
		}
	}
	if *saved != "" {
		if savedNote, err = os.ReadFile(*saved); err != nil {
			return auditlog.FieldErrorf("--checkpoint", "read the saved checkpoint: %v", err)
		}
	}
	// verify never writes: an attacker's rows stay as they are for the
	// next look, and nothing of the store's changes under it.
	store, err := sf.openForReading(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	report, err := tlog.Verify(ctx, store, verifier, savedNote)
	if errors.Is(err, tlog.ErrOtherLog) {
		source := "--verifier-key"
		if *vkey == "" {
			source = "the signing key in " + kf.path(&sf)
		}
		return fmt.Errorf("%w; the key came from %s: pass --verifier-key of this log (GET /api/v1/checkpoint/key), or the --data directory that holds its key", err, source)
	}
	if err != nil {
		return err
	}
	if !report.OK() {
		for _, p := range report.Problems {
			fmt.Fprintln(stderr, "  -", p.Message)
		}
		first := report.First()
		if first.ActivityID > 0 {
			return fmt.Errorf("verification failed at activity %d: %s", first.ActivityID, first.Message)
		}
		return fmt.Errorf("verification failed: %s", first.Message)
	}
	fmt.Fprintf(stdout, "verified %d activities against log %s\n", report.Activities, verifier.Name())
	if c := report.Checkpoint; c != nil {
		fmt.Fprintf(stdout, "latest signed checkpoint: size %d, root %s\n", c.Size, base64.StdEncoding.EncodeToString(c.Root))
	} else {
		fmt.Fprintln(stdout, "no checkpoint has been signed yet: nothing is covered by a signature")
	}
	if report.Uncovered > 0 {
		fmt.Fprintf(stdout, "%d activities recorded after it are intact but not signed yet (the service signs within a second)\n", report.Uncovered)
	}
	if *saved != "" {
		fmt.Fprintf(stdout, "the log extends the saved checkpoint %s\n", *saved)
	}
	if policy != nil {
		return verifyWitnessed(ctx, store, policy, stdout)
	}
	return nil
}

// verifyWitnessed finds the largest checkpoint that carries the policy's
// quorum of cosignatures: the log is witnessed up to it.
func verifyWitnessed(ctx context.Context, store auditlog.Store, policy *witness.Policy, stdout io.Writer) error {
	cps, err := store.Checkpoints(ctx)
	if err != nil {
		return err
	}
	for i := len(cps) - 1; i >= 0; i-- {
		signed, err := tlog.WithCosignatures(ctx, store, &cps[i])
		if err != nil {
			return err
		}
		if policy.Satisfied(signed) {
			fmt.Fprintf(stdout, "witnessed: the checkpoint of size %d carries the cosignatures the policy requires\n", cps[i].Size)
			if latest := cps[len(cps)-1].Size; latest > cps[i].Size {
				fmt.Fprintf(stdout, "activities %d to %d are signed but not yet witnessed\n", cps[i].Size+1, latest)
			}
			return nil
		}
	}
	return errors.New("verification failed: no checkpoint carries the cosignatures of the witness policy's quorum")
}

// verifierFor returns the verifier of the given key, or of the log's own
// signing key when none is given.
func verifierFor(vkey string, kf *keyFlags, sf *storeFlags) (note.Verifier, error) {
	if vkey == "" {
		s, _, err := kf.signer(sf, false)
		if err != nil {
			return nil, auditlog.FieldErrorf("--verifier-key", "no --verifier-key given, and the signing key cannot be read: %v", auditlog.ErrorMessage(err))
		}
		vkey = s.VerifierKey
	}
	v, err := tlog.NewVerifier(vkey)
	if err != nil {
		return nil, auditlog.FieldErrorf("--verifier-key", "%v", err)
	}
	return v, nil
}

// verifyBundle checks a proof bundle offline: no store is opened. With a
// policy, its checkpoint must carry the quorum's cosignatures.
func verifyBundle(path string, verifier note.Verifier, policy *witness.Policy, stdout io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return auditlog.FieldErrorf("--bundle", "open the bundle: %v", err)
	}
	defer f.Close()
	report, err := tlog.VerifyBundle(bufio.NewReaderSize(f, 1<<20), verifier)
	if err != nil {
		return fmt.Errorf("the bundle does not verify: %w", err)
	}
	if policy != nil && !policy.Satisfied(report.Checkpoint) {
		return fmt.Errorf("the bundle does not verify: its checkpoint of size %d lacks the cosignatures of the witness policy's quorum", report.Size)
	}
	fmt.Fprintf(stdout, "verified %d activities of the bundle against the checkpoint of size %d signed by %s\n", report.Activities, report.Size, verifier.Name())
	if policy != nil {
		fmt.Fprintln(stdout, "witnessed: the checkpoint carries the cosignatures the policy requires")
	}
	return nil
}
