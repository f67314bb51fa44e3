package http

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gowebpki/jcs"

	"github.com/auditlog/auditlog/tlog"
)

// thirdPartyLeafHash is what an auditor computes from an activity's JSON
// with any RFC 8785 and RFC 6962 implementation: no code of this project.
func thirdPartyLeafHash(t *testing.T, activityJSON []byte) []byte {
	t.Helper()
	canonical, err := jcs.Transform(activityJSON)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(append([]byte{0}, canonical...))
	return sum[:]
}

func decodeHashes(t *testing.T, hs []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := base64.StdEncoding.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

func TestProofsVerifyAgainstSignedCheckpoints(t *testing.T) {
	e := newAPIEnv(t)
	for i := range 5 {
		e.record(t, fmt.Sprintf(`{"activities":[%s,{"activity_system_name":"USER_LOGIN","operator":"human","username":"u%d","extra":{"browser":"Firefox 131","n":%d.50}}]}`, machineActivity, i, i))
	}
	small := e.publish(t)
	e.record(t, machineActivity)
	e.record(t, `{"activity_system_name":"EDIT_USER","operator":"human","username":"zoë <admin>","object_column_changes":[{"column_name":"email","old_value":"a@x","new_value":"b@x"}]}`)
	large := e.publish(t)

	status, _, key := e.do(t, "GET", "/api/v1/checkpoint/key", e.full, "")
	if status != 200 {
		t.Fatalf("key: %d", status)
	}
	verifier, err := tlog.NewVerifier(string(key))
	if err != nil {
		t.Fatal(err)
	}
	status, _, note := e.do(t, "GET", "/api/v1/checkpoint", e.full, "")
	if status != 200 {
		t.Fatalf("checkpoint: %d", status)
	}
	size, root, err := tlog.OpenCheckpoint(note, verifier)
	if err != nil || size != large {
		t.Fatalf("the latest checkpoint: size %d (want %d), %v", size, large, err)
	}

	for id := int64(1); id <= int64(large); id++ {
		status, _, activity := e.do(t, "GET", fmt.Sprintf("/api/v1/activities/%d", id), e.full, "")
		if status != 200 {
			t.Fatalf("activity %d: %d", id, status)
		}
		status, _, body := e.do(t, "GET", fmt.Sprintf("/api/v1/activities/%d/proof", id), e.full, "")
		if status != 200 {
			t.Fatalf("proof of %d: %d %s", id, status, body)
		}
		var p inclusionProof
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		// The leaf commits to who recorded the activity: its 14th key.
		if want := `"recorded_by":"`; !strings.Contains(string(activity), want) {
			t.Fatalf("activity %d lacks %s: %s", id, want, activity)
		}
		leaf := thirdPartyLeafHash(t, activity)
		if p.LeafHash != base64.StdEncoding.EncodeToString(leaf) || p.LeafIndex != uint64(id-1) || p.TreeSize != large {
			t.Fatalf("proof of %d: %+v; the activity's own leaf hash is %x", id, p, leaf)
		}
		if err := tlog.VerifyInclusion(p.LeafIndex, p.TreeSize, leaf, decodeHashes(t, p.Hashes), root); err != nil {
			t.Fatalf("the proof of activity %d does not verify: %v", id, err)
		}
	}

	// A proof against the older checkpoint, and consistency between the two.
	status, _, body := e.do(t, "GET", fmt.Sprintf("/api/v1/activities/2/proof?tree_size=%d", small), e.full, "")
	if status != 200 || !strings.Contains(string(body), fmt.Sprintf(`"tree_size":%d`, small)) {
		t.Fatalf("proof against size %d: %d %s", small, status, body)
	}
	smallCP, err := e.db.FindCheckpoint(t.Context(), small)
	if err != nil {
		t.Fatal(err)
	}
	status, _, body = e.do(t, "GET", fmt.Sprintf("/api/v1/consistency?from=%d&to=%d", small, large), e.full, "")
	if status != 200 {
		t.Fatalf("consistency: %d %s", status, body)
	}
	var c consistencyProof
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if err := tlog.VerifyConsistency(small, large, decodeHashes(t, c.Hashes), smallCP.Root, root); err != nil {
		t.Fatalf("consistency %d→%d does not verify: %v", small, large, err)
	}
}

func TestTreeEndpointErrors(t *testing.T) {
	e := newAPIEnv(t)
	e.record(t, machineActivity)
	size := e.publish(t)
	e.record(t, machineActivity) // not covered by a checkpoint yet
	cases := []struct {
		name, path string
		status     int
		field      string
	}{
		{"a tree size that was never published", "/api/v1/activities/1/proof?tree_size=7", 400, "tree_size"},
		{"a tree size that is not a number", "/api/v1/activities/1/proof?tree_size=x", 400, "tree_size"},
		{"an unknown parameter", "/api/v1/activities/1/proof?size=1", 400, "size"},
		{"an activity not covered yet", fmt.Sprintf("/api/v1/activities/%d/proof", size+1), 404, ""},
		{"an activity that does not exist", "/api/v1/activities/99/proof", 404, ""},
		{"an id that is not a number", "/api/v1/activities/x/proof", 400, "id"},
		{"consistency without from", "/api/v1/consistency", 400, "from"},
		{"consistency from an unpublished size", "/api/v1/consistency?from=5", 400, "from"},
		{"consistency backwards", fmt.Sprintf("/api/v1/consistency?from=%d&to=0", size), 400, "from"},
	}
	e.publishEmpty(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := e.do(t, "GET", c.path, e.full, "")
			if status != c.status || (c.field != "" && !strings.Contains(string(body), `"field":"`+c.field+`"`)) {
				t.Fatalf("%d %s; want %d naming %q", status, body, c.status, c.field)
			}
		})
	}
}

func TestProofBundleExportVerifiesOffline(t *testing.T) {
	e := newAPIEnv(t)
	for i := range 9 {
		e.record(t, fmt.Sprintf(`{"activity_system_name":"USER_LOGIN","operator":"human","username":"u%d"}`, i%3))
	}
	size := e.publish(t)
	e.record(t, machineActivity) // after the checkpoint: not in the bundle
	status, header, body := e.do(t, "GET", "/api/v1/activities/export.bundle?username=u1", e.full, "")
	if status != 200 || !strings.HasSuffix(header.Get("Content-Disposition"), ".bundle.json") {
		t.Fatalf("bundle export: %d %s", status, header.Get("Content-Disposition"))
	}
	v, err := tlog.NewVerifier(e.signer.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	report, err := tlog.VerifyBundle(strings.NewReader(string(body)), v)
	if err != nil {
		t.Fatal(err)
	}
	if report.Activities != 3 || report.Size != size {
		t.Fatalf("the bundle holds %d activities against size %d; want u1's 3 against %d", report.Activities, report.Size, size)
	}
	forged := strings.Replace(string(body), `"username":"u1"`, `"username":"u2"`, 1)
	if _, err := tlog.VerifyBundle(strings.NewReader(forged), v); err == nil {
		t.Fatal("a bundle with an edited activity verified")
	}
}
