# wgtorrent. Root is needed for the demo and for the tests that build network
# namespaces (they skip, saying so, without it; under `make check` they fail).
GO       ?= go
BIN      := bin/wgtorrent
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Debian packages the tests drive: real third-party peers, servers and probes.
# gcc and libc6-dev: the race detector needs cgo.
DEB_PKGS := wireguard-go wireguard-tools opentracker transmission-daemon transmission-cli \
            aria2 mktorrent tcpdump iperf3 iproute2 libcap2-bin tmux qbittorrent-nox \
            chromium-headless-shell emacs-nox elpa-transmission miniupnpd-nftables \
            dnsmasq-base gcc libc6-dev
# Packages tested again under the race detector (~2 min on 2 cores, build
# included): all but the e2e tests, which drive the built binary and take
# most of the suite's time, and the bench.
RACE_PKGS := ./client/... ./internal/rpc ./tui/... ./killswitch/... ./vpn/... ./cmd/... \
             ./internal/atomicfile ./internal/daemon ./internal/headless ./internal/lab/netlab \
             ./internal/lab/testenv ./internal/worker ./internal/session
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build test race check deps lint demo bench clean fuzz fuzz-short

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/wgtorrent

# The whole suite; lab tests need root and the packages from `make deps`.
# The patched anacrolix copy (third_party) is a module of its own: its
# tests of our patches are named here.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./... github.com/anacrolix/torrent

race:
	$(GO) test -race -count=1 -timeout 30m $(RACE_PKGS)

# What CI runs on a fresh machine: install the test peers, then test, then
# test again under the race detector, then fuzz the add path briefly. Every
# lab test must run: one that lacks root or a program fails instead of
# skipping (internal/lab/testenv).
check: export WGTORRENT_REQUIRE_LAB := 1
check: deps test race fuzz-short

# Hostile info dictionaries through a real engine and a scripted peer
# (issue 18). Background goroutines make coverage noisy: no minimising.
# make check counts inputs, not seconds: with a wall-clock -fuzztime, Go's
# fuzzing coordinator can end a loaded run with a bare "context deadline
# exceeded" failure and no crasher (seen in a fresh-machine run with two
# busy loops beside it). 200 inputs are ~10 s on an idle 2-core machine.
FUZZ_ADD := $(GO) test ./client -run '^$$' -fuzz FuzzAddInfo -fuzzminimizetime 1x
fuzz-short:
	$(FUZZ_ADD) -fuzztime 200x

# @ctrl/transmission (npm), the client library of several web front ends,
# for TestDaemonCtrlTransmission: versions pinned by its package-lock.json.
NPM_E2E := internal/lab/e2e/testdata/ctrl-transmission

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS)
	npm ci --prefix $(NPM_E2E) --no-audit --no-fund

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fuzz:
	$(GO) test ./vpn -run '^$$' -fuzz FuzzParse -fuzztime 60s
	$(FUZZ_ADD) -fuzztime 10m

demo: build
	./$(BIN) demo

# wgtorrent vs aria2c, transmission and qBittorrent in a namespace lab (root,
# `make deps`): downloading, seeding, 1000 torrents at once (~27 min on 2
# cores). BENCH_FLAGS e.g. "-size 512 -runs 5", "-phases scale -scale 10000".
bench: build
	$(GO) run ./internal/lab/bench/cmd/wgtorrent-bench -wgtorrent $(BIN) -out bench-results $(BENCH_FLAGS)

clean:
	rm -rf bin
