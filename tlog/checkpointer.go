package tlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/auditlog/auditlog"
)

// Checkpointer signs and stores a checkpoint whenever the tree has grown.
type Checkpointer struct {
	Store  auditlog.TreeService
	Signer *Signer
	// Saved, when its Path is set, keeps the latest checkpoint signed
	// outside the store: the stored tree must extend it, as it must the
	// store's latest checkpoint.
	Saved SavedCheckpoint
	// Interval is how often it looks for growth; a checkpoint covers a new
	// activity within about one interval.
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time

	mu sync.Mutex
	// trusted is the latest checkpoint signed or checked against the
	// stored tree; refused, once set, is why the store is not trusted.
	trusted *auditlog.Checkpoint
	refused error
	// saved is what Saved holds, read from its file once, then kept as
	// this process saves it.
	saved     *auditlog.Checkpoint
	savedRead bool
}

// Publish signs the current tree head unless the latest checkpoint covers
// it already, and returns the latest checkpoint. It refuses to sign a tree
// that is not an extension of the last signed one, as the store holds it
// and as Saved does: removed or rewritten history is reported, never
// covered by a new signature. Once it has refused, the store refuses
// writes (auditlog.TreeService.RefuseWrites) and Publish refuses again
// until the process starts anew.
//
// Several nodes may publish on one store at the same time. The latest
// checkpoint is read before the tree head, so that a checkpoint another
// node signed meanwhile is never mistaken for a tree that shrank; it must
// carry this signer's signature, so that nodes with different keys are
// caught rather than left to sign one log each.
func (c *Checkpointer) Publish(ctx context.Context) (*auditlog.Checkpoint, error) {
	if _, err := c.Trusted(); err != nil {
		return nil, err
	}
	latest, err := c.Store.LatestCheckpoint(ctx)
	if err != nil && auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		return nil, err
	}
	if latest != nil {
		if _, _, err := OpenCheckpoint(latest.Note, c.Signer.verifier); err != nil {
			return nil, c.refuse(fmt.Errorf("the store's latest checkpoint, of size %d, does not carry this log's signature (every node needs the same signing key): %w", latest.Size, err))
		}
	}
	saved, err := c.savedCheckpoint()
	if err != nil {
		return nil, c.refuse(err)
	}
	if saved != nil && latest != nil && saved.Size == latest.Size && SameHash(saved.Root, latest.Root) {
		saved = nil // the same checkpoint: one check covers both
	}
	head, err := c.Store.TreeHead(ctx)
	if err != nil {
		return nil, err
	}
	newest := latest
	for _, signed := range []struct {
		cp    *auditlog.Checkpoint
		where string
	}{{latest, "the store's latest checkpoint"}, {saved, "the checkpoint saved in " + c.Saved.Path}} {
		if signed.cp == nil {
			continue
		}
		if err := c.extends(ctx, head, signed.cp, signed.where); err != nil {
			return nil, c.refuse(err)
		}
		if newest == nil || signed.cp.Size > newest.Size {
			newest = signed.cp
		}
	}
	if newest != nil && head.Size == newest.Size {
		if kept, _ := c.savedCheckpoint(); c.Saved.Path != "" && (kept == nil || kept.Size < newest.Size) {
			// Signed by another node, or saved here before a crash cut
			// short the save.
			if err := c.save(newest); err != nil {
				return nil, err
			}
		}
		c.trust(newest)
		return newest, nil
	}
	note, err := c.Signer.Sign(head.Size, head.Root)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	cp := auditlog.Checkpoint{TreeHead: head, Note: note, Created: now().UTC()}
	// Saved first: a checkpoint anyone may have read from the store is
	// one this service will hold the store to.
	if err := c.save(&cp); err != nil {
		return nil, err
	}
	if err := c.Store.AddCheckpoint(ctx, cp); err != nil {
		return nil, err
	}
	c.trust(&cp)
	return &cp, nil
}

// extends checks that the tree head extends a signed checkpoint.
func (c *Checkpointer) extends(ctx context.Context, head auditlog.TreeHead, signed *auditlog.Checkpoint, where string) error {
	found := fmt.Sprintf("the stored tree (size %d, root %x) does not extend %s (size %d, root %x)", head.Size, head.Root, where, signed.Size, signed.Root)
	switch {
	case head.Size < signed.Size:
		return fmt.Errorf("%s: activities were removed after they were signed", found)
	case head.Size == signed.Size:
		if !SameHash(head.Root, signed.Root) {
			return fmt.Errorf("%s: history was rewritten after it was signed", found)
		}
		return nil
	}
	fetch := func(ids []auditlog.NodeID) ([][]byte, error) { return c.Store.TreeNodes(ctx, ids) }
	proof, err := ConsistencyProof(signed.Size, head.Size, fetch)
	if err != nil {
		return fmt.Errorf("%s: its consistency proof cannot be read: %w", found, err)
	}
	if err := VerifyConsistency(signed.Size, head.Size, proof, signed.Root, head.Root); err != nil {
		return fmt.Errorf("%s: history was rewritten after it was signed: %w", found, err)
	}
	return nil
}

// savedCheckpoint returns what Saved holds, nil when there is none.
func (c *Checkpointer) savedCheckpoint() (*auditlog.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Saved.Path == "" || c.savedRead {
		return c.saved, nil
	}
	saved, err := c.Saved.Load(c.Signer.verifier)
	if err != nil {
		return nil, err
	}
	c.saved, c.savedRead = saved, true
	return saved, nil
}

func (c *Checkpointer) save(cp *auditlog.Checkpoint) error {
	if c.Saved.Path == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.Saved.Save(cp.Note); err != nil {
		return err
	}
	c.saved, c.savedRead = cp, true
	return nil
}

func (c *Checkpointer) trust(cp *auditlog.Checkpoint) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trusted = cp
}

// refuse makes the store refuse writes for the reason found, and returns
// the error that says so.
func (c *Checkpointer) refuse(found error) error {
	err := fmt.Errorf("%w. The service signs nothing and records nothing more until an operator has looked into it (docs/security.md, \"When the service refuses the store\")", found)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = err
		c.Store.RefuseWrites(err)
	}
	return c.refused
}

// Trusted returns the latest checkpoint that the stored tree was found to
// extend (nil before the first Publish), or why the store is refused.
func (c *Checkpointer) Trusted() (*auditlog.Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused != nil {
		return nil, c.refused
	}
	return c.trusted, nil
}

// Run publishes checkpoints until ctx ends.
func (c *Checkpointer) Run(ctx context.Context) {
	interval := c.Interval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var lastErr string
	for {
		if _, err := c.Publish(ctx); err != nil && ctx.Err() == nil {
			if err.Error() != lastErr && c.Log != nil {
				c.Log.Error("checkpoint not published", "err", err)
			}
			lastErr = err.Error()
		} else {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
