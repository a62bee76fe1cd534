#!/usr/bin/env bash
# run.sh [go test flags...]: builds fastpath, the reference CNI plugins, cnitool
# and this package's test binary (static), boots the emulated SR-IOV guest
# (test/vm) and runs the tests there. Extra arguments go to the test binary,
# e.g. -test.run TestCheck.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
cd "$ROOT"
export CGO_ENABLED=0
go build -o "$BIN/" ./cmd/fastpath \
  github.com/containernetworking/plugins/plugins/ipam/host-local \
  github.com/containernetworking/plugins/plugins/meta/tuning \
  github.com/containernetworking/cni/cnitool
go build -o "$BIN/" ./cmd/fastpathctl
# The fault-injection build: dies at the step FASTPATH_CRASH_AT names.
go build -tags faultinject -o "$BIN/fastpath-crash" ./cmd/fastpath
go test -c -tags e2e -o "$BIN/e2e.test" ./test/e2e
# fastpath as it was when it wrote version 1 records, for the upgrade tests
# (test/e2e/upgrade_test.go), built from the repository's own history.
V1=$(cat test/v1.commit)
if git cat-file -e "$V1^{commit}" 2>/dev/null; then
  mkdir -p "$BIN/v1src" "$BIN/v1"
  git archive "$V1" | tar -x -C "$BIN/v1src"
  (cd "$BIN/v1src" && go build -o "$BIN/v1/fastpath" ./cmd/fastpath)
  rm -rf "$BIN/v1src"
else
  echo "run.sh: commit $V1 is not in this clone's history: the upgrade tests will skip" >&2
fi
# TestDPDKAppOnVF runs dpdk-testpmd on a vfio-pci VF: the image carries it, and the guest
# needs room for its hugepages.
FASTPATH_VM_TESTPMD=1 test/vm/run.sh --timeout 1800 --mem 2048 "$BIN" -- e2e.test -test.v "$@"
