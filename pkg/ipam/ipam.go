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
	"github.com/containernetworking/plugins/pkg/ns"

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
				err := ns.WithNetNSPath(netnsPath, func(ns.NetNS) error { return enableIPv6(link.Attrs().Name) })
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

// enableIPv6 turns IPv6 on for the pod's interface and loopback where a
// runtime turned it off for the namespace.
func enableIPv6(ifname string) error {
	for _, dev := range []string{"lo", ifname} {
		p := "/proc/sys/net/ipv6/conf/" + dev + "/disable_ipv6"
		if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) == "0" {
			continue
		}
		if err := os.WriteFile(p, []byte("0"), 0o644); err != nil {
			return fmt.Errorf("enabling IPv6 on %s: %w", dev, err)
		}
	}
	return nil
}

// addRoutes adds the result's routes through the interface; a route without
// a gateway goes through the gateway of its family, as the reference plugins
// do.
func addRoutes(h *netlink.Handle, link netlink.Link, res *current.Result) error {
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
	for _, r := range res.Routes {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Dst: &r.Dst, Gw: r.GW, MTU: r.MTU, AdvMSS: r.AdvMSS}
		if route.Gw == nil {
			route.Gw = v6gw
			if r.Dst.IP.To4() != nil {
				route.Gw = v4gw
			}
		}
		if r.Priority != 0 {
			route.Priority = r.Priority
		}
		if r.Table != nil {
			route.Table = *r.Table
		}
		if r.Scope != nil {
			route.Scope = netlink.Scope(*r.Scope)
		}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("adding route %s via %v on %s: %w", r.Dst.String(), route.Gw, link.Attrs().Name, err)
		}
	}
	return nil
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
// ips and that the routes exist.
func Verify(netnsPath, ifname string, ips []*current.IPConfig, routes []*types.Route) error {
	return ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		link, err := netlink.LinkByName(ifname)
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("listing addresses of %s: %w", ifname, err)
		}
		for _, ipc := range ips {
			if !slices.ContainsFunc(addrs, func(a netlink.Addr) bool { return a.IPNet.String() == ipc.Address.String() }) {
				return fmt.Errorf("address %s is missing on %s", ipc.Address.String(), ifname)
			}
		}
		all, err := netlink.RouteList(nil, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("listing routes: %w", err)
		}
		for _, r := range routes {
			if !slices.ContainsFunc(all, func(have netlink.Route) bool {
				return have.Dst != nil && have.Dst.String() == r.Dst.String() && (r.GW == nil || r.GW.Equal(have.Gw))
			}) {
				return fmt.Errorf("route to %s is missing", r.Dst.String())
			}
		}
		return nil
	})
}
