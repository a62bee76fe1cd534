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
# Every stage line goes to out.log as well, for the summary at the end.
say() { echo "$*" | tee -a "$WORK/out.log"; }

T0=$(date +%s)
t=$T0
BIN=$("$HERE/build.sh")
say "cluster: stage $(printf '%-24s' 'cluster binaries') $(($(date +%s) - t))s (cache $BIN)"

t=$(date +%s)
VERSION=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo dev)
(cd "$ROOT" && go build -trimpath -ldflags "-s -w -X main.Version=$VERSION" -o "$WORK/fastpath/" ./cmd/fastpath ./cmd/fastpathctl)
# The test bed's own commands: built here, not cached with the upstream binaries, so that an
# edit of them is always in the run (Go's build cache keeps this quick).
(cd "$HERE" && go build -trimpath -o "$WORK/" ./cmd/cluster ./cmd/mkimages ./cmd/pause ./cmd/sriovdp-standin)
# The project's image under the tag that deployments/fastpath/daemonset.yaml names, and
# again as "next": the scenario that rolls the DaemonSet to a new image.
TAG=$(sed -n 's#^ *image: ghcr.io/fastpath-cni/fastpath:##p' "$ROOT/deployments/fastpath/daemonset.yaml" | sort -u)
case $TAG in
  "" | *[!A-Za-z0-9._-]*) echo "run.sh: want one fastpath image tag in deployments/fastpath/daemonset.yaml, found: $TAG" >&2; exit 1 ;;
esac
"$WORK/mkimages" -out "$WORK/node/images" -busybox "$(command -v busybox)" -pause "$WORK/pause" \
  -fastpath-bin "$WORK/fastpath" -tags "$TAG,next"
(cd "$HERE" && go test -c -tags cluster -o "$WORK/node/cluster.test" ./scenarios)
for b in kubelet containerd containerd-shim-runc-v2 ctr multus ptp loopback host-local; do
  ln -s "$BIN/$b" "$WORK/node/$b"
done
mv "$WORK/sriovdp-standin" "$WORK/node/"
cp "$HERE/node.sh" "$WORK/node/"
say "cluster: stage $(printf '%-24s' 'fastpath, images, tests') $(($(date +%s) - t))s"

set +e
"$WORK/cluster" -bin "$BIN" -node "$WORK/node" -repo "$ROOT" -work "$WORK/cp" -- "$@" 2>&1 | tee -a "$WORK/out.log"
rc=${PIPESTATUS[0]}
set -e
# The stages again, together: the host's, the node's (from the guest's boot) and each scenario's.
echo "cluster: summary (exit $rc, $(($(date +%s) - T0))s in all)"
grep -aE '^(cluster: stage|cluster-node: |--- (PASS|FAIL|SKIP))|node ready, fastpath installed|pod start-up' "$WORK/out.log" | sed 's/^/  /' || true
# The pod start-up figures, for make bench's report (docs/benchmarks.md).
if grep -aq 'pod start-up' "$WORK/out.log"; then
  mkdir -p "$ROOT/bin"
  { echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $VERSION, exit $rc"; grep -a 'pod start-up' "$WORK/out.log"; } >"$ROOT/bin/cluster-startup.txt"
fi
exit "$rc"
