package sqlstore

import (
	"context"
	"errors"

	"github.com/auditlog/auditlog"
)

// LookupActivityType returns the built-in or custom type with the given
// system name, or nil when there is none.
func (db *Shared) LookupActivityType(ctx context.Context, systemName string) (*auditlog.ActivityType, error) {
	return db.Catalog.Lookup(ctx, systemName, func(ctx context.Context, systemName string) (*auditlog.ActivityType, error) {
		t, err := ScanActivityType(db.Read.QueryRow(ctx, `SELECT `+ActivityTypeColumns+` FROM activity_types WHERE system_name = $1`, systemName).Scan)
		if errors.Is(err, ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, db.Wrap("find activity type", err)
		}
		return &t, nil
	})
}

// ActivityTypes lists the built-in and custom types by display name.
func (db *Shared) ActivityTypes(ctx context.Context) ([]auditlog.ActivityType, error) {
	custom, err := queryAll(ctx, db.Read, func(row Row) (*auditlog.ActivityType, error) {
		t, err := ScanActivityType(row.Scan)
		return &t, err
	}, `SELECT `+ActivityTypeColumns+` FROM activity_types`)
	if err != nil {
		return nil, db.Wrap("list activity types", err)
	}
	return db.Catalog.All(custom), nil
}

// CreateActivityType registers a custom type, recorded as the actor's. A
// system name that is built in or already registered is an ECONFLICT.
func (db *Shared) CreateActivityType(ctx context.Context, by auditlog.Actor, t auditlog.ActivityType) (*auditlog.ActivityType, error) {
	subtypes, conflict, err := db.Catalog.PrepareNew(&t)
	if err != nil {
		return nil, err
	}
	err = db.Change(ctx, func(ctx context.Context, tx Querier) ([]auditlog.NewActivity, error) {
		err := tx.Exec(ctx, `INSERT INTO activity_types (system_name, display_name, description, introduced_in, subtypes, created_us)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.SystemName, t.DisplayName, t.Description, t.IntroducedIn, subtypes, db.Now().UnixMicro())
		if db.IsUniqueViolation(err) {
			return nil, conflict
		}
		if err != nil {
			return nil, err
		}
		return []auditlog.NewActivity{auditlog.ActivityTypeCreated(by, &t)}, nil
	})
	if err != nil {
		return nil, db.Wrap("create activity type", err)
	}
	db.Catalog.Remember(t)
	return &t, nil
}
