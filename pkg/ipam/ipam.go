// Package ipam delegates address management to an IPAM plugin and puts the
// addresses it returns on the pod's interface.
package ipam

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/utils/sysctl"

	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Call is one delegation to an IPAM plugin for one attachment. The
// attachment is explicit rather than taken from the environment, since GC
// and reclaim release leases of other containers than the caller's.
type Call struct {
	Type        string // the IPAM plugin, "ipam.type" of the config
	Config      []byte // the network config the plugin reads
	ContainerID string
	NetNS       string
	IfName      string
	Args        string
}

// env is the CNI environment of one command on the attachment.
func (c Call) env(cmd string) []string {
	return []string{
		"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + c.ContainerID, "CNI_NETNS=" + c.NetNS,
		"CNI_IFNAME=" + c.IfName, "CNI_ARGS=" + c.Args, "CNI_PATH=" + os.Getenv("CNI_PATH"),
	}
}

// Add asks the plugin for addresses.
func (c Call) Add(ctx context.Context) (*current.Result, error) {
	out, err := run(ctx, c.Type, c.Config, c.env("ADD")...)
	if err != nil {
		return nil, fmt.Errorf("IPAM %s ADD: %w", c.Type, err)
	}
	res, err := parseResult(c.Config, out)
	if err != nil {
		return nil, fmt.Errorf("IPAM %s ADD result: %w", c.Type, err)
	}
	return res, nil
}

// Del releases the attachment's addresses.
func (c Call) Del(ctx context.Context) error {
	return c.noResult(ctx, "DEL")
}

// Check asks the plugin to verify the attachment's addresses.
func (c Call) Check(ctx context.Context) error {
	return c.noResult(ctx, "CHECK")
}

func (c Call) noResult(ctx context.Context, cmd string) error {
	if _, err := run(ctx, c.Type, c.Config, c.env(cmd)...); err != nil {
		return fmt.Errorf("IPAM %s %s: %w", c.Type, cmd, err)
	}
	crash.Point(strings.ToLower(cmd) + "/ipam")
	return nil
}

// GC and Status pass the runtime's own call through to the plugin: the
// caller's CNI environment, with only the command set.
func GC(ctx context.Context, ipamType string, config []byte) error {
	if _, err := run(ctx, ipamType, config, "CNI_COMMAND=GC"); err != nil {
		return fmt.Errorf("IPAM %s GC: %w", ipamType, err)
	}
	return nil
}

// Status asks the IPAM plugin whether it is ready.
func Status(ctx context.Context, ipamType string, config []byte) error {
	if _, err := run(ctx, ipamType, config, "CNI_COMMAND=STATUS"); err != nil {
		return fmt.Errorf("IPAM %s STATUS: %w", ipamType, err)
	}
	return nil
}

// Configure puts the result's addresses and routes on ifname through the
// pod's netlink handle h, and announces them once the link is up; it
// subscribes to the link's changes in the pod's namespace pod (the caller's
// open handle of netnsPath), and only the announcement enters that
// namespace, for its packet sockets. res must hold ifname as its only
// interface. It tells whether the announcement went out.
func Configure(h *netlink.Handle, pod netns.NsHandle, netnsPath, ifname string, res *current.Result) (announced bool, err error) {
	// Subscribe first, so that no change of the link's state is missed.
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	subscribed := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{Namespace: &pod}) == nil
	link, err := h.LinkByName(ifname)
	if err != nil {
		return false, fmt.Errorf("configuring addresses: %w", err)
	}
	if err := addAddresses(h, link, res.IPs, netnsPath); err != nil {
		return false, err
	}
	if err := addRoutes(h, link, res); err != nil {
		return false, err
	}
	if !subscribed || !waitOperUp(link, updates, carrierWait) {
		// Frames sent now would die in the link's noop qdisc; the app's
		// own first packets will teach the switch instead.
		return false, nil
	}
	return true, ns.WithNetNSPath(netnsPath, func(ns.NetNS) error { return Announce(ifname, res.IPs) })
}

// addAddresses adds the IPs. IPv6 ones skip duplicate address detection:
// IPAM made them unique, and a tentative address could be neither used nor
// announced for a second or more.
func addAddresses(h *netlink.Handle, link netlink.Link, ips []*current.IPConfig, netnsPath string) error {
	v6 := false
	for _, ipc := range ips {
		addr := &netlink.Addr{IPNet: &ipc.Address}
		if ipc.Address.IP.To4() == nil {
			if !v6 {
				err := ns.WithNetNSPath(netnsPath, func(ns.NetNS) error { return prepareIPv6(link.Attrs().Name) })
				if err != nil {
					return err
				}
				v6 = true
			}
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("adding %s to %s: %w", ipc.Address.String(), link.Attrs().Name, err)
		}
	}
	return nil
}

// prepareIPv6 turns IPv6 on for the pod's interface and loopback where a
// runtime turned it off for the namespace, and makes the interface keep its
// IPv6 addresses when its link goes down: by default the kernel drops them,
// and the pod would lose them for good on a link flap. Both settings belong
// to the interface in this namespace; the kernel resets them when the VF
// leaves it, so nothing is undone.
func prepareIPv6(ifname string) error {
	for _, dev := range []string{"lo", ifname} {
		key := "net/ipv6/conf/" + dev + "/disable_ipv6"
		if v, err := sysctl.Sysctl(key); err == nil && v == "0" {
			continue
		}
		if _, err := sysctl.Sysctl(key, "0"); err != nil {
			return fmt.Errorf("enabling IPv6 on %s: %w", dev, err)
		}
	}
	if _, err := sysctl.Sysctl("net/ipv6/conf/"+ifname+"/keep_addr_on_down", "1"); err != nil {
		return fmt.Errorf("keeping the IPv6 addresses of %s on link down: %w", ifname, err)
	}
	return nil
}

// addRoutes adds the result's routes through the interface.
func addRoutes(h *netlink.Handle, link netlink.Link, res *current.Result) error {
	for _, route := range kernelRoutes(link.Attrs().Index, res) {
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("adding route %s on %s: %w", describe(route), link.Attrs().Name, err)
		}
	}
	return nil
}

// kernelRoutes are the result's routes as the kernel holds them through the
// link with index ifindex. A route without a gateway goes through the
// gateway of its family, as the reference plugins do. Routes that differ
// only in their gateway are one multipath (ECMP) route: the kernel refuses
// a second route to a destination (EEXIST), and the reference plugins' way
// around that (adding without NLM_F_EXCL) makes IPv6 siblings but leaves a
// second IPv4 route unused behind the first.
func kernelRoutes(ifindex int, res *current.Result) []*netlink.Route {
	var v4gw, v6gw net.IP
	for _, ipc := range res.IPs {
		if ipc.Gateway == nil {
			continue
		}
		if ipc.Gateway.To4() != nil && v4gw == nil {
			v4gw = ipc.Gateway
		} else if ipc.Gateway.To4() == nil && v6gw == nil {
			v6gw = ipc.Gateway
		}
	}
	var out []*netlink.Route
	for _, r := range res.Routes {
		route := &netlink.Route{LinkIndex: ifindex, Dst: &r.Dst, Gw: r.GW, MTU: r.MTU, AdvMSS: r.AdvMSS, Priority: r.Priority}
		if route.Gw == nil {
			route.Gw = v6gw
			if r.Dst.IP.To4() != nil {
				route.Gw = v4gw
			}
		}
		if r.Table != nil {
			route.Table = *r.Table
		}
		if r.Scope != nil {
			route.Scope = netlink.Scope(*r.Scope)
		}
		i := slices.IndexFunc(out, func(o *netlink.Route) bool { return sameButGateway(o, route) })
		if i < 0 {
			out = append(out, route)
			continue
		}
		multipath(out[i], route.Gw)
	}
	return out
}

// sameButGateway tells whether a and b are routes to one destination with
// the same attributes, whatever their gateways.
func sameButGateway(a, b *netlink.Route) bool {
	return a.Dst.String() == b.Dst.String() && a.Table == b.Table && a.Priority == b.Priority &&
		a.Scope == b.Scope && a.MTU == b.MTU && a.AdvMSS == b.AdvMSS
}

// multipath adds gw to r as one more next hop through r's link, unless r
// has it already.
func multipath(r *netlink.Route, gw net.IP) {
	if r.MultiPath == nil {
		if r.Gw.Equal(gw) {
			return
		}
		r.MultiPath = []*netlink.NexthopInfo{{LinkIndex: r.LinkIndex, Gw: r.Gw}}
		r.LinkIndex, r.Gw = 0, nil
	}
	if slices.ContainsFunc(r.MultiPath, func(h *netlink.NexthopInfo) bool { return h.Gw.Equal(gw) }) {
		return
	}
	r.MultiPath = append(r.MultiPath, &netlink.NexthopInfo{LinkIndex: r.MultiPath[0].LinkIndex, Gw: gw})
}

// carrierWait bounds the wait for the VF's link before announcing.
const carrierWait = 2 * time.Second

// waitOperUp waits until the link is operationally up: only then has the
// kernel attached its real qdisc (linkwatch does that, then notifies), so
// that an announcement leaves the host. It wakes on the link notifications
// of a subscription made before l was read.
func waitOperUp(l netlink.Link, updates <-chan netlink.LinkUpdate, timeout time.Duration) bool {
	deadline := time.After(timeout)
	for l.Attrs().OperState != netlink.OperUp {
		select {
		case u := <-updates:
			if u.Attrs().Index == l.Attrs().Index {
				l = u.Link
			}
		case <-deadline:
			return false
		}
	}
	return true
}

// Verify checks in the pod's namespace that ifname holds the addresses of
// ips, each with the route to its subnet through ifname, and that each of
// the routes goes through ifname, with the gateways ADD gave it.
func Verify(netnsPath, ifname string, ips []*current.IPConfig, routes []*types.Route) error {
	return ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(ifname)
		if err != nil {
			return err
		}
		addrs, err := netlinksafe.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("listing addresses of %s: %w", ifname, err)
		}
		// The routes of every table, filtered here by the table each route names.
		have, err := netlinksafe.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return fmt.Errorf("listing routes: %w", err)
		}
		index := link.Attrs().Index
		for _, ipc := range ips {
			if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IPNet.String() == ipc.Address.String() }) {
				return fmt.Errorf("address %s is missing on %s", ipc.Address.String(), ifname)
			}
			subnet := &net.IPNet{IP: ipc.Address.IP.Mask(ipc.Address.Mask), Mask: ipc.Address.Mask}
			if ones, bits := subnet.Mask.Size(); ones < bits && !hasRoute(have, &netlink.Route{LinkIndex: index, Dst: subnet, Table: unix.RT_TABLE_MAIN}) {
				return fmt.Errorf("route to %s, the subnet of %s, is missing on %s", subnet, ipc.Address.IP, ifname)
			}
		}
		for _, want := range kernelRoutes(index, &current.Result{IPs: ips, Routes: routes}) {
			if !hasRoute(have, want) {
				return fmt.Errorf("route %s is missing on %s", describe(want), ifname)
			}
		}
		return nil
	})
}

// hasRoute tells whether one of have goes to want's destination in want's
// table (main if unset) through each of want's next hops.
func hasRoute(have []netlink.Route, want *netlink.Route) bool {
	table := want.Table
	if table == 0 {
		table = unix.RT_TABLE_MAIN
	}
	return slices.ContainsFunc(have, func(r netlink.Route) bool {
		if r.Table != table || r.Dst == nil || r.Dst.String() != want.Dst.String() {
			return false
		}
		got := nextHops(&r)
		for _, h := range nextHops(want) {
			if !slices.ContainsFunc(got, func(g *netlink.NexthopInfo) bool { return g.LinkIndex == h.LinkIndex && g.Gw.Equal(h.Gw) }) {
				return false
			}
		}
		return true
	})
}

// nextHops are r's next hops, one for a route that is not multipath.
func nextHops(r *netlink.Route) []*netlink.NexthopInfo {
	if len(r.MultiPath) > 0 {
		return r.MultiPath
	}
	return []*netlink.NexthopInfo{{LinkIndex: r.LinkIndex, Gw: r.Gw}}
}

// describe is r as an operator reads it: destination, gateways, table.
func describe(r *netlink.Route) string {
	s := r.Dst.String()
	var gws []string
	for _, h := range nextHops(r) {
		if h.Gw != nil {
			gws = append(gws, h.Gw.String())
		}
	}
	if len(gws) > 0 {
		s += " via " + strings.Join(gws, ", ")
	}
	if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN {
		s += fmt.Sprintf(" in table %d", r.Table)
	}
	return s
}
