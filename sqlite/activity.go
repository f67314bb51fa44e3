package sqlite

import (
	"context"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// RecordActivities validates the activities against the catalogue and
// records them through the sequencer. It returns once the transaction that
// holds them is committed and fsynced.
func (db *DB) RecordActivities(ctx context.Context, by auditlog.Recorder, activities []auditlog.NewActivity) ([]int64, error) {
	pending, err := sqlstore.Prepare(ctx, by, activities, db.LookupActivityType)
	if err != nil {
		return nil, err
	}
	return db.seq.Record(ctx, pending)
}
