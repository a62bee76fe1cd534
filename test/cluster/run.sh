#!/usr/bin/env bash
# run.sh [go test flags...]: make cluster. Builds (or finds cached, build.sh) the one-node
# Kubernetes test bed, builds the project's binaries and images and the scenarios' test
# binary, then runs cmd/cluster: control plane on this machine, deployments/ applied, the
# emulated SR-IOV guest as the node running the scenarios. Extra arguments go to the
# scenarios' test binary, e.g. -test.run TestKernelVF. Reports each stage's duration.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export PATH=/usr/local/go/bin:$PATH CGO_ENABLED=0
WORK=$(mktemp -d /tmp/fastpath-cluster.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/node/images" "$WORK/fastpath" "$WORK/cp"

t=$(date +%s)
BIN=$("$HERE/build.sh")
echo "cluster: stage $(printf '%-24s' 'cluster binaries') $(($(date +%s) - t))s (cache $BIN)"

t=$(date +%s)
VERSION=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo dev)
(cd "$ROOT" && go build -trimpath -ldflags "-s -w -X main.Version=$VERSION" -o "$WORK/fastpath/" ./cmd/fastpath ./cmd/fastpathctl)
# The same image under a second tag: the scenario that rolls the DaemonSet to a new image.
"$BIN/mkimages" -out "$WORK/node/images" -busybox "$(command -v busybox)" -pause "$BIN/pause" \
  -fastpath-bin "$WORK/fastpath" -tags latest,next
(cd "$HERE" && go test -c -tags cluster -o "$WORK/node/cluster.test" ./scenarios)
(cd "$HERE" && go build -o "$WORK/" ./cmd/cluster)
for b in kubelet containerd containerd-shim-runc-v2 ctr multus ptp loopback host-local sriovdp-standin; do
  ln -s "$BIN/$b" "$WORK/node/$b"
done
cp "$HERE/node.sh" "$WORK/node/"
echo "cluster: stage $(printf '%-24s' 'fastpath, images, tests') $(($(date +%s) - t))s"

"$WORK/cluster" -bin "$BIN" -node "$WORK/node" -repo "$ROOT" -work "$WORK/cp" -- "$@"
