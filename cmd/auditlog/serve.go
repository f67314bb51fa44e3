package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/auditlog/auditlog"
	apihttp "github.com/auditlog/auditlog/http"
	"github.com/auditlog/auditlog/password"
	"github.com/auditlog/auditlog/stream"
	"github.com/auditlog/auditlog/tlog"
	"github.com/auditlog/auditlog/witness"
)

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	addr := fs.String("addr", envOr("AUDITLOG_ADDR", "127.0.0.1:8080"), "address to listen on (env AUDITLOG_ADDR)")
	logFormat := fs.String("log-format", envOr("AUDITLOG_LOG_FORMAT", "text"), "log format: text or json (env AUDITLOG_LOG_FORMAT)")
	tlsCert := fs.String("tls-cert", os.Getenv("AUDITLOG_TLS_CERT"), "serve HTTPS with this PEM certificate (chain) file (env AUDITLOG_TLS_CERT); needs --tls-key")
	tlsKey := fs.String("tls-key", os.Getenv("AUDITLOG_TLS_KEY"), "the PEM private key of --tls-cert (env AUDITLOG_TLS_KEY)")
	proxies := fs.String("trusted-proxies", os.Getenv("AUDITLOG_TRUSTED_PROXIES"),
		"comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (env AUDITLOG_TRUSTED_PROXIES)")
	sessionTTL := fs.Duration("session-ttl", envDuration("AUDITLOG_SESSION_TTL", 12*time.Hour), "a login session's absolute lifetime (env AUDITLOG_SESSION_TTL)")
	sessionIdle := fs.Duration("session-idle", envDuration("AUDITLOG_SESSION_IDLE", time.Hour), "a login session ends after this long unused (env AUDITLOG_SESSION_IDLE)")
	metricsToken := fs.String("metrics-token", os.Getenv("AUDITLOG_METRICS_TOKEN"),
		"a bearer token that may read /metrics, for a Prometheus scraper (env AUDITLOG_METRICS_TOKEN); without it /metrics needs the admin permission")
	publicLog := fs.Bool("public-log", os.Getenv("AUDITLOG_PUBLIC_LOG") == "true",
		"serve the checkpoint and the hash tiles under /tlog/ to anyone, for witnesses and monitors without a token (env AUDITLOG_PUBLIC_LOG=true); the entries still need activities:read")
	var witnesses []witness.Witness
	fs.Func("witness", `a witness to submit each checkpoint to: "<verifier key> <add-checkpoint URL prefix>", the key in cosignature/v1 form as the witness prints it (repeatable)`, func(v string) error {
		w, err := witness.Parse(v)
		if err == nil {
			witnesses = append(witnesses, w)
		}
		return err
	})
	policyFile := fs.String("witness-policy", os.Getenv("AUDITLOG_WITNESS_POLICY"), "a witness policy file (witness NAME KEY URL, group, quorum lines, as tessera reads them) whose witnesses each checkpoint goes to (env AUDITLOG_WITNESS_POLICY)")
	witnessInterval := fs.Duration("witness-interval", envDuration("AUDITLOG_WITNESS_INTERVAL", 500*time.Millisecond),
		"at most one checkpoint per witness per interval (public witnesses ask for a bound on a log's add-checkpoint rate; env AUDITLOG_WITNESS_INTERVAL)")
	var sf storeFlags
	var kf keyFlags
	sf.register(fs)
	kf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *policyFile != "" {
		policy, err := witness.LoadPolicy(*policyFile)
		if err != nil {
			return auditlog.FieldErrorf("--witness-policy", "%v", err)
		}
		witnesses = append(witnesses, policy.Witnesses...)
	}
	if *witnessInterval <= 0 {
		return auditlog.FieldErrorf("--witness-interval", "must be positive, not %v", *witnessInterval)
	}
	var handler slog.Handler
	switch *logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(stderr, nil)
	default:
		return auditlog.FieldErrorf("--log-format", "--log-format must be text or json")
	}
	log := slog.New(handler)
	trusted, err := parseProxies(*proxies)
	if err != nil {
		return err
	}
	tlsConfig, err := loadTLS(*tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	if err := checkEnvDurations("AUDITLOG_SESSION_TTL", "AUDITLOG_SESSION_IDLE"); err != nil {
		return err
	}
	if *metricsToken != "" && len(*metricsToken) < 16 {
		return auditlog.FieldErrorf("--metrics-token", "--metrics-token must be at least 16 characters: it guards what the metrics tell about the service")
	}
	if *sessionTTL < time.Minute || *sessionIdle < time.Minute {
		return auditlog.FieldErrorf("--session-ttl", "--session-ttl and --session-idle must be at least a minute")
	}

	// The address first: a port already taken is reported before anything
	// is created.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	defer ln.Close()

	store, err := sf.open(ctx, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := bootstrapAdmin(ctx, store, log); err != nil {
		return err
	}
	signer, created, err := kf.signer(&sf, true)
	if err != nil {
		return err
	}
	if created {
		log.Info("created the checkpoint signing key", "file", kf.path(&sf))
	}
	log.Info("checkpoints are signed by", "origin", signer.Origin(), "verifier_key", signer.VerifierKey)
	checkpointer := &tlog.Checkpointer{Store: store, Signer: signer, Log: log, Saved: sf.savedCheckpoint()}
	if err := os.MkdirAll(sf.data, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	if _, err := checkpointer.Publish(ctx); err != nil {
		return fmt.Errorf("publish a checkpoint: %w", err)
	}
	cpCtx, stopCheckpoints := context.WithCancel(context.WithoutCancel(ctx))
	cpDone := make(chan struct{})
	go func() { checkpointer.Run(cpCtx); close(cpDone) }()
	defer func() { stopCheckpoints(); <-cpDone }()
	// Streams deliver in the background; on several nodes, each stream
	// from one node at a time (a lease in the store).
	sCtx, stopStreams := context.WithCancel(ctx)
	sDone := make(chan struct{})
	go func() {
		(&stream.Runner{Store: store, Node: nodeName(), Origin: signer.Origin(), Log: log}).Run(sCtx)
		close(sDone)
	}()
	defer func() { stopStreams(); <-sDone }()
	if len(witnesses) > 0 {
		// Witnesses cosign in the background: one that is down delays
		// only its own cosignatures, never recording.
		wCtx, stopWitnessing := context.WithCancel(ctx)
		wDone := make(chan struct{})
		go func() {
			(&witness.Submitter{Store: store, Witnesses: witnesses, Log: log, Every: *witnessInterval}).Run(wCtx)
			close(wDone)
		}()
		defer func() { stopWitnessing(); <-wDone }()
	}

	srv := &http.Server{
		Handler: apihttp.NewServer(apihttp.Config{Store: store, Logger: log, VerifierKey: signer.VerifierKey, Trusted: checkpointer.Trusted, MetricsToken: *metricsToken,
			PublicLog: *publicLog, TrustedProxies: trusted, SessionTTL: *sessionTTL, SessionIdle: *sessionIdle,
			// Every node that holds the signing key knows the same devices.
			DeviceKey: signer.DeriveKey("login throttle device cookies")}),
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(handler, slog.LevelWarn),
	}
	scheme := "http://"
	if tlsConfig != nil {
		scheme = "https://"
		ln = tls.NewListener(ln, tlsConfig)
	}
	log.Info("serving", "addr", scheme+ln.Addr().String(), "store", sf.location())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	// Sign what was recorded up to the last request, so that nothing the
	// service acknowledged waits for its next start to be covered: once
	// the periodic signing has stopped, so that the two never sign at once.
	stopCheckpoints()
	<-cpDone
	if _, err := checkpointer.Publish(shutdownCtx); err != nil {
		return fmt.Errorf("publish the last checkpoint: %w", err)
	}
	return nil
}

// parseProxies reads --trusted-proxies: addresses or CIDR ranges.
func parseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, auditlog.FieldErrorf("--trusted-proxies", "%q is neither an address nor a CIDR range", item)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// loadTLS reads the certificate and key of --tls-cert and --tls-key, or
// returns nil when neither is given.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "" || keyFile == "":
		return nil, auditlog.FieldErrorf("--tls-cert", "give both --tls-cert and --tls-key, or neither")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, auditlog.FieldErrorf("--tls-cert", "load the TLS certificate and key: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// bootstrapAdmin creates the admin user of the System Admin group on first
// start. Its password comes from AUDITLOG_ADMIN_PASSWORD, or is generated
// and logged this once.
func bootstrapAdmin(ctx context.Context, store auditlog.Store, log *slog.Logger) error {
	pw, given := os.LookupEnv("AUDITLOG_ADMIN_PASSWORD")
	if given {
		if err := password.Check("AUDITLOG_ADMIN_PASSWORD", pw); err != nil {
			return err
		}
	}
	if !given {
		pw = password.Generate()
	}
	created, err := store.Bootstrap(ctx, password.Hash(pw, password.Default))
	if err != nil {
		return fmt.Errorf("create the admin user: %w", err)
	}
	switch {
	case created && given:
		log.Info("created the admin user in the System Admin group", "username", auditlog.AdminUsername, "password", "from AUDITLOG_ADMIN_PASSWORD")
	case created:
		log.Warn("created the admin user in the System Admin group; this password is shown only once",
			"username", auditlog.AdminUsername, "password", pw)
	case given:
		log.Warn("AUDITLOG_ADMIN_PASSWORD is read on the first start only and was ignored: the admin user exists; to change its password, run: auditlog user edit --username admin --password-stdin")
	}
	return nil
}

// nodeName names this process among the nodes of one store, in the
// streams' leases: the host, the process and a random part, so that a
// restarted node never takes its predecessor's lease for its own.
func nodeName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}
