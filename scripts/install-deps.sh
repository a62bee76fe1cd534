#!/usr/bin/env bash
# Installs what the tests need on a Debian 12 machine:
#   - QEMU >= 8 from bookworm-backports (bookworm's own QEMU 7.2 has no igb device),
#   - busybox-static, kmod, cpio, iproute2 for building the guest initramfs,
#   - gcc and libc6-dev for the race detector of make unit, privileged and integration,
#   - the Debian guest kernel, unpacked into a cache dir with its modules indexed,
#   - Open vSwitch with DPDK (openvswitch-switch-dpdk) and dpdk-testpmd (dpdk-dev) for the
#     vhost-user tests (test/ovsenv), which run their own ovsdb-server and ovs-vswitchd.
#     Package scripts may not start any service during the install (see no_service_starts).
#   - runc, the OCI runtime of the cluster test bed's node (test/cluster, copied into the guest).
# Idempotent: each step checks first, so a second run on a ready machine takes well under 1 s.
#
# Env:
#   FASTPATH_VM_CACHE   cache dir for the guest kernel (default /var/cache/fastpath-vm)
#   FASTPATH_KERNEL     guest kernel ABI to fetch (default 6.1.0-56-amd64)
set -euo pipefail

CACHE=${FASTPATH_VM_CACHE:-/var/cache/fastpath-vm}
WANT_KVER=${FASTPATH_KERNEL:-6.1.0-56-amd64}
export DEBIAN_FRONTEND=noninteractive

log() { echo "install-deps: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "must run as root"; exit 1; }

# --- apt sources --------------------------------------------------------------------------
# Reuse the mirror already configured for the main 'bookworm' suite (this workplace only
# reaches its own mirror, so a hardcoded host may not work).
BPO_FILE=/etc/apt/sources.list.d/bookworm-backports.sources

find_mirror() {
  local f
  # deb822 files: the stanza whose Suites has a plain 'bookworm'.
  for f in /etc/apt/sources.list.d/*.sources; do
    if [ ! -f "$f" ] || [ "$f" = "$BPO_FILE" ]; then continue; fi
    awk '
      function flush() { if (suite_ok && uri != "") { print uri; found=1; exit } uri=""; suite_ok=0 }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/   { uri=$2 }
      /^Suites:/ { for (i=2;i<=NF;i++) if ($i=="bookworm") suite_ok=1 }
      END { if (!found) flush() }' "$f"
  done
  # one-line format: deb [opts] URI bookworm main ...
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    sed -E -n 's/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+)[[:space:]]+bookworm[[:space:]].*/\2/p' "$f"
  done
}

has_backports() {
  grep -rqsE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

need_update=0
if ! has_backports; then
  mirror=$(find_mirror | head -n1)
  [ -n "$mirror" ] || { log "no 'bookworm' apt source found to copy the mirror from"; exit 1; }
  log "adding bookworm-backports from $mirror"
  cat >"$BPO_FILE" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi
# Lists never fetched (fresh machine) or backports lists missing: update.
if ! ls /var/lib/apt/lists/*_dists_bookworm-backports_main_binary-*_Packages* >/dev/null 2>&1 ||
   ! ls /var/lib/apt/lists/*_dists_bookworm_main_binary-*_Packages* >/dev/null 2>&1; then
  need_update=1
fi
apt_updated=0
apt_update() {
  [ "$apt_updated" = 1 ] && return 0
  log "apt-get update"
  apt-get update -qq
  apt_updated=1
}
[ "$need_update" = 1 ] && apt_update

# --- packages -----------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# install PKG... : apt-get install the ones not yet installed; retry once after an update
# (a stale list can name a .deb the mirror no longer has).
install_missing() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    { apt_update; apt-get install -y -qq --no-install-recommends "${missing[@]}"; }
}

# QEMU must come from backports: bookworm's 7.2 lacks '-device igb'.
qemu_ok() {
  command -v qemu-system-x86_64 >/dev/null &&
    qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"'
}
if ! qemu_ok; then
  log "installing qemu-system-x86 from bookworm-backports"
  apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86 ||
    { apt_update; apt-get install -y -qq --no-install-recommends -t bookworm-backports qemu-system-x86; }
  qemu_ok || { log "qemu-system-x86_64 has no igb device"; exit 1; }
fi
# iputils-ping: for host-side netns tests; the guest uses busybox ping. strace: make bench
# copies it into the guest to show where one ADD and one DEL spend their time. gcc and
# libc6-dev: the race detector (go test -race) needs cgo. runc: the containerd of make
# cluster's node runs it (it needs cgo, so it is not built from source). ethtool: the guest's
# `ethtool -i` and `ethtool PF`, against which the e2e tests check fastpathctl's NIC facts.
install_missing busybox-static kmod cpio iproute2 iputils-ping strace gcc libc6-dev runc ethtool

# --- Open vSwitch with DPDK, dpdk-testpmd --------------------------------------------------
# The postinst of openvswitch-switch (and dpdk's) would start their services through
# invoke-rc.d: on a machine without a running init system (a container, a CI runner) that
# either fails or leaves an ovsdb-server/ovs-vswitchd of the distribution running, which the
# tests do not want (they start their own, in a temp dir). So while apt runs, a policy-rc.d
# denies every start (exit 101); an existing policy-rc.d is put back afterwards.
POLICY=/usr/sbin/policy-rc.d
POLICY_BAK=$POLICY.fastpath-saved
POLICY_MARK='# fastpath install-deps.sh: deny service starts during the install'
restore_policy() {
  if grep -qsF "$POLICY_MARK" "$POLICY"; then rm -f "$POLICY"; fi
  if [ -e "$POLICY_BAK" ]; then mv -f "$POLICY_BAK" "$POLICY"; fi
}
no_service_starts() {
  restore_policy  # leftovers of an interrupted run
  if [ -e "$POLICY" ]; then mv -f "$POLICY" "$POLICY_BAK"; fi
  printf '#!/bin/sh\n%s\nexit 101\n' "$POLICY_MARK" >"$POLICY"
  chmod 755 "$POLICY"
}
# The distribution's daemons (pidfiles in /run/openvswitch), not the tests' private ones.
ovs_running() {
  local f
  for f in /run/openvswitch/ovsdb-server.pid /run/openvswitch/ovs-vswitchd.pid; do
    [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
  done
  return 1
}

dpdk_pkgs=(openvswitch-switch-dpdk dpdk-dev)
dpdk_missing=0
for p in "${dpdk_pkgs[@]}"; do installed "$p" || dpdk_missing=1; done
if [ "$dpdk_missing" = 1 ]; then
  ovs_before=0; ovs_running && ovs_before=1
  no_service_starts
  trap restore_policy EXIT
  install_missing "${dpdk_pkgs[@]}"
  restore_policy
  trap - EXIT
  # Belt and braces: a package script that bypassed invoke-rc.d and left the distribution's
  # daemons running (none were running before) is stopped again.
  if [ "$ovs_before" = 0 ] && ovs_running; then
    log "stopping the OVS daemons the package scripts started"
    /usr/share/openvswitch/scripts/ovs-ctl stop >/dev/null 2>&1 || true
  fi
  for f in /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk /usr/bin/dpdk-testpmd \
           /usr/sbin/ovsdb-server /usr/bin/ovsdb-tool /usr/bin/ovs-vsctl /usr/bin/ovs-appctl; do
    [ -x "$f" ] || command -v "$(basename "$f")" >/dev/null ||
      { log "missing $f after installing ${dpdk_pkgs[*]}"; exit 1; }
  done
fi

# --- guest kernel -------------------------------------------------------------------------
# Unpacked (not installed) into $CACHE/root, so the host's own kernel setup is untouched.
# $CACHE/kernel-version holds the chosen ABI (e.g. 6.1.0-56-amd64); test/vm/ reads it.
# $CACHE/kernel-wanted remembers what was asked for, so a fallback is not re-fetched each run.
if [ -f "$CACHE/kernel-version" ] && [ "$(cat "$CACHE/kernel-wanted" 2>/dev/null)" = "$WANT_KVER" ]; then
  kver=$(cat "$CACHE/kernel-version")
  if [ -f "$CACHE/root/boot/vmlinuz-$kver" ] && [ -f "$CACHE/root/lib/modules/$kver/modules.dep" ]; then
    log "guest kernel $kver already in $CACHE"
    exit 0
  fi
fi

pkg_available() { apt-cache show "$1" 2>/dev/null | grep -q '^Filename:'; }

pkg="linux-image-$WANT_KVER"
if ! pkg_available "$pkg"; then
  apt_update
fi
if ! pkg_available "$pkg"; then
  # Fallback: newest linux-image-6.1.0-N-amd64 (not -unsigned, -dbg, -rt, -cloud).
  pkg=$(apt-cache pkgnames linux-image-6.1.0- | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' |
        sort -V | tail -n1)
  [ -n "$pkg" ] || { log "no linux-image-6.1.0-*-amd64 package found"; exit 1; }
  log "linux-image-$WANT_KVER not available; using $pkg instead"
fi
kver=${pkg#linux-image-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "downloading $pkg"
chown _apt "$tmp" 2>/dev/null || true  # apt downloads as _apt; else it warns and falls back to root
(cd "$tmp" && apt-get download -qq "$pkg")
rm -rf "$CACHE/root"
mkdir -p "$CACHE/root"
dpkg -x "$tmp"/linux-image-*.deb "$CACHE/root"
# Index the modules so modprobe (and mkinitrd's dependency walk) can resolve them.
depmod -b "$CACHE/root" "$kver"
echo "$kver" >"$CACHE/kernel-version"
echo "$WANT_KVER" >"$CACHE/kernel-wanted"
log "guest kernel $kver unpacked in $CACHE/root"
