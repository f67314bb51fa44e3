// Package catalog holds the seed's activity catalogue: every activity type the
// product document lists, with its display name, system name, description,
// version of introduction and subtypes. The catalogue is embedded data
// (activity_types.json) parsed once on first use; callers get copies.
// service_types.json adds the few types the service records about itself
// that the seed lacks (the revocation of a token, a logout).
package catalog

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/auditlog/auditlog"
)

//go:embed activity_types.json
var activityTypesJSON []byte

//go:embed service_types.json
var serviceTypesJSON []byte

// entry is one object of activity_types.json. Note explains a repair or a
// subtype decision; it stays inside this package.
type entry struct {
	SystemName   string             `json:"system_name"`
	DisplayName  string             `json:"display_name"`
	Description  string             `json:"description"`
	IntroducedIn string             `json:"introduced_in"`
	Subtypes     []auditlog.Subtype `json:"subtypes"`
	Note         string             `json:"note"`
}

type parsed struct {
	entries []entry
	index   map[string]int
}

// load parses the embedded catalogue once. The data is part of the binary,
// so a parse failure is a build defect and panics (the tests catch it).
var load = sync.OnceValue(func() parsed {
	entries, err := parse(activityTypesJSON)
	if err != nil {
		panic("catalog: activity_types.json: " + err.Error())
	}
	service, err := parse(serviceTypesJSON)
	if err != nil {
		panic("catalog: service_types.json: " + err.Error())
	}
	entries = append(entries, service...)
	index := make(map[string]int, len(entries))
	for i, e := range entries {
		if _, dup := index[e.SystemName]; dup {
			panic("catalog: system name listed twice: " + e.SystemName)
		}
		index[e.SystemName] = i
	}
	return parsed{entries: entries, index: index}
})

func parse(data []byte) ([]entry, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var entries []entry
	if err := dec.Decode(&entries); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the array")
	}
	return entries, nil
}

func (e entry) activityType() auditlog.ActivityType {
	subtypes := make([]auditlog.Subtype, len(e.Subtypes))
	copy(subtypes, e.Subtypes)
	return auditlog.ActivityType{
		SystemName:   e.SystemName,
		DisplayName:  e.DisplayName,
		Description:  e.Description,
		IntroducedIn: e.IntroducedIn,
		Subtypes:     subtypes,
		Custom:       false,
	}
}

// Builtin returns the seed's activity types in the seed's order, then the
// service's own. Each call returns a fresh copy, subtypes included, which
// the caller may modify.
func Builtin() []auditlog.ActivityType {
	entries := load().entries
	types := make([]auditlog.ActivityType, len(entries))
	for i, e := range entries {
		types[i] = e.activityType()
	}
	return types
}

// Lookup returns a copy of the seed's activity type with the given system
// name, and whether there is one.
func Lookup(systemName string) (auditlog.ActivityType, bool) {
	p := load()
	i, ok := p.index[systemName]
	if !ok {
		return auditlog.ActivityType{}, false
	}
	return p.entries[i].activityType(), true
}
