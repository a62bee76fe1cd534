#!/bin/sh
# The demo, run inside the guest. Every line meant for the viewer starts with
# "demo|" (run.sh shows only those). The network is what a cluster admin
# writes: fastpath with the deviceID and mac capabilities, as Multus fills
# them from the SR-IOV device plugin, and host-local IPAM.
set -eu
say() { echo "demo| $*"; }
# show CMD...: runs CMD, indents its output, and keeps its exit status.
show() {
  rc=0
  "$@" > /tmp/show.out 2>&1 || rc=$?
  sed 's/^/demo|     /' /tmp/show.out
  [ -z "$(tail -c 1 /tmp/show.out)" ] || echo
  return $rc
}

PF=$FASTPATH_PF
set -- $FASTPATH_VF_PCIS
VF_A=$1 VF_B=$2
export NETCONFPATH=/etc/cni/net.d CNI_IFNAME=net1
cat > /etc/cni/net.d/10-vlan100.conflist <<JSON
{
  "cniVersion": "1.0.0",
  "name": "sriov-vlan100",
  "plugins": [{
    "type": "fastpath",
    "capabilities": {"deviceID": true, "mac": true},
    "vlan": 100, "vlanQoS": 2, "spoofchk": "on", "trust": "off", "mtu": 1400,
    "logFile": "fastpath.log",
    "ipam": {"type": "host-local", "subnet": "10.100.0.0/24", "routes": [{"dst": "10.200.0.0/16"}]}
  }]
}
JSON

say "== The network, /etc/cni/net.d/10-vlan100.conflist"
show cat /etc/cni/net.d/10-vlan100.conflist
say
say "== The PF $PF and its VFs before"
ip-full link show "$PF" > /tmp/pf.before
show cat /tmp/pf.before
ip-full link show > /tmp/all.before

attach() { # pod vf mac
  ip-full netns add "$1"
  say
  say "== ADD: pod $1 gets VF $2 (the device plugin's pick) with MAC $3"
  CAP_ARGS="{\"deviceID\":\"$2\",\"mac\":\"$3\"}" show cnitool add sriov-vlan100 "/var/run/netns/$1"
}
attach pod-a "$VF_A" 02:00:00:00:0a:01
attach pod-b "$VF_B" 02:00:00:00:0b:01

say
say "== Inside pod-a"
show ip-full -n pod-a addr show net1
show ip-full -n pod-a route
say
say "== The PF's VF table now: VLAN 100, QoS 2, the pods' MACs"
show ip-full link show "$PF"
say
say "== pod-a pings pod-b across the NIC's switch, tagged VLAN 100"
B_ADDR=$(ip-full -n pod-b -4 -o addr show net1 | sed 's/.*inet \([0-9.]*\).*/\1/')
show nsenter --net=/var/run/netns/pod-a ping -c 3 -w 10 "$B_ADDR"
say
say "== CHECK both pods"
show cnitool check sriov-vlan100 /var/run/netns/pod-a
CAP_ARGS="{\"deviceID\":\"$VF_B\",\"mac\":\"02:00:00:00:0b:01\"}" show cnitool check sriov-vlan100 /var/run/netns/pod-b
say "   both pass"
say
say "== DEL both pods"
CAP_ARGS="{\"deviceID\":\"$VF_A\"}" show cnitool del sriov-vlan100 /var/run/netns/pod-a
CAP_ARGS="{\"deviceID\":\"$VF_B\"}" show cnitool del sriov-vlan100 /var/run/netns/pod-b
ip-full netns del pod-a
ip-full netns del pod-b

say
say "== The PF and its VFs after"
ip-full link show "$PF" > /tmp/pf.after
show cat /tmp/pf.after
# Netdevs that were never up show "qdisc noop"; once opened they keep their
# default qdisc. That is the kernel's, not a setting fastpath changed.
ip-full link show | sed 's/qdisc [^ ]*/qdisc -/' > /tmp/all.after
sed -i 's/qdisc [^ ]*/qdisc -/' /tmp/all.before
if cmp -s /tmp/pf.before /tmp/pf.after && cmp -s /tmp/all.before /tmp/all.after; then
  say "   identical to before: every VF is back as found (name, MAC, MTU, VLAN, QoS, spoofchk, trust)"
else
  say "   DIFFERENT from before:"
  show diff /tmp/all.before /tmp/all.after
  exit 1
fi
