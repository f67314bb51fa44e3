package sqlstore

import (
	"context"

	"github.com/auditlog/auditlog"
)

// AddCosignature stores a witness's cosignature and moves its state to the
// cosigned size, with no error.
func (db *Shared) AddCosignature(ctx context.Context, c auditlog.Cosignature) error {
	now := db.Now().UnixMicro()
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		if err := tx.Exec(ctx, `INSERT INTO cosignatures (witness, size, line, created_us) VALUES ($1, $2, $3, $4)
			ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, created_us = excluded.created_us`,
			c.Witness, int64(c.Size), c.Line, now); err != nil {
			return nil, err
		}
		return nil, upsertWitnessState(ctx, tx, auditlog.WitnessState{Witness: c.Witness, Size: c.Size}, now)
	})
	return db.Wrap("add cosignature", err)
}

// SetWitnessState records a witness's size and last error.
func (db *Shared) SetWitnessState(ctx context.Context, s auditlog.WitnessState) error {
	now := db.Now().UnixMicro()
	err := db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		return nil, upsertWitnessState(ctx, tx, s, now)
	})
	return db.Wrap("set witness state", err)
}

func upsertWitnessState(ctx context.Context, tx Querier, s auditlog.WitnessState, now int64) error {
	return tx.Exec(ctx, `INSERT INTO witness_states (witness, size, last_error, updated_us) VALUES ($1, $2, $3, $4)
		ON CONFLICT (witness) DO UPDATE SET size = excluded.size, last_error = excluded.last_error, updated_us = excluded.updated_us`,
		s.Witness, int64(s.Size), s.LastError, now)
}

// WitnessStates lists the witnesses' states by name.
func (db *Shared) WitnessStates(ctx context.Context) ([]auditlog.WitnessState, error) {
	states, err := queryAll(ctx, db.Read, func(row Row) (*auditlog.WitnessState, error) {
		var s auditlog.WitnessState
		var size, updated int64
		if err := row.Scan(&s.Witness, &size, &s.LastError, &updated); err != nil {
			return nil, err
		}
		s.Size, s.Updated = uint64(size), TimeOf(updated)
		return &s, nil
	}, `SELECT witness, size, last_error, updated_us FROM witness_states ORDER BY witness`)
	return states, db.Wrap("list witness states", err)
}

// Cosignatures returns the cosignatures of the checkpoint of a size, by witness.
func (db *Shared) Cosignatures(ctx context.Context, size uint64) ([]auditlog.Cosignature, error) {
	cs, err := queryAll(ctx, db.Read, func(row Row) (*auditlog.Cosignature, error) {
		c := auditlog.Cosignature{Size: size}
		if err := row.Scan(&c.Witness, &c.Line); err != nil {
			return nil, err
		}
		return &c, nil
	}, `SELECT witness, line FROM cosignatures WHERE size = $1 ORDER BY witness`, int64(size))
	return cs, db.Wrap("list cosignatures", err)
}
