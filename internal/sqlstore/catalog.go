package sqlstore

import (
	"context"
	"encoding/json"
	"sort"
	"sync"

	"github.com/auditlog/auditlog"
)

// Catalog is a store's view of the activity catalogue: the seed's types,
// and a cache of the custom ones its activity_types table holds.
type Catalog struct {
	builtin map[string]auditlog.ActivityType
	custom  sync.Map // system name -> auditlog.ActivityType
}

// NewCatalog returns a catalogue of the given built-in types.
func NewCatalog(builtin []auditlog.ActivityType) *Catalog {
	c := &Catalog{builtin: map[string]auditlog.ActivityType{}}
	for _, t := range builtin {
		c.builtin[t.SystemName] = t
	}
	return c
}

// Lookup returns the built-in or custom type with the given system name,
// or nil when there is none. Custom types are cached; a miss calls load
// (which returns nil for none), so that a type registered by another
// process is found at once.
func (c *Catalog) Lookup(ctx context.Context, systemName string, load func(ctx context.Context, systemName string) (*auditlog.ActivityType, error)) (*auditlog.ActivityType, error) {
	if t, ok := c.builtin[systemName]; ok {
		return &t, nil
	}
	if v, ok := c.custom.Load(systemName); ok {
		t := v.(auditlog.ActivityType)
		return &t, nil
	}
	t, err := load(ctx, systemName)
	if err != nil || t == nil {
		return nil, err
	}
	c.custom.Store(systemName, *t)
	return t, nil
}

// All lists the built-in types and the given custom ones by display name.
func (c *Catalog) All(custom []auditlog.ActivityType) []auditlog.ActivityType {
	out := make([]auditlog.ActivityType, 0, len(c.builtin)+len(custom))
	for _, t := range c.builtin {
		out = append(out, t)
	}
	out = append(out, custom...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].DisplayName != out[j].DisplayName {
			return out[i].DisplayName < out[j].DisplayName
		}
		return out[i].SystemName < out[j].SystemName
	})
	return out
}

// PrepareNew validates a custom type to register and refuses a built-in
// system name. It returns the subtypes as stored (JSON) and the conflict
// to report when the store finds the name registered already.
func (c *Catalog) PrepareNew(t *auditlog.ActivityType) (subtypes string, conflict *auditlog.Error, err error) {
	if err := t.Validate(); err != nil {
		return "", nil, err
	}
	conflict = auditlog.Errorf(auditlog.ECONFLICT, "activity type %s exists already", t.SystemName)
	conflict.Field = "system_name"
	if _, ok := c.builtin[t.SystemName]; ok {
		return "", nil, conflict
	}
	b, err := json.Marshal(t.Subtypes)
	if err != nil {
		return "", nil, err
	}
	return string(b), conflict, nil
}

// Remember caches a custom type the store has just registered.
func (c *Catalog) Remember(t auditlog.ActivityType) { c.custom.Store(t.SystemName, t) }

// ActivityTypeColumns are the columns of activity_types that ScanActivityType reads.
const ActivityTypeColumns = `system_name, display_name, description, introduced_in, subtypes`

// ScanActivityType reads a custom type from a row of ActivityTypeColumns.
func ScanActivityType(scan func(dest ...any) error) (auditlog.ActivityType, error) {
	var t auditlog.ActivityType
	var subtypes []byte
	if err := scan(&t.SystemName, &t.DisplayName, &t.Description, &t.IntroducedIn, &subtypes); err != nil {
		return t, err
	}
	t.Custom = true
	return t, json.Unmarshal(subtypes, &t.Subtypes)
}
