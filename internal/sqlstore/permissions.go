package sqlstore

import (
	"strings"

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
