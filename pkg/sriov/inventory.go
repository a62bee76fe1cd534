package sriov

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
)

// Node-wide listings, for tools that show every PF and VF at once
// (fastpathctl). Unlike LookupVF they do not fail on a PF without netdev:
// they report what sysfs shows.

// PF is one SR-IOV capable physical function as sysfs shows it.
type PF struct {
	PCI      string // the PF's PCI address
	Netdev   string // its netdev in this namespace, "" if none
	Driver   string // bound driver, "" when unbound
	NumVFs   int    // sriov_numvfs: 0 when SR-IOV is disabled
	TotalVFs int    // sriov_totalvfs
}

// PFs lists the SR-IOV capable PFs (those with sriov_totalvfs), enabled or
// not, sorted by PCI address.
func (s Sysfs) PFs() ([]PF, error) {
	matches, err := filepath.Glob(filepath.Join(s.Root, "bus/pci/devices/*/sriov_totalvfs"))
	if err != nil {
		return nil, err
	}
	var pfs []PF
	for _, m := range matches {
		pci := filepath.Base(filepath.Dir(m))
		pf := PF{PCI: pci, Driver: s.Driver(pci)}
		pf.TotalVFs, _ = s.readInt(pci, "sriov_totalvfs")
		pf.NumVFs, _ = s.readInt(pci, "sriov_numvfs")
		if pf.Netdev, err = s.firstNetdev(pci); err != nil {
			return nil, err
		}
		pfs = append(pfs, pf)
	}
	sort.Slice(pfs, func(i, j int) bool { return pfs[i].PCI < pfs[j].PCI })
	return pfs, nil
}

// VFs lists the VFs of pf by index, from its virtfn<i> links, with their
// bound driver and host netdev.
func (s Sysfs) VFs(pf PF) ([]VF, error) {
	var vfs []VF
	for i := 0; i < pf.NumVFs; i++ {
		l, err := os.Readlink(s.dev(pf.PCI, "virtfn"+strconv.Itoa(i)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading VF %d of %s: %w", i, pf.PCI, err)
		}
		vf := VF{PCI: filepath.Base(l), PFPCI: pf.PCI, PF: pf.Netdev, Index: i}
		vf.Driver = s.Driver(vf.PCI)
		if vf.Netdev, err = s.firstNetdev(vf.PCI); err != nil {
			return nil, err
		}
		vfs = append(vfs, vf)
	}
	return vfs, nil
}

// ReadVFTable reads the PF link with its VF table (one netlink request) and
// returns the PF-side settings and the counters of every VF it lists, by VF
// index.
func ReadVFTable(h *netlink.Handle, pf string) (map[int]*PFSettings, map[int]*VFCounters, error) {
	link, err := h.LinkByName(pf)
	if err != nil {
		return nil, nil, fmt.Errorf("reading PF %s: %w", pf, err)
	}
	table := make(map[int]*PFSettings, len(link.Attrs().Vfs))
	counters := make(map[int]*VFCounters, len(link.Attrs().Vfs))
	for _, v := range link.Attrs().Vfs {
		table[v.ID], counters[v.ID] = fromVfInfo(v), countersOf(v)
	}
	return table, counters, nil
}
