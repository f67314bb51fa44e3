// Package http is the HTTP API of the service: JSON over net/http with
// bearer-token authentication, permission checks in one place, the error
// table and the health and metrics endpoints.
package http

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/export"
)

// Config configures a Server.
type Config struct {
	Store  auditlog.Store
	Logger *slog.Logger
	// VerifierKey is the log's checkpoint verifier key in signed-note form.
	VerifierKey string
}

// Server serves the API. It is an http.Handler.
type Server struct {
	store       auditlog.Store
	verifierKey string
	log         *slog.Logger
	mux         *http.ServeMux
	metrics     *metrics
}

// NewServer builds the routes.
func NewServer(cfg Config) *Server {
	s := &Server{store: cfg.Store, verifierKey: cfg.VerifierKey, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.metrics = newMetrics()

	// Every authenticated route names the permission it needs here, and
	// nowhere else: see authorize.
	s.route("POST /api/v1/activities", auditlog.PermActivitiesWrite, s.handleRecordActivities)
	s.route("GET /api/v1/activities", auditlog.PermActivitiesRead, s.handleListActivities)
	s.route("GET /api/v1/activities/{id}", auditlog.PermActivitiesRead, s.handleGetActivity)
	s.route("GET /api/v1/activities/export.csv", auditlog.PermActivitiesExport, s.handleExport(export.CSV))
	s.route("GET /api/v1/activities/export.jsonl", auditlog.PermActivitiesExport, s.handleExport(export.JSONL))
	s.route("GET /api/v1/activities/export.bundle", auditlog.PermActivitiesExport, s.handleExport(export.Bundle))
	s.route("GET /api/v1/activities/{id}/proof", auditlog.PermActivitiesRead, s.handleInclusionProof)
	s.route("GET /api/v1/consistency", auditlog.PermActivitiesRead, s.handleConsistencyProof)
	s.route("GET /api/v1/checkpoint", auditlog.PermActivitiesRead, s.handleCheckpoint)
	s.route("GET /api/v1/checkpoint/key", auditlog.PermActivitiesRead, s.handleCheckpointKey)
	s.route("GET /api/v1/activity-types", anyPermission, s.handleListActivityTypes)
	s.route("POST /api/v1/activity-types", auditlog.PermAdmin, s.handleCreateActivityType)

	s.public("GET /api/v1/openapi.json", s.handleOpenAPI)
	s.public("GET /healthz", s.handleHealth)
	s.public("GET /readyz", s.handleReady)
	s.public("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP)
	s.public("GET /{$}", s.handleHome)
	s.public("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, auditlog.Errorf(auditlog.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	s.mux.ServeHTTP(rec, r)

	pattern := r.Pattern // set by the mux to the route that matched
	if pattern == "" {
		pattern = "unmatched"
	}
	elapsed := time.Since(start)
	s.metrics.requests.WithLabelValues(pattern, strconv.Itoa(rec.status)).Inc()
	s.metrics.duration.WithLabelValues(pattern).Observe(elapsed.Seconds())
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int("status", rec.status), slog.Duration("duration", elapsed))
}

// statusRecorder remembers the status a handler wrote, for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) public(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
}

type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	recorded prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "auditlog_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "auditlog_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"route"}),
		recorded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditlog_activities_recorded_total", Help: "Activities recorded through the API.",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.recorded,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(openAPIDocument)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.store.Ping(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("store unavailable\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

const homePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>auditlog</title></head>
<body><h1>auditlog</h1>
<p>The HTTP API is served under <code>/api/v1</code>; its reference is
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p></body></html>
`

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Write([]byte(homePage))
}
