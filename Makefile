# otelcol-es — see README.md. Every target works on a fresh machine with Go 1.26 and network access
# to the Go module proxy; `make test` first installs what its tests need besides Go (test-deps).

GO         ?= go
BIN        := bin/otelcol-es
RACE_BIN   := bin/otelcol-es-race
SIDECAR_BIN := bin/otelcol-es-sidecar
DEMO_BIN   := bin/esdemo
LOAD_BIN   := bin/esload
VIEW_BIN   := bin/esview
# The release: dist.version of builder-config.yaml (ocb writes it into main.go as a literal, out of -X's
# reach, so it is read here too) and the git commit, for `otelcol-es --version` and the image's labels.
VERSION    := $(shell sed -n 's/^  version: *//p' builder-config.yaml)
COMMIT     := $(or $(COMMIT),$(shell git describe --always --dirty --abbrev=12 --match='v[0-9]*' 2>/dev/null),unknown)
VERSION_LDFLAGS := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
IMAGE      ?= localhost/otelcol-es:$(VERSION)
SIDECAR_IMAGE ?= localhost/otelcol-es-sidecar:$(VERSION)
COMPONENTS := processor/cqrsside processor/projectionlag processor/cqrsmetricsdrop connector/spanmetrics-es
# Modules with their own go.mod, tested separately (deploy: the manifests' and rules' tests, with k8s.io/api).
MODULES    := . eventsource/semconv eventsource eventsource/sqlitestore eventsource/pgstore eventsource/kafkabus eventsource/rabbitbus eventsource/cmd/esdemo eventsource/cmd/esoutbox reliability deploy
# `make test` also covers the benchmark module and the distribution (its default-config hook); the two
# suites that mostly wait (the root module's e2e, reliability) start first.
TEST_MODULES := . reliability $(filter-out . reliability,$(MODULES)) bench cmd/otelcol-es
GOTESTFLAGS ?= -race -count=1
export OTELCOL_ES_BIN := $(CURDIR)/$(BIN)
export OTELCOL_ES_SIDECAR_BIN := $(CURDIR)/$(SIDECAR_BIN)
export OTELCOL_ES_DEMO_BIN := $(CURDIR)/$(DEMO_BIN)
export OTELCOL_ES_LOAD_BIN := $(CURDIR)/$(LOAD_BIN)
export OTELCOL_ES_VIEW_BIN := $(CURDIR)/$(VIEW_BIN)
export OTELCOL_ES_IMAGE := $(IMAGE)
# The image test builds with buildah and runs the image with chroot: root only. Elsewhere `make test` skips
# it, and says so.
ifneq ($(shell id -u),0)
export OTELCOL_ES_SKIP_IMAGE_TEST ?= 1
endif

.PHONY: all build build-race build-sidecar demo load view image image-sidecar run test test-race-bin test-deps deps-report soak bench bench-e2e bench-cardinality bench-ci lint generate check-generated fuzz fuzz-ci clean

all: build

# The distribution, from the ocb output in cmd/otelcol-es (see builder-config.yaml): static (CGO_ENABLED=0,
# so the FROM scratch image runs it), stripped, with the version and commit. No -trimpath, and `lint` vets
# it with CGO_ENABLED=0 too: both then share every compiled package, and a cold CI compiles the tree once
# for them.
build:
	cd cmd/otelcol-es && CGO_ENABLED=0 $(GO) build -ldflags '-s -w $(VERSION_LDFLAGS)' -o ../../$(BIN) .

# The lean sidecar build (builder-sidecar.yaml): only the components config/sidecar.yaml runs, so a sidecar
# per pod idles at a fraction of the full distribution's memory.
build-sidecar:
	cd cmd/otelcol-es-sidecar && CGO_ENABLED=0 $(GO) build -ldflags '-s -w' -o ../../$(SIDECAR_BIN) .

# The same distribution with the race detector, for the end-to-end and reliability tests (`make test`).
# No -trimpath: `go test -race` compiles without it, and so shares every package compiled here.
build-race:
	cd cmd/otelcol-es && $(GO) build -race -ldflags '$(VERSION_LDFLAGS)' -o ../../$(RACE_BIN) .

demo:
	cd eventsource/cmd/esdemo && $(GO) build -o ../../../$(DEMO_BIN) .

# esview: the live table `make run` shows, from the collector's /metrics.
view:
	$(GO) build -o $(VIEW_BIN) ./cmd/esview

# The container image (Dockerfile: FROM scratch, the static binary, CA certificates, a non-root user), built
# with buildah (Debian: apt-get install -y buildah; root) from a staging context holding only what it copies.
image: build
	rm -rf bin/image && mkdir -p bin/image
	cp $(BIN) bin/image/otelcol-es
	cp /etc/ssl/certs/ca-certificates.crt bin/image/
	buildah build --quiet --layers=false -f Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
	  -t $(IMAGE) bin/image

# The sidecar image: the same layout around the lean sidecar build (deploy/kubernetes/sidecar.yaml runs it).
image-sidecar: build-sidecar
	rm -rf bin/image-sidecar && mkdir -p bin/image-sidecar
	cp $(SIDECAR_BIN) bin/image-sidecar/otelcol-es
	cp /etc/ssl/certs/ca-certificates.crt bin/image-sidecar/
	buildah build --quiet --layers=false -f Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
	  --build-arg TITLE=otelcol-es-sidecar --build-arg DESCRIPTION="otelcol-es for a sidecar next to one app" \
	  -t $(SIDECAR_IMAGE) bin/image-sidecar

# esload: a CQRS span stream at a fixed rate into an OTLP/gRPC endpoint, with the totals it sent (JSON).
load:
	$(GO) build -o $(LOAD_BIN) ./cmd/esload

# Starts otelcol-es on its embedded default config (config/default.yaml), the demo workload against it and
# the live view (bin/esview); `make run DEBUG=1` shows the debug exporter instead (scripts/run.sh).
# Metrics: http://127.0.0.1:8889/metrics . Ctrl-C stops both.
run: build demo view
	./scripts/run.sh

# Every test, with the race detector, module by module, up to TEST_JOBS modules at once: the end-to-end and
# reliability suites mostly wait on real time (exports, scrapes, a 60 s soak) while the others compile, so
# a cold machine spends its two cores on compiling rather than on sleeping. Each module's output is printed
# whole when it ends (--output-sync). The end-to-end and reliability tests run the distribution built once
# by `build` (a cold build of it takes 11-17 minutes on two cores; a second, -race build would double that:
# `make test-race-bin` runs both suites against one, and any data race it reports fails them) and the
# binaries built once by `demo` and `load`. The distribution's own tests (cmd/otelcol-es: the default-config
# hook) compile every component, so they run as `build` compiles, without -race, and share its packages;
# the components' concurrency is raced in their own packages and in internal/pipelinetest.
# TEST_EXTRA names more targets for the same pool, after the modules (CI: fuzz-ci bench-ci): they start when
# the short modules are done and use the cores the two waiting suites leave idle.
TEST_JOBS ?= 3
TEST_EXTRA ?=
test: test-deps build build-sidecar demo load view
	@if [ "$$OTELCOL_ES_SKIP_IMAGE_TEST" = 1 ]; then echo "OTELCOL_ES_SKIP_IMAGE_TEST=1: the image test is skipped (it needs root)"; fi
	@$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target $(addprefix test-module/,$(TEST_MODULES)) $(TEST_EXTRA)

# The collector's -race build under the end-to-end and reliability suites.
test-race-bin: build build-race build-sidecar demo load view
	@$(MAKE) --no-print-directory test-module/e2e test-module/reliability OTELCOL_ES_BIN=$(CURDIR)/$(RACE_BIN)

# One module's tests (`.` is the root module; e2e is the root module's e2e package alone).
test-module/%:
	@echo "== go test $*"
	@cd $(if $(filter e2e,$*),.,$*) && OTELCOL_ES_RELEASE_BIN=$(CURDIR)/$(BIN) $(if $(filter cmd/otelcol-es,$*),CGO_ENABLED=0) \
	  $(GO) test $(if $(filter cmd/otelcol-es,$*),$(filter-out -race,$(GOTESTFLAGS)),$(GOTESTFLAGS)) -timeout 30m $(if $(filter e2e,$*),./e2e,./...)

# What the tests need besides Go (prometheus/promtool, postgresql, buildah), installed from Debian's packages
# with one apt-get run (sudo when not root) when missing, or a stop at once with the command that would.
test-deps:
	@./scripts/test-deps.sh

# Every collector/contrib pin in every go.mod and ocb manifest next to the newest listed version.
deps-report:
	@./scripts/deps-report.sh

# R1: 80% of the measured saturation (esload) plus the demo application against otelcol-es for 10 minutes,
# every span, command, query and projection apply accounted for, and the rate actually sustained.
soak: build demo load
	cd reliability && $(GO) test -count=1 -v -timeout 30m -run TestSoak . -soak.duration=10m -soak.strict

# Side-by-side micro-benchmarks against contrib (bench/ module, 10 interleaved rounds, benchstat), and
# the end-to-end load harness (floor vs otelcol-es vs contrib-equivalent). See docs/benchmarks.md.
bench:
	$(MAKE) -C bench micro

bench-e2e: build
	$(MAKE) -C bench e2e

bench-cardinality: build
	$(MAKE) -C bench cardinality

# CI only keeps the benchmarks compiling and running once; it asserts no timing. With -race, as `make test`:
# their packages are compiled already.
bench-ci:
	$(GO) test -race -run '^$$' -bench . -benchtime 1x ./processor/... ./connector/...
	$(MAKE) -C bench micro-ci GOTESTFLAGS=-race

# Fuzz every target for 10 minutes each (make fuzz), or 10,000 inputs each in CI (make fuzz-ci, about 10 s for
# the slowest target on a loaded machine; the committed corpora are replayed by every go test as well). CI
# counts inputs rather than time: Go 1.26's fuzzer can end a timed run with a spurious "context deadline
# exceeded" failure when a worker is slow to stop on a loaded machine (golang/go#75804, fixed in Go 1.27).
fuzz:
	./scripts/fuzz.sh 10m

fuzz-ci:
	./scripts/fuzz.sh 10000x

# vet compiles what it checks: with -race for the modules `make test` tests with -race, as build does for
# the two distributions, so a cold machine compiles each package once for lint and the tests or the build.
lint:
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@for m in $(MODULES) bench; do (cd $$m && $(GO) vet -race ./...) || exit 1; done
	@for m in cmd/otelcol-es cmd/otelcol-es-sidecar; do (cd $$m && CGO_ENABLED=0 $(GO) vet ./...) || exit 1; done

# Regenerates component metadata (mdatagen) and the distribution's sources (ocb) without compiling.
generate:
	@# A folder whose name is not a Go identifier (connector/spanmetrics-es) brings its own mdatagen.sh.
	@for c in $(COMPONENTS); do \
	  if [ -x $$c/mdatagen.sh ]; then $$c/mdatagen.sh; else (cd $$c && $(GO) tool mdatagen metadata.yaml); fi || exit 1; \
	done
	$(GO) tool builder --config builder-config.yaml --skip-compilation
	$(GO) tool builder --config builder-sidecar.yaml --skip-compilation
	gofmt -w cmd/otelcol-es cmd/otelcol-es-sidecar

# Fails when the committed generated code differs from what `generate` produces.
check-generated: generate
	@git diff --exit-code -- cmd/otelcol-es cmd/otelcol-es-sidecar $(COMPONENTS) || (echo "generated code is out of date: run 'make generate' and commit"; exit 1)
	@untracked=$$(git status --porcelain --untracked-files=all -- cmd/otelcol-es cmd/otelcol-es-sidecar $(COMPONENTS) | grep '^??'); \
	  if [ -n "$$untracked" ]; then echo "untracked generated files:"; echo "$$untracked"; exit 1; fi

clean:
	rm -rf bin
