# wgtorrent. Root is needed for the demo and for the tests that build network
# namespaces (they skip, saying so, without it).
GO       ?= go
BIN      := bin/wgtorrent
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
# Debian packages the tests drive: real third-party peers, servers and probes.
DEB_PKGS := wireguard-go wireguard-tools opentracker transmission-daemon transmission-cli \
            aria2 mktorrent tcpdump iperf3 iproute2 libcap2-bin tmux qbittorrent-nox
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build test check deps lint demo bench clean fuzz fuzz-short

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/wgtorrent

# The whole suite; lab tests need root and the packages from `make deps`.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 45m ./...

# What CI runs on a fresh machine: install the test peers, then test.
check: deps test fuzz-short

# Hostile info dictionaries through a real engine and a scripted peer
# (issue 18). Background goroutines make coverage noisy: no minimising.
FUZZ_ADD := $(GO) test ./client -run '^$$' -fuzz FuzzAddInfo -fuzzminimizetime 1x
fuzz-short:
	$(FUZZ_ADD) -fuzztime 10s

deps:
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEB_PKGS)

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fuzz:
	$(GO) test ./vpn -run '^$$' -fuzz FuzzParse -fuzztime 60s
	$(FUZZ_ADD) -fuzztime 10m

demo: build
	./$(BIN) demo

# wgtorrent vs aria2c, transmission and qBittorrent in a namespace lab (root,
# `make deps`; ~10 min on 2 cores). BENCH_FLAGS e.g. "-size 512 -runs 5".
bench: build
	$(GO) run ./internal/bench/cmd/wgtorrent-bench -wgtorrent $(BIN) -out bench-results $(BENCH_FLAGS)

clean:
	rm -rf bin
