#!/bin/sh
# /init of the test guest (PID 1), copied into the initramfs by mkinitrd.sh.
# Busybox ash: no bash-isms here.
# shellcheck disable=SC2317 # the check functions are called through wait_for
#
# It sets up the kernel filesystems, loads the NIC/VF/vfio modules, brings the igb PF up,
# creates its SR-IOV VFs, then runs /payload.sh and reports the payload's exit code on the
# console as "FASTPATH-GUEST-EXIT=<code>", which run.sh parses. A setup failure reports 125
# after a "FASTPATH-GUEST-SETUP-FAILED: ..." line. Either way the guest then powers off.

export PATH=/opt/bin:/opt/cni/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The kernel opened /dev/console from the initramfs node; reopen it from devtmpfs anyway
# so that output reaches the serial console even if the node was missing in the cpio.
exec </dev/console >/dev/console 2>&1
echo  # end the firmware's "Booting from ROM..." line
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run          # /var/run is a symlink to /run
mount -t tmpfs tmpfs /tmp
# `ip netns add` and the CNI ns package bind-mount netns files under /var/run/netns; a
# shared mount lets those binds propagate into mount namespaces created later.
mkdir -p /run/netns
mount -t tmpfs tmpfs /run/netns
mount --make-shared /run/netns
ip link set lo up
hostname fastpath-guest

# Settings written by mkinitrd.sh (NUMVFS, MODULES, DPDK_PMD_DIR).
NUMVFS=max
MODULES="igb 8021q veth macvlan vfio-pci vfio_iommu_type1"
DPDK_PMD_DIR=
# shellcheck source=/dev/null
[ -f /etc/fastpath-vm.conf ] && . /etc/fastpath-vm.conf

finish() {
  # The marker must stand on its own line: run.sh looks for it.
  echo
  echo "FASTPATH-GUEST-EXIT=$1"
  sync
  poweroff -f
  # poweroff should not return; if it does, exiting PID 1 panics and panic=-1 plus QEMU's
  # -no-reboot end the VM anyway.
  exit "$1"
}

setup_failed() {
  echo "FASTPATH-GUEST-SETUP-FAILED: $*"
  dmesg | tail -n 30
  finish 125
}

# first_entry DIR: name of the first entry of DIR (e.g. the netdev under .../net); fails if none.
first_entry() {
  for e in "$1"/*; do
    [ -e "$e" ] && { echo "${e##*/}"; return 0; }
  done
  return 1
}

# wait_for TENTHS CMD...: poll CMD every 0.1 s, at most TENTHS times (TCG is slow, so the
# bounds are generous). Returns CMD's last status.
wait_for() {
  n=$1; shift
  while ! "$@"; do
    n=$((n - 1))
    [ "$n" -gt 0 ] || return 1
    usleep 100000
  done
}

for m in $MODULES; do
  modprobe "$m" || setup_failed "modprobe $m"
done

# The PF: the first PCI device bound to igb (0000:01:00.0 so far, but do not rely on it).
pf_has_netdev() {
  for d in /sys/bus/pci/drivers/igb/0000:*; do
    first_entry "$d/net" >/dev/null && return 0
  done
  return 1
}
wait_for 100 pf_has_netdev || setup_failed "no igb PF netdev (is the igb device on the QEMU command line?)"
for d in /sys/bus/pci/drivers/igb/0000:*; do
  PF_PCI=${d##*/}
  PF=$(first_entry "$d/net")
  break
done

# Bring the PF up BEFORE creating the VFs: VF-to-VF switching and max_tx_rate need the PF
# link up, and igb reads the link state when the VFs are set up.
ip link set "$PF" up
pf_carrier() { [ "$(cat "/sys/class/net/$PF/carrier" 2>/dev/null)" = 1 ]; }
if ! wait_for 100 pf_carrier; then
  echo "fastpath-guest: warning: $PF has no carrier after 10 s; creating VFs anyway"
fi

TOTALVFS=$(cat "/sys/class/net/$PF/device/sriov_totalvfs")
[ "$NUMVFS" = max ] && NUMVFS=$TOTALVFS
if [ "$NUMVFS" -gt 0 ]; then
  echo "$NUMVFS" >"/sys/class/net/$PF/device/sriov_numvfs" || setup_failed "writing $NUMVFS to sriov_numvfs of $PF"
fi

# Enabling SR-IOV resets the igb PF, so its link drops for a second or two: wait for it
# again, so that the VFs probe against a settled PF and the payload starts with the PF up
# (max_tx_rate needs that).
if ! wait_for 100 pf_carrier; then
  echo "fastpath-guest: warning: $PF has no carrier 10 s after creating the VFs"
fi

# igbvf is loaded only now, with the VFs created and the PF link back up. Enabling SR-IOV
# resets the PF; a VF probed during that reset ("PF still in reset state") never completes
# its mailbox handshake with the PF: its link stays down and it cannot add VLANs
# ("Vlan id N is not added", EINVAL). Probing after the reset gives working VFs, as on a
# host whose PF has long been up.
modprobe igbvf || setup_failed "modprobe igbvf"

vf_netdevs_ready() {
  i=0
  while [ "$i" -lt "$NUMVFS" ]; do
    first_entry "/sys/class/net/$PF/device/virtfn$i/net" >/dev/null || return 1
    i=$((i + 1))
  done
}
wait_for 300 vf_netdevs_ready || setup_failed "not all $NUMVFS VF netdevs of $PF appeared within 30 s"

# Summary, and the same facts as env vars and a file for the payload.
echo "fastpath-guest: kernel $(uname -r), PF $PF ($PF_PCI) operstate $(cat "/sys/class/net/$PF/operstate"), VFs $NUMVFS/$TOTALVFS"
VF_PCIS='' VF_NETDEVS=''
i=0
while [ "$i" -lt "$NUMVFS" ]; do
  vfdir=$(readlink -f "/sys/class/net/$PF/device/virtfn$i")
  vfpci=${vfdir##*/}
  vfnet=$(first_entry "$vfdir/net")
  drv=$(basename "$(readlink "$vfdir/driver")")
  echo "fastpath-guest:   vf $i  $vfpci  $vfnet  driver=$drv"
  VF_PCIS="$VF_PCIS $vfpci"
  VF_NETDEVS="$VF_NETDEVS $vfnet"
  i=$((i + 1))
done
export FASTPATH_PF="$PF" FASTPATH_PF_PCI="$PF_PCI" FASTPATH_NUMVFS="$NUMVFS"
export FASTPATH_VF_PCIS="${VF_PCIS# }" FASTPATH_VF_NETDEVS="${VF_NETDEVS# }"
# With dpdk-testpmd in the image (mkinitrd.sh FASTPATH_VM_TESTPMD=1): its PMDs, for -d.
[ -n "$DPDK_PMD_DIR" ] && export FASTPATH_DPDK_PMDS="$DPDK_PMD_DIR"
{
  echo "FASTPATH_PF=$FASTPATH_PF"
  echo "FASTPATH_PF_PCI=$FASTPATH_PF_PCI"
  echo "FASTPATH_NUMVFS=$FASTPATH_NUMVFS"
  echo "FASTPATH_VF_PCIS='$FASTPATH_VF_PCIS'"
  echo "FASTPATH_VF_NETDEVS='$FASTPATH_VF_NETDEVS'"
} >/run/fastpath-guest.env

# The payload. With no payload (GUEST_CMD unset at build time), an interactive shell.
export CNI_PATH=/opt/cni/bin
cd /opt/bin || finish 125
echo "fastpath-guest: running payload"
if [ -s /payload.sh ]; then
  sh /payload.sh
  rc=$?
else
  setsid cttyhack sh
  rc=$?
fi
finish "$rc"
