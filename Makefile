# fastpath: see README.md. Every target runs as root on Debian 12.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED := 0

# Packages that need no guest and no root-only setup beyond netns.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e /test/integration -e /test/e2e -e /test/ovsenv -e /test/vhostuser)

.PHONY: all build deps test unit integration vhostuser e2e demo lint clean

all: build

build:
	$(GO) build -trimpath -ldflags "-s -w -X main.Version=$(VERSION)" -o bin/ ./cmd/fastpath

# QEMU 10 (bookworm-backports), the guest kernel, busybox, iproute2, OVS with DPDK, testpmd.
deps:
	scripts/install-deps.sh

# The whole suite: lint, unit, integration (real netns), vhost-user (OVS-DPDK on this
# machine), e2e (emulated NIC).
test: deps lint unit integration vhostuser e2e

unit:
	$(GO) test -count=1 $(UNIT_PKGS)

integration:
	$(GO) test -count=1 ./test/integration/...

# OVS with DPDK and dpdk-testpmd on the machine itself: hugepages, both cores busy polling,
# so not run alongside the unit tests.
vhostuser: deps
	$(GO) test -count=1 -p 1 ./test/ovsenv/... ./test/vhostuser/...

e2e: deps
	test/e2e/run.sh

demo: deps
	test/demo/run.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e

clean:
	rm -rf bin
