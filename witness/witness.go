// Package witness submits the log's checkpoints to witnesses through the
// C2SP tlog-witness protocol (c2sp.org/tlog-witness) and keeps the
// cosignatures (c2sp.org/tlog-cosignature) they return in the store, to be
// served with the checkpoint. A witness checks that each checkpoint is
// consistent with the last one it cosigned for the log, so that whoever
// holds the database and the signing key cannot show a rewritten history
// to anyone who requires its cosignature. A witness that is down delays
// only its own cosignatures: recording never waits for one.
package witness

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/formats/note"
	sumnote "golang.org/x/mod/sumdb/note"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/tlog"
)

// Witness is one witness of the log.
type Witness struct {
	// Verifier checks its cosignatures (cosignature/v1); its name is the
	// witness's name.
	Verifier sumnote.Verifier
	// URL is its submission prefix: checkpoints go to URL/add-checkpoint.
	URL string
}

// Name is the witness's name, that of its key.
func (w Witness) Name() string { return w.Verifier.Name() }

// Parse reads a witness as --witness gives it: "<verifier key> <URL>",
// the key in cosignature/v1 form as the witness prints it.
func Parse(s string) (Witness, error) {
	vkey, url, ok := strings.Cut(strings.TrimSpace(s), " ")
	url = strings.TrimSpace(url)
	if !ok || url == "" {
		return Witness{}, fmt.Errorf("a witness is \"<verifier key> <add-checkpoint URL prefix>\", not %q", s)
	}
	v, err := note.NewVerifierForCosignatureV1(vkey)
	if err != nil {
		return Witness{}, fmt.Errorf("witness key %q: %w", vkey, err)
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return Witness{}, fmt.Errorf("witness URL %q: want http:// or https://", url)
	}
	return Witness{Verifier: v, URL: strings.TrimSuffix(url, "/")}, nil
}

// Store is what the submitter needs of the log's store.
type Store interface {
	LatestCheckpoint(ctx context.Context) (*auditlog.Checkpoint, error)
	TreeNodes(ctx context.Context, ids []auditlog.NodeID) ([][]byte, error)
	auditlog.WitnessService
}

// Submitter submits each new checkpoint to every witness.
type Submitter struct {
	Store     Store
	Witnesses []Witness
	// Client makes the requests; a client with a 30 s timeout when nil.
	Client *http.Client
	Log    *slog.Logger
	// Every is how often it looks for a new checkpoint, and so bounds the
	// rate of submissions to each witness; 500 ms when 0.
	Every time.Duration
	// Observe, when set, is told of each submission's outcome.
	Observe func(witness string, size uint64, err error)
}

// Run submits until ctx ends. A witness that fails is tried again at each
// round, at most every minute after repeated failures.
func (s *Submitter) Run(ctx context.Context) {
	every := s.Every
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	wait := make(map[string]time.Time)
	failures := make(map[string]int)
	for {
		for _, w := range s.Witnesses {
			if time.Now().Before(wait[w.Name()]) {
				continue
			}
			if err := s.Submit(ctx, w); err != nil && ctx.Err() == nil {
				failures[w.Name()]++
				backoff := min(time.Minute, every<<min(failures[w.Name()], 7))
				wait[w.Name()] = time.Now().Add(backoff)
				s.Log.Warn("witness did not cosign", "witness", w.Name(), "error", err, "retry_in", backoff)
			} else {
				failures[w.Name()] = 0
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Submit brings one witness up to the latest checkpoint: nothing when it
// cosigned that one already.
func (s *Submitter) Submit(ctx context.Context, w Witness) error {
	cp, err := s.Store.LatestCheckpoint(ctx)
	if auditlog.ErrorCode(err) == auditlog.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	old, err := s.witnessSize(ctx, w)
	if err != nil {
		return err
	}
	if old == cp.Size {
		if have, err := s.Store.Cosignatures(ctx, cp.Size); err != nil || hasWitness(have, w.Name()) {
			return err
		}
	}
	err = s.submit(ctx, w, cp, old)
	var conflict *sizeConflict
	if errors.As(err, &conflict) {
		// The witness cosigned another size than the log knew (another
		// node submitted, or the state was lost): start from its size.
		if conflict.size > cp.Size {
			err = fmt.Errorf("the witness has cosigned a checkpoint of size %d, larger than the log's latest %d: the log was rolled back or forked", conflict.size, cp.Size)
		} else {
			err = s.submit(ctx, w, cp, conflict.size)
		}
	}
	if s.Observe != nil {
		s.Observe(w.Name(), cp.Size, err)
	}
	if err != nil {
		if serr := s.Store.SetWitnessState(ctx, auditlog.WitnessState{Witness: w.Name(), Size: old, LastError: err.Error()}); serr != nil {
			return errors.Join(err, serr)
		}
	}
	return err
}

func hasWitness(cs []auditlog.Cosignature, name string) bool {
	for _, c := range cs {
		if c.Witness == name {
			return true
		}
	}
	return false
}

// witnessSize is the size the witness last cosigned, as the store knows it.
func (s *Submitter) witnessSize(ctx context.Context, w Witness) (uint64, error) {
	states, err := s.Store.WitnessStates(ctx)
	if err != nil {
		return 0, err
	}
	for _, st := range states {
		if st.Witness == w.Name() {
			return st.Size, nil
		}
	}
	return 0, nil
}

// sizeConflict is a witness's 409: it last cosigned another size.
type sizeConflict struct{ size uint64 }

func (c *sizeConflict) Error() string {
	return fmt.Sprintf("the witness last cosigned size %d", c.size)
}

// submit sends the checkpoint with the consistency proof from old, and
// stores the cosignature the witness returns.
func (s *Submitter) submit(ctx context.Context, w Witness, cp *auditlog.Checkpoint, old uint64) error {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	if old > 0 && old < cp.Size {
		fetch := func(ids []auditlog.NodeID) ([][]byte, error) { return s.Store.TreeNodes(ctx, ids) }
		proof, err := tlog.ConsistencyProof(old, cp.Size, fetch)
		if err != nil {
			return fmt.Errorf("consistency proof from %d to %d: %w", old, cp.Size, err)
		}
		for _, h := range proof {
			body.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
		}
	}
	body.WriteString("\n")
	body.Write(cp.Note)
	req, err := http.NewRequestWithContext(ctx, "POST", w.URL+"/add-checkpoint", &body)
	if err != nil {
		return err
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	switch {
	case resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") == "text/x.tlog.size":
		size, err := strconv.ParseUint(strings.TrimSpace(string(answer)), 10, 64)
		if err != nil {
			return fmt.Errorf("the witness's 409 holds no size: %q", answer)
		}
		return &sizeConflict{size: size}
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("the witness answered %s: %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	line, err := cosignatureLine(w, cp.Note, answer)
	if err != nil {
		return err
	}
	return s.Store.AddCosignature(ctx, auditlog.Cosignature{Witness: w.Name(), Size: cp.Size, Line: line})
}

// cosignatureLine returns the witness's signature line of the answer
// that verifies on the checkpoint; lines of other keys are ignored.
func cosignatureLine(w Witness, checkpoint, answer []byte) (string, error) {
	n, err := sumnote.Open(append(append([]byte{}, checkpoint...), answer...), sumnote.VerifierList(w.Verifier))
	if err != nil {
		return "", fmt.Errorf("the witness's answer holds no valid cosignature of the checkpoint: %w", err)
	}
	for _, line := range strings.Split(string(answer), "\n") {
		for _, sig := range n.Sigs {
			if strings.HasPrefix(line, "— "+sig.Name+" ") && strings.HasSuffix(line, sig.Base64) {
				return line + "\n", nil
			}
		}
	}
	return "", errors.New("the witness's cosignature is not among the lines it answered")
}
