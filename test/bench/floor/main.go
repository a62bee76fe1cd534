// Command floor is the bare program of `make bench`: it does only the kernel
// calls (or the OVSDB transaction) that one fastpath path needs, with nothing
// else around them (no config, no state, no logging, no IPAM), and times
// them inside the process, step by step. Added to the process starts a CNI
// call cannot avoid (measured apart, on VERSION calls), that is the floor the
// path is compared with.
//
//	floor kernel -pf eth0 -vf 0 -netdev eth1 [-mac M] [-vlan N] [-spoofchk on|off] [-trust on|off] [-mtu N] [-addr A/N -route D/N -gw G]
//	    ADD: netlink sockets in the host and the pod namespace; the PF link with
//	    its VF table (only with a PF-side setting) and the VF netdev; the
//	    netdev's MAC; the PF-side settings; MTU; the netdev moved into the pod
//	    and renamed in one request, up; address and route. DEL: the reverse,
//	    back to the state found (PF side, name, MAC, MTU, permanent address):
//	    with a MAC, the original pinned for the move out, then cleared and the
//	    netdev's MAC handed back, as fastpath does.
//	floor pfside -pf eth0 -vf 6 [-mac M] [-vlan N] [-spoofchk on|off] [-trust on|off]
//	    A VF on vfio-pci: the PF-side settings only, and back.
//	floor vhost -ovsdb unix:PATH -bridge BR -dir DIR [-vlan N] [-role server|client -ovs-sock-dir DIR]
//	    vhost-user on OVS: the pod directory, one OVSDB connection adding the port
//	    (pkg/dpdk, as fastpath), with -role client the wait for OVS's socket and
//	    its link into the pod directory, the app's JSON file; DEL removes them.
//
// Common flags: -n cycles (default 30), -warmup, -settle (pause after each
// ADD and DEL, untimed), -name (series prefix), -env (guest or host). Every
// cycle makes a fresh pod namespace (untimed). -phase add (or del) -state FILE
// does one ADD (or the DEL of that ADD) in this process, as each plugin call
// runs in its own: make bench runs them so, since a DEL after an ADD in the
// same process runs warm code. Results are bench.Records on
// stdout. A PF-side setting already at its wanted value is not set again, so
// the floor is the least a correct implementation must do.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/fastpath-cni/fastpath/pkg/dpdk"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/test/bench"
)

type common struct {
	n, warmup  int
	settle     time.Duration
	name, env  string
	phase      string // both, add or del
	stateFile  string // what the add phase learned, for the del phase
	emit       *bench.Emitter
	addSteps   *steps
	delSteps   *steps
	extraNames []string
	learned    any // the originals the first ADD learns, saved between phases
}

func (c *common) flags(fs *flag.FlagSet, name string) {
	fs.IntVar(&c.n, "n", 30, "measured cycles")
	fs.IntVar(&c.warmup, "warmup", 2, "cycles before measuring")
	fs.DurationVar(&c.settle, "settle", 50*time.Millisecond, "untimed pause after each ADD and DEL")
	fs.StringVar(&c.name, "name", "floor/"+name, "series name prefix")
	fs.StringVar(&c.env, "env", bench.EnvGuest, "environment the records are tagged with")
	fs.StringVar(&c.phase, "phase", "both", "both: cycles of ADD then DEL in this process; add or del: one ADD or one DEL, each in its own process as each plugin call is, passing state in -state")
	fs.StringVar(&c.stateFile, "state", "", "the state file of -phase add and del")
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floor kernel|pfside|vhost [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "kernel":
		err = kernelCmd(os.Args[2:])
	case "pfside":
		err = pfsideCmd(os.Args[2:])
	case "vhost":
		err = vhostCmd(os.Args[2:])
	default:
		err = fmt.Errorf("unknown path %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// steps times the steps of one operation; each step's time is from the end
// of the one before.
type steps struct {
	order []string
	per   map[string][]time.Duration
	total []time.Duration
	cycle map[string]time.Duration
	start time.Time
	last  time.Time
}

func newSteps() *steps { return &steps{per: map[string][]time.Duration{}} }

func (s *steps) begin() {
	s.cycle = map[string]time.Duration{}
	s.start = time.Now()
	s.last = s.start
}

func (s *steps) mark(name string) {
	now := time.Now()
	if _, ok := s.per[name]; !ok {
		s.order = append(s.order, name)
		s.per[name] = nil
	}
	s.cycle[name] += now.Sub(s.last)
	s.last = now
}

// end closes the cycle; keep says whether it counts (not a warm-up).
func (s *steps) end(keep bool) time.Duration {
	d := s.last.Sub(s.start)
	if keep {
		s.total = append(s.total, d)
		for _, n := range s.order {
			s.per[n] = append(s.per[n], s.cycle[n])
		}
	}
	return d
}

func (s *steps) emit(e *bench.Emitter, prefix string) {
	e.Series(prefix, s.total)
	for _, n := range s.order {
		e.Series(prefix+"/"+n, s.per[n])
	}
}

// run does warm-up and measured cycles of add then del, each on a fresh pod
// namespace when withPod.
func (c *common) run(withPod bool, add, del func(pod string, keep bool) error) error {
	c.emit = bench.NewEmitter(os.Stdout, c.env)
	c.addSteps, c.delSteps = newSteps(), newSteps()
	switch c.phase {
	case "add":
		return c.addPhase(withPod, add)
	case "del":
		return c.delPhase(del)
	case "both":
	default:
		return fmt.Errorf("-phase %q: want both, add or del", c.phase)
	}
	for i := -c.warmup; i < c.n; i++ {
		pod := ""
		if withPod {
			var err error
			if pod, err = bench.NewPodNS(fmt.Sprintf("floor-%d-%d", os.Getpid(), i+c.warmup)); err != nil {
				return err
			}
		}
		err := add(pod, i >= 0)
		if err == nil {
			time.Sleep(c.settle)
			err = del(pod, i >= 0)
			time.Sleep(c.settle)
		}
		if pod != "" {
			if derr := netns.DeleteNamed(filepath.Base(pod)); derr != nil && err == nil {
				err = derr
			}
		}
		if err != nil {
			return fmt.Errorf("cycle %d: %w", i, err)
		}
	}
	c.addSteps.emit(c.emit, c.name+"/ADD")
	c.delSteps.emit(c.emit, c.name+"/DEL")
	c.emit.Info(c.name, map[string]string{
		"add-steps": strings.Join(c.addSteps.order, ","),
		"del-steps": strings.Join(c.delSteps.order, ","),
		"extra":     strings.Join(c.extraNames, ","),
	})
	return nil
}

// phaseState is what the add phase hands the del phase.
type phaseState struct {
	Pod     string
	Learned json.RawMessage
}

// addPhase does one measured ADD, on a fresh pod namespace when withPod,
// and saves what the DEL needs in the state file.
func (c *common) addPhase(withPod bool, add func(pod string, keep bool) error) error {
	pod := ""
	if withPod {
		var err error
		if pod, err = bench.NewPodNS(fmt.Sprintf("floor-%d", os.Getpid())); err != nil {
			return err
		}
	}
	if err := add(pod, true); err != nil {
		return err
	}
	learned, err := json.Marshal(c.learned)
	if err != nil {
		return err
	}
	b, err := json.Marshal(phaseState{Pod: pod, Learned: learned})
	if err != nil {
		return err
	}
	if err := os.WriteFile(c.stateFile, b, 0o600); err != nil {
		return err
	}
	c.addSteps.emit(c.emit, c.name+"/ADD")
	c.emit.Info(c.name, map[string]string{"add-steps": strings.Join(c.addSteps.order, ","), "extra": strings.Join(c.extraNames, ",")})
	return nil
}

// delPhase does one measured DEL of what the add phase made.
func (c *common) delPhase(del func(pod string, keep bool) error) error {
	b, err := os.ReadFile(c.stateFile)
	if err != nil {
		return err
	}
	var st phaseState
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	if c.learned != nil {
		if err := json.Unmarshal(st.Learned, c.learned); err != nil {
			return err
		}
	}
	err = del(st.Pod, true)
	if st.Pod != "" {
		err = errors.Join(err, netns.DeleteNamed(filepath.Base(st.Pod)))
	}
	if err != nil {
		return err
	}
	c.delSteps.emit(c.emit, c.name+"/DEL")
	c.emit.Info(c.name, map[string]string{"del-steps": strings.Join(c.delSteps.order, ",")})
	return nil
}

type handles struct {
	host, pod   netns.NsHandle
	hostH, podH *netlink.Handle
}

func openHandles(podPath string) (*handles, error) {
	h := &handles{host: -1, pod: -1}
	var err error
	if h.host, err = netns.Get(); err != nil {
		return nil, err
	}
	if h.hostH, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, err
	}
	if podPath == "" {
		return h, nil
	}
	if h.pod, err = netns.GetFromPath(podPath); err != nil {
		return nil, err
	}
	h.podH, err = netlink.NewHandleAt(h.pod, unix.NETLINK_ROUTE)
	return h, err
}

func (h *handles) close() {
	if h.podH != nil {
		h.podH.Close()
	}
	h.pod.Close()
	h.hostH.Close()
	h.host.Close()
}

func vfInfo(l netlink.Link, idx int) (netlink.VfInfo, error) {
	for _, v := range l.Attrs().Vfs {
		if v.ID == idx {
			return v, nil
		}
	}
	return netlink.VfInfo{}, fmt.Errorf("PF %s reports no VF %d", l.Attrs().Name, idx)
}

// pfState is the PF side of a VF that the floor changes.
type pfState struct {
	MAC             string `json:"mac"`
	Vlan, QoS       int
	SpoofChk, Trust bool
}

func pfStateOf(v netlink.VfInfo) pfState {
	return pfState{MAC: v.Mac.String(), Vlan: v.Vlan, QoS: v.Qos, SpoofChk: v.Spoofchk, Trust: v.Trust != 0}
}

// setPF moves the PF side from cur to want, only what differs.
func setPF(h *netlink.Handle, pf netlink.Link, idx int, cur, want pfState) error {
	if cur.MAC != want.MAC {
		mac, err := net.ParseMAC(want.MAC)
		if err != nil {
			return err
		}
		if err := h.LinkSetVfHardwareAddr(pf, idx, mac); err != nil {
			return fmt.Errorf("vf mac %s: %w", want.MAC, err)
		}
	}
	if cur.Vlan != want.Vlan || cur.QoS != want.QoS {
		if err := h.LinkSetVfVlanQos(pf, idx, want.Vlan, want.QoS); err != nil {
			return fmt.Errorf("vf vlan %d: %w", want.Vlan, err)
		}
	}
	if cur.SpoofChk != want.SpoofChk {
		if err := h.LinkSetVfSpoofchk(pf, idx, want.SpoofChk); err != nil {
			return fmt.Errorf("vf spoofchk: %w", err)
		}
	}
	if cur.Trust != want.Trust {
		if err := h.LinkSetVfTrust(pf, idx, want.Trust); err != nil {
			return fmt.Errorf("vf trust: %w", err)
		}
	}
	return nil
}

func onOff(s string) (*bool, error) {
	switch s {
	case "":
		return nil, nil
	case "on":
		v := true
		return &v, nil
	case "off":
		v := false
		return &v, nil
	}
	return nil, fmt.Errorf("want on or off, not %q", s)
}

// --- kernel VF --------------------------------------------------------------------------

type netdevState struct {
	Name, MAC, Perm string
	MTU             int
	Up              bool
}

func netdevStateOf(l netlink.Link) netdevState {
	a := l.Attrs()
	s := netdevState{Name: a.Name, MAC: a.HardwareAddr.String(), MTU: a.MTU, Up: a.Flags&net.FlagUp != 0}
	if a.PermHWAddr != nil {
		s.Perm = a.PermHWAddr.String()
	}
	return s
}

func kernelCmd(args []string) error {
	var c common
	fs := flag.NewFlagSet("kernel", flag.ExitOnError)
	c.flags(fs, "kernel")
	pfName := fs.String("pf", "", "PF netdev")
	idx := fs.Int("vf", 0, "VF index on the PF")
	netdev := fs.String("netdev", "", "VF netdev on the host")
	ifname := fs.String("ifname", "net1", "name in the pod")
	macS := fs.String("mac", "", "MAC for the VF (netdev and PF admin MAC)")
	vlan := fs.Int("vlan", -1, "VF VLAN (-1: untouched)")
	spoofS := fs.String("spoofchk", "", "on or off")
	trustS := fs.String("trust", "", "on or off")
	mtu := fs.Int("mtu", 0, "MTU in the pod (0: untouched)")
	addrS := fs.String("addr", "", "address in the pod, CIDR")
	routeS := fs.String("route", "", "route in the pod, CIDR")
	gwS := fs.String("gw", "", "the route's gateway")
	fs.Parse(args)
	spoof, err := onOff(*spoofS)
	if err != nil {
		return err
	}
	trust, err := onOff(*trustS)
	if err != nil {
		return err
	}
	pfSide := *macS != "" || *vlan >= 0 || spoof != nil || trust != nil
	var mac net.HardwareAddr
	if *macS != "" {
		var err error
		if mac, err = net.ParseMAC(*macS); err != nil {
			return err
		}
	}
	var addr *netlink.Addr
	if *addrS != "" {
		var err error
		if addr, err = netlink.ParseAddr(*addrS); err != nil {
			return err
		}
	}
	var route *netlink.Route
	if *routeS != "" {
		_, dst, err := net.ParseCIDR(*routeS)
		if err != nil {
			return err
		}
		route = &netlink.Route{Dst: dst, Gw: net.ParseIP(*gwS)}
	}

	// What the host shows before, which DEL must bring back, is learned
	// from the first ADD's own reads: a read before it would run the
	// netlink code warm, and fastpath's first request is cold.
	var k struct {
		Learned                         bool
		PFOrig, PFWant, PFBack, PFUnpin pfState
		ND                              netdevState
	}
	c.learned = &k
	learn := func(v netlink.VfInfo, l netlink.Link) {
		if k.Learned {
			return
		}
		k.Learned = true
		k.PFOrig, k.ND = pfStateOf(v), netdevStateOf(l)
		k.PFWant = k.PFOrig
		if mac != nil {
			k.PFWant.MAC = mac.String()
		}
		if *vlan >= 0 {
			k.PFWant.Vlan, k.PFWant.QoS = *vlan, 0
		}
		if spoof != nil {
			k.PFWant.SpoofChk = *spoof
		}
		if trust != nil {
			k.PFWant.Trust = *trust
		}
		// DEL's PF-side targets, as fastpath: the VF's own address is
		// pinned, untrusted, for the move out (whose reset gives igbvf
		// its address and permanent address back), then the admin MAC is
		// cleared and the netdev sets its MAC again, which the PF lists.
		k.PFBack, k.PFUnpin = k.PFOrig, k.PFOrig
		if mac != nil && k.PFOrig.MAC == k.ND.MAC {
			k.PFBack.Trust = false
			k.PFUnpin.MAC = "00:00:00:00:00:00"
		}
	}

	operUp := []time.Duration{}
	c.extraNames = []string{"ADD/oper-up"}
	var upAt time.Time
	var linkIndex int

	// readPF is the one read of the PF's VF table a call makes, when the
	// cell sets anything PF-side.
	readPF := func(h *handles) (pf netlink.Link, v netlink.VfInfo, err error) {
		if !pfSide {
			return nil, v, nil
		}
		if pf, err = h.hostH.LinkByName(*pfName); err != nil {
			return nil, v, err
		}
		v, err = vfInfo(pf, *idx)
		return pf, v, err
	}
	add := func(pod string, keep bool) error {
		st := c.addSteps
		st.begin()
		h, err := openHandles(pod)
		if err != nil {
			return err
		}
		defer h.close()
		st.mark("netlink")
		pf, v, err := readPF(h)
		if err != nil {
			return err
		}
		l, err := h.hostH.LinkByName(*netdev)
		if err != nil {
			return err
		}
		st.mark("read")
		learn(v, l)
		if mac != nil {
			if l.Attrs().Flags&net.FlagUp != 0 {
				if err := h.hostH.LinkSetDown(l); err != nil {
					return err
				}
			}
			if err := h.hostH.LinkSetHardwareAddr(l, mac); err != nil {
				return fmt.Errorf("netdev mac: %w", err)
			}
			st.mark("netdev-mac")
		}
		if pfSide {
			if err := setPF(h.hostH, pf, *idx, pfStateOf(v), k.PFWant); err != nil {
				return err
			}
			st.mark("pf-side")
		}
		if *mtu != 0 {
			if err := h.hostH.LinkSetMTU(l, *mtu); err != nil {
				return fmt.Errorf("mtu: %w", err)
			}
			st.mark("mtu")
		}
		// One RTM_SETLINK moves it into the pod and renames it, as fastpath.
		if err := sriov.MoveNS(h.host, l.Attrs().Index, h.host, h.pod, *ifname); err != nil {
			return fmt.Errorf("move: %w", err)
		}
		st.mark("to-pod")
		if err := h.podH.LinkSetUp(l); err != nil {
			return err
		}
		upAt = time.Now()
		st.mark("up")
		if addr != nil {
			if err := h.podH.AddrAdd(l, addr); err != nil {
				return fmt.Errorf("addr: %w", err)
			}
			st.mark("addr")
		}
		if route != nil {
			r := *route
			r.LinkIndex = l.Attrs().Index
			if err := h.podH.RouteAdd(&r); err != nil {
				return fmt.Errorf("route: %w", err)
			}
			st.mark("route")
		}
		st.end(keep)
		linkIndex = l.Attrs().Index
		// Not in the floor: how long the kernel takes to report carrier
		// (only then does an announcement leave the host).
		d, err := waitOperUp(h.podH, linkIndex, upAt, 3*time.Second)
		if err != nil {
			c.emit.Warn(c.name, "%v", err)
		}
		if keep {
			operUp = append(operUp, d)
		}
		return nil
	}

	del := func(pod string, keep bool) error {
		st := c.delSteps
		st.begin()
		h, err := openHandles(pod)
		if err != nil {
			return err
		}
		defer h.close()
		st.mark("netlink")
		pf, v, err := readPF(h)
		if err != nil {
			return err
		}
		l, err := h.podH.LinkByName(*ifname)
		if err != nil {
			return err
		}
		st.mark("read")
		if pfSide {
			if err := setPF(h.hostH, pf, *idx, pfStateOf(v), k.PFBack); err != nil {
				return err
			}
			st.mark("pf-side")
		}
		if err := sriov.MoveNS(h.pod, l.Attrs().Index, h.host, h.host, k.ND.Name); err != nil {
			return fmt.Errorf("move: %w", err)
		}
		st.mark("to-host")
		handBack := k.PFUnpin != k.PFBack
		if handBack {
			if err := setPF(h.hostH, pf, *idx, k.PFBack, k.PFUnpin); err != nil {
				return err
			}
			st.mark("unpin")
		}
		cur := netdevStateOf(l) // as it was in the pod: its MAC and MTU
		if cur.MAC != k.ND.MAC || handBack {
			m, _ := net.ParseMAC(k.ND.MAC)
			if err := h.hostH.LinkSetHardwareAddr(l, m); err != nil {
				return fmt.Errorf("restoring mac: %w", err)
			}
		}
		if cur.MTU != k.ND.MTU {
			if err := h.hostH.LinkSetMTU(l, k.ND.MTU); err != nil {
				return fmt.Errorf("restoring mtu: %w", err)
			}
		}
		st.mark("netdev-restore")
		if k.ND.Up {
			if err := h.hostH.LinkSetUp(l); err != nil {
				return err
			}
		}
		st.end(keep)
		// Untimed: the host must show what it showed before.
		return checkKernel(h.hostH, *pfName, *idx, *netdev, pfSide, k.PFOrig, k.ND)
	}
	if err := c.run(true, add, del); err != nil {
		return err
	}
	if len(operUp) > 0 {
		c.emit.Series(c.name+"/ADD/oper-up", operUp)
	}
	return nil
}

func waitOperUp(h *netlink.Handle, index int, since time.Time, timeout time.Duration) (time.Duration, error) {
	deadline := since.Add(timeout)
	for {
		l, err := h.LinkByIndex(index)
		if err != nil {
			return 0, err
		}
		if l.Attrs().OperState == netlink.OperUp {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return timeout, fmt.Errorf("link %d not operationally up after %s", index, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// checkKernel fails if the host does not show what it showed before: the
// netdev, and the PF's entry for the VF when the floor changed it.
func checkKernel(h *netlink.Handle, pfName string, idx int, netdev string, pfSide bool, pfOrig pfState, ndOrig netdevState) error {
	var errs []error
	if pfSide {
		pf, err := h.LinkByName(pfName)
		if err != nil {
			return err
		}
		v, err := vfInfo(pf, idx)
		if err != nil {
			return err
		}
		if got := pfStateOf(v); got != pfOrig {
			errs = append(errs, fmt.Errorf("after DEL the PF shows VF %d as %+v, before %+v", idx, got, pfOrig))
		}
	}
	l, err := h.LinkByName(netdev)
	if err != nil {
		return fmt.Errorf("after DEL: %w", err)
	}
	if got := netdevStateOf(l); got != ndOrig {
		errs = append(errs, fmt.Errorf("after DEL the VF netdev is %+v, before %+v", got, ndOrig))
	}
	return errors.Join(errs...)
}

// --- userspace VF (vfio-pci) ------------------------------------------------------------

func pfsideCmd(args []string) error {
	var c common
	fs := flag.NewFlagSet("pfside", flag.ExitOnError)
	c.flags(fs, "pfside")
	pfName := fs.String("pf", "", "PF netdev")
	idx := fs.Int("vf", 0, "VF index on the PF")
	macS := fs.String("mac", "", "VF admin MAC")
	vlan := fs.Int("vlan", -1, "VF VLAN (-1: untouched)")
	spoofS := fs.String("spoofchk", "", "on or off")
	trustS := fs.String("trust", "", "on or off")
	fs.Parse(args)
	spoof, err := onOff(*spoofS)
	if err != nil {
		return err
	}
	trust, err := onOff(*trustS)
	if err != nil {
		return err
	}
	mac, err := net.ParseMAC(*macS)
	if err != nil && *macS != "" {
		return err
	}
	// The VF's original PF-side state is learned from the first ADD's own
	// read, so that the first netlink request of the process is a timed
	// one, cold as fastpath's is.
	var k struct {
		Learned    bool
		Orig, Want pfState
	}
	c.learned = &k
	learn := func(v netlink.VfInfo) {
		if k.Learned {
			return
		}
		k.Learned = true
		k.Orig = pfStateOf(v)
		k.Want = k.Orig
		if *macS != "" {
			k.Want.MAC = mac.String()
		}
		if *vlan >= 0 {
			k.Want.Vlan, k.Want.QoS = *vlan, 0
		}
		if spoof != nil {
			k.Want.SpoofChk = *spoof
		}
		if trust != nil {
			k.Want.Trust = *trust
		}
	}
	step := func(st *steps, to func(v netlink.VfInfo) pfState) error {
		st.begin()
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		st.mark("netlink")
		pf, err := h.LinkByName(*pfName)
		if err != nil {
			return err
		}
		v, err := vfInfo(pf, *idx)
		if err != nil {
			return err
		}
		st.mark("read")
		if err := setPF(h, pf, *idx, pfStateOf(v), to(v)); err != nil {
			return err
		}
		st.mark("pf-side")
		h.Close()
		st.mark("close")
		return nil
	}
	add := func(_ string, keep bool) error {
		if err := step(c.addSteps, func(v netlink.VfInfo) pfState { learn(v); return k.Want }); err != nil {
			return err
		}
		c.addSteps.end(keep)
		return nil
	}
	del := func(_ string, keep bool) error {
		if err := step(c.delSteps, func(netlink.VfInfo) pfState { return k.Orig }); err != nil {
			return err
		}
		c.delSteps.end(keep)
		hostH, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		defer hostH.Close()
		pf, err := hostH.LinkByName(*pfName)
		if err != nil {
			return err
		}
		v, err := vfInfo(pf, *idx)
		if err != nil {
			return err
		}
		if got := pfStateOf(v); got != k.Orig {
			return fmt.Errorf("after DEL the PF shows VF %d as %+v, before %+v", *idx, got, k.Orig)
		}
		return nil
	}
	return c.run(false, add, del)
}

// --- vhost-user on OVS ------------------------------------------------------------------

func vhostCmd(args []string) error {
	var c common
	fs := flag.NewFlagSet("vhost", flag.ExitOnError)
	c.flags(fs, "vhost")
	ovsdb := fs.String("ovsdb", "", "OVSDB endpoint")
	bridge := fs.String("bridge", "", "OVS bridge")
	dir := fs.String("dir", "", "pods directory")
	vlan := fs.Int("vlan", 0, "access VLAN of the port (0: none)")
	role := fs.String("role", "server", "the app's socket role: server (OVS connects to the pod's socket) or client (OVS makes the socket, linked into the pod's directory)")
	sockDir := fs.String("ovs-sock-dir", "", "with -role client: where ovs-vswitchd makes its sockets")
	fs.Parse(args)
	if *role != "server" && *role != "client" {
		return fmt.Errorf("-role %q: want server or client", *role)
	}
	ctx := context.Background()
	seq := 0
	var k struct{ PodDir, Port string }
	c.learned = &k
	add := func(_ string, keep bool) error {
		st := c.addSteps
		seq++
		k.Port = fmt.Sprintf("vhfloor%d", seq)
		k.PodDir = filepath.Join(*dir, fmt.Sprintf("uid-floor-%d", seq))
		st.begin()
		if err := os.Mkdir(k.PodDir, 0o750); err != nil {
			return err
		}
		st.mark("pod-dir")
		o, err := dpdk.Dial(ctx, *ovsdb)
		if err != nil {
			return err
		}
		st.mark("dial")
		spec := dpdk.PortSpec{
			Bridge: *bridge, Name: k.Port, Type: dpdk.TypeVhostUserClient,
			Options: map[string]string{dpdk.OptVhostServerPath: filepath.Join(k.PodDir, "net1.sock")},
			ExternalIDs: map[string]string{
				"fastpath.network": "floor", "fastpath.container-id": k.Port, "fastpath.ifname": "net1",
			},
		}
		if *vlan != 0 {
			spec.Tag = vlan
		}
		if *role == "client" {
			spec.Type, spec.Options = dpdk.TypeVhostUser, nil
		}
		if err := o.AddPort(ctx, spec); err != nil {
			return err
		}
		st.mark("add-port")
		o.Close()
		st.mark("close")
		if *role == "client" {
			src := filepath.Join(*sockDir, k.Port)
			if err := dpdk.WaitSocket(src, 10*time.Second); err != nil {
				return err
			}
			st.mark("wait-socket")
			if err := os.Link(src, filepath.Join(k.PodDir, "net1.sock")); err != nil {
				return err
			}
			st.mark("link-socket")
		}
		info := fmt.Sprintf(`{"socket":%q,"role":%q,"mac":"02:00:00:00:00:01","queues":1}`+"\n", filepath.Join(k.PodDir, "net1.sock"), *role)
		if err := os.WriteFile(filepath.Join(k.PodDir, "net1.json"), []byte(info), 0o640); err != nil {
			return err
		}
		st.mark("app-file")
		st.end(keep)
		return nil
	}
	del := func(_ string, keep bool) error {
		st := c.delSteps
		st.begin()
		o, err := dpdk.Dial(ctx, *ovsdb)
		if err != nil {
			return err
		}
		st.mark("dial")
		if err := o.DeletePort(ctx, *bridge, k.Port); err != nil {
			return err
		}
		st.mark("delete-port")
		o.Close()
		st.mark("close")
		if err := os.Remove(filepath.Join(k.PodDir, "net1.json")); err != nil {
			return err
		}
		if *role == "client" {
			if err := os.Remove(filepath.Join(k.PodDir, "net1.sock")); err != nil {
				return err
			}
		}
		if err := os.Remove(k.PodDir); err != nil {
			return err
		}
		st.mark("files")
		st.end(keep)
		return nil
	}
	return c.run(false, add, del)
}
