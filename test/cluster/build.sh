#!/usr/bin/env bash
# build.sh: prints the directory that holds the cluster test bed's binaries, building
# them first unless a build of the same sources is cached there.
#
# Builds, all static (CGO_ENABLED=0), from this module's pinned versions (go.mod):
#   host:  etcd, kube-apiserver, kube-controller-manager, kube-scheduler
#   node:  kubelet, containerd, containerd-shim-runc-v2, ctr, multus (thin plugin),
#          ptp, host-local, loopback (the default network)
# The test bed's own commands (cmd/) are not cached here: run.sh builds them every run.
# The cache key is a hash of go.mod, go.sum and this script, so a second run on the same
# machine (one that keeps /var/cache) finds the binaries; Go's own build cache makes a
# rebuild after a version bump incremental. A cold build took 10-16 min on idle 2-core
# machines and 23 min with the cores shared (load average about 7), 22 s of it
# downloading modules. .ci/run starts it while install-deps downloads.
#
# Env: FASTPATH_CLUSTER_CACHE (default /var/cache/fastpath-cluster)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$HERE"
CACHE=${FASTPATH_CLUSTER_CACHE:-/var/cache/fastpath-cluster}
KUBE_VERSION=v1.37.2
key=$(cat go.mod go.sum build.sh | sha256sum | cut -c1-16)
OUT=$CACHE/bin-$key
if [ -f "$OUT/.complete" ]; then
  echo "$OUT"
  exit 0
fi
mkdir -p "$CACHE"
rm -rf "$OUT.tmp"
mkdir -p "$OUT.tmp"
export CGO_ENABLED=0
V=k8s.io/component-base/version
# Kubernetes binaries report this version (the API server, kubectl and the node see it);
# containerd's tags leave out the snapshotters that need cgo or tools the node lacks.
major=${KUBE_VERSION#v}; minor=${major#*.}; major=${major%%.*}; minor=${minor%%.*}
start=$(date +%s)
go build -trimpath -tags no_btrfs,no_devmapper,no_zfs \
  -ldflags "-s -w -X $V.gitVersion=$KUBE_VERSION -X $V.gitMajor=$major -X $V.gitMinor=$minor -X $V.gitTreeState=clean" \
  -o "$OUT.tmp/" \
  go.etcd.io/etcd/server/v3 \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
  github.com/containerd/containerd/v2/cmd/ctr \
  gopkg.in/k8snetworkplumbingwg/multus-cni.v4/cmd/multus \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  github.com/containernetworking/plugins/plugins/main/ptp \
  github.com/containernetworking/plugins/plugins/main/loopback \
  github.com/containernetworking/plugins/plugins/ipam/host-local >&2
# go build names etcd's main package (go.etcd.io/etcd/server/v3) "server".
mv "$OUT.tmp/server" "$OUT.tmp/etcd"
echo "build.sh: built in $(($(date +%s) - start))s into $OUT" >&2
touch "$OUT.tmp/.complete"
# Older builds of other keys go; this one takes their place.
find "$CACHE" -maxdepth 1 -name 'bin-*' ! -name "bin-$key*" -exec rm -rf {} +
mv "$OUT.tmp" "$OUT"
echo "$OUT"
