package auditlog_test

import (
	"testing"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
)

// BenchmarkNewSearchDocument: the index's document of a demo activity,
// which every recorded activity costs.
func BenchmarkNewSearchDocument(b *testing.B) {
	g := demo.New(1, catalog.Builtin())
	acts := make([]auditlog.Activity, 1000)
	for i := range acts {
		a := g.Next()
		acts[i] = auditlog.Activity{SystemName: a.SystemName, DisplayName: "Edit Permission Group", Operator: a.Operator, Username: a.Username,
			ObjectType: a.ObjectType, ObjectID: a.ObjectID, ObjectName: a.ObjectName, Extra: a.Extra, Changes: a.Changes, RecordedBy: "token/1"}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		auditlog.NewSearchDocument(&acts[i%len(acts)])
	}
}
