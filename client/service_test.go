package client_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/auditlog/auditlog/client"
	"github.com/auditlog/auditlog/internal/servicetest"
)

// The tests of this package run the real service (internal/servicetest);
// the test binary is also a producer process (runProducer).
func TestMain(m *testing.M) {
	if os.Getenv(producerEnv) != "" {
		runProducer()
		return
	}
	servicetest.Main(m)
}

func newClient(t *testing.T, s *servicetest.Service, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{URL: s.URL(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// objectCounts lists every activity of an object type and counts them by
// object id.
func objectCounts(t *testing.T, c *client.Client, objectType string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for a, err := range c.List(context.Background(), client.Filter{ObjectTypes: []string{objectType}}, 1000) {
		if err != nil {
			t.Fatal(err)
		}
		counts[a.ObjectID]++
	}
	return counts
}

// edit is an activity of the test's object type with a numbered object id.
func edit(objectType string, n int) client.Activity {
	return client.Activity{SystemName: "EDIT_USER", Operator: client.Machine, ObjectType: objectType, ObjectID: fmt.Sprint(n), ObjectName: fmt.Sprintf("object %d", n)}
}

func readAll(t *testing.T, rc io.ReadCloser) string {
	t.Helper()
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
