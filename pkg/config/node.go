package config

import (
	"fmt"
	"path/filepath"

	"github.com/fastpath-cni/fastpath/pkg/node"
)

// BindNode puts the node's settings in force. A network config may name a
// node setting, as configs written for earlier releases do, only with the
// node's own value; any other value is refused with code 7 naming the key.
// The node's values are in force either way, so that a caller that goes on
// past the error (DEL must, or a pod could never be deleted) never uses the
// config's.
func (c *NetConf) BindNode(n *node.Settings) error {
	c.Node = n
	sysfsRoot, stateDir := c.SysfsRoot, c.StateDir
	c.SysfsRoot, c.StateDir, c.LogPath = n.SysfsRoot, n.StateDir, ""
	if err := sameAsNode("sysfsRoot", sysfsRoot, n.SysfsRoot, n); err != nil {
		return err
	}
	if err := sameAsNode("stateDir", stateDir, n.StateDir, n); err != nil {
		return err
	}
	if c.LogFile != "" {
		// The file of that name in the node's log directory: configs
		// written for earlier releases and for sriov-cni give a path
		// ("/var/log/sriov-cni.log"), and keep logging, never outside it.
		name := filepath.Base(c.LogFile)
		if !isSafeName(name, 255) {
			return invalid("logFile", c.LogFile, fmt.Sprintf("want a file name; logs go to the node's log directory %s (%s)", n.LogDir, n.Describe()))
		}
		c.LogPath = filepath.Join(n.LogDir, name)
	}
	vc := c.VhostUser
	if vc == nil {
		return nil
	}
	nv := &n.VhostUser
	for _, k := range []struct{ key, got, want string }{
		{"vhostuser.podsDir", vc.PodsDir, nv.PodsDir},
		{"vhostuser.ovsdb", vc.OVSDB, nv.OVSDB},
		{"vhostuser.ovsSocketDir", vc.OVSSocketDir, nv.OVSSocketDir},
	} {
		if err := sameAsNode(k.key, k.got, k.want, n); err != nil {
			return err
		}
	}
	if vc.Bridge != "" && !nv.BridgeAllowed(vc.Bridge) {
		return invalid("vhostuser.bridge", vc.Bridge, fmt.Sprintf("the node allows bridges %v only (%s)", nv.Bridges, n.Describe()))
	}
	if vc.Group != nil && !nv.GroupAllowed(*vc.Group) {
		return invalid("vhostuser.group", fmt.Sprint(*vc.Group), fmt.Sprintf("the node allows groups %v only (%s)", nv.Groups, n.Describe()))
	}
	return nil
}

// sameAsNode refuses a network config's value of a node setting that is not
// the node's own.
func sameAsNode(key, got, want string, n *node.Settings) error {
	if got == "" || got == want {
		return nil
	}
	return invalid(key, got, fmt.Sprintf("a node setting, %q on this node (%s): drop it from the network config", want, n.Describe()))
}
