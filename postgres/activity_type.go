package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/auditlog/auditlog"
)

// activityType returns the built-in or custom type with the given system
// name, or nil when there is none. Custom types are cached; a miss reads the
// table, so a type registered by another process is found at once.
func (db *DB) activityType(ctx context.Context, systemName string) (*auditlog.ActivityType, error) {
	if t, ok := db.builtin[systemName]; ok {
		return &t, nil
	}
	if v, ok := db.custom.Load(systemName); ok {
		t := v.(auditlog.ActivityType)
		return &t, nil
	}
	t, err := scanActivityType(db.pool.QueryRow(ctx,
		`SELECT system_name, display_name, description, introduced_in, subtypes FROM activity_types WHERE system_name = $1`, systemName))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, storeError("find activity type", err)
	}
	db.custom.Store(systemName, t)
	return &t, nil
}

func scanActivityType(row pgx.Row) (auditlog.ActivityType, error) {
	var t auditlog.ActivityType
	var subtypes []byte
	if err := row.Scan(&t.SystemName, &t.DisplayName, &t.Description, &t.IntroducedIn, &subtypes); err != nil {
		return t, err
	}
	t.Custom = true
	return t, json.Unmarshal(subtypes, &t.Subtypes)
}

// ActivityTypes lists the built-in and custom types by display name.
func (db *DB) ActivityTypes(ctx context.Context) ([]auditlog.ActivityType, error) {
	out := make([]auditlog.ActivityType, 0, len(db.builtin))
	for _, t := range db.builtin {
		out = append(out, t)
	}
	rows, err := db.pool.Query(ctx, `SELECT system_name, display_name, description, introduced_in, subtypes FROM activity_types`)
	if err != nil {
		return nil, storeError("list activity types", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanActivityType(rows)
		if err != nil {
			return nil, storeError("list activity types", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, storeError("list activity types", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].DisplayName != out[j].DisplayName {
			return out[i].DisplayName < out[j].DisplayName
		}
		return out[i].SystemName < out[j].SystemName
	})
	return out, nil
}

// CreateActivityType registers a custom type. A system name that is built in
// or already registered is an ECONFLICT.
func (db *DB) CreateActivityType(ctx context.Context, t auditlog.ActivityType) (*auditlog.ActivityType, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	conflict := auditlog.Errorf(auditlog.ECONFLICT, "activity type %s exists already", t.SystemName)
	conflict.Field = "system_name"
	if _, ok := db.builtin[t.SystemName]; ok {
		return nil, conflict
	}
	subtypes, err := json.Marshal(t.Subtypes)
	if err != nil {
		return nil, err
	}
	_, err = db.writer.submit(&writeJob{ctx: ctx, apply: func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO activity_types (system_name, display_name, description, introduced_in, subtypes, created_us)
			VALUES ($1, $2, $3, $4, $5, $6)`, t.SystemName, t.DisplayName, t.Description, t.IntroducedIn, string(subtypes), db.now().UnixMicro())
		if isUniqueViolation(err) {
			return conflict
		}
		return err
	}})
	if err != nil {
		return nil, storeError("create activity type", err)
	}
	db.custom.Store(t.SystemName, t)
	return &t, nil
}
