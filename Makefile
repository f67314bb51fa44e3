# The test target brings up everything the suite needs, so that `make test`
# passes on a fresh machine.
GO       ?= go
FUZZTIME ?= 30s
# The search index on SQLite is FTS5, which go-sqlite3 compiles in with
# this tag: every go command of the project passes it.
TAGS     := sqlite_fts5

.PHONY: test build serve bench fuzz

# The PostgreSQL store's tests use the server on 127.0.0.1:5432, which
# .ci/postgres starts (installing it when absent).
AUDITLOG_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test?sslmode=disable
export AUDITLOG_TEST_DATABASE_URL

# Peers the tests run for real: the tlog-witness litewitness (and its
# witnessctl), from filippo.io/torchwood, with its key in an ssh-agent.
TOOLS       := $(CURDIR)/.tools
TORCHWOOD   := filippo.io/torchwood/cmd
TORCHWOOD_V := v0.6.1

# The web UI's browser tests drive Debian's chromium, installed when missing.
# The syslog stream's tests run private rsyslogd instances (never the
# system's service), over TLS with the GnuTLS driver of rsyslog-gnutls;
# the NATS stream's tests use the machine's NATS server, or start
# Debian's nats-server on a free port when there is none.
test:
	./.ci/postgres
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	command -v ssh-agent >/dev/null || (apt-get update && apt-get install -y openssh-client)
	command -v rsyslogd >/dev/null && dpkg -s rsyslog-gnutls >/dev/null 2>&1 || (apt-get update && apt-get install -y rsyslog rsyslog-gnutls)
	command -v nats-server >/dev/null || test -x /usr/sbin/nats-server || (apt-get update && apt-get install -y nats-server)
	GOBIN=$(TOOLS) $(GO) install $(TORCHWOOD)/litewitness@$(TORCHWOOD_V) $(TORCHWOOD)/witnessctl@$(TORCHWOOD_V)
	PATH="$(TOOLS):$$PATH" $(GO) tool gotestsum --format pkgname-and-test-fails -- -tags $(TAGS) -race -count=1 -timeout 30m ./...

build:
	$(GO) build -tags $(TAGS) -o auditlog ./cmd/auditlog

serve:
	$(GO) run -tags $(TAGS) ./cmd/auditlog serve

# Benchmarks against the targets in docs/performance.md (well over half an
# hour on a 2-core machine: the fills go from empty to 1,000,000 activities,
# PostgreSQL's to 400,000; AUDITLOG_BENCH_OUT=FILE also writes the markdown
# tables to FILE).
bench:
	./.ci/postgres
	GOBIN=$(TOOLS) $(GO) install $(TORCHWOOD)/litewitness@$(TORCHWOOD_V) $(TORCHWOOD)/witnessctl@$(TORCHWOOD_V)
	PATH="$(TOOLS):$$PATH" $(GO) test -tags $(TAGS) ./bench/ -run '^$$' -bench . -benchtime 1x -timeout 90m

# Runs every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -tags $(TAGS) -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -tags $(TAGS) $$pkg -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) || exit 1; \
	  done; \
	done
