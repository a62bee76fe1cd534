package sriov

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"

	"github.com/fastpath-cni/fastpath/pkg/crash"
	"golang.org/x/sys/unix"
)

// ErrNetdevGone means the VF netdev is in no namespace fastpath can see.
var ErrNetdevGone = errors.New("VF netdev not found")

// NetdevState is the part of the VF netdev's own state that fastpath changes.
type NetdevState struct {
	// Index identifies the netdev where the kernel names no parent device.
	Index int
	Name  string
	MAC   string
	MTU   int
	Up    bool
	// Perm is the driver's permanent address; igbvf re-reads it from the
	// PF whenever it resets, so a MAC change can leave it changed.
	Perm string
}

// ErrUnsafeNetdev is a netdev that must never move into a pod: not the VF's
// own, its PF, or one that the node's default route leaves through.
var ErrUnsafeNetdev = errors.New("netdev must not move into a pod")

// ReadOwnNetdev reads the name, MAC, MTU, admin state and permanent address
// of vf's netdev on the host, once it made sure that the netdev is the VF's
// own as the kernel names it (its parent device since 5.15, else its
// driver's bus-info), is not the PF's, and carries no default route of the
// node: a pod must never get the node's own uplink.
func ReadOwnNetdev(ns *Namespaces, vf *VF) (*NetdevState, error) {
	h := ns.HostH
	l, err := h.LinkByName(vf.Netdev)
	if err != nil {
		return nil, fmt.Errorf("reading netdev %s: %w", vf.Netdev, err)
	}
	a := l.Attrs()
	id := ns.in(ns.Host)
	defer id.close()
	if dev := id.device(l); a.Name == vf.PF || (dev != "" && dev != vf.PCI) {
		return nil, fmt.Errorf("netdev %s of VF %s is the device %q's (PF %s %s): %w", a.Name, vf.PCI, dev, vf.PFPCI, vf.PF, ErrUnsafeNetdev)
	}
	route, err := defaultRouteVia(h, a.Index)
	if err != nil {
		return nil, err
	}
	if route != "" {
		return nil, fmt.Errorf("netdev %s of VF %s carries the node's default route (%s): %w", a.Name, vf.PCI, route, ErrUnsafeNetdev)
	}
	st := stateOf(l)
	st.Perm = id.permAddr(l)
	return st, nil
}

// defaultRouteVia describes a default route, of any table and family, that
// leaves through the link index, "" if none does.
func defaultRouteVia(h *netlink.Handle, index int) (string, error) {
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		for try := 0; errors.Is(err, netlink.ErrDumpInterrupted) && try < 3; try++ {
			routes, err = h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		}
		if err != nil {
			return "", fmt.Errorf("listing the node's routes: %w", err)
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			via := r.LinkIndex == index
			for _, nh := range r.MultiPath {
				via = via || nh.LinkIndex == index
			}
			if via {
				return r.String(), nil
			}
		}
	}
	return "", nil
}

// stateOf is l's state without its permanent address (see ident.permAddr).
func stateOf(l netlink.Link) *NetdevState {
	a := l.Attrs()
	return &NetdevState{Index: a.Index, Name: a.Name, MAC: a.HardwareAddr.String(), MTU: a.MTU, Up: a.Flags&net.FlagUp != 0}
}

// Namespaces are the handles one call works with. Host is the plugin's own
// namespace; Pod is CNI_NETNS, or -1 when it is gone.
type Namespaces struct {
	Host  netns.NsHandle
	HostH *netlink.Handle
	Pod   netns.NsHandle
	PodH  *netlink.Handle
	// OldKernel reads netdevs as on kernels whose netlink names neither a
	// netdev's parent device (before 5.15) nor its permanent address (before
	// 5.6): through ethtool, the driver's bus-info and permanent address.
	// Tests set it to take that path on a newer kernel.
	OldKernel bool
}

// link is a handle on the netdev that ReadNetdev read, for requests that
// address it by index: the state read at the start of the call, under the
// VF's lock, saves reading it again.
func (st *NetdevState) link() netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: st.Index, Name: st.Name}}
}

// SetMAC sets the MAC of the VF netdev nd on the host, as ReadNetdev found
// it. It comes before the PF's admin MAC: once the PF has set one, igb
// refuses any MAC change the VF asks for, even to the same address, until
// the admin MAC is cleared.
func SetMAC(h *netlink.Handle, nd *NetdevState, mac net.HardwareAddr) error {
	if nd.Up {
		// igbvf and iavf cannot change the address of a running netdev.
		if err := h.LinkSetDown(nd.link()); err != nil {
			return fmt.Errorf("setting %s down: %w", nd.Name, err)
		}
	}
	if err := h.LinkSetHardwareAddr(nd.link(), mac); err != nil {
		return fmt.Errorf("setting MAC %s on %s: %w", mac, nd.Name, err)
	}
	return nil
}

// MoveIn moves the host netdev nd (as ReadNetdev found it) of VF pci into
// the pod namespace as ifname with the given MTU (0 keeps it) and brings it
// up. The move and the new name go in one netlink request, so no name is
// ever taken on the host (where a dead pod's VF may hold ifname) and none
// clashes in the pod on the way (the kernel renames as it moves). On error
// the netdev is back on the host, or in the pod; Restore puts the rest right.
func MoveIn(ns *Namespaces, pci string, nd *NetdevState, ifname string, mtu int) (err error) {
	if mtu != 0 && nd.MTU != mtu {
		if err := ns.HostH.LinkSetMTU(nd.link(), mtu); err != nil {
			return fmt.Errorf("setting MTU %d on %s: %w", mtu, nd.Name, err)
		}
		crash.Point("add/mtu")
	}
	if err := MoveNS(ns.Host, nd.Index, ns.Host, ns.Pod, ifname); err != nil {
		// The kernel may have moved it and then failed the rename (ifname
		// taken in the pod): fetch it back under its host name.
		id := ns.in(ns.Pod)
		defer id.close()
		if l, lerr := ns.PodH.LinkByName(nd.Name); lerr == nil && id.isVF(l, pci, nd.Index) {
			err = errors.Join(err, MoveNS(ns.Pod, l.Attrs().Index, ns.Host, ns.Host, nd.Name))
		}
		return fmt.Errorf("moving %s into the pod as %s: %w", nd.Name, ifname, err)
	}
	crash.Point("add/in-pod")
	l, err := ns.PodH.LinkByName(ifname)
	if err == nil {
		err = ns.PodH.LinkSetUp(l)
	}
	if err != nil {
		// It is in the pod now: Restore fetches it from there.
		return fmt.Errorf("bringing %s up in the pod: %w", ifname, err)
	}
	return nil
}

// MoveNS moves netdev index from namespace from into namespace to and names
// it name there, in one RTM_SETLINK: the kernel moves, then renames; if the
// netdev's current name is taken in the target, it takes name on arrival.
// cur is the namespace the calling thread returns to.
func MoveNS(from netns.NsHandle, index int, cur, to netns.NsHandle, name string) error {
	sock, err := nl.GetNetlinkSocketAt(from, cur, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening netlink: %w", err)
	}
	defer sock.Close()
	req := &nl.NetlinkRequest{
		NlMsghdr: unix.NlMsghdr{Len: unix.SizeofNlMsghdr, Type: unix.RTM_SETLINK, Flags: unix.NLM_F_REQUEST | unix.NLM_F_ACK},
		Sockets:  map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}},
	}
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(to))))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	_, err = req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// ResetTakesPFMAC tells whether a VF driver, when it resets (every close
// does, and so does a move out of a namespace while up), takes the MAC that
// the PF holds for the VF as its own and permanent address. igbvf does.
func ResetTakesPFMAC(driver string) bool { return driver == "igbvf" }

// Restore puts the VF netdev back in the host namespace with its original
// name, MAC, MTU and admin state, wherever it is now: in the pod as ifname,
// or already on the host (the pod's namespace died and the kernel returned
// it, under its container name). hostName is its current host name as sysfs
// shows it, "" when sysfs shows none.
//
// unpin, when not nil, clears the admin MAC that the PF holds for the VF (see
// ResetTakesPFMAC: the caller pinned the original MAC there so that the
// close of the move out gives the netdev its original address and permanent
// address back). It runs once the netdev is on the host; the netdev then
// sets its MAC again, which hands the address back to the PF's table.
func Restore(ns *Namespaces, pci, ifname, hostName string, orig *NetdevState, unpin func() error) error {
	movedOut := false
	if ns.PodH != nil {
		l, err := FindInNS(ns, ifname, pci, orig.Index)
		if err != nil {
			return err
		}
		if l != nil {
			if err := moveOut(ns, l, orig.Name); err != nil {
				return err
			}
			hostName, movedOut = orig.Name, true
		}
	}
	l := findOnHost(ns, pci, orig.Index, hostName, orig.Name)
	if l == nil {
		return fmt.Errorf("VF %s (%s): %w", pci, orig.Name, ErrNetdevGone)
	}
	// With the original MAC pinned, the move out's reset gave the netdev
	// its permanent address back: no need to check it.
	id := ns.in(ns.Host)
	defer id.close()
	return restoreOnHost(ns.HostH, id, l, orig, unpin, !(movedOut && unpin != nil))
}

func moveOut(ns *Namespaces, l netlink.Link, origName string) error {
	if err := MoveNS(ns.Pod, l.Attrs().Index, ns.Host, ns.Host, origName); err != nil {
		return fmt.Errorf("moving %s out of the pod as %s: %w", l.Attrs().Name, origName, err)
	}
	crash.Point("del/moved-out")
	return nil
}

func restoreOnHost(h *netlink.Handle, id *ident, l netlink.Link, orig *NetdevState, unpin func() error, checkPerm bool) error {
	cur := stateOf(l)
	setMAC := cur.MAC != orig.MAC || unpin != nil
	if cur.Up && (cur.Name != orig.Name || setMAC) {
		if err := h.LinkSetDown(l); err != nil {
			return fmt.Errorf("setting %s down: %w", cur.Name, err)
		}
	}
	if cur.Name != orig.Name {
		if err := h.LinkSetName(l, orig.Name); err != nil {
			return fmt.Errorf("renaming %s back to %s: %w", cur.Name, orig.Name, err)
		}
	}
	if unpin != nil {
		if err := unpin(); err != nil {
			return err
		}
		crash.Point("del/unpinned")
	}
	if setMAC {
		// Even when unchanged: the driver hands it to the PF (igbvf
		// through its mailbox), whose table shows it again.
		mac, err := net.ParseMAC(orig.MAC)
		if err == nil {
			err = h.LinkSetHardwareAddr(l, mac)
		}
		if err != nil {
			return fmt.Errorf("restoring MAC %s on %s: %w", orig.MAC, orig.Name, err)
		}
	}
	if cur.MTU != orig.MTU {
		if err := h.LinkSetMTU(l, orig.MTU); err != nil {
			return fmt.Errorf("restoring MTU %d on %s: %w", orig.MTU, orig.Name, err)
		}
	}
	if checkPerm {
		if err := resyncPerm(h, id, l, orig); err != nil {
			return err
		}
	}
	if orig.Up {
		err := h.LinkSetUp(l)
		if err != nil {
			return fmt.Errorf("setting %s up: %w", orig.Name, err)
		}
	} else if cur.Up {
		if err := h.LinkSetDown(l); err != nil {
			return fmt.Errorf("setting %s down: %w", orig.Name, err)
		}
	}
	return nil
}

// resyncPerm opens and closes the netdev once if its permanent address
// differs from the recorded one: igbvf resets when it closes and then takes
// its permanent address from the PF, which holds the restored MAC by now.
// That costs an open and a close (about 90 ms in the emulated guest), so DEL
// avoids it with the pinned move out (see Restore); it remains for a VF that
// came back without one, such as the kernel returning it from a dead pod.
func resyncPerm(h *netlink.Handle, id *ident, l netlink.Link, orig *NetdevState) error {
	if orig.Perm == "" {
		return nil
	}
	now, err := h.LinkByIndex(l.Attrs().Index)
	if err != nil {
		return fmt.Errorf("reading %s: %w", orig.Name, err)
	}
	if perm := id.permAddr(now); perm == "" || perm == orig.Perm {
		return nil
	}
	if err := h.LinkSetUp(now); err != nil {
		return fmt.Errorf("resetting %s: %w", orig.Name, err)
	}
	if err := h.LinkSetDown(now); err != nil {
		return fmt.Errorf("resetting %s: %w", orig.Name, err)
	}
	return nil
}

// FindInNS finds the VF in the pod's namespace: by its interface name, else
// by the PCI device it names (the pod may have renamed it). It returns nil,
// nil when the VF is not there. A link dump that a concurrent link change
// interrupts is retried, and its last list used, as the reference plugins
// do. index is the VF's ifindex recorded at ADD, 0 for none (see isVF).
func FindInNS(ns *Namespaces, ifname, pci string, index int) (netlink.Link, error) {
	id := ns.in(ns.Pod)
	defer id.close()
	if l, err := ns.PodH.LinkByName(ifname); err == nil && id.isVF(l, pci, index) {
		return l, nil
	}
	links, err := netlinksafe.Handle{Handle: ns.PodH}.LinkList()
	if err != nil {
		return nil, fmt.Errorf("looking for VF %s: listing links: %w", pci, err)
	}
	for _, l := range links {
		if id.device(l) == pci {
			return l, nil
		}
	}
	return nil, nil
}

func findOnHost(ns *Namespaces, pci string, index int, names ...string) netlink.Link {
	id := ns.in(ns.Host)
	defer id.close()
	for _, n := range names {
		if n == "" {
			continue
		}
		if l, err := ns.HostH.LinkByName(n); err == nil && id.isVF(l, pci, index) {
			return l
		}
	}
	return nil
}

// ident reads what netlink may not give of the netdevs of one namespace:
// the PCI device each belongs to, and its permanent address.
type ident struct {
	in, cur   netns.NsHandle
	local     bool             // in is the calling thread's namespace
	oldKernel bool             // see Namespaces.OldKernel
	eth       *ethtool.Ethtool // opened on first need, in namespace in
	ethErr    error
}

// in is an ident for the links of namespace in; the calling thread is in
// ns.Host.
func (ns *Namespaces) in(in netns.NsHandle) *ident {
	return &ident{in: in, cur: ns.Host, local: in == ns.Host, oldKernel: ns.OldKernel}
}

func (id *ident) close() {
	if id.eth != nil {
		id.eth.Close()
	}
}

// device is the PCI address of l's device: the parent device that the
// kernel names since 5.15 (IFLA_PARENT_DEV_NAME), else the bus-info that its
// driver reports (ethtool -i), "" when neither names one (a virtual link).
func (id *ident) device(l netlink.Link) string {
	if p := l.Attrs().ParentDev; p != "" && !id.oldKernel {
		return p
	}
	if id.open() != nil {
		return ""
	}
	bus, err := id.eth.BusInfo(l.Attrs().Name)
	if err != nil {
		return ""
	}
	return bus
}

// permAddr is l's permanent address: the one netlink gives since 5.6
// (IFLA_PERM_ADDRESS), else the driver's through ethtool; "" if it has none.
func (id *ident) permAddr(l netlink.Link) string {
	if p := l.Attrs().PermHWAddr; p != nil && !id.oldKernel {
		return p.String()
	}
	if id.open() != nil {
		return ""
	}
	perm, err := id.eth.PermAddr(l.Attrs().Name)
	if err != nil {
		return ""
	}
	return perm
}

// open opens the ethtool handle once.
func (id *ident) open() error {
	switch {
	case id.eth != nil || id.ethErr != nil:
	case id.local:
		id.eth, id.ethErr = ethtool.NewEthtool()
	default:
		id.eth, id.ethErr = ethtoolIn(id.in, id.cur)
	}
	return id.ethErr
}

// isVF tells whether l is the VF pci, by the device it names. Only a link
// that names no device at all, such as the veth stand-ins of the tests, is
// taken by the ifindex recorded at ADD (index, 0 for none), which moves with
// the netdev.
func (id *ident) isVF(l netlink.Link, pci string, index int) bool {
	if d := id.device(l); d != "" {
		return d == pci
	}
	return index != 0 && l.Attrs().Index == index
}

// ethtoolIn opens an ethtool handle whose socket is in namespace in: the
// kernel runs its ioctls in the namespace of the socket. cur is the
// namespace of the calling thread. The socket is made on a thread of its
// own, which Go discards if it cannot return to cur.
func ethtoolIn(in, cur netns.NsHandle) (*ethtool.Ethtool, error) {
	type result struct {
		e   *ethtool.Ethtool
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(in); err != nil {
			runtime.UnlockOSThread()
			ch <- result{nil, fmt.Errorf("entering the namespace for ethtool: %w", err)}
			return
		}
		e, err := ethtool.NewEthtool()
		if netns.Set(cur) == nil {
			runtime.UnlockOSThread()
		}
		ch <- result{e, err}
	}()
	r := <-ch
	return r.e, r.err
}

// WaitHostNetdev waits for the VF's netdev to appear on the host, for a VF
// the kernel is still handing back from a dying pod namespace (that happens
// in a workqueue, after the namespace's last reference is gone). It wakes on
// link notifications, not on a timer.
func WaitHostNetdev(s Sysfs, pci string, timeout time.Duration) (string, error) {
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribe(updates, done); err != nil {
		return "", fmt.Errorf("watching links: %w", err)
	}
	deadline := time.After(timeout)
	for {
		name, err := s.Netdev(pci)
		if err != nil || name != "" {
			return name, err
		}
		select {
		case <-updates:
		case <-deadline:
			return "", fmt.Errorf("VF %s shows no netdev on the host after %s: %w", pci, timeout, ErrNetdevGone)
		}
	}
}
