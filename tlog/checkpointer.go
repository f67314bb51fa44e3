package tlog

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/auditlog/auditlog"
)

// Checkpointer signs and stores a checkpoint whenever the tree has grown.
type Checkpointer struct {
	Store  auditlog.TreeService
	Signer *Signer
	// Interval is how often it looks for growth; a checkpoint covers a new
	// activity within about one interval.
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

// Publish signs the current tree head unless the latest checkpoint covers
// it already, and returns the latest checkpoint. It refuses to sign a tree
// that is not an extension of the last signed one: removed or rewritten
// history is reported, never covered by a new signature.
//
// Several nodes may publish on one store at the same time. The latest
// checkpoint is read before the tree head, so that a checkpoint another
// node signed meanwhile is never mistaken for a tree that shrank; it must
// carry this signer's signature, so that nodes with different keys are
// caught rather than left to sign one log each.
func (c *Checkpointer) Publish(ctx context.Context) (*auditlog.Checkpoint, error) {
	latest, err := c.Store.LatestCheckpoint(ctx)
	if err != nil && auditlog.ErrorCode(err) != auditlog.ENOTFOUND {
		return nil, err
	}
	head, err := c.Store.TreeHead(ctx)
	if err != nil {
		return nil, err
	}
	if latest != nil {
		if _, _, err := OpenCheckpoint(latest.Note, c.Signer.verifier); err != nil {
			return nil, fmt.Errorf("the latest checkpoint, of size %d, does not carry this log's signature (every node needs the same signing key): %w", latest.Size, err)
		}
		if head.Size < latest.Size {
			return nil, fmt.Errorf("the tree has %d leaves but checkpoint %d was signed: activities were removed", head.Size, latest.Size)
		}
		if head.Size == latest.Size {
			if !SameHash(head.Root, latest.Root) {
				return nil, fmt.Errorf("the tree of size %d no longer has the signed root: history was rewritten", head.Size)
			}
			return latest, nil
		}
		fetch := func(ids []auditlog.NodeID) ([][]byte, error) { return c.Store.TreeNodes(ctx, ids) }
		proof, err := ConsistencyProof(latest.Size, head.Size, fetch)
		if err != nil {
			return nil, err
		}
		if err := VerifyConsistency(latest.Size, head.Size, proof, latest.Root, head.Root); err != nil {
			return nil, fmt.Errorf("the tree of size %d does not extend checkpoint %d: history was rewritten: %w", head.Size, latest.Size, err)
		}
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
	if err := c.Store.AddCheckpoint(ctx, cp); err != nil {
		return nil, err
	}
	return &cp, nil
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
