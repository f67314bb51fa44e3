package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/internal/sqlstore"
)

// activityType returns the built-in or custom type with the given system
// name, or nil when there is none.
func (db *DB) activityType(ctx context.Context, systemName string) (*auditlog.ActivityType, error) {
	return db.catalog.Lookup(ctx, systemName, func(ctx context.Context, systemName string) (*auditlog.ActivityType, error) {
		row := db.pool.QueryRow(ctx, `SELECT `+sqlstore.ActivityTypeColumns+` FROM activity_types WHERE system_name = $1`, systemName)
		t, err := sqlstore.ScanActivityType(row.Scan)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, storeError("find activity type", err)
		}
		return &t, nil
	})
}

// ActivityTypes lists the built-in and custom types by display name.
func (db *DB) ActivityTypes(ctx context.Context) ([]auditlog.ActivityType, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+sqlstore.ActivityTypeColumns+` FROM activity_types`)
	if err != nil {
		return nil, storeError("list activity types", err)
	}
	defer rows.Close()
	var custom []auditlog.ActivityType
	for rows.Next() {
		t, err := sqlstore.ScanActivityType(rows.Scan)
		if err != nil {
			return nil, storeError("list activity types", err)
		}
		custom = append(custom, t)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError("list activity types", err)
	}
	return db.catalog.All(custom), nil
}

// CreateActivityType registers a custom type. A system name that is built in
// or already registered is an ECONFLICT.
func (db *DB) CreateActivityType(ctx context.Context, t auditlog.ActivityType) (*auditlog.ActivityType, error) {
	subtypes, conflict, err := db.catalog.PrepareNew(&t)
	if err != nil {
		return nil, err
	}
	_, err = db.writer.submit(&writeJob{ctx: ctx, apply: func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO activity_types (system_name, display_name, description, introduced_in, subtypes, created_us)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.SystemName, t.DisplayName, t.Description, t.IntroducedIn, subtypes, db.now().UnixMicro())
		if isUniqueViolation(err) {
			return conflict
		}
		return err
	}})
	if err != nil {
		return nil, storeError("create activity type", err)
	}
	db.catalog.Remember(t)
	return &t, nil
}
