#!/usr/bin/env bash
# smoke.sh: proves the VM harness end to end.
#   1. builds test/vm/smoke (static) and runs it in the guest: must exit 0;
#   2. runs a payload that fails with 3: run.sh must exit 3.
# Needs scripts/install-deps.sh to have run. Takes ~25 s (two boots).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT

(cd "$HERE/smoke" && CGO_ENABLED=0 go build -o "$BIN/smoke" .)

echo "=== smoke: VFs, ip-full VF table, VF settings, vfio-pci"
"$HERE/run.sh" --timeout 300 "$BIN" -- smoke

echo "=== smoke: a failing payload must fail run.sh"
set +e
"$HERE/run.sh" --timeout 300 "$BIN" -- sh -c 'echo failing on purpose; exit 3'
rc=$?
set -e
if [ "$rc" != 3 ]; then
  echo "smoke.sh: FAIL: failing payload gave run.sh exit $rc, want 3" >&2
  exit 1
fi
echo "smoke.sh: PASS"
