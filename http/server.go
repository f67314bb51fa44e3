// Package http is the HTTP API of the service: JSON over net/http with
// bearer-token and session authentication, permission checks in one place,
// login throttling, the error table and the health and metrics endpoints.
package http

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/auditlog/auditlog"
	"github.com/auditlog/auditlog/export"
	"github.com/auditlog/auditlog/password"
)

// Config configures a Server.
type Config struct {
	Store  auditlog.Store
	Logger *slog.Logger
	// VerifierKey is the log's checkpoint verifier key in signed-note form.
	VerifierKey string
	// MetricsToken, when set, is a bearer token that may read /metrics
	// (for a Prometheus scraper); without it, /metrics needs the admin
	// permission like the rest of the operations.
	MetricsToken string
	// PublicLog serves the checkpoint and the hash tiles under /tlog/ to
	// anyone, for witnesses and monitors that hold no token; the entries
	// still need activities:read.
	PublicLog bool
	// Trusted, when set, returns the latest checkpoint that the stored
	// tree was checked to extend (tlog.Checkpointer.Trusted), or why the
	// store is refused: the UI says "Verified" only against it. When nil,
	// the store's latest checkpoint is taken as it is.
	Trusted func() (*auditlog.Checkpoint, error)
	// TrustedProxies are the addresses of reverse proxies whose
	// X-Forwarded-For and X-Forwarded-Proto headers are believed.
	TrustedProxies []netip.Prefix
	// SessionTTL is the absolute lifetime of a session; 12 hours when 0.
	SessionTTL time.Duration
	// SessionIdle ends a session unused for this long; 1 hour when 0.
	SessionIdle time.Duration
	// LoginLimits throttle failed logins; DefaultLoginLimits when zero.
	LoginLimits LoginLimits
	// DeviceKey signs the device cookies of the login throttle; the nodes
	// of one installation share it. A random key when empty.
	DeviceKey []byte
	// PasswordParams are the argon2id costs of new password hashes;
	// password.Default when zero.
	PasswordParams password.Params
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server serves the API. It is an http.Handler.
type Server struct {
	store          auditlog.Store
	verifierKey    string
	trustedCP      func() (*auditlog.Checkpoint, error)
	log            *slog.Logger
	mux            *http.ServeMux
	metrics        *metrics
	now            func() time.Time
	crossOrigin    *http.CrossOriginProtection
	trustedProxies []netip.Prefix
	throttle       *loginThrottle
	sessionTTL     time.Duration
	sessionIdle    time.Duration
	passwordParams password.Params
	// dummyHash is verified against when a login names no user, so that
	// it costs what a wrong password costs.
	dummyHash      string
	pages          pages
	verifyPassword func(pw, hash string) (bool, error)
	// hashing holds a slot for each password check running.
	hashing chan struct{}
	// routes lists what NewServer registered, for the tests that hold
	// the routes, the policy and the OpenAPI document together.
	routes []routeInfo
}

// NewServer builds the routes.
func NewServer(cfg Config) *Server {
	s := &Server{store: cfg.Store, verifierKey: cfg.VerifierKey, trustedCP: cfg.Trusted, log: cfg.Logger, mux: http.NewServeMux(),
		now: cfg.Now, crossOrigin: http.NewCrossOriginProtection(), trustedProxies: cfg.TrustedProxies,
		sessionTTL: cfg.SessionTTL, sessionIdle: cfg.SessionIdle, passwordParams: cfg.PasswordParams,
		verifyPassword: password.Verify, hashing: make(chan struct{}, concurrentHashes())}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sessionTTL == 0 {
		s.sessionTTL = 12 * time.Hour
	}
	if s.sessionIdle == 0 {
		s.sessionIdle = time.Hour
	}
	if s.passwordParams == (password.Params{}) {
		s.passwordParams = password.Default
	}
	limits := cfg.LoginLimits
	if limits == (LoginLimits{}) {
		limits = DefaultLoginLimits
	}
	s.throttle = newLoginThrottle(limits, cfg.DeviceKey, s.now)
	s.dummyHash = password.Hash(password.Generate(), s.passwordParams)
	s.metrics = newMetrics()
	if cfg.Store != nil {
		s.metrics.registry.MustRegister(newWitnessCollector(cfg.Store), newStreamCollector(cfg.Store))
	}
	var err error
	if s.pages, err = parsePages(); err != nil {
		panic(err) // the templates are embedded: a parse error is caught by every test
	}

	// Every authenticated route names the permission it needs here, and
	// nowhere else: see authorize.
	s.route("POST /api/v1/activities", auditlog.PermActivitiesWrite, s.handleRecordActivities)
	s.route("GET /api/v1/activities", auditlog.PermActivitiesRead, s.handleListActivities)
	s.route("GET /api/v1/activities/{id}", auditlog.PermActivitiesRead, s.handleGetActivity)
	s.route("GET /api/v1/activities/export.csv", auditlog.PermActivitiesExport, s.handleExport(export.CSV))
	s.route("GET /api/v1/activities/export.jsonl", auditlog.PermActivitiesExport, s.handleExport(export.JSONL))
	s.route("GET /api/v1/activities/export.bundle", auditlog.PermActivitiesExport, s.handleExport(export.Bundle))
	s.route("GET /api/v1/activities/{id}/proof", auditlog.PermLogRead, s.handleInclusionProof)
	s.route("GET /api/v1/consistency", auditlog.PermLogRead, s.handleConsistencyProof)
	s.route("GET /api/v1/checkpoint", auditlog.PermLogRead, s.handleCheckpoint)
	s.route("GET /api/v1/checkpoint/key", auditlog.PermLogRead, s.handleCheckpointKey)
	s.route("GET /api/v1/witnesses", auditlog.PermLogRead, s.handleWitnesses)
	s.route("GET /api/v1/activity-types", anyPermission, s.handleListActivityTypes)
	s.route("POST /api/v1/activity-types", auditlog.PermAdmin, s.handleCreateActivityType)

	s.public("POST /api/v1/session", s.handleLogin)
	s.route("GET /api/v1/session", anyPermission, s.handleSession)
	s.route("DELETE /api/v1/session", anyPermission, s.handleLogout)

	s.route("GET /api/v1/users", auditlog.PermAdmin, s.handleListUsers)
	s.route("POST /api/v1/users", auditlog.PermAdmin, s.handleCreateUser)
	s.route("GET /api/v1/users/{username}", auditlog.PermAdmin, s.handleGetUser)
	s.route("PATCH /api/v1/users/{username}", auditlog.PermAdmin, s.handleUpdateUser)
	s.route("DELETE /api/v1/users/{username}", auditlog.PermAdmin, s.handleDeleteUser)
	s.route("POST /api/v1/users/{username}/restore", auditlog.PermAdmin, s.handleRestoreUser)
	s.route("DELETE /api/v1/users/{username}/sessions", auditlog.PermAdmin, s.handleRevokeSessions)
	s.route("GET /api/v1/groups", auditlog.PermAdmin, s.handleListGroups)
	s.route("POST /api/v1/groups", auditlog.PermAdmin, s.handleCreateGroup)
	s.route("DELETE /api/v1/groups", auditlog.PermAdmin, s.handleDeleteGroups)
	s.route("GET /api/v1/groups/{name}", auditlog.PermAdmin, s.handleGetGroup)
	s.route("PATCH /api/v1/groups/{name}", auditlog.PermAdmin, s.handleUpdateGroup)
	s.route("DELETE /api/v1/groups/{name}", auditlog.PermAdmin, s.handleDeleteGroups)
	s.route("DELETE /api/v1/groups/{name}/sessions", auditlog.PermAdmin, s.handleRevokeSessions)
	s.route("GET /api/v1/tokens", auditlog.PermAdmin, s.handleListTokens)
	s.route("POST /api/v1/tokens", auditlog.PermAdmin, s.handleCreateToken)
	s.route("DELETE /api/v1/tokens/{id}", auditlog.PermAdmin, s.handleRevokeToken)
	s.route("POST /api/v1/tokens/{id}/reset", auditlog.PermAdmin, s.handleResetToken)
	s.route("GET /api/v1/streams", auditlog.PermAdmin, s.handleListStreams)
	s.route("POST /api/v1/streams", auditlog.PermAdmin, s.handleCreateStream)
	s.route("GET /api/v1/streams/{id}", auditlog.PermAdmin, s.handleGetStream)
	s.route("DELETE /api/v1/streams/{id}", auditlog.PermAdmin, s.handleDeleteStream)
	s.route("POST /api/v1/streams/{id}/replay", auditlog.PermAdmin, s.handleReplayStream)
	s.route("POST /api/v1/streams/{id}/pause", auditlog.PermAdmin, s.handlePauseStream(true))
	s.route("POST /api/v1/streams/{id}/resume", auditlog.PermAdmin, s.handlePauseStream(false))
	s.route("GET /api/v1/sessions", auditlog.PermAdmin, s.handleListSessions)
	s.route("DELETE /api/v1/sessions/{id}", auditlog.PermAdmin, s.handleRevokeSessions)

	s.public("GET /api/v1/openapi.json", s.handleOpenAPI)
	s.public("GET /healthz", s.handleHealth)
	s.public("GET /readyz", s.handleReady)
	s.routes = append(s.routes, routeInfo{pattern: "GET /metrics", perm: auditlog.PermAdmin})
	s.mux.HandleFunc("GET /metrics", s.metricsHandler(cfg.MetricsToken, promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}).ServeHTTP))
	s.routeTiles(cfg.PublicLog)
	s.routeUI()
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
	h.Set("Content-Security-Policy", contentSecurityPolicy)
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

// public registers a handler that needs no credentials.
func (s *Server) public(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, routeInfo{pattern: pattern, public: true})
	s.mux.HandleFunc(pattern, h)
}

// routeInfo is a registered route and what it needs.
type routeInfo struct {
	pattern string
	perm    auditlog.Permission
	public  bool
	// ui marks a web UI page, outside the API and its OpenAPI document.
	ui bool
}

type metrics struct {
	registry        *prometheus.Registry
	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	recorded        prometheus.Counter
	loginsThrottled prometheus.Counter
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
		loginsThrottled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "auditlog_logins_throttled_total", Help: "Login attempts refused by the failed-login throttle.",
		}),
	}
	m.registry.MustRegister(m.requests, m.duration, m.recorded, m.loginsThrottled,
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

// concurrentHashes is how many password checks run at once: one per CPU
// (they are CPU-bound, so more only queue), and at least two.
func concurrentHashes() int { return max(2, runtime.GOMAXPROCS(0)) }

// metricsHandler serves the metrics to the bearer of token, when one is
// set, and to principals with the admin permission: they name the
// routes, the load and the failures of the service.
func (s *Server) metricsHandler(token string, h http.HandlerFunc) http.HandlerFunc {
	admin := s.authorized(auditlog.PermAdmin, h, s.fail)
	return func(w http.ResponseWriter, r *http.Request) {
		if bearer, err := parseBearer(r.Header.Get("Authorization")); token != "" && err == nil &&
			subtle.ConstantTimeCompare([]byte(bearer), []byte(token)) == 1 {
			h(w, r)
			return
		}
		admin(w, r)
	}
}
