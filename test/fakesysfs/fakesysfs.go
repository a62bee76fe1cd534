// Package fakesysfs lays out a fake PCI sysfs tree for SR-IOV tests: the
// files and links that fastpath's pkg/sriov reads, and nothing else.
//
// Under root, Build makes for each PF:
//
//	bus/pci/devices/<PF>/sriov_numvfs, sriov_totalvfs, sriov_offset, sriov_stride
//	bus/pci/devices/<PF>/net/<Netdev>/speed, phys_switch_id, phys_port_name (when set)
//	bus/pci/devices/<PF>/virtfn<i> -> ../<VF i>
//
// and for each of its VFs:
//
//	bus/pci/devices/<VF>/physfn -> ../<PF>
//	bus/pci/devices/<VF>/driver -> <root>/bus/pci/drivers/<VFDriver>
//	bus/pci/devices/<VF>/net/<VFNetdevPrefix><i>/
//
// VF addresses follow the PCI routing-ID arithmetic that real hardware uses,
// so lookups by offset and stride work as they do on a real host. Building is
// plain mkdir/symlink/write calls, a few per VF, so thousands of VFs take
// milliseconds. The package does not depend on the testing package.
//
// The variant helpers (Unbind, MoveNetdev, SetNumVFs, DropOffsetFiles,
// AddDevice, SetPort) change a built tree into the awkward cases a real host shows.
package fakesysfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// PF describes one SR-IOV physical function and its VFs.
type PF struct {
	// PCI is the PF's address, "dddd:bb:dd.f" in lower-case hex.
	PCI string
	// Netdev is the PF's netdev; "" lays out no net/ directory (a PF whose
	// netdev is gone or that is bound to a userspace driver).
	Netdev string
	// NumVFs is how many VFs exist (sriov_numvfs). 0 writes sriov_numvfs 0:
	// SR-IOV capable but disabled.
	NumVFs int
	// TotalVFs is sriov_totalvfs; 0 means NumVFs. It may not be less than
	// NumVFs.
	TotalVFs int
	// Offset and Stride are the routing-ID distance from the PF to its first
	// VF and between VFs (sriov_offset, sriov_stride); 0 means 1.
	Offset, Stride int
	// VFNetdevPrefix names the VFs' netdevs: VF i gets VFNetdevPrefix+i.
	// "" gives the VFs no netdev.
	VFNetdevPrefix string
	// VFDriver is the driver bound to every VF; "" leaves them unbound.
	VFDriver string
	// NoOffsetFiles leaves out sriov_offset and sriov_stride, as kernels
	// before 4.x do, so that readers must scan the virtfn links.
	NoOffsetFiles bool
	// Speed is the PF netdev's link speed in Mb/s (net/<Netdev>/speed); 0
	// writes no file, -1 is what a running PF without carrier shows.
	Speed int
	// SwitchID is the PF netdev's phys_switch_id, which drivers show while
	// the PF's eswitch is in switchdev mode; "" writes no file (legacy).
	SwitchID string
	// PortName is the PF netdev's phys_port_name ("p0" on a switchdev
	// uplink); "" writes no file.
	PortName string
}

func (p PF) offset() int {
	if p.Offset == 0 {
		return 1
	}
	return p.Offset
}

func (p PF) stride() int {
	if p.Stride == 0 {
		return 1
	}
	return p.Stride
}

// VF returns the PCI address of VF i of p, or "" if p.PCI is malformed or
// the address would fall beyond bus ff.
func (p PF) VF(i int) string {
	a, err := VFAddr(p.PCI, p.offset(), p.stride(), i)
	if err != nil {
		return ""
	}
	return a
}

// VFNetdev returns the netdev name Build gives VF i, "" if none.
func (p PF) VFNetdev(i int) string {
	if p.VFNetdevPrefix == "" {
		return ""
	}
	return p.VFNetdevPrefix + strconv.Itoa(i)
}

// ParseAddr splits "dddd:bb:dd.f" (lower-case hex, as sysfs spells it)
// into its domain and routing ID (bus<<8 | device<<3 | function).
func ParseAddr(pci string) (domain, rid int, err error) {
	bad := fmt.Errorf("fakesysfs: malformed PCI address %q", pci)
	if len(pci) != 12 || pci[4] != ':' || pci[7] != ':' || pci[10] != '.' {
		return 0, 0, bad
	}
	var v [4]int
	for i, f := range []string{pci[0:4], pci[5:7], pci[8:10], pci[11:12]} {
		for _, c := range f {
			switch {
			case c >= '0' && c <= '9':
				v[i] = v[i]<<4 | int(c-'0')
			case c >= 'a' && c <= 'f':
				v[i] = v[i]<<4 | int(c-'a'+10)
			default:
				return 0, 0, bad
			}
		}
	}
	if v[2] > 0x1f || v[3] > 7 {
		return 0, 0, bad
	}
	return v[0], v[1]<<8 | v[2]<<3 | v[3], nil
}

// FormatAddr is the inverse of ParseAddr.
func FormatAddr(domain, rid int) string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", domain, rid>>8, rid>>3&0x1f, rid&7)
}

// VFAddr is the address of VF i of the PF at pfPCI: routing ID
// PF + offset + stride*i, in the PF's domain, as the PCIe SR-IOV capability
// defines it. Examples: 0000:01:00.0 with offset 128, stride 2 (the emulated
// igb) gives 0000:01:10.0, 0000:01:10.2, ...; 0000:3b:00.0 with offset 16,
// stride 1 (an X710) gives 0000:3b:02.0, 0000:3b:02.1, ...
func VFAddr(pfPCI string, offset, stride, i int) (string, error) {
	dom, rid, err := ParseAddr(pfPCI)
	if err != nil {
		return "", err
	}
	if offset < 1 || stride < 1 || i < 0 {
		return "", fmt.Errorf("fakesysfs: VF %d of %s: bad offset %d or stride %d", i, pfPCI, offset, stride)
	}
	vf := rid + offset + stride*i
	if vf > 0xffff {
		return "", fmt.Errorf("fakesysfs: VF %d of %s falls beyond bus ff", i, pfPCI)
	}
	return FormatAddr(dom, vf), nil
}

// MkdirTemp makes a fresh directory for a fake tree and returns its path;
// the caller removes it. It prefers memory: $FAKESYSFS_TMPDIR if set, else
// /dev/shm if present (tmpfs, like sysfs itself), else os.TempDir(). On a
// disk filesystem every mkdir and symlink may cost a journal write, which
// makes trees of thousands of VFs take seconds instead of milliseconds.
func MkdirTemp(pattern string) (string, error) {
	dir := os.Getenv("FAKESYSFS_TMPDIR")
	if dir == "" {
		if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
			dir = "/dev/shm"
		}
	}
	if dir != "" {
		if d, err := os.MkdirTemp(dir, pattern); err == nil {
			return d, nil
		}
	}
	return os.MkdirTemp("", pattern)
}

// DevicePath is root's directory of the PCI device pci.
func DevicePath(root, pci string) string {
	return filepath.Join(root, "bus/pci/devices", pci)
}

// Build lays out pfs and their VFs under root, creating root if need be. It
// fails rather than overwrite: a VF address that collides with another
// device, or building the same PF twice, is an error.
func Build(root string, pfs ...PF) error {
	devices := filepath.Join(root, "bus/pci/devices")
	if err := os.MkdirAll(devices, 0o755); err != nil {
		return err
	}
	for _, pf := range pfs {
		if err := buildPF(root, pf); err != nil {
			return err
		}
	}
	return nil
}

func buildPF(root string, pf PF) error {
	if _, _, err := ParseAddr(pf.PCI); err != nil {
		return err
	}
	total := pf.TotalVFs
	if total == 0 {
		total = pf.NumVFs
	}
	if pf.NumVFs < 0 || total < pf.NumVFs {
		return fmt.Errorf("fakesysfs: PF %s: NumVFs %d, TotalVFs %d", pf.PCI, pf.NumVFs, pf.TotalVFs)
	}
	// Compute every address first: a bad one fails before anything is made.
	vfs := make([]string, pf.NumVFs)
	for i := range vfs {
		a, err := VFAddr(pf.PCI, pf.offset(), pf.stride(), i)
		if err != nil {
			return err
		}
		vfs[i] = a
	}

	dir := DevicePath(root, pf.PCI)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("fakesysfs: PF %s: %w", pf.PCI, err)
	}
	files := map[string]int{"sriov_numvfs": pf.NumVFs, "sriov_totalvfs": total}
	if !pf.NoOffsetFiles {
		files["sriov_offset"] = pf.offset()
		files["sriov_stride"] = pf.stride()
	}
	for name, v := range files {
		if err := writeInt(filepath.Join(dir, name), v); err != nil {
			return err
		}
	}
	if pf.Netdev != "" {
		if err := os.MkdirAll(filepath.Join(dir, "net", pf.Netdev), 0o755); err != nil {
			return err
		}
		if err := writePort(filepath.Join(dir, "net", pf.Netdev), pf); err != nil {
			return err
		}
	}
	if pf.VFDriver != "" {
		if err := os.MkdirAll(driverPath(root, pf.VFDriver), 0o755); err != nil {
			return err
		}
	}
	physfn := "../" + pf.PCI
	for i, vf := range vfs {
		if err := os.Symlink("../"+vf, filepath.Join(dir, "virtfn"+strconv.Itoa(i))); err != nil {
			return err
		}
		vdir := DevicePath(root, vf)
		if err := os.Mkdir(vdir, 0o755); err != nil {
			return fmt.Errorf("fakesysfs: VF %d of %s: %w", i, pf.PCI, err)
		}
		if err := os.Symlink(physfn, filepath.Join(vdir, "physfn")); err != nil {
			return err
		}
		if pf.VFDriver != "" {
			if err := os.Symlink(driverPath(root, pf.VFDriver), filepath.Join(vdir, "driver")); err != nil {
				return err
			}
		}
		if nd := pf.VFNetdev(i); nd != "" {
			if err := os.Mkdir(filepath.Join(vdir, "net"), 0o755); err != nil {
				return err
			}
			if err := os.Mkdir(filepath.Join(vdir, "net", nd), 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// writePort writes the port attributes of the PF netdev directory dir that
// pf sets.
func writePort(dir string, pf PF) error {
	for name, v := range map[string]string{"phys_switch_id": pf.SwitchID, "phys_port_name": pf.PortName} {
		if v == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o644); err != nil {
			return err
		}
	}
	if pf.Speed != 0 {
		return writeInt(filepath.Join(dir, "speed"), pf.Speed)
	}
	return nil
}

func driverPath(root, driver string) string {
	return filepath.Join(root, "bus/pci/drivers", driver)
}

func writeInt(path string, v int) error {
	return os.WriteFile(path, []byte(strconv.Itoa(v)+"\n"), 0o644)
}

// AddDevice lays out a plain PCI function without SR-IOV (no sriov_* files,
// no physfn): a NIC with netdev "" for none, bound to driver "" for none.
func AddDevice(root, pci, netdev, driver string) error {
	if _, _, err := ParseAddr(pci); err != nil {
		return err
	}
	dir := DevicePath(root, pci)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("fakesysfs: device %s: %w", pci, err)
	}
	if netdev != "" {
		if err := os.MkdirAll(filepath.Join(dir, "net", netdev), 0o755); err != nil {
			return err
		}
	}
	if driver != "" {
		if err := os.MkdirAll(driverPath(root, driver), 0o755); err != nil {
			return err
		}
		return os.Symlink(driverPath(root, driver), filepath.Join(dir, "driver"))
	}
	return nil
}

// Bind binds pci to driver, replacing any current binding.
func Bind(root, pci, driver string) error {
	if err := Unbind(root, pci); err != nil {
		return err
	}
	if err := os.MkdirAll(driverPath(root, driver), 0o755); err != nil {
		return err
	}
	return os.Symlink(driverPath(root, driver), filepath.Join(DevicePath(root, pci), "driver"))
}

// Unbind removes pci's driver link, as unbinding the driver does. Unbinding
// an unbound device is not an error.
func Unbind(root, pci string) error {
	err := os.Remove(filepath.Join(DevicePath(root, pci), "driver"))
	if os.IsNotExist(err) {
		return nil
	}
	return err
}

// MoveNetdev makes pci's netdev vanish from the host's view, as moving it
// into another network namespace does: net/ stays, empty.
func MoveNetdev(root, pci string) error {
	net := filepath.Join(DevicePath(root, pci), "net")
	ents, err := os.ReadDir(net)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(net, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// SetNetdev gives pci the netdev name, replacing whatever it has (a netdev
// moved back to the host, perhaps under another name).
func SetNetdev(root, pci, name string) error {
	net := filepath.Join(DevicePath(root, pci), "net")
	if err := os.MkdirAll(net, 0o755); err != nil {
		return err
	}
	if err := MoveNetdev(root, pci); err != nil {
		return err
	}
	return os.Mkdir(filepath.Join(net, name), 0o755)
}

// SetNumVFs rewrites a PF's sriov_numvfs and nothing else. Setting 0 while
// the VF directories remain shows a PF whose SR-IOV was switched off under a
// caller that still holds a VF's address.
func SetNumVFs(root, pfPCI string, n int) error {
	p := filepath.Join(DevicePath(root, pfPCI), "sriov_numvfs")
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("fakesysfs: %s is not a PF: %w", pfPCI, err)
	}
	return writeInt(p, n)
}

// DropOffsetFiles removes a PF's sriov_offset and sriov_stride, as on
// kernels that lack them.
func DropOffsetFiles(root, pfPCI string) error {
	for _, f := range []string{"sriov_offset", "sriov_stride"} {
		if err := os.Remove(filepath.Join(DevicePath(root, pfPCI), f)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// RemovePFNetdev removes a PF's net/ directory altogether.
func RemovePFNetdev(root, pfPCI string) error {
	return os.RemoveAll(filepath.Join(DevicePath(root, pfPCI), "net"))
}

// SetPort writes the port attributes that pf sets (Speed, SwitchID,
// PortName) into its built netdev directory: a link that came up, or an
// eswitch switched to switchdev mode.
func SetPort(root string, pf PF) error {
	dir := filepath.Join(DevicePath(root, pf.PCI), "net", pf.Netdev)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("fakesysfs: PF %s has no netdev %q: %w", pf.PCI, pf.Netdev, err)
	}
	return writePort(dir, pf)
}
