package sqlstore

import (
	"strings"
	"time"

	"github.com/auditlog/auditlog"
)

// JoinPermissions writes permissions as stored: comma-separated names.
func JoinPermissions(ps []auditlog.Permission) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

// SplitPermissions reads permissions written by JoinPermissions.
func SplitPermissions(s string) []auditlog.Permission {
	out := []auditlog.Permission{}
	for _, p := range strings.Split(s, ",") {
		if p != "" {
			out = append(out, auditlog.Permission(p))
		}
	}
	return out
}

// Micros is t in stored form, microseconds since the Unix epoch; the zero
// time is 0.
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// TimeOf reads a time written by Micros.
func TimeOf(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
