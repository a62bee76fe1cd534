#!/bin/sh
# node.sh [TEST ARGS...] | start-containerd | start-kubelet: the guest payload of make cluster (test/cluster/run.sh). Turns the
# SR-IOV test guest into a Kubernetes node of the control plane on the host, then runs the
# scenarios (cluster.test) with TEST ARGS. Busybox ash. Everything it needs is in /opt/bin:
# the node's binaries, node.kubeconfig (API server at 10.0.2.2, the host's loopback through
# QEMU's user network) and the image archives in images/.
#
# The node as a real one has it:
#   - the igb PF is named ens785f0 and VFs 4-6 are bound to vfio-pci, as
#     deployments/sriovdp/configmap.yaml expects of a node ("binding VFs 4-7 to vfio-pci is
#     the node's job");
#   - containerd (CRI, native snapshotter) with Debian's runc, cgroup v2, cgroupfs driver;
#   - Multus (thin plugin) as the CNI config, ptp + host-local as its default network;
#   - the kubelet, and sriovdp-standin in place of the SR-IOV network device plugin.
set -eu
BIN=/opt/bin
# /sbin/ip is iproute2 (the guest's busybox ip has no rename, VF or netns support).
export PATH=$BIN:/sbin:/usr/sbin:/usr/bin:/bin

# The node's daemons, also started again by the scenario that reboots the node
# (node.sh start-containerd | start-kubelet).
start_containerd() {
  containerd >>/var/log/containerd.log 2>&1 &
  while ! ctr version >/dev/null 2>&1; do sleep 0.5; done
}
start_kubelet() {
  kubelet --config /var/lib/kubelet/config.yaml --kubeconfig "$BIN/node.kubeconfig" \
    --node-ip 10.0.2.15 --hostname-override fastpath-node >>/var/log/kubelet.log 2>&1 &
}
case ${1:-} in
  start-containerd) start_containerd; exit 0 ;;
  start-kubelet) start_kubelet; exit 0 ;;
esac

t0=$(date +%s)
stage() { echo "cluster-node: $1 after $(($(date +%s) - t0))s"; }
# The kernel's boot and the test guest's /init (modules, PF, VFs) until here.
echo "cluster-node: guest booted, PF and VFs up: $(cut -d' ' -f1 /proc/uptime)s of guest uptime"

# --- network: the user-network address for the API server, the PF's production name -----
PF=$FASTPATH_PF
ip link set "$PF" down
ip link set "$PF" name ens785f0
PF=ens785f0
ip link set "$PF" up
ip addr add 10.0.2.15/24 dev "$PF"
ip route add default via 10.0.2.2
echo "nameserver 10.0.2.3" >/etc/resolv.conf
hostname fastpath-node
echo "127.0.0.1 localhost fastpath-node" >/etc/hosts
# The kubelet reports it as the node's machine ID.
cat /proc/sys/kernel/random/uuid | tr -d - >/etc/machine-id

# VFs 4.. to vfio-pci (the sriov_vfio pool).
i=4
while [ -e "/sys/class/net/$PF/device/virtfn$i" ]; do
  vf=$(basename "$(readlink -f "/sys/class/net/$PF/device/virtfn$i")")
  echo vfio-pci >"/sys/bus/pci/devices/$vf/driver_override"
  echo "$vf" >"/sys/bus/pci/devices/$vf/driver/unbind"
  echo "$vf" >/sys/bus/pci/drivers_probe
  i=$((i + 1))
done

# --- filesystems ----------------------------------------------------------------------------
mkdir -p /sys/fs/cgroup /var/lib /var/log /etc/containerd /etc/cni/net.d/multus.d /opt/cni
mount -t cgroup2 none /sys/fs/cgroup
echo "+cpu +cpuset +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
# Sized filesystems for the kubelet's and containerd's state, so that their disk stats
# (eviction, image GC) see a real size.
mount -t tmpfs -o size=1500m tmpfs /var/lib
mount -t tmpfs -o size=200m tmpfs /var/log
mkdir -p /var/lib/cni /var/lib/kubelet /var/lib/containerd
# Pods mount hostPaths with propagation; the initramfs root is not a mount point.
mount --make-rshared /

# --- CNI: Multus with the default network ----------------------------------------------------
cp "$BIN/node.kubeconfig" /etc/cni/net.d/multus.d/multus.kubeconfig
cat >/etc/cni/net.d/00-multus.conf <<JSON
{
  "cniVersion": "1.0.0",
  "name": "multus-cni-network",
  "type": "multus",
  "kubeconfig": "/etc/cni/net.d/multus.d/multus.kubeconfig",
  "logFile": "/var/log/multus.log",
  "logLevel": "verbose",
  "delegates": [{
    "cniVersion": "1.0.0",
    "name": "default",
    "plugins": [{
      "type": "ptp",
      "ipam": { "type": "host-local", "subnet": "10.244.0.0/24", "routes": [{ "dst": "0.0.0.0/0" }] }
    }]
  }]
}
JSON

# --- containerd -----------------------------------------------------------------------------
cat >/etc/containerd/config.toml <<TOML
version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = "native"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "registry.k8s.io/pause:3.10"
[plugins.'io.containerd.cri.v1.runtime']
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/opt/cni/bin"]
    conf_dir = "/etc/cni/net.d"
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = "/usr/sbin/runc"
      # pivot_root fails while the root is the initramfs (rootfs): runc moves the
      # container's root instead.
      NoPivotRoot = true
TOML
start_containerd
stage "containerd up"
for img in "$BIN"/images/*.tar; do
  # --local: the transfer service would unpack only for its default snapshotter.
  ctr -n k8s.io images import --local --snapshotter native "$img" >/dev/null
done
stage "images imported"

# --- kubelet --------------------------------------------------------------------------------
cat >/var/lib/kubelet/config.yaml <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
failSwapOn: false
resolvConf: /etc/resolv.conf
authentication:
  anonymous: { enabled: true }
  webhook: { enabled: false }
authorization:
  mode: AlwaysAllow
# The guest is small: no evictions for the test bed's own sizes.
evictionHard: { memory.available: "50Mi", nodefs.available: "1%", imagefs.available: "1%" }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
YAML
start_kubelet
sriovdp-standin -kubeconfig "$BIN/node.kubeconfig" >/var/log/sriovdp-standin.log 2>&1 &
stage "kubelet started"
echo "$t0" >/run/cluster-node-t0

# The scenarios; the logs follow if they fail.
set +e
cluster.test -test.v "$@"
rc=$?
if [ "$rc" != 0 ]; then
  for f in /var/log/kubelet.log /var/log/containerd.log /var/log/multus.log /var/log/sriovdp-standin.log; do
    echo "=== tail $f"
    tail -n 60 "$f"
  done
fi
exit "$rc"
