package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fastpath-cni/fastpath/pkg/node"
)

// Vhost-user backends and socket roles.
const (
	BackendOVS         = "ovs"
	BackendProvisioned = "provisioned"
	RoleServer         = "server" // the pod's app creates the socket
	RoleClient         = "client" // the switch creates it; the app connects
)

// maxSocketPath is sun_path's size less its terminating NUL.
const maxSocketPath = 107

// VhostUserConf is the "vhostuser" object of the config. OVSDB,
// OVSSocketDir and PodsDir are node settings (package node), accepted with
// the node's value only; Bridge and Group must be among those the node
// allows.
type VhostUserConf struct {
	Backend    string `json:"backend,omitempty"`
	Bridge     string `json:"bridge,omitempty"`
	OVSDB      string `json:"ovsdb,omitempty"`
	SocketRole string `json:"socketRole,omitempty"`
	// OVSSocketDir is where ovs-vswitchd creates the sockets of the ports
	// it serves (socketRole "client"): its vhost-sock-dir.
	OVSSocketDir string `json:"ovsSocketDir,omitempty"`
	Vlan         *int   `json:"vlan,omitempty"`
	MTU          *int   `json:"mtu,omitempty"`
	Queues       *int   `json:"queues,omitempty"`
	// PodsDir is the base of the per-pod directories.
	PodsDir string `json:"podsDir,omitempty"`
	// DirMode and FileMode are octal strings; Group a numeric GID, so that
	// a non-root app in that group can use the socket.
	DirMode  string `json:"dirMode,omitempty"`
	FileMode string `json:"fileMode,omitempty"`
	Group    *int   `json:"group,omitempty"`
}

// Vhost is the validated vhost-user configuration of one attachment.
type Vhost struct {
	Backend string
	Bridge  string
	OVSDB   string
	Role    string
	// OVSSocketDir: where OVS makes its sockets; by default the OVSDB
	// socket's directory, OVS's run directory, as vhost-sock-dir defaults.
	OVSSocketDir string
	Vlan         int
	MTU          int
	Queues       int
	PodDir       string // PodsDir/<pod UID>
	Socket       string // PodDir/<ifname>.sock
	JSON         string // PodDir/<ifname>.json
	DirMode      os.FileMode
	FileMode     os.FileMode
	GID          int // -1: leave the group alone
	// Provisioned is the socket that the provisioned backend hands over.
	Provisioned string
}

// ResolveVhost validates the vhost-user object for the attachment of
// ifname to the pod podUID, with the node's settings (BindNode).
func (c *NetConf) ResolveVhost(podUID, ifname string) (*Vhost, error) {
	vc := c.VhostUser
	if vc == nil {
		return nil, invalid("vhostuser", "", `mode "vhostuser" needs a "vhostuser" object`)
	}
	nv := &c.Node.VhostUser
	v := &Vhost{
		Backend: vc.Backend, Bridge: vc.Bridge, OVSDB: nv.OVSDB, Role: vc.SocketRole, Queues: 1, GID: -1,
		OVSSocketDir: nv.OVSSocketDir,
	}
	if v.Backend == "" {
		v.Backend = BackendOVS
	}
	if v.Role == "" {
		v.Role = RoleServer
	}
	switch v.Backend {
	case BackendOVS:
		if !isSafeName(v.Bridge, 64) {
			return nil, invalid("vhostuser.bridge", v.Bridge, "want an OVS bridge name")
		}
	case BackendProvisioned:
		if len(nv.ProvisionedDirs) == 0 {
			return nil, invalid("vhostuser.backend", v.Backend, fmt.Sprintf("the node allows no provisioned sockets: list their directories in vhostuser.provisionedDirs (%s)", c.Node.Describe()))
		}
		p := c.deviceRaw()
		if p == "" && c.RuntimeConfig.DeviceInfoFile != "" {
			break // the device plugin's device-info file names the socket
		}
		if !node.IsCleanAbs(p) {
			return nil, invalid("deviceID", p, "the provisioned backend wants the socket's (or its device-info file's) absolute path, or runtimeConfig.CNIDeviceInfoFile")
		}
		if !nv.ProvisionedAllowed(p) && !(strings.HasSuffix(p, ".json") && node.Within(p, c.Node.DeviceInfoDir)) {
			return nil, invalid("deviceID", p, fmt.Sprintf("neither in the node's provisioned directories %v nor a device-info file in %s (%s)", nv.ProvisionedDirs, c.Node.DeviceInfoDir, c.Node.Describe()))
		}
		v.Provisioned = p
	default:
		return nil, invalid("vhostuser.backend", v.Backend, "want ovs or provisioned")
	}
	if v.Role == RoleClient && v.OVSSocketDir == "" {
		return nil, invalid("vhostuser.socketRole", v.Role, fmt.Sprintf("the node names no OVS socket directory (vhostuser.ovsSocketDir, %s)", c.Node.Describe()))
	}
	if f := c.vfOnlyField(); f != "" {
		return nil, invalid(f, "set", `a VF setting has no meaning in mode "vhostuser": use the vhostuser object's vlan and mtu`)
	}
	if v.Role != RoleServer && v.Role != RoleClient {
		return nil, invalid("vhostuser.socketRole", v.Role, "want server or client")
	}
	if err := v.resolveNumbers(vc); err != nil {
		return nil, err
	}
	if err := v.resolveFiles(vc, nv.PodsDir, podUID, ifname); err != nil {
		return nil, err
	}
	return v, nil
}

// vfOnlyField names a top-level VF setting present in the config, if any.
func (c *NetConf) vfOnlyField() string {
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"vlan", c.Vlan != nil}, {"vlanQoS", c.VlanQoS != nil}, {"vlanProto", c.VlanProto != nil},
		{"spoofchk", c.SpoofChk != ""}, {"trust", c.Trust != ""}, {"link_state", c.LinkState != ""},
		{"min_tx_rate", c.MinTxRate != nil}, {"max_tx_rate", c.MaxTxRate != nil}, {"mtu", c.MTU != nil},
	} {
		if f.set {
			return f.name
		}
	}
	return ""
}

// deviceRaw is the device as given, not lowered: for the provisioned
// backend it is a path.
func (c *NetConf) deviceRaw() string {
	switch {
	case c.RuntimeConfig.DeviceID != "":
		return c.RuntimeConfig.DeviceID
	case c.DeviceID != "":
		return c.DeviceID
	}
	return c.PCIBusID
}

func (v *Vhost) resolveNumbers(vc *VhostUserConf) error {
	if vc.Vlan != nil {
		if *vc.Vlan < 0 || *vc.Vlan > 4094 {
			return invalid("vhostuser.vlan", fmt.Sprint(*vc.Vlan), "want 0-4094")
		}
		v.Vlan = *vc.Vlan
	}
	if vc.MTU != nil {
		if *vc.MTU < 68 || *vc.MTU > 9710 { // OVS-DPDK's largest MTU
			return invalid("vhostuser.mtu", fmt.Sprint(*vc.MTU), "want 68-9710")
		}
		v.MTU = *vc.MTU
	}
	if vc.Queues != nil {
		if *vc.Queues < 1 || *vc.Queues > 128 {
			return invalid("vhostuser.queues", fmt.Sprint(*vc.Queues), "want 1-128")
		}
		v.Queues = *vc.Queues
	}
	if vc.Group != nil {
		// chown takes 32 bits, and (uid_t)-1 means "unchanged".
		if *vc.Group < 0 || *vc.Group > 4294967294 {
			return invalid("vhostuser.group", fmt.Sprint(*vc.Group), "want a GID from 0 to 4294967294")
		}
		v.GID = *vc.Group
	}
	return nil
}

func (v *Vhost) resolveFiles(vc *VhostUserConf, base, podUID, ifname string) error {
	if !isSafeName(podUID, 128) {
		return invalid("pod UID", podUID, "cannot name a directory")
	}
	v.PodDir = filepath.Join(base, podUID)
	v.Socket = filepath.Join(v.PodDir, ifname+".sock")
	v.JSON = filepath.Join(v.PodDir, ifname+".json")
	if len(v.Socket) > maxSocketPath {
		return invalid("vhost-user socket path", v.Socket, fmt.Sprintf("%d bytes, more than the %d a unix socket takes: shorten the node's vhostuser.podsDir or the interface name", len(v.Socket), maxSocketPath))
	}
	var err error
	if v.DirMode, err = fileMode("vhostuser.dirMode", vc.DirMode, 0o750); err != nil {
		return err
	}
	if v.FileMode, err = fileMode("vhostuser.fileMode", vc.FileMode, 0o640); err != nil {
		return err
	}
	return nil
}

func fileMode(field, s string, def os.FileMode) (os.FileMode, error) {
	if s == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o777 {
		return 0, invalid(field, s, "want an octal mode like 0750")
	}
	return os.FileMode(m), nil
}
