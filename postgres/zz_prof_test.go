package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/catalog"
	"github.com/auditlog/auditlog/demo"
	apihttp "github.com/auditlog/auditlog/http"
)

func TestZZIngestProfile(t *testing.T) {
	db := open(t, nil)
	secret := auditlog.GenerateTokenSecret()
	if _, err := db.CreateToken(context.Background(), auditlog.NewToken{Name: "x", Scopes: []auditlog.Permission{auditlog.PermActivitiesWrite}}, secret); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(apihttp.NewServer(apihttp.Config{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	g := demo.New(1, catalog.Builtin())
	const batches = 60
	bodies := make([][]byte, batches)
	for i := range bodies {
		acts := make([]auditlog.NewActivity, 1000)
		for j := range acts {
			a := g.Next()
			extra := map[string]any{}
			json.Unmarshal(a.Extra, &extra)
			extra["user_agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
			extra["trace_id"] = fmt.Sprintf("%032d", i*1000+j)
			a.Extra, _ = json.Marshal(extra)
			a.EventID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i*1000+j)
			acts[j] = a
		}
		bodies[i], _ = json.Marshal(map[string]any{"activities": acts})
	}
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan []byte, batches)
	for _, b := range bodies {
		next <- b
	}
	close(next)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/activities", bytes.NewReader(b))
				req.Header.Set("Authorization", "Bearer "+secret)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != 201 {
					t.Error(err, resp.StatusCode)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	t.Logf("%d rows in %v: %.0f rows/s", batches*1000, d, float64(batches*1000)/d.Seconds())
}
