#!/usr/bin/env bash
# run.sh: regenerates docs/reliability.md (make reliability) by running what it reports:
# every fuzz target under pkg/ for FUZZTIME, the vhost-user fault-injection suite (OVS-DPDK
# on this machine), the integration race tests (real netns) and the e2e crash, race and
# orphan tests in the emulated SR-IOV guest. Exits non-zero if any case failed; the report
# is written either way. Takes about 4 x FUZZTIME plus 8-12 min (e2e TestRaceRounds: 5-10).
#
# Env:
#   FUZZTIME            -fuzztime of each fuzz target (default 60s)
#   FUZZMINIMIZETIME    -fuzzminimizetime (default 5s; Go's 60s would let one new input's
#                       minimization eat a short run)
#   RELIABILITY_ONLY    comma-separated subset of fuzz,vhostuser,integration,e2e (debugging)
#   RELIABILITY_LOGS    raw output of every command (default bin/reliability)
#   RELIABILITY_OUT     the report (default docs/reliability.md)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
export CGO_ENABLED=0
mkdir -p bin
go build -o bin/reliability-report ./test/reliability
exec bin/reliability-report \
  -fuzztime "${FUZZTIME:-60s}" \
  -fuzzminimizetime "${FUZZMINIMIZETIME:-5s}" \
  -logs "${RELIABILITY_LOGS:-bin/reliability}" \
  -out "${RELIABILITY_OUT:-docs/reliability.md}" \
  -only "${RELIABILITY_ONLY:-}"
