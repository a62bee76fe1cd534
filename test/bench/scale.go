package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// ScalePFs is how many PFs the scale curve's fake node has.
const ScalePFs = 4

// ScalePoint is the scale curve at one VF count: the discovery and state
// handling of one ADD and one DEL, without the kernel calls.
type ScalePoint struct {
	VFsPerPF int
	// Lookup is sriov.Sysfs.LookupVF of the last VF of the last PF.
	Lookup []time.Duration
	// Add is what ADD does around it: Lock, Load (none), Owner (none),
	// LookupVF, Save, Claim, unlock.
	Add []time.Duration
	// Del is what DEL does: Lock, Load, Owner, Release, Remove, unlock.
	Del []time.Duration
}

// Scale measures one ADD's and one DEL's discovery and state handling over a
// fake sysfs tree of ScalePFs PFs with n VFs each, for every n, on a node
// whose every other VF is attached (a record and a claim each). Tree and
// state directory are on tmpfs (fakesysfs.MkdirTemp): what is measured is
// how the cost grows with the VF count, not the disk's fsync. The trees are
// built first and measured in turns, so that drift touches every count alike.
func Scale(counts []int, iters int) ([]ScalePoint, error) {
	nodes := make([]*scaleNode, len(counts))
	for i, n := range counts {
		nd, err := newScaleNode(n, "")
		if nd != nil {
			defer os.RemoveAll(nd.root)
		}
		if err != nil {
			return nil, fmt.Errorf("%d VFs per PF: %w", n, err)
		}
		nodes[i] = nd
	}
	out := make([]ScalePoint, len(counts))
	for i, n := range counts {
		out[i].VFsPerPF = n
	}
	for it := -max(iters/10, 1); it < iters; it++ {
		for i, nd := range nodes {
			look, add, del, err := nd.cycle()
			if err != nil {
				return nil, fmt.Errorf("%d VFs per PF: %w", nd.n, err)
			}
			if it >= 0 {
				out[i].Lookup = append(out[i].Lookup, look)
				out[i].Add = append(out[i].Add, add)
				out[i].Del = append(out[i].Del, del)
			}
		}
	}
	return out, nil
}

// scaleNode is a fake node of ScalePFs PFs with n VFs each.
type scaleNode struct {
	n      int
	root   string
	sys    sriov.Sysfs
	store  state.Store
	last   fakesysfs.PF
	target string // the last VF of the last PF, the one ADD gets
}

// ScaleOnDisk is Scale's measurement at n VFs per PF with the state
// directory in a new directory under dir (a disk, as /var/lib/cni is on a
// node): what a disk adds. The sysfs tree stays on tmpfs, as sysfs is.
func ScaleOnDisk(n, iters int, dir string) (ScalePoint, error) {
	pt := ScalePoint{VFsPerPF: n}
	stateDir, err := os.MkdirTemp(dir, "bench-state-")
	if err != nil {
		return pt, err
	}
	defer os.RemoveAll(stateDir)
	nd, err := newScaleNode(n, stateDir)
	if nd != nil {
		defer os.RemoveAll(nd.root)
	}
	if err != nil {
		return pt, err
	}
	for it := -max(iters/10, 1); it < iters; it++ {
		look, add, del, err := nd.cycle()
		if err != nil {
			return pt, err
		}
		if it >= 0 {
			pt.Lookup = append(pt.Lookup, look)
			pt.Add = append(pt.Add, add)
			pt.Del = append(pt.Del, del)
		}
	}
	return pt, nil
}

// newScaleNode builds a node; its state directory is stateDir, or one in
// its tmpfs root when "".
func newScaleNode(n int, stateDir string) (*scaleNode, error) {
	root, err := fakesysfs.MkdirTemp("bench-scale-")
	if err != nil {
		return nil, err
	}
	if stateDir == "" {
		stateDir = filepath.Join(root, "state")
	}
	nd := &scaleNode{n: n, root: root}
	sysRoot := filepath.Join(root, "sys")
	var pfs []fakesysfs.PF
	for i := range ScalePFs {
		// X710-like: offset 16, stride 1; 1024 VFs take 4 buses, so PFs
		// 16 buses apart never collide.
		pfs = append(pfs, fakesysfs.PF{
			PCI: fakesysfs.FormatAddr(0, (0x10*(i+1))<<8), Netdev: fmt.Sprintf("ens%df0", i+1),
			NumVFs: n, Offset: 16, Stride: 1,
			VFNetdevPrefix: fmt.Sprintf("ens%dv", i+1), VFDriver: "iavf",
		})
	}
	if err := fakesysfs.Build(sysRoot, pfs...); err != nil {
		return nd, err
	}
	nd.sys = sriov.Sysfs{Root: sysRoot}
	nd.store = state.Store{Dir: stateDir}
	nd.last = pfs[len(pfs)-1]
	nd.target = nd.last.VF(n - 1)
	// Every VF but the one measured belongs to a pod already.
	for _, pf := range pfs {
		for i := range n {
			pci := pf.VF(i)
			if pci == nd.target {
				continue
			}
			rec := scaleRecord(pci, pf, i)
			held, err := nd.store.Lock(pci, time.Second)
			if err != nil {
				return nd, err
			}
			err = errors.Join(held.Save(rec), held.Claim(rec.Key()))
			held.Unlock()
			if err != nil {
				return nd, err
			}
		}
	}
	return nd, nil
}

// cycle is one ADD's discovery and state handling, then one DEL's.
func (nd *scaleNode) cycle() (look, add, del time.Duration, err error) {
	store, target := nd.store, nd.target
	key := state.Key("scale", "pod-target", "net1")
	start := time.Now()
	held, err := store.Lock(target, time.Second)
	if err != nil {
		return 0, 0, 0, err
	}
	unlock := held.Unlock
	if old, err := store.Load(key); err != nil || old != nil {
		unlock()
		return 0, 0, 0, fmt.Errorf("load %s: %v %v", key, old, err)
	}
	if owner, err := store.Owner(target); err != nil || owner != "" {
		unlock()
		return 0, 0, 0, fmt.Errorf("owner of %s: %q %v", target, owner, err)
	}
	lookStart := time.Now()
	vf, err := nd.sys.LookupVF(target)
	look = time.Since(lookStart)
	if err != nil {
		unlock()
		return 0, 0, 0, err
	}
	if vf.Index != nd.n-1 || vf.PF != nd.last.Netdev {
		unlock()
		return 0, 0, 0, fmt.Errorf("LookupVF(%s) = %+v", target, vf)
	}
	rec := scaleRecord(target, nd.last, vf.Index)
	rec.ContainerID = "pod-target"
	if err := held.Save(rec); err != nil {
		unlock()
		return 0, 0, 0, err
	}
	if err := held.Claim(key); err != nil {
		unlock()
		return 0, 0, 0, err
	}
	unlock()
	add = time.Since(start)

	start = time.Now()
	if err := nd.release(key); err != nil {
		return 0, 0, 0, err
	}
	del = time.Since(start)
	return look, add, del, nil
}

// release is DEL's state handling.
func (nd *scaleNode) release(key string) error {
	store, target := nd.store, nd.target
	held, err := store.Lock(target, time.Second)
	if err != nil {
		return err
	}
	defer held.Unlock()
	got, err := store.Load(key)
	if err != nil || got == nil {
		return fmt.Errorf("load %s: %v", key, err)
	}
	if owner, err := store.Owner(target); err != nil || owner != key {
		return fmt.Errorf("owner of %s: %q %v", target, owner, err)
	}
	if err := held.Release(key); err != nil {
		return err
	}
	return held.Remove(key)
}

// scaleRecord is a record of the size a kernel VF's has.
func scaleRecord(pci string, pf fakesysfs.PF, idx int) *state.Record {
	return &state.Record{
		Network: "scale", ContainerID: "pod-" + pci, IfName: "net1", NetNS: "/var/run/netns/pod-" + pci,
		Mode: attach.ModeKernel, Device: pci, PCI: pci, PF: pf.Netdev, PFPCI: pf.PCI, VFIndex: idx, Driver: "iavf",
		Config: []byte(`{"cniVersion":"1.1.0","name":"scale","type":"fastpath","deviceID":"` + pci +
			`","vlan":100,"mac":"02:fa:00:00:00:01","mtu":1400,"ipam":{"type":"host-local","subnet":"10.10.0.0/16"}}`),
		PFOrig:     &sriov.PFSettings{MAC: "00:00:00:00:00:00", VlanProto: 0x8100, SpoofChk: true},
		NetdevOrig: &sriov.NetdevState{Index: 10 + idx, Name: pf.VFNetdev(idx), MAC: "02:00:00:00:00:01", MTU: 1500},
	}
}
