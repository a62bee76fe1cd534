//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// What the tests read of fastpathctl's NIC facts.
type (
	ctlLink struct {
		Driver, Version, Firmware, BusInfo, Duplex string
		SpeedMbps                                  uint32
		Link                                       bool
	}
	ctlCounters struct {
		RxPackets, RxBytes, RxDropped, Multicast, Broadcast uint64
		TxPackets, TxBytes, TxDropped                       uint64
	}
	ctlPF struct {
		PCI, Netdev, Eswitch string
		Link                 *ctlLink
		VFs                  []struct {
			VF       int
			PCI      string
			Counters *ctlCounters
		}
	}
	ctlShow struct {
		Kind string
		PF   *ctlPF
		VF   *struct {
			PCI            string
			PFInfo         *ctlPF
			Counters       *ctlCounters
			NetdevLink     *ctlLink
			NetdevCounters *ctlLinkCounters
		}
	}
	ctlLinkCounters struct {
		RxPackets, RxBytes, RxErrors, RxDropped uint64
		TxPackets, TxBytes, TxErrors, TxDropped uint64
	}
)

// ethtoolFacts runs ethtool as an operator would, `ethtool -i NAME` and
// `ethtool NAME`, and returns their "key: value" lines.
func ethtoolFacts(t *testing.T, name string) map[string]string {
	t.Helper()
	facts := map[string]string{}
	for _, args := range [][]string{{"-i", name}, {name}} {
		out, err := exec.Command("/usr/sbin/ethtool", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("ethtool %v: %v\n%s", args, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				facts[k] = strings.TrimSpace(v)
			}
		}
	}
	return facts
}

// checkLink compares fastpathctl's view of a netdev's driver with ethtool's.
func checkLink(t *testing.T, what string, got *ctlLink, e map[string]string) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: fastpathctl read no driver facts", what)
	}
	for _, c := range [][3]string{
		{"driver", got.Driver, e["driver"]},
		{"version", got.Version, e["version"]},
		{"firmware-version", got.Firmware, e["firmware-version"]},
		{"bus-info", got.BusInfo, e["bus-info"]},
		{"Link detected", strconv.FormatBool(got.Link), strconv.FormatBool(e["Link detected"] == "yes")},
	} {
		if c[1] != c[2] {
			t.Errorf("%s %s: fastpathctl %q, ethtool %q", what, c[0], c[1], c[2])
		}
	}
	speed := "Unknown!"
	if got.SpeedMbps != 0 {
		speed = fmt.Sprintf("%dMb/s", got.SpeedMbps)
	}
	if e["Speed"] != "" && e["Speed"] != speed {
		t.Errorf("%s speed: fastpathctl %s, ethtool %s", what, speed, e["Speed"])
	}
	if d := e["Duplex"]; d != "" && !strings.HasPrefix(d, "Unknown") && !strings.EqualFold(d, got.Duplex) {
		t.Errorf("%s duplex: fastpathctl %q, ethtool %q", what, got.Duplex, d)
	}
}

// ipVFStats are the PF's VF counters as `ip -s -j link show PF` gives them.
func ipVFStats(t *testing.T, pf string) map[int]ctlCounters {
	t.Helper()
	out, err := exec.Command("/usr/sbin/ip-full", "-s", "-j", "link", "show", pf).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -s -j link show %s: %v\n%s", pf, err, out)
	}
	var links []struct {
		VFs []struct {
			VF    int `json:"vf"`
			Stats struct {
				RX map[string]uint64 `json:"rx"`
				TX map[string]uint64 `json:"tx"`
			} `json:"stats"`
		} `json:"vfinfo_list"`
	}
	must(t, json.Unmarshal(out, &links))
	if len(links) != 1 || len(links[0].VFs) == 0 {
		t.Fatalf("ip -s -j link show %s lists no VFs:\n%s", pf, out)
	}
	// iproute2 spells the transmit keys with a tx_ prefix in some releases.
	get := func(m map[string]uint64, k string) uint64 {
		if v, ok := m[k]; ok {
			return v
		}
		return m["tx_"+k]
	}
	stats := map[int]ctlCounters{}
	for _, v := range links[0].VFs {
		if v.Stats.RX == nil || v.Stats.TX == nil {
			t.Fatalf("ip -s -j link show %s: VF %d has no stats:\n%s", pf, v.VF, out)
		}
		stats[v.VF] = ctlCounters{
			RxPackets: v.Stats.RX["packets"], RxBytes: v.Stats.RX["bytes"], RxDropped: v.Stats.RX["dropped"],
			Multicast: v.Stats.RX["multicast"], Broadcast: v.Stats.RX["broadcast"],
			TxPackets: get(v.Stats.TX, "packets"), TxBytes: get(v.Stats.TX, "bytes"), TxDropped: get(v.Stats.TX, "dropped"),
		}
	}
	return stats
}

// `fastpathctl show` of the PF and of a VF, and doctor, give what the drivers
// say through ethtool (`ethtool -i`, `ethtool NAME`) and the VF counters that
// `ip -s link show PF` gives, for the same devices.
func TestFastpathctlNICFacts(t *testing.T) {
	nc := findNIC(t)
	n := cnitest.NewNet(t, binDir)
	var s ctlShow
	fastpathctl(t, n, 0, &s, "show", pfOf(t, nc))
	if s.Kind != "pf" || s.PF == nil {
		t.Fatalf("show PF: kind %q, want pf", s.Kind)
	}
	ePF := ethtoolFacts(t, nc.pf)
	checkLink(t, "PF "+nc.pf, s.PF.Link, ePF)
	if s.PF.Link.SpeedMbps != 1000 || !s.PF.Link.Link || s.PF.Eswitch != "legacy" {
		t.Errorf("PF: %+v, eswitch %q; want the guest's igb up at 1000 Mb/s in legacy mode", *s.PF.Link, s.PF.Eswitch)
	}
	ip := ipVFStats(t, nc.pf)
	if len(s.PF.VFs) != len(nc.vfs) {
		t.Fatalf("show PF lists %d VFs, want %d", len(s.PF.VFs), len(nc.vfs))
	}
	for _, v := range s.PF.VFs {
		if want, ok := ip[v.VF]; !ok || v.Counters == nil || *v.Counters != want {
			t.Errorf("VF %d counters: fastpathctl %+v, ip -s link %+v", v.VF, v.Counters, want)
		}
	}

	const idx = 3
	var sv ctlShow
	fastpathctl(t, n, 0, &sv, "show", nc.vfs[idx])
	if sv.Kind != "vf" || sv.VF == nil || sv.VF.PFInfo == nil {
		t.Fatalf("show VF: %+v", sv)
	}
	checkLink(t, "VF netdev "+nc.names[idx], sv.VF.NetdevLink, ethtoolFacts(t, nc.names[idx]))
	if sv.VF.NetdevLink.BusInfo != nc.vfs[idx] || sv.VF.NetdevLink.Driver != "igbvf" {
		t.Errorf("VF netdev: %+v, want igbvf at %s", *sv.VF.NetdevLink, nc.vfs[idx])
	}
	checkLink(t, "PF "+nc.pf+" (show VF)", sv.VF.PFInfo.Link, ePF)
	if want := ipVFStats(t, nc.pf)[idx]; sv.VF.Counters == nil || *sv.VF.Counters != want {
		t.Errorf("VF %d counters: fastpathctl %+v, ip -s link %+v", idx, sv.VF.Counters, want)
	}

	var d ctlDoctor
	out := fastpathctl(t, n, -1, &d, "doctor")
	found := false
	for _, c := range d.Checks {
		if c.Name == "pf-port" {
			found = true
			want := fmt.Sprintf("driver %s %s, firmware %s, bus-info %s; link up, 1000 Mb/s full duplex; eswitch legacy",
				ePF["driver"], ePF["version"], orDashE(ePF["firmware-version"]), ePF["bus-info"])
			if c.Status != "OK" || !strings.Contains(c.Detail, want) {
				t.Errorf("doctor pf-port: %+v, want OK with %q", c, want)
			}
		}
	}
	if !found || !strings.Contains(out, "pf-port") {
		t.Errorf("doctor has no pf-port check:\n%s", out)
	}
}

func orDashE(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// pfOf is the PCI address of the guest's PF.
func pfOf(t *testing.T, nc nic) string {
	t.Helper()
	l, err := exec.Command("readlink", "-f", "/sys/class/net/"+nc.pf+"/device").Output()
	must(t, err)
	p := strings.TrimSpace(string(l))
	return p[strings.LastIndex(p, "/")+1:]
}

// ipLinkCounters are a netdev's counters as `ip -s -j [-n NETNS] link show
// NAME` gives them.
func ipLinkCounters(t *testing.T, netnsName, name string) ctlLinkCounters {
	t.Helper()
	args := []string{"-s", "-j", "link", "show", name}
	if netnsName != "" {
		args = append([]string{"-n", netnsName}, args...)
	}
	out, err := exec.Command("/usr/sbin/ip-full", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
	var links []struct {
		Stats struct{ RX, TX map[string]uint64 } `json:"stats64"`
	}
	must(t, json.Unmarshal(out, &links))
	if len(links) != 1 || links[0].Stats.RX == nil {
		t.Fatalf("ip %v: no stats64:\n%s", args, out)
	}
	rx, tx := links[0].Stats.RX, links[0].Stats.TX
	return ctlLinkCounters{
		RxPackets: rx["packets"], RxBytes: rx["bytes"], RxErrors: rx["errors"], RxDropped: rx["dropped"],
		TxPackets: tx["packets"], TxBytes: tx["bytes"], TxErrors: tx["errors"], TxDropped: tx["dropped"],
	}
}

// within tells whether every counter of got lies between lo and hi: the
// counters of a netdev read before and after fastpathctl read them.
func within(got, lo, hi ctlLinkCounters) bool {
	g := []uint64{got.RxPackets, got.RxBytes, got.RxErrors, got.RxDropped, got.TxPackets, got.TxBytes, got.TxErrors, got.TxDropped}
	l := []uint64{lo.RxPackets, lo.RxBytes, lo.RxErrors, lo.RxDropped, lo.TxPackets, lo.TxBytes, lo.TxErrors, lo.TxDropped}
	h := []uint64{hi.RxPackets, hi.RxBytes, hi.RxErrors, hi.RxDropped, hi.TxPackets, hi.TxBytes, hi.TxErrors, hi.TxDropped}
	for i := range g {
		if g[i] < l[i] || g[i] > h[i] {
			return false
		}
	}
	return true
}

// `fastpathctl show VF` of a VF in a pod gives its netdev's counters, read in
// the pod's namespace, as `ip -s link show` there does (between a read before
// and one after: the netdev may still be sending, such as IPv6 router
// solicitations); of a VF on the host, as `ip -s link show` on the host.
func TestFastpathctlNetdevCounters(t *testing.T) {
	nc := findNIC(t)
	before := nc.snapshot(t)
	n := cnitest.NewNet(t, binDir)
	pods := []ns.NetNS{cnitest.Pod(t), cnitest.Pod(t)}
	var addrs []string
	for i, p := range pods {
		l, r := vfConf(n, nc, i, 100, nil), cnitest.RT(p, fmt.Sprintf("ctr%d", i), "net1")
		res, err := n.Add(l, r)
		must(t, err)
		defer n.Del(l, r)
		addrs = append(addrs, res.IPs[0].Address.IP.String())
	}
	must(t, ping(pods[0], addrs[1]))

	name := filepath.Base(pods[0].Path())
	lo := ipLinkCounters(t, name, "net1")
	var s ctlShow
	fastpathctl(t, n, 0, &s, "show", nc.vfs[0])
	hi := ipLinkCounters(t, name, "net1")
	if s.VF == nil || s.VF.NetdevCounters == nil {
		t.Fatalf("show VF in a pod: no netdev counters: %+v", s.VF)
	}
	if got := *s.VF.NetdevCounters; !within(got, lo, hi) || got.TxPackets < 3 || got.RxPackets < 3 {
		t.Errorf("VF in the pod: fastpathctl %+v, ip -s link %+v then %+v; want between, with the 3 pings each way", got, lo, hi)
	}
	if s.VF.NetdevLink != nil {
		t.Errorf("VF in the pod: fastpathctl asked a host netdev's driver: %+v", *s.VF.NetdevLink)
	}

	const free = 4
	lo = ipLinkCounters(t, "", nc.names[free])
	s = ctlShow{}
	fastpathctl(t, n, 0, &s, "show", nc.vfs[free])
	hi = ipLinkCounters(t, "", nc.names[free])
	if s.VF == nil || s.VF.NetdevCounters == nil || !within(*s.VF.NetdevCounters, lo, hi) {
		t.Errorf("VF on the host: fastpathctl %+v, ip -s link %+v then %+v", s.VF, lo, hi)
	}
	for i, p := range pods {
		must(t, n.Del(vfConf(n, nc, i, 100, nil), cnitest.RT(p, fmt.Sprintf("ctr%d", i), "net1")))
	}
	nc.same(t, before, "after DEL")
}
