package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/config"
	"github.com/fastpath-cni/fastpath/pkg/crash"
	"github.com/fastpath-cni/fastpath/pkg/devinfo"
	"github.com/fastpath-cni/fastpath/pkg/dpdk"
	"github.com/fastpath-cni/fastpath/pkg/handover"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// socketWait bounds the wait for ovs-vswitchd to create the socket of a
// port whose socket it owns (socketRole "client").
const socketWait = 5 * time.Second

// vhostUser is a vhost-user socket in the pod's directory: an OVS port
// made for it, or a socket provisioned by someone else, which fastpath
// links and never owns.
type vhostUser struct {
	c      *call
	v      *config.Vhost
	podUID string
	mac    net.HardwareAddr
	// device names what the attachment holds (see vhostDevice);
	// provisioned is the provisioned socket.
	device, provisioned string
	dir                 handover.Dir
}

// newVhostUser validates the vhost-user settings, before anything changes.
// infoFile is the runtime's device-info file, which the device plugin may
// have written.
func (c *call) newVhostUser(s *config.Settings, infoFile string) (*vhostUser, error) {
	podUID := c.cargs.PodUID
	if podUID == "" {
		podUID = c.args.ContainerID
		c.log.Warn("no K8S_POD_UID in CNI_ARGS: the pod directory is named after the container ID", "dir", podUID)
	}
	v, err := c.conf.ResolveVhost(podUID, c.args.IfName)
	if err != nil {
		return nil, err
	}
	h := &vhostUser{c: c, v: v, podUID: podUID, mac: s.MAC,
		dir: handover.Dir{Path: v.PodDir, DirMode: v.DirMode, FileMode: v.FileMode, GID: v.GID}}
	if v.Backend == config.BackendProvisioned {
		if v.Provisioned == "" {
			// Multus copied the device plugin's device-info file here.
			v.Provisioned = infoFile
		}
		if h.provisioned, err = c.provisionedSocket(v); err != nil {
			return nil, err
		}
	}
	if h.mac == nil {
		h.mac = stableMAC(c.args.ContainerID, c.args.IfName)
	}
	h.device = vhostDevice(v, c.args.ContainerID, c.args.IfName)
	return h, nil
}

func (*vhostUser) name() string { return attach.ModeVhostUser }

// inspect records what apply makes: nothing of the host is changed in place.
func (h *vhostUser) inspect(rec *state.Record) error {
	v := h.v
	rec.Vhost = &state.Vhost{
		Backend: v.Backend, OVSDB: v.OVSDB, Bridge: v.Bridge, Role: v.Role, Vlan: v.Vlan,
		PodDir: v.PodDir, Socket: v.Socket, JSON: v.JSON,
	}
	if v.Backend == config.BackendOVS {
		rec.Vhost.Port = h.device
	}
	return nil
}

// apply makes the pod's directory, then the OVS port or the link to the
// provisioned socket.
func (h *vhostUser) apply(rec *state.Record) (*current.Interface, error) {
	c, v := h.c, h.v
	if err := h.dir.Create(); err != nil {
		return nil, err
	}
	crash.Point("add/pod-dir")
	var err error
	if v.Backend == config.BackendOVS {
		err = c.addOVSPort(v, rec, h.podUID, h.dir)
	} else {
		err = h.dir.LinkSocket(h.provisioned, v.Socket)
	}
	if err != nil {
		return nil, err
	}
	crash.Point("add/socket")
	iface := &current.Interface{Name: c.args.IfName, Mac: h.mac.String(), Mtu: v.MTU, Sandbox: c.args.Netns}
	if ok, _ := version.GreaterThanOrEqualTo(c.conf.CNIVersion, "1.1.0"); ok {
		iface.SocketPath = v.Socket
	}
	c.log = c.log.With("socket", v.Socket, "role", rec.Vhost.Role, "port", rec.Vhost.Port) // for "ADD done"
	c.log.Debug("handed over vhost-user socket")
	return iface, nil
}

// handOver writes the app's JSON file: the socket, its role and the result.
func (h *vhostUser) handOver(rec *state.Record, res, _ *current.Result) error {
	if err := h.dir.WriteInfo(h.v.JSON, appInfo(h.v, rec.Vhost.Role, h.mac, res)); err != nil {
		return err
	}
	crash.Point("add/app-file")
	return nil
}

func (h *vhostUser) deviceInfo(rec *state.Record) devinfo.Info {
	return devinfo.ForVhostUser(rec.Vhost.Role, rec.Vhost.Socket)
}

// addOVSPort adds the pod's port to the bridge. With the app as server OVS
// connects to the socket the app will create in the pod's directory; with
// the app as client OVS creates the socket, which is then linked into it.
func (c *call) addOVSPort(v *config.Vhost, rec *state.Record, podUID string, dir handover.Dir) error {
	o, err := dpdk.Dial(c.ctx, v.OVSDB)
	if err != nil {
		return err
	}
	defer o.Close()
	spec := dpdk.PortSpec{
		Bridge: v.Bridge, Name: rec.Vhost.Port, Type: dpdk.TypeVhostUserClient,
		Options: map[string]string{dpdk.OptVhostServerPath: v.Socket},
		ExternalIDs: map[string]string{
			attach.ExtNetwork: c.conf.Name, attach.ExtContainer: c.args.ContainerID, attach.ExtIfName: c.args.IfName,
			attach.ExtNetNS: c.args.Netns, attach.ExtPodUID: podUID,
		},
	}
	if c.cargs.PodName != "" {
		spec.ExternalIDs[attach.ExtPod] = c.cargs.PodNamespace + "/" + c.cargs.PodName
	}
	if v.Role == config.RoleClient {
		spec.Type, spec.Options = dpdk.TypeVhostUser, nil
	}
	if v.Vlan != 0 {
		spec.Tag = &v.Vlan
	}
	if v.MTU != 0 {
		spec.MTURequest = &v.MTU
	}
	if err := o.AddPort(c.ctx, spec); err != nil {
		return err
	}
	c.log.Debug("added OVS port", "bridge", v.Bridge, "port", spec.Name, "type", spec.Type)
	if v.Role == config.RoleClient {
		src := filepath.Join(v.OVSSocketDir, rec.Vhost.Port)
		if err := dpdk.WaitSocket(src, socketWait); err != nil {
			return fmt.Errorf("ovs-vswitchd made no socket for port %s: %w", rec.Vhost.Port, err)
		}
		return dir.LinkSocket(src, v.Socket)
	}
	return nil
}

// provisionedSocket is the socket that the provisioned backend hands over,
// which exists already: deviceID names it, or names the device plugin's
// device-info file that names it (and sets v.Role). fastpath links it and
// never owns it. Only a socket in the node's provisioned directories, links
// followed, is handed over: a network config must not give a pod some
// root daemon's socket.
func (c *call) provisionedSocket(v *config.Vhost) (string, error) {
	src := v.Provisioned
	if strings.HasSuffix(src, ".json") {
		if err := c.conf.Node.CheckDeviceInfo(src); err != nil {
			return "", types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
		}
		info, err := devinfo.Read(src)
		if err != nil {
			return "", err
		}
		if info.Type != "vhost-user" || info.VhostUser == nil {
			return "", types.NewError(ErrDevice, fmt.Sprintf("device info %s describes a %q device, not a vhost-user socket", src, info.Type), "")
		}
		src, v.Role = info.VhostUser.Path, info.VhostUser.Mode
	}
	if err := c.conf.Node.VhostUser.CheckProvisioned(src); err != nil {
		return "", types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	return src, nil
}

// undoVhost undoes a vhost-user attachment's host side: the OVS port, the
// socket (the app's, or the link fastpath made) and the JSON file, and the
// pod's directory once empty.
func (c *call) undoVhost(rec *state.Record) error {
	var errs []error
	if vh := rec.Vhost; vh.Backend == config.BackendOVS {
		errs = append(errs, deleteOVSPort(c.ctx, vh.OVSDB, vh.Bridge, vh.Port))
		crash.Point("del/port")
	}
	errs = append(errs, handover.Remove(rec.Vhost.Socket, rec.Vhost.JSON))
	errs = append(errs, handover.RemoveDirIfEmpty(rec.Vhost.PodDir))
	return errors.Join(errs...)
}

func deleteOVSPort(ctx context.Context, ovsdb, bridge, port string) error {
	o, err := dpdk.Dial(ctx, ovsdb)
	if err != nil {
		return err
	}
	defer o.Close()
	return o.DeletePort(ctx, bridge, port)
}

// checkVhost verifies the port and the files that ADD made.
func (c *call) checkVhost(rec *state.Record) error {
	vh := rec.Vhost
	if vh.Backend == config.BackendOVS {
		if err := c.checkOVSPort(vh); err != nil {
			return err
		}
	}
	if _, err := os.Stat(vh.JSON); err != nil {
		return checkFailed("app file: %v", err)
	}
	// The app creates a server socket itself, maybe not yet: its directory
	// is what must be there. Otherwise fastpath's link must be.
	want := vh.Socket
	if vh.Role == config.RoleServer && vh.Backend == config.BackendOVS {
		want = vh.PodDir
	}
	if _, err := os.Stat(want); err != nil {
		return checkFailed("vhost-user handover: %v", err)
	}
	return nil
}

func (c *call) checkOVSPort(vh *state.Vhost) error {
	o, err := dpdk.Dial(c.ctx, vh.OVSDB)
	if err != nil {
		return err
	}
	defer o.Close()
	p, err := o.GetPort(c.ctx, vh.Port)
	if err != nil {
		return err
	}
	if p == nil {
		return checkFailed("OVS port %s is gone", vh.Port)
	}
	var bad []string
	wantType, wantPath := dpdk.TypeVhostUserClient, vh.Socket
	if vh.Role == config.RoleClient {
		wantType, wantPath = dpdk.TypeVhostUser, ""
	}
	if p.Bridge != vh.Bridge {
		bad = append(bad, fmt.Sprintf("on bridge %q, want %q", p.Bridge, vh.Bridge))
	}
	if p.Type != wantType {
		bad = append(bad, fmt.Sprintf("type %q, want %q", p.Type, wantType))
	}
	if p.Options[dpdk.OptVhostServerPath] != wantPath {
		bad = append(bad, fmt.Sprintf("vhost-server-path %q, want %q", p.Options[dpdk.OptVhostServerPath], wantPath))
	}
	tag := 0
	if p.Tag != nil {
		tag = *p.Tag
	}
	if tag != vh.Vlan {
		bad = append(bad, fmt.Sprintf("tag %d, want %d", tag, vh.Vlan))
	}
	if len(bad) > 0 {
		return checkFailed("OVS port %s: %s", vh.Port, strings.Join(bad, ", "))
	}
	return nil
}

// statusVhost: OVSDB answers and the bridge exists.
func (c *call) statusVhost() error {
	vc := c.conf.VhostUser
	if vc == nil || vc.Backend == config.BackendProvisioned {
		return nil
	}
	o, err := dpdk.Dial(c.ctx, c.conf.Node.VhostUser.OVSDB)
	if err != nil {
		return err
	}
	defer o.Close()
	ok, err := o.BridgeExists(c.ctx, vc.Bridge)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("OVS bridge %q does not exist", vc.Bridge)
	}
	return nil
}

// gcOrphanPorts deletes this network's OVS ports that no record and no
// valid attachment accounts for (a crash between the port and the record
// cannot happen, as the record comes first; an operator deleting the state
// directory can).
func (c *call) gcOrphanPorts(valid func(containerID, ifname string) bool) error {
	vc := c.conf.VhostUser
	if c.conf.Mode != attach.ModeVhostUser || vc == nil || vc.Backend == config.BackendProvisioned {
		return nil
	}
	o, err := dpdk.Dial(c.ctx, c.conf.Node.VhostUser.OVSDB)
	if err != nil {
		return err
	}
	defer o.Close()
	ports, err := o.ListPorts(c.ctx, attach.ExtNetwork, c.conf.Name)
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range ports {
		cid, ifname := p.ExternalIDs[attach.ExtContainer], p.ExternalIDs[attach.ExtIfName]
		if valid(cid, ifname) {
			continue
		}
		if rec, err := c.store.Load(state.Key(c.conf.Name, cid, ifname)); err == nil && rec != nil {
			continue // released through its record, or kept for a retry
		}
		c.log.Info("GC deleting orphan OVS port", "port", p.Name, "container", cid)
		errs = append(errs, o.DeletePort(c.ctx, p.Bridge, p.Name))
	}
	return errors.Join(errs...)
}

// vhostDevice names what the attachment holds: its OVS port (named from the
// attachment, short enough for any OVS), or the provisioned socket.
func vhostDevice(v *config.Vhost, containerID, ifname string) string {
	if v.Backend == config.BackendOVS {
		sum := sha256.Sum256([]byte(containerID + "/" + ifname))
		return "vhu" + hex.EncodeToString(sum[:5])
	}
	sum := sha256.Sum256([]byte(v.Provisioned))
	return "vhp" + hex.EncodeToString(sum[:8])
}

// stableMAC is a locally administered unicast MAC derived from the
// attachment, so that a retried ADD hands the app the same address.
func stableMAC(containerID, ifname string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("mac/" + containerID + "/" + ifname))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

func appInfo(v *config.Vhost, role string, mac net.HardwareAddr, res *current.Result) *handover.AppInfo {
	info := &handover.AppInfo{
		Socket: filepath.Base(v.Socket), Role: role, MAC: mac.String(),
		MTU: v.MTU, VLAN: v.Vlan, Queues: v.Queues,
	}
	for _, ipc := range res.IPs {
		info.IPs = append(info.IPs, ipc.Address.String())
		if ipc.Gateway != nil {
			info.Gateways = append(info.Gateways, ipc.Gateway.String())
		}
	}
	for _, r := range res.Routes {
		rt := handover.Route{Dst: r.Dst.String()}
		if r.GW != nil {
			rt.GW = r.GW.String()
		}
		info.Routes = append(info.Routes, rt)
	}
	return info
}
