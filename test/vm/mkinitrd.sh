#!/usr/bin/env bash
# mkinitrd.sh BINDIR OUT.cpio.gz
#
# Builds the gzip'd newc initramfs of the SR-IOV test guest:
#   /init                  test/vm/init.sh (sets up PF + VFs, runs /payload.sh)
#   /payload.sh            $GUEST_CMD (a shell command line), if set
#   /bin/busybox + links   every busybox applet (sh, ip, ping, nsenter, modprobe, ...)
#   /usr/sbin/ip-full      iproute2's ip with its libraries: busybox's ip can't show VF lines;
#                          /sbin/ip links to it too
#   /usr/sbin/bridge       iproute2's bridge, same reason
#   /usr/sbin/ethtool      the driver's own view (`ethtool -i`, link settings), for the tests
#   /lib/modules/KVER      only the modules we load and their dependencies, re-indexed
#   /opt/bin               every file of BINDIR (static Go binaries, scripts)
#   /opt/cni/bin           symlink to /opt/bin
#   /usr/bin/dpdk-testpmd  with FASTPATH_VM_TESTPMD=1 only: DPDK's testpmd with its libraries,
#   /opt/dpdk/pmds         and the two PMDs it needs on an igb VF (passed with -d DIR)
#
# Env:
#   GUEST_CMD              payload shell command (empty: the guest starts an interactive sh)
#   GUEST_NUMVFS           VFs to create on the PF: a number or "max" (default max)
#   FASTPATH_VM_CACHE      where install-deps.sh put the guest kernel (default /var/cache/fastpath-vm)
#   FASTPATH_VM_MODULES    extra modules to include and load, space-separated
#   FASTPATH_VM_TESTPMD    1: include dpdk-testpmd (package dpdk-dev; 16 MB more unpacked) for
#                          a DPDK app on a vfio-pci VF; the guest then needs --mem 2048
#   FASTPATH_VM_HOST_BINS  dynamically linked host binaries to copy, with their libraries, to
#                          the same paths (e.g. /usr/sbin/runc), space-separated
set -euo pipefail

usage() { echo "usage: $0 BINDIR OUT.cpio.gz" >&2; exit 2; }
[ $# -eq 2 ] || usage
BINDIR=$1 OUT=$2
[ -d "$BINDIR" ] || { echo "mkinitrd: $BINDIR is not a directory" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${FASTPATH_VM_CACHE:-/var/cache/fastpath-vm}
[ -f "$CACHE/kernel-version" ] || { echo "mkinitrd: no guest kernel in $CACHE; run scripts/install-deps.sh" >&2; exit 1; }
KVER=$(cat "$CACHE/kernel-version")
KROOT=$CACHE/root
# Loaded by /init in this order. Dependencies (dca, vfio, llc, ...) are pulled in by modprobe.
# igbvf is loaded by /init itself, after the VFs exist (see init.sh). The rest are only
# included, for the kernel to load on demand through busybox modprobe as on a real host:
# bridge, dummy, tun, macvtap (`ip link add type bridge` ...), and xfrm_user + nfnetlink,
# which the kernel loads when a NETLINK_XFRM / NETLINK_NETFILTER socket is opened
# (vishvananda/netlink's NewHandle() with no families opens both, and fails without them).
LOAD_MODULES="igb 8021q veth macvlan vfio-pci vfio_iommu_type1 ${FASTPATH_VM_MODULES:-}"
INCLUDE_MODULES="$LOAD_MODULES igbvf vfio bridge dummy tun macvtap xfrm_user nfnetlink"

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,root,etc/cni/net.d,var/lib/cni,opt/bin,opt/cni}
chmod 1777 "$STAGE/tmp"
# The archive's "." entry sets the mode of the guest's /. Without it / is world-writable,
# and DPDK's EAL refuses to load a PMD under a world-writable directory.
chmod 755 "$STAGE"
ln -s ../run "$STAGE/var/run"
ln -s ../bin "$STAGE/opt/cni/bin"
# The kernel opens /dev/console before running /init; without the node /init has no stdio
# until it mounts devtmpfs. mknod needs root, which install-deps/run already require.
mknod -m 600 "$STAGE/dev/console" c 5 1 2>/dev/null || true

# --- busybox ------------------------------------------------------------------------------
BUSYBOX=$(command -v busybox) || { echo "mkinitrd: busybox-static not installed" >&2; exit 1; }
# ldd fails on a static binary; a dynamic busybox (package 'busybox') would not run in the guest.
if ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "mkinitrd: $BUSYBOX is dynamically linked; install busybox-static" >&2; exit 1
fi
cp "$BUSYBOX" "$STAGE/bin/busybox"
for applet in $("$BUSYBOX" --list-full); do
  [ -e "$STAGE/$applet" ] || ln -s /bin/busybox "$STAGE/$applet"
done

# --- dynamically linked host tools --------------------------------------------------------
# copy_dyn SRC DEST: copy SRC to DEST in the guest plus every library ldd lists and the
# loader, at the same paths, so the binary runs exactly as on the host.
copy_dyn() {
  local src=$1 dest=$2 lib
  install -D -m 755 "$src" "$STAGE$dest"
  for lib in $(ldd "$src" | grep -oE '/[^ ]+'); do
    [ -e "$STAGE$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$STAGE$lib"
  done
}
copy_dyn /usr/sbin/ip /usr/sbin/ip-full
# Plain `ip` is iproute2's too: busybox's ip has no netns, vlan, veth, macvlan or VF support,
# and a test that runs `ip netns add` should not meet it.
ln -sf /usr/sbin/ip-full "$STAGE/sbin/ip"
copy_dyn /usr/sbin/bridge /usr/sbin/bridge
copy_dyn /usr/sbin/ethtool /usr/sbin/ethtool
for bin in ${FASTPATH_VM_HOST_BINS:-}; do
  copy_dyn "$bin" "$bin"
done
[ -d /etc/iproute2 ] && cp -r /etc/iproute2 "$STAGE/etc/"

# --- DPDK testpmd (optional) ---------------------------------------------------------------
# Only the PMDs of the igb VF (net_e1000_igb_vf) and of the ring mempool, as the single
# regular file each .so.23 symlink names, in a directory of their own: EAL loads every .so
# of its built-in PMD directory (not in the guest, so it skips it) and of each -d; a PMD
# present twice (the .so, .so.23 and .so.23.0 names copied as three files) aborts EAL with
# "tailq already registered". /etc/fastpath-vm.conf tells /init where they are.
DPDK_PMD_DIR=
if [ "${FASTPATH_VM_TESTPMD:-0}" = 1 ]; then
  TESTPMD=$(command -v dpdk-testpmd) || { echo "mkinitrd: dpdk-testpmd not installed (package dpdk-dev; run scripts/install-deps.sh)" >&2; exit 1; }
  copy_dyn "$TESTPMD" /usr/bin/dpdk-testpmd
  # stdbuf (with its preload library): testpmd's stdio is block-buffered on a pipe, and a
  # test that drives it reads each command's output before the next prompt.
  copy_dyn "$(command -v stdbuf)" /usr/bin/stdbuf
  install -D -m 644 /usr/libexec/coreutils/libstdbuf.so "$STAGE/usr/libexec/coreutils/libstdbuf.so"
  # Debian's DPDK 22.11: /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0, sonames .so.23.
  pmds=$(dirname "$(ls /usr/lib/*/dpdk/pmds-*/librte_net_e1000.so.23 | tail -n1)")
  DPDK_PMD_DIR=/opt/dpdk/pmds
  for pmd in librte_net_e1000.so.23 librte_mempool_ring.so.23; do
    [ -e "$pmds/$pmd" ] || { echo "mkinitrd: no $pmd in DPDK's PMD directory $pmds (package dpdk-dev)" >&2; exit 1; }
    copy_dyn "$(readlink -f "$pmds/$pmd")" "$DPDK_PMD_DIR/$pmd"
  done
fi

# --- kernel modules -----------------------------------------------------------------------
# modprobe --show-depends lists the .ko files (dependencies first) without loading anything.
MODDIR=lib/modules/$KVER
mkdir -p "$STAGE/$MODDIR"
# shellcheck disable=SC2086 # word splitting of the module lists is intended
modprobe -d "$KROOT" -S "$KVER" --show-depends -a $INCLUDE_MODULES |
  awk '$1 == "insmod" { print $2 }' | sort -u |
  while read -r ko; do
    install -D -m 644 "$ko" "$STAGE/$MODDIR/${ko#"$KROOT/$MODDIR/"}"
  done
cp "$KROOT/$MODDIR"/modules.{order,builtin,builtin.modinfo} "$STAGE/$MODDIR/"
depmod -b "$STAGE" "$KVER"

# --- guest files --------------------------------------------------------------------------
cp -rL "$BINDIR"/. "$STAGE/opt/bin/"
install -m 755 "$HERE/init.sh" "$STAGE/init"
if [ -n "${GUEST_CMD:-}" ]; then
  printf '%s\n' "$GUEST_CMD" >"$STAGE/payload.sh"
fi
cat >"$STAGE/etc/fastpath-vm.conf" <<EOF
NUMVFS=${GUEST_NUMVFS:-max}
MODULES="$LOAD_MODULES"
DPDK_PMD_DIR=$DPDK_PMD_DIR
EOF
echo "root:x:0:0:root:/root:/bin/sh" >"$STAGE/etc/passwd"
echo "root:x:0:" >"$STAGE/etc/group"
echo "127.0.0.1 localhost" >"$STAGE/etc/hosts"

# --- pack ---------------------------------------------------------------------------------
# gzip -1: the archive is built per run; speed matters more than a few MB.
(cd "$STAGE" && find . -print0 | LC_ALL=C sort -z |
  cpio --null -o -H newc --owner=0:0 --quiet) | gzip -1 >"$OUT"
