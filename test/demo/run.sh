#!/usr/bin/env bash
# run.sh: `make demo`. Boots the emulated SR-IOV guest and shows fastpath's
# main job there (test/demo/guest.sh): two pods get VFs on VLAN 100 with
# addresses, ping each other, are deleted, and the VFs are back as found.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(mktemp -d)
trap 'rm -rf "$BIN"' EXIT
cd "$ROOT"
export CGO_ENABLED=0
go build -o "$BIN/" ./cmd/fastpath \
  github.com/containernetworking/plugins/plugins/ipam/host-local \
  github.com/containernetworking/cni/cnitool
cp test/demo/guest.sh "$BIN/"
echo "Booting the SR-IOV guest (emulated Intel 82576, 7 VFs; about 15 s)..."
# Keep the console readable: only the demo's own lines and the verdict.
test/vm/run.sh --timeout 600 "$BIN" -- sh guest.sh 2>&1 | sed -n 's/^demo| \{0,1\}//p; /^run.sh:/p'
