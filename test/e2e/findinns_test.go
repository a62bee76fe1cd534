//go:build e2e

package e2e

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// A pod renamed its VF, and links come and go in its namespace while
// fastpath looks for the VF by its PCI address: some link dumps are
// interrupted (the kernel flags them, netlink returns ErrDumpInterrupted
// with a list), and FindInNS finds the VF every time all the same.
func TestFindInNSWhileLinksChange(t *testing.T) {
	nc := findNIC(t)
	const idx = 6
	pci, name := nc.vfs[idx], nc.names[idx]
	pod := cnitest.Pod(t)
	host, podNS, h := vfRenamedInPod(t, pod, name)
	// A second handle for the goroutine that changes links: a handle
	// serves one request at a time.
	churnH, err := netlink.NewHandleAt(podNS)
	must(t, err)
	defer churnH.Close()

	// Enough links that one dump takes many messages, and one link that a
	// goroutine adds and deletes meanwhile.
	must(t, pod.Do(func(ns.NetNS) error {
		for i := range 100 {
			if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("b%d", i)}}); err != nil {
				return err
			}
		}
		return nil
	}))
	stop, churned := make(chan struct{}), make(chan error)
	go func() {
		var err error
		for err == nil {
			select {
			case <-stop:
				churned <- nil
				return
			default:
			}
			br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "churn"}}
			if err = churnH.LinkAdd(br); err == nil {
				err = churnH.LinkDel(br)
			}
		}
		churned <- err
	}()

	interrupted := 0
	for i := 0; i < 100 && interrupted < 5; i++ {
		if _, err := h.LinkList(); errors.Is(err, netlink.ErrDumpInterrupted) {
			interrupted++
		}
		l, err := sriov.FindInNS(&sriov.Namespaces{Host: host, Pod: podNS, PodH: h}, "net1", pci, 0)
		if err != nil || l == nil || l.Attrs().Name != "renamed" {
			close(stop)
			<-churned
			t.Fatalf("lookup %d (after %d interrupted dumps): FindInNS = %v, %v; want the VF as renamed", i, interrupted, l, err)
		}
	}
	close(stop)
	must(t, <-churned)
	if interrupted == 0 {
		t.Fatal("no link dump was interrupted: the test did not reach the case it is for")
	}
	t.Logf("%d link dumps interrupted; FindInNS found the VF every time", interrupted)
}

// On kernels before 5.15 netlink names no parent device: FindInNS then finds
// the VF that the pod renamed by the bus-info its driver reports (ethtool
// -i), the ifindex left out, and tells it from another VF's address.
func TestFindInNSByBusInfo(t *testing.T) {
	nc := findNIC(t)
	const idx = 5
	pci, name := nc.vfs[idx], nc.names[idx]
	hostH, err := netlink.NewHandle()
	must(t, err)
	t.Cleanup(hostH.Close)
	vf, err := netlink.LinkByName(name)
	must(t, err)
	orig := &sriov.NetdevState{Name: name, MAC: vf.Attrs().HardwareAddr.String(), MTU: vf.Attrs().MTU, Up: vf.Attrs().Flags&net.FlagUp != 0}
	host, podNS, h := vfRenamedInPod(t, cnitest.Pod(t), name)
	// Links that name no device (a veth) or another (a bridge: "N/A").
	must(t, h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "va"}, PeerName: "vb"}))
	must(t, h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}))

	ns := &sriov.Namespaces{Host: host, HostH: hostH, Pod: podNS, PodH: h, OldKernel: true}
	l, err := sriov.FindInNS(ns, "net1", pci, 0)
	if err != nil || l == nil || l.Attrs().Name != "renamed" {
		t.Fatalf("FindInNS(%s) by bus-info = %v, %v; want the VF as renamed", pci, l, err)
	}
	if l.Attrs().ParentDev != pci {
		t.Errorf("the guest's kernel names the VF's parent %q, want %s: the check above proves nothing", l.Attrs().ParentDev, pci)
	}
	other := nc.vfs[idx-1]
	if l, err := sriov.FindInNS(ns, "renamed", other, 0); err != nil || l != nil {
		t.Errorf("FindInNS(%s) by bus-info = %v, %v; want nothing: renamed is VF %s", other, l, err, pci)
	}
	// Restore finds it the same way and puts it back on the host, named.
	must(t, sriov.Restore(ns, pci, "net1", "", orig, nil))
	back, err := netlink.LinkByName(name)
	if err != nil || back.Attrs().ParentDev != pci || (back.Attrs().Flags&net.FlagUp != 0) != orig.Up {
		t.Fatalf("VF %s is not back on the host as %s, up %v: %v, %v", pci, name, orig.Up, back, err)
	}
}

// On kernels before 5.15 and 5.6 netlink names neither a netdev's parent
// device nor its permanent address: ReadOwnNetdev then checks the VF's
// netdev by its driver's bus-info and reads the permanent address through
// ethtool, the same as `ethtool -P` shows; a netdev whose bus-info names
// another device is refused.
func TestReadOwnNetdevOldKernel(t *testing.T) {
	nc := findNIC(t)
	const idx = 4
	host, err := netns.Get()
	must(t, err)
	t.Cleanup(func() { host.Close() })
	hostH, err := netlink.NewHandle()
	must(t, err)
	t.Cleanup(hostH.Close)
	vf, err := sriov.Sysfs{Root: "/sys"}.LookupVF(nc.vfs[idx])
	must(t, err)
	l, err := hostH.LinkByName(vf.Netdev)
	must(t, err)
	if l.Attrs().PermHWAddr == nil || l.Attrs().ParentDev != vf.PCI {
		t.Fatalf("the guest's netlink gives %s no permanent address or parent: the test proves nothing", vf.Netdev)
	}
	out, err := exec.Command("/usr/sbin/ethtool", "-P", vf.Netdev).CombinedOutput()
	must(t, err)
	ethtoolPerm := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Permanent address:"))

	for _, old := range []bool{false, true} {
		ns := &sriov.Namespaces{Host: host, HostH: hostH, OldKernel: old}
		st, err := sriov.ReadOwnNetdev(ns, vf)
		if err != nil {
			t.Fatalf("old kernel %v: ReadOwnNetdev: %v", old, err)
		}
		if st.Perm != l.Attrs().PermHWAddr.String() || st.Perm != ethtoolPerm || st.Name != vf.Netdev {
			t.Errorf("old kernel %v: %+v; want permanent address %s (netlink) and %s (ethtool -P)", old, *st, l.Attrs().PermHWAddr, ethtoolPerm)
		}
		other := *vf
		other.PCI = nc.vfs[idx-1]
		if _, err := sriov.ReadOwnNetdev(ns, &other); !errors.Is(err, sriov.ErrUnsafeNetdev) || !strings.Contains(err.Error(), vf.PCI) {
			t.Errorf("old kernel %v: ReadOwnNetdev of %s as VF %s = %v, want ErrUnsafeNetdev naming %s", old, vf.Netdev, other.PCI, err, vf.PCI)
		}
	}
}

// vfRenamedInPod moves the host's VF netdev name into pod as "renamed", as a
// pod that renamed its VF, and returns the host's and the pod's namespaces
// and a netlink handle in the pod's. At cleanup a VF still there goes back
// to the host as name; one that is neither there nor on the host is an
// error.
func vfRenamedInPod(t *testing.T, pod ns.NetNS, name string) (host, podNS netns.NsHandle, h *netlink.Handle) {
	t.Helper()
	podNS, err := netns.GetFromPath(pod.Path())
	must(t, err)
	t.Cleanup(func() { podNS.Close() })
	h, err = netlink.NewHandleAt(podNS)
	must(t, err)
	t.Cleanup(h.Close)
	host, err = netns.Get()
	must(t, err)
	t.Cleanup(func() { host.Close() })
	vf, err := netlink.LinkByName(name)
	must(t, err)
	must(t, netlink.LinkSetNsFd(vf, int(podNS)))
	t.Cleanup(func() {
		l, err := h.LinkByName("renamed")
		if err == nil {
			err = errors.Join(h.LinkSetName(l, name), h.LinkSetNsFd(l, int(host)))
		} else if _, herr := netlink.LinkByName(name); herr == nil {
			err = nil // back on the host already (Restore)
		}
		if err != nil {
			t.Errorf("returning VF %s to the host: %v", name, err)
		}
	})
	vf, err = h.LinkByName(name)
	must(t, err)
	must(t, h.LinkSetName(vf, "renamed"))
	return host, podNS, h
}
