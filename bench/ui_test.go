package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
)

const (
	targetPageP95 = 100 * time.Millisecond // every web UI page view, 1,000,000 activities
	pageRequests  = 50                     // timed requests per page view
)

// uiPage is one kind of web UI page view: its path, drawn afresh for every
// request from the stored data, and whether it needs a session.
type uiPage struct {
	name   string
	path   func(rng *rand.Rand, s *sample) string
	public bool
}

// uiPages are the Audit Log with every filter of the list benchmark, a
// later page, a detail page, the administration tabs and the login page.
func uiPages() []uiPage {
	pages := []uiPage{}
	for _, f := range listFilters() {
		pages = append(pages, uiPage{name: "Audit Log, " + f.name, path: func(rng *rand.Rand, s *sample) string {
			return "/admin/audit-log?" + f.query(rng, s).Encode()
		}})
	}
	return append(pages,
		uiPage{name: "Audit Log, a later page (cursor)", path: func(rng *rand.Rand, s *sample) string {
			return "/admin/audit-log?" + url.Values{"cursor": {auditlog.EncodeCursor(1 + rng.Int64N(s.maxID))}, "position": {"1001"}}.Encode()
		}},
		uiPage{name: "activity detail", path: func(rng *rand.Rand, s *sample) string {
			return fmt.Sprintf("/admin/audit-log/%d", 1+rng.Int64N(s.maxID))
		}},
		uiPage{name: "Users", path: func(*rand.Rand, *sample) string { return "/admin/users" }},
		uiPage{name: "Permission Groups", path: func(*rand.Rand, *sample) string { return "/admin/groups" }},
		uiPage{name: "API Tokens", path: func(*rand.Rand, *sample) string { return "/admin/tokens" }},
		uiPage{name: "Sessions", path: func(*rand.Rand, *sample) string { return "/admin/sessions" }},
		uiPage{name: "login", path: func(*rand.Rand, *sample) string { return "/" }, public: true},
	)
}

// BenchmarkWebUIPages: every web UI page view rendered by the server for
// a logged-in System Admin, on the store of 1,000,000 activities spread
// over 30 days, from one sequential client. An Audit Log view holds the
// table's page of 50, the filter form with the catalogue, the histogram
// (its counting queries) and the total.
func BenchmarkWebUIPages(b *testing.B) {
	perPage := envInt(b, "AUDITLOG_BENCH_PAGE_REQUESTS", pageRequests)
	dir, fill := queryDataset(b)
	smp, err := sampleDataset(dir)
	if err != nil {
		b.Fatal(err)
	}
	rep := newReport(b, fmt.Sprintf("Web UI: every page view, %d activities", smp.count))
	s := startServer(b, dir)
	cookie, err := s.login(auditlog.AdminUsername, "bench-admin-password")
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	pages := uiPages()
	durations := make([][]time.Duration, len(pages))
	examples := make([]string, len(pages))
	// One untimed round warms the server; the timed rounds interleave the
	// pages, so that a burst of load from elsewhere spreads over all.
	for round := -1; round < perPage; round++ {
		for i, p := range pages {
			path := p.path(rng, smp)
			c := cookie
			if p.public {
				c = ""
			}
			start := time.Now()
			err := s.page(path, c)
			d := time.Since(start)
			if err != nil {
				b.Fatalf("%s: %v", p.name, err)
			}
			if round < 0 {
				continue
			}
			durations[i] = append(durations[i], d)
			if examples[i] == "" {
				examples[i], _ = url.QueryUnescape(path)
			}
		}
	}
	s.stop()
	rep.printf("Dataset: %d activities from `auditlog demo --count %d` (%s), spread over %s to %s; %d timed requests per page view, one sequential client with a session cookie, HTML read in full; times measured by the client over loopback.\n\n",
		smp.count, smp.count, fill, smp.firstDay.Format(time.DateOnly), smp.lastDay.Format(time.DateOnly), perPage)
	rep.printf("| page view | example path | p50 ms | p95 ms | max ms | p95 ≤ %d ms |\n|---|---|---:|---:|---:|---|\n", targetPageP95/time.Millisecond)
	var worst time.Duration
	failed := 0
	for i, p := range pages {
		ds := durations[i]
		slices.Sort(ds)
		p95 := percentile(ds, 0.95)
		worst = max(worst, p95)
		if p95 > targetPageP95 {
			failed++
		}
		rep.printf("| %s | `%s` | %.1f | %.1f | %.1f | %s |\n", p.name, strings.ReplaceAll(examples[i], "|", `\|`),
			ms(percentile(ds, 0.50)), ms(p95), ms(ds[len(ds)-1]), passFail(p95 <= targetPageP95))
	}
	rep.verdict("worst p95 %.1f ms, %d of %d page views over (target ≤ %d ms for every page view): %s",
		ms(worst), failed, len(pages), targetPageP95/time.Millisecond, passFail(failed == 0))
	rep.flush()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(worst), "worst_p95_ms")
	b.ReportMetric(float64(failed), "pages_over_target")
}

// login opens a session through the session API and returns its cookie.
func (s *server) login(username, password string) (string, error) {
	body, err := json.Marshal(map[string]string{"username": username, "password": password})
	if err != nil {
		return "", err
	}
	resp, err := s.client.Post(s.base+"/api/v1/session", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "auditlog_session" {
			return c.Value, nil
		}
	}
	return "", fmt.Errorf("login as %s: status %d without a session cookie", username, resp.StatusCode)
}

// page gets a web UI page with the session cookie (none when empty) and
// reads it whole; it fails unless the answer is a whole HTML page.
func (s *server) page(path, cookie string) error {
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		return err
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "auditlog_session", Value: cookie})
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !bytes.HasSuffix(bytes.TrimSpace(out), []byte("</html>")) {
		return fmt.Errorf("GET %s: status %d: %.300s", path, resp.StatusCode, out)
	}
	return nil
}
