// Package monitor follows an audit log from outside, over HTTP, with the
// log's C2SP tlog-tiles alone: no database access and no trust in the
// server. Each round verifies the latest checkpoint's signature, proves
// it consistent with the checkpoint saved at the end of the last round,
// reads the new entries verified against the tiles, hands each on, and
// only then saves the new checkpoint (with a witness policy, only one
// that carries the policy's quorum of cosignatures). A log that forked, shrank or served
// entries that do not match its tiles is a *Violation naming the sizes.
package monitor

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"

	"github.com/auditlog/auditlog/tlog"
)

// Monitor follows one log.
type Monitor struct {
	// Base is the service's address, such as https://audit.example; the
	// tiles are under Base/tlog/.
	Base string
	// Verifier checks the checkpoints' signatures: the log's verifier key,
	// obtained through a channel the monitor trusts.
	Verifier note.Verifier
	// Client makes the requests (and carries the token, which needs
	// activities:read for the entries); http.DefaultClient when nil.
	Client *http.Client
	// State holds the last checkpoint verified; a missing file starts from
	// the empty log.
	State tlog.SavedCheckpoint
	// Entry is called with each new entry, in order, once verified: the
	// leaf of activity index+1, its canonical JSON.
	Entry func(index int64, entry []byte) error
	// Quorum, when set, is a witness policy: the monitor advances only to
	// checkpoints that carry its quorum of cosignatures.
	Quorum interface{ Satisfied(signed []byte) bool }
}

// NotWitnessed is the outcome of a round whose checkpoint, consistent
// with the saved one, lacks the policy's quorum of cosignatures: not a
// fault of the log (its witnesses may not have cosigned it yet), but the
// monitor goes no further than the saved checkpoint.
type NotWitnessed struct{ Size int64 }

func (n *NotWitnessed) Error() string {
	return fmt.Sprintf("the checkpoint of size %d does not carry the witness policy's quorum of cosignatures (yet)", n.Size)
}

// Violation is what a monitor found wrong with the log.
type Violation struct {
	// Saved is the size of the checkpoint the monitor had verified before,
	// Served the size of the one the log serves now.
	Saved, Served int64
	// Reason says what is wrong, naming the sizes.
	Reason string
}

func (v *Violation) Error() string { return v.Reason }

// Round is the outcome of one round: the sizes of the saved checkpoint
// before and after it.
type Round struct {
	From, To int64
}

// Check runs one round.
func (m *Monitor) Check(ctx context.Context) (Round, error) {
	var saved sumdb.Tree
	old, err := m.State.Load(m.Verifier)
	if err != nil {
		return Round{}, err
	}
	if old != nil {
		saved = treeOf(int64(old.Size), old.Root)
	}
	client := m.Client
	if client == nil {
		client = http.DefaultClient
	}
	fetcher, err := torchwood.NewTileFetcher(strings.TrimSuffix(m.Base, "/")+"/tlog/", torchwood.WithHTTPClient(client), torchwood.WithUserAgent("auditlog-monitor"))
	if err != nil {
		return Round{}, err
	}
	signed, err := fetcher.ReadEndpoint(ctx, "checkpoint")
	if err != nil {
		return Round{}, fmt.Errorf("fetch the checkpoint: %w", err)
	}
	size, root, err := tlog.OpenCheckpoint(signed, m.Verifier)
	if err != nil {
		return Round{}, &Violation{Saved: saved.N, Served: -1, Reason: fmt.Sprintf("the log serves a checkpoint that does not verify with the verifier key: %v", err)}
	}
	served := treeOf(int64(size), root)
	round := Round{From: saved.N, To: served.N}
	switch {
	case served.N < saved.N:
		return round, &Violation{Saved: saved.N, Served: served.N, Reason: fmt.Sprintf("the log shrank: it serves a checkpoint of size %d, after the one of size %d verified before", served.N, saved.N)}
	case served.N == saved.N:
		if served.Hash != saved.Hash {
			return round, &Violation{Saved: saved.N, Served: served.N, Reason: fmt.Sprintf("the log forked at size %d: it serves a checkpoint of that size with another root than the one verified before", served.N)}
		}
		return round, nil
	}
	reader := &fetchTracker{TileFetcher: fetcher}
	if saved.N > 0 {
		hashes := torchwood.TileHashReaderWithContext(ctx, served, reader)
		proof, err := sumdb.ProveTree(served.N, saved.N, hashes)
		if err == nil {
			err = sumdb.CheckTree(proof, served.N, served.Hash, saved.N, saved.Hash)
		}
		if err := reader.unverified(err); err != nil {
			return round, err
		}
		if err != nil {
			return round, &Violation{Saved: saved.N, Served: served.N, Reason: fmt.Sprintf("the log forked: its tree of size %d does not extend the one of size %d verified before (%v)", served.N, saved.N, err)}
		}
	}
	if m.Quorum != nil && !m.Quorum.Satisfied(signed) {
		return Round{From: saved.N, To: saved.N}, &NotWitnessed{Size: served.N}
	}
	if err := m.readEntries(ctx, reader, served, saved.N); err != nil {
		return round, err
	}
	if err := m.State.Save(signed); err != nil {
		return round, err
	}
	return round, nil
}

// fetchTracker is the tile fetcher, remembering whether a fetch failed:
// an error of the tile client after every fetch succeeded is one of the
// data fetched, which did not verify.
type fetchTracker struct {
	*torchwood.TileFetcher
	failed error
}

func (f *fetchTracker) ReadTiles(ctx context.Context, tiles []sumdb.Tile) ([][]byte, error) {
	data, err := f.TileFetcher.ReadTiles(ctx, tiles)
	if err != nil && f.failed == nil {
		f.failed = err
	}
	return data, err
}

// unverified returns the error of a fetch behind err, nil when err is
// nil or what was fetched did not verify.
func (f *fetchTracker) unverified(err error) error {
	if err == nil || f.failed == nil {
		return nil
	}
	return fmt.Errorf("fetch the tiles: %w", f.failed)
}

// readEntries hands on the entries from index from to the tree's size,
// each verified against the tiles of tree.
func (m *Monitor) readEntries(ctx context.Context, reader *fetchTracker, tree sumdb.Tree, from int64) error {
	client, err := torchwood.NewClient(reader)
	if err != nil {
		return err
	}
	next := from
	// The client stops short of a partial bundle once; resumed with the
	// same tree, it reads the rest.
	for pass := 0; pass < 2 && next < tree.N; pass++ {
		for i, entry := range client.Entries(ctx, tree, next) {
			if i != next {
				return fmt.Errorf("the tile client yielded entry %d after %d", i, next)
			}
			if m.Entry != nil {
				if err := m.Entry(i, entry); err != nil {
					return err
				}
			}
			next++
		}
		if err := client.Err(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := reader.unverified(err); err != nil {
				return err
			}
			return &Violation{Saved: from, Served: tree.N, Reason: fmt.Sprintf("the log served entries that do not match its tiles: entry %d (activity %d) of the tree of size %d does not verify (%v)", next, next+1, tree.N, err)}
		}
	}
	if next != tree.N {
		return &Violation{Saved: from, Served: tree.N, Reason: fmt.Sprintf("the log serves %d of the %d entries its checkpoint of size %d covers", next, tree.N, tree.N)}
	}
	return nil
}

func treeOf(size int64, root []byte) sumdb.Tree {
	t := sumdb.Tree{N: size}
	copy(t.Hash[:], root)
	if size == 0 && len(root) == 0 {
		copy(t.Hash[:], tlog.EmptyRoot())
	}
	return t
}
