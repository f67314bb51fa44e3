// Package demo generates realistic activities for trying the product and
// for benchmarks: many users and machines, every activity type of the
// catalogue, subtypes, extras and object column changes.
package demo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/auditlog/auditlog"
)

// Generator makes activities from a seeded source, so a run can be repeated.
type Generator struct {
	rng   *rand.Rand
	types []auditlog.ActivityType
	// common is a skewed pick list: a few types dominate, as in real logs.
	common []int
	n      int
	users  []string
}

var (
	firstNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
		"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "wendy", "yusuf",
		"zoë", "amir", "bea", "chen", "dmitri", "elif", "fatima", "goran", "hana", "ines"}
	lastNames = []string{"smith", "garcia", "müller", "kowalski", "tanaka", "okafor", "silva", "nguyen", "rossi", "dubois"}
	browsers  = []string{"Firefox 131", "Chrome 130", "Safari 18.1", "Edge 130", "Chrome 129"}
	clients   = []string{"web", "api", "sdk-python/2.4.1", "sdk-go/1.3.0"}
	objectFor = []struct{ word, objectType string }{
		{"PERMISSION_GROUP", "PermissionGroup"}, {"AUTHENTICATION_GROUP", "AuthenticationGroup"},
		{"USER", "User"}, {"LAYOUT", "Layout"}, {"FLOW", "Flow"}, {"SUBMISSION", "Submission"},
		{"MODEL", "Model"}, {"RELEASE", "Release"}, {"TASK", "Task"}, {"CASE", "Case"},
		{"DOCUMENT", "Document"}, {"GROUND_TRUTH", "GroundTruth"}, {"TRAINER", "Trainer"},
		{"DICTIONARY_FIELD", "DictionaryField"}, {"KNOWLEDGE_STORE", "KnowledgeStoreItem"},
		{"ARTIFACT", "ArtifactRepository"}, {"DATA_TYPE", "DataType"}, {"WORKFLOW", "Workflow"},
		{"SETTING", "SystemSetting"}, {"TOKEN", "Token"}, {"CANDIDATE_GROUP", "CandidateGroup"},
	}
	columnsFor = map[string][]string{
		"PermissionGroup": {"name", "permissions", "members"}, "User": {"email", "group", "is_active", "full_name"},
		"Layout": {"name", "version", "goal_time"}, "Flow": {"name", "version", "status"},
		"SystemSetting": {"value", "enabled"}, "Workflow": {"engine_config", "timeout"},
	}
	editVerbs = []string{"EDIT_", "UPDATE_", "CHANGE_", "RENAME_", "REPRIORITIZE_", "TAG_", "LOCK_", "TOGGLE"}
)

// New returns a generator over the given activity types.
func New(seed uint64, types []auditlog.ActivityType) *Generator {
	g := &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), types: types}
	for rank, i := range g.rng.Perm(len(types)) {
		// Roughly Zipf: the type at rank r appears about 1/(r+1) as often.
		for range 1 + 200/(rank+1) {
			g.common = append(g.common, i)
		}
	}
	g.rng.Shuffle(len(g.common), func(i, j int) { g.common[i], g.common[j] = g.common[j], g.common[i] })
	for _, f := range firstNames {
		for _, l := range lastNames[:3] {
			g.users = append(g.users, f+"."+l)
		}
	}
	return g
}

// Next returns the next activity. The first len(types) activities cover
// every type once; after that, frequent types dominate.
func (g *Generator) Next() auditlog.NewActivity {
	var t auditlog.ActivityType
	if g.n < len(g.types) {
		t = g.types[g.n]
	} else {
		t = g.types[g.common[g.rng.IntN(len(g.common))]]
	}
	g.n++
	a := auditlog.NewActivity{SystemName: t.SystemName, Operator: auditlog.OperatorMachine}
	if g.rng.IntN(100) < 70 || t.SystemName == "USER_LOGIN" || t.SystemName == "LOGIN_FAILED" {
		a.Operator = auditlog.OperatorHuman
		a.Username = g.users[g.rng.IntN(len(g.users))]
	}
	if len(t.Subtypes) > 0 && g.rng.IntN(5) > 0 {
		a.SubtypeSystemName = t.Subtypes[g.rng.IntN(len(t.Subtypes))].SystemName
	}
	a.ObjectType = objectType(t.SystemName)
	a.ObjectID = fmt.Sprint(1 + g.rng.IntN(5000))
	a.ObjectName = g.objectName(a.ObjectType)
	a.Extra = g.extra(t.SystemName)
	if isEdit(t.SystemName) {
		a.Changes = g.changes(a.ObjectType)
	}
	return a
}

func objectType(systemName string) string {
	for _, o := range objectFor {
		if strings.Contains(systemName, o.word) {
			return o.objectType
		}
	}
	return "System"
}

func isEdit(systemName string) bool {
	for _, v := range editVerbs {
		if strings.HasPrefix(systemName, v) {
			return true
		}
	}
	return false
}

func (g *Generator) objectName(objectType string) string {
	adjectives := []string{"Invoices", "Claims", "Onboarding", "KYC", "Payroll", "Mortgage", "Customs", "Medical Records"}
	suffixes := []string{"EU", "US", "2026", "v2", "Q4", "archive", "draft", "prod"}
	return fmt.Sprintf("%s %s %s", adjectives[g.rng.IntN(len(adjectives))], objectType, suffixes[g.rng.IntN(len(suffixes))])
}

func (g *Generator) extra(systemName string) json.RawMessage {
	m := map[string]any{
		"request_id": fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", g.rng.Uint32(), g.rng.IntN(1<<16), g.rng.IntN(1<<12), g.rng.IntN(1<<12), g.rng.Uint64()&(1<<48-1)),
		"client":     clients[g.rng.IntN(len(clients))],
	}
	if strings.Contains(systemName, "LOGIN") {
		m["browser"] = browsers[g.rng.IntN(len(browsers))]
		m["ip"] = fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(256), g.rng.IntN(256), 1+g.rng.IntN(254))
	}
	if g.rng.IntN(4) == 0 {
		m["duration_ms"] = g.rng.IntN(5000)
	}
	b, _ := json.Marshal(m)
	return b
}

func (g *Generator) changes(objectType string) []auditlog.Change {
	cols := columnsFor[objectType]
	if cols == nil {
		cols = []string{"name", "status", "description"}
	}
	n := 1 + g.rng.IntN(min(3, len(cols)))
	out := make([]auditlog.Change, n)
	for i := range out {
		col := cols[(g.rng.IntN(len(cols))+i)%len(cols)]
		out[i] = auditlog.Change{ColumnName: col, OldValue: g.value(col), NewValue: g.value(col)}
	}
	return out
}

func (g *Generator) value(column string) string {
	switch column {
	case "permissions":
		perms := []string{"read", "read,write", "read,write,export", "admin"}
		return perms[g.rng.IntN(len(perms))]
	case "is_active", "enabled":
		return fmt.Sprint(g.rng.IntN(2) == 1)
	case "email":
		return g.users[g.rng.IntN(len(g.users))] + "@example.com"
	}
	return fmt.Sprintf("%s-%d", column, g.rng.IntN(100))
}
