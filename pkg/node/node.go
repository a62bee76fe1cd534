// Package node holds the settings that belong to the node, not to a network:
// where sysfs, fastpath's state, its logs, the device-info files and the
// vhost-user pod directories are, which OVSDB vhost-user talks to, and what
// its network configs may pick from (OVS bridges, socket groups, directories
// of provisioned sockets).
//
// A network config is a tenant's input (a NetworkAttachmentDefinition is a
// namespaced object), and fastpath runs as root: none of these may come from
// it. The DaemonSet installs them as one file, DefaultPath; without that file
// the defaults below hold. A network config may still name a node setting, as
// configs written for earlier releases do, but only with the node's value.
package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultPath is the node file. PathEnv, in the plugin's environment, names
// another: the environment is the runtime's, which no network config reaches,
// and the test harnesses use it to point fastpath at fake sysfs trees and
// private directories.
const (
	DefaultPath = "/etc/fastpath/node.json"
	PathEnv     = "FASTPATH_NODE_CONFIG"
)

// Defaults of the node settings.
const (
	DefaultSysfsRoot     = "/sys"
	DefaultStateDir      = "/var/lib/cni/fastpath"
	DefaultLogDir        = "/var/log/fastpath"
	DefaultDeviceInfoDir = "/var/run/k8s.cni.cncf.io/devinfo"
	DefaultPodsDir       = "/var/run/fastpath/pods"
	DefaultOVSDB         = "unix:/var/run/openvswitch/db.sock"
)

// Settings are the node's settings, as the file gives them with the defaults
// filled in.
type Settings struct {
	// SysfsRoot is where sysfs is read.
	SysfsRoot string `json:"sysfsRoot,omitempty"`
	// StateDir holds the attachment records, device claims and locks of
	// every fastpath network on the node: one directory, so that no two
	// networks can claim one device.
	StateDir string `json:"stateDir,omitempty"`
	// LogDir is where a network config's logFile (a file name) is written.
	LogDir string `json:"logDir,omitempty"`
	// DeviceInfoDir is the base of runtimeConfig.CNIDeviceInfoFile (the
	// NPWG device-info specification's directory).
	DeviceInfoDir string    `json:"deviceInfoDir,omitempty"`
	VhostUser     VhostUser `json:"vhostuser"`

	// Source is the file these came from, "" when there was none.
	Source string `json:"-"`
}

// VhostUser are the vhost-user mode's node settings.
type VhostUser struct {
	// PodsDir is the base of the per-pod directories.
	PodsDir string `json:"podsDir,omitempty"`
	// OVSDB is the endpoint of the node's Open vSwitch.
	OVSDB string `json:"ovsdb,omitempty"`
	// OVSSocketDir is ovs-vswitchd's vhost-sock-dir; by default the OVSDB
	// socket's directory, as OVS's own default is its run directory.
	OVSSocketDir string `json:"ovsSocketDir,omitempty"`
	// Bridges a network config may name; none listed: any bridge.
	Bridges []string `json:"bridges,omitempty"`
	// Groups a network config may give the pod's files to; none listed:
	// any group.
	Groups []int `json:"groups,omitempty"`
	// ProvisionedDirs are the directories whose sockets (and device-info
	// files) the provisioned backend may hand to a pod; none listed: the
	// provisioned backend is off, since a socket named by a network config
	// could be any daemon's on the node.
	ProvisionedDirs []string `json:"provisionedDirs,omitempty"`
}

// Load reads the node file that PathEnv names, else DefaultPath; only a
// missing DefaultPath means the defaults. A file that PathEnv names must be
// there: a harness that points at a missing file must not get /sys instead.
func Load() (*Settings, error) {
	path, named := os.LookupEnv(PathEnv)
	if !named || path == "" {
		path = DefaultPath
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && path == DefaultPath {
		return Parse(nil, "")
	}
	if err != nil {
		return nil, fmt.Errorf("reading the node file: %w", err)
	}
	return Parse(b, path)
}

// Parse decodes a node file (nil: none) and fills in the defaults. Unknown
// keys are refused: a misspelt key would silently leave a default in force.
func Parse(b []byte, source string) (*Settings, error) {
	n := &Settings{Source: source}
	if b != nil {
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(n); err != nil {
			return nil, fmt.Errorf("node file %s: %w", source, err)
		}
	}
	v := &n.VhostUser
	for _, f := range []struct {
		p   *string
		def string
	}{
		{&n.SysfsRoot, DefaultSysfsRoot}, {&n.StateDir, DefaultStateDir}, {&n.LogDir, DefaultLogDir},
		{&n.DeviceInfoDir, DefaultDeviceInfoDir}, {&v.PodsDir, DefaultPodsDir}, {&v.OVSDB, DefaultOVSDB},
	} {
		if *f.p == "" {
			*f.p = f.def
		}
	}
	if p, ok := strings.CutPrefix(v.OVSDB, "unix:"); ok && v.OVSSocketDir == "" {
		v.OVSSocketDir = filepath.Dir(p)
	}
	if err := n.validate(); err != nil {
		return nil, fmt.Errorf("node file %s: %w", source, err)
	}
	return n, nil
}

func (n *Settings) validate() error {
	v := &n.VhostUser
	dirs := []struct{ key, path string }{
		{"sysfsRoot", n.SysfsRoot}, {"stateDir", n.StateDir}, {"logDir", n.LogDir},
		{"deviceInfoDir", n.DeviceInfoDir}, {"vhostuser.podsDir", v.PodsDir},
	}
	if v.OVSSocketDir != "" {
		dirs = append(dirs, struct{ key, path string }{"vhostuser.ovsSocketDir", v.OVSSocketDir})
	}
	for _, p := range v.ProvisionedDirs {
		dirs = append(dirs, struct{ key, path string }{"vhostuser.provisionedDirs", p})
	}
	for _, d := range dirs {
		if !IsCleanAbs(d.path) {
			return fmt.Errorf("%s %q: want a clean absolute path", d.key, d.path)
		}
	}
	if !ValidEndpoint(v.OVSDB) {
		return fmt.Errorf("vhostuser.ovsdb %q: want unix:/absolute/path or tcp:host:port", v.OVSDB)
	}
	for _, g := range v.Groups {
		if g < 0 || g > 4294967294 { // chown takes 32 bits; (gid_t)-1 means "unchanged"
			return fmt.Errorf("vhostuser.groups: %d: want a GID from 0 to 4294967294", g)
		}
	}
	if slices.Contains(v.Bridges, "") {
		return errors.New("vhostuser.bridges: an empty bridge name")
	}
	return nil
}

// BridgeAllowed tells whether vhost-user may add ports to bridge.
func (v *VhostUser) BridgeAllowed(bridge string) bool {
	return len(v.Bridges) == 0 || slices.Contains(v.Bridges, bridge)
}

// GroupAllowed tells whether vhost-user may give a pod's files to gid.
func (v *VhostUser) GroupAllowed(gid int) bool {
	return len(v.Groups) == 0 || slices.Contains(v.Groups, gid)
}

// IsCleanAbs tells whether p is an absolute path in its shortest form (no
// "..", no "//", no trailing "/").
func IsCleanAbs(p string) bool {
	return filepath.IsAbs(p) && filepath.Clean(p) == p
}

// Within tells whether the clean absolute path p is dir or below it.
func Within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/") || dir == "/"
}

// ValidEndpoint accepts the OVSDB endpoints fastpath can dial.
func ValidEndpoint(e string) bool {
	if p, ok := strings.CutPrefix(e, "unix:"); ok {
		return filepath.IsAbs(p)
	}
	if hp, ok := strings.CutPrefix(e, "tcp:"); ok {
		host, port, found := strings.Cut(hp, ":")
		return found && host != "" && port != ""
	}
	return false
}

// Describe names where the settings come from, for error messages.
func (n *Settings) Describe() string {
	if n.Source == "" {
		return "default: no node file " + DefaultPath
	}
	return "node file " + n.Source
}

// ProvisionedAllowed tells, by its name, whether the clean absolute path p
// is in one of the directories of provisioned sockets.
func (v *VhostUser) ProvisionedAllowed(p string) bool {
	return slices.ContainsFunc(v.ProvisionedDirs, func(dir string) bool { return Within(p, dir) })
}

// CheckProvisioned makes sure that path, once every link in it is followed,
// is still in one of the directories of provisioned sockets, so that a link
// planted there cannot hand a pod some other daemon's socket.
func (v *VhostUser) CheckProvisioned(path string) error {
	return checkReal("provisioned socket", path, v.ProvisionedDirs)
}

// ErrOutside is a path that leaves the directories the node allows.
var ErrOutside = errors.New("path outside the node's directories")

// CheckDeviceInfo makes sure that the device-info file path, once every
// link in it is followed, is in the device-info directory or one of the
// directories of provisioned sockets.
func (n *Settings) CheckDeviceInfo(path string) error {
	return checkReal("device-info file", path, append([]string{n.DeviceInfoDir}, n.VhostUser.ProvisionedDirs...))
}

// checkReal fails unless path, every link in it followed, is in one of dirs
// (theirs followed too).
func checkReal(what, path string, dirs []string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, path, err)
	}
	for _, dir := range dirs {
		if rdir, err := filepath.EvalSymlinks(dir); err == nil && Within(real, rdir) {
			return nil
		}
	}
	return fmt.Errorf("%s %s is %s, outside the node's directories %v: %w", what, path, real, dirs, ErrOutside)
}
