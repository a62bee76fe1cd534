// Package ipam delegates address management to an IPAM plugin and puts the
// addresses it returns on the pod's interface.
package ipam

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	plipam "github.com/containernetworking/plugins/pkg/ipam"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/vishvananda/netlink"
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

func (c Call) args(cmd string) *invoke.Args {
	return &invoke.Args{
		Command: cmd, ContainerID: c.ContainerID, NetNS: c.NetNS, IfName: c.IfName,
		PluginArgsStr: c.Args, Path: os.Getenv("CNI_PATH"),
	}
}

func (c Call) plugin() (string, error) {
	p, err := invoke.FindInPath(c.Type, filepath.SplitList(os.Getenv("CNI_PATH")))
	if err != nil {
		return "", fmt.Errorf("finding IPAM plugin %q: %w", c.Type, err)
	}
	return p, nil
}

// Add asks the plugin for addresses.
func (c Call) Add(ctx context.Context) (*current.Result, error) {
	p, err := c.plugin()
	if err != nil {
		return nil, err
	}
	r, err := invoke.ExecPluginWithResult(ctx, p, c.Config, c.args("ADD"), nil)
	if err != nil {
		return nil, fmt.Errorf("IPAM %s ADD: %w", c.Type, err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		return nil, fmt.Errorf("converting IPAM %s result: %w", c.Type, err)
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
	p, err := c.plugin()
	if err != nil {
		return err
	}
	if err := invoke.ExecPluginWithoutResult(ctx, p, c.Config, c.args(cmd), nil); err != nil {
		return fmt.Errorf("IPAM %s %s: %w", c.Type, cmd, err)
	}
	crash.Point(strings.ToLower(cmd) + "/ipam")
	return nil
}

// GC and Status pass the runtime's own call through to the plugin.
func GC(ctx context.Context, ipamType string, config []byte) error {
	if err := invoke.DelegateGC(ctx, ipamType, config, nil); err != nil {
		return fmt.Errorf("IPAM %s GC: %w", ipamType, err)
	}
	return nil
}

// Status asks the IPAM plugin whether it is ready.
func Status(ctx context.Context, ipamType string, config []byte) error {
	if err := invoke.DelegateStatus(ctx, ipamType, config, nil); err != nil {
		return fmt.Errorf("IPAM %s STATUS: %w", ipamType, err)
	}
	return nil
}

// Configure puts the result's addresses and routes on ifname in the pod's
// namespace and announces them once the link is up. res must hold ifname as
// its only interface. It tells whether the announcement went out.
func Configure(netnsPath, ifname string, res *current.Result) (announced bool, err error) {
	err = ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		if err := plipam.ConfigureIface(ifname, res); err != nil {
			return fmt.Errorf("configuring addresses on %s: %w", ifname, err)
		}
		if !waitOperUp(ifname, carrierWait) {
			// Frames sent now would die in the link's noop qdisc; the
			// app's own first packets will teach the switch instead.
			return nil
		}
		announced = true
		return Announce(ifname, res.IPs)
	})
	return announced, err
}

// carrierWait bounds the wait for the VF's link before announcing.
const carrierWait = 2 * time.Second

// waitOperUp waits until ifname is operationally up: only then has the
// kernel attached its real qdisc (linkwatch does that, then notifies), so
// that an announcement leaves the host. It wakes on link notifications.
func waitOperUp(ifname string, timeout time.Duration) bool {
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribe(updates, done); err != nil {
		return false
	}
	l, err := netlink.LinkByName(ifname)
	if err != nil {
		return false
	}
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
// ips and that routes exist.
func Verify(netnsPath, ifname string, ips []*current.IPConfig, routes []*types.Route) error {
	return ns.WithNetNSPath(netnsPath, func(ns.NetNS) error {
		if err := ip.ValidateExpectedInterfaceIPs(ifname, ips); err != nil {
			return err
		}
		return ip.ValidateExpectedRoute(routes)
	})
}
