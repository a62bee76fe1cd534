#!/usr/bin/env bash
# run.sh [--timeout SECS] [--mem MB] BINDIR -- CMD [ARGS...]
#
# Boots the SR-IOV test guest (emulated Intel 82576 / igb PF with its VFs created) with the
# files of BINDIR in /opt/bin, runs CMD there, and exits with CMD's exit code.
# The guest console streams to stdout. See test/vm/README.md.
#
# Env:
#   FASTPATH_VM_LOG          also write the console (CRs stripped) to this file
#   FASTPATH_VM_CACHE        guest kernel cache of install-deps.sh (default /var/cache/fastpath-vm)
#   FASTPATH_VM_KERNEL_ARGS  extra kernel arguments (e.g. "loglevel=7" to see driver messages)
#   FASTPATH_VM_INTERACTIVE  1 = connect the terminal to the guest console (Ctrl-A x quits QEMU)
#   GUEST_NUMVFS, FASTPATH_VM_MODULES, FASTPATH_VM_HOST_BINS   passed on to mkinitrd.sh
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT=600
MEM=1024

usage() {
  echo "usage: $0 [--timeout SECS] [--mem MB] BINDIR -- CMD [ARGS...]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) [ $# -ge 2 ] || usage; TIMEOUT=$2; shift 2 ;;
    --mem) [ $# -ge 2 ] || usage; MEM=$2; shift 2 ;;
    -h|--help) usage ;;
    --) usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
BINDIR=$1; shift
if [ $# -eq 0 ] || [ "$1" != -- ]; then usage; fi
shift
# An empty CMD gives an interactive shell (useful with FASTPATH_VM_INTERACTIVE=1).

CACHE=${FASTPATH_VM_CACHE:-/var/cache/fastpath-vm}
[ -f "$CACHE/kernel-version" ] || { echo "run.sh: no guest kernel in $CACHE; run scripts/install-deps.sh" >&2; exit 1; }
KVER=$(cat "$CACHE/kernel-version")
KERNEL=$CACHE/root/boot/vmlinuz-$KVER

# shquote ARG...: ARGs as one line for /bin/sh, each single-quoted, so the guest runs the
# exact argv given here.
shquote() {
  local a out=
  for a in "$@"; do
    out+="'${a//\'/\'\\\'\'}' "
  done
  printf '%s' "${out% }"
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
GUEST_CMD=$(shquote "$@") "$HERE/mkinitrd.sh" "$BINDIR" "$WORK/initrd.cpio.gz"

# QEMU arguments as checked (README.md, Facts). TCG, never KVM: a KVM guest hangs here.
# no_timer_check: on a loaded host the emulated timer can miss the kernel's boot-time IO-APIC
# check, which then panics ("timer doesn't work through Interrupt-remapped IO-APIC").
# shellcheck disable=SC2054 # the commas belong to QEMU options
qemu=(
  qemu-system-x86_64
  -machine q35,kernel-irqchip=split -accel tcg -cpu max -m "$MEM"
  -nographic -no-reboot
  -device intel-iommu,intremap=on,caching-mode=on
  -netdev user,id=n0 -device pcie-root-port,id=rp0,slot=0 -device igb,netdev=n0,bus=rp0
  -nic none
  -kernel "$KERNEL" -initrd "$WORK/initrd.cpio.gz"
  -append "console=ttyS0 panic=-1 intel_iommu=on iommu=pt no_timer_check quiet loglevel=3 ${FASTPATH_VM_KERNEL_ARGS:-}"
)

# Without a terminal for the guest, QEMU reads /dev/null: it then neither grabs the caller's
# terminal (raw mode, Ctrl-C to the guest) nor waits on stdin.
# Interactive: timeout --foreground lets QEMU read the terminal (else it is stopped by SIGTTIN).
stdin=/dev/null
tmo=(timeout -k 10 "$TIMEOUT")
if [ "${FASTPATH_VM_INTERACTIVE:-0}" = 1 ]; then
  stdin=/dev/stdin
  tmo=(timeout --foreground "$TIMEOUT")
fi

start=$(date +%s)
logs=("$WORK/console.log")
[ -n "${FASTPATH_VM_LOG:-}" ] && logs+=("$FASTPATH_VM_LOG")
# The serial console ends lines with \r\n: drop the \r (sed -u keeps the stream live).
set +e
"${tmo[@]}" "${qemu[@]}" <"$stdin" 2>&1 | sed -u -e 's/\r//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1bc//g' | tee "${logs[@]}"
status=("${PIPESTATUS[@]}")
set -e
elapsed=$(($(date +%s) - start))

marker=$(grep -aoE 'FASTPATH-GUEST-EXIT=[0-9]+' "$WORK/console.log" | tail -n 1 || true)
if [ -z "$marker" ]; then
  if [ "${status[0]}" = 124 ] || [ "${status[0]}" = 137 ]; then
    echo "run.sh: FAIL: guest timed out after ${TIMEOUT}s without reporting an exit code" >&2
  else
    echo "run.sh: FAIL: QEMU exited (status ${status[0]}) after ${elapsed}s without the guest reporting an exit code (kernel panic? see the console above)" >&2
  fi
  exit 1
fi
rc=${marker#FASTPATH-GUEST-EXIT=}
if grep -aq 'FASTPATH-GUEST-SETUP-FAILED' "$WORK/console.log"; then
  echo "run.sh: FAIL: guest setup failed before the payload ran (exit $rc), see the console above" >&2
else
  echo "run.sh: guest payload exited with $rc after ${elapsed}s" >&2
fi
exit "$rc"
