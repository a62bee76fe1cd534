// Command smoke checks, inside the test guest of test/vm/run.sh, that the emulated SR-IOV
// NIC behaves as the plugin needs: the PF has its VFs with igbvf netdevs, the PF-side VF
// settings (MAC, VLAN+QoS, spoofchk, trust) apply and read back through iproute2, and a VF
// can be moved to vfio-pci with a usable /dev/vfio group. It exits non-zero on the first
// failed check.
//
// It is built static (CGO_ENABLED=0) and uses the standard library only.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

const (
	sysNet  = "/sys/class/net"
	sysPCI  = "/sys/bus/pci"
	ipFull  = "/usr/sbin/ip-full"
	wantVFs = 7
)

func main() {
	start := time.Now()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "smoke: FAIL: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("smoke: PASS in %s\n", time.Since(start).Round(time.Millisecond))
}

func run() error {
	pf, err := findPF()
	if err != nil {
		return err
	}
	pfPCI := filepath.Base(mustReadlink(filepath.Join(sysNet, pf, "device")))
	fmt.Printf("smoke: PF %s at %s\n", pf, pfPCI)

	// 1. The VFs: PCI address, netdev, driver.
	numvfs, err := readInt(filepath.Join(sysNet, pf, "device", "sriov_numvfs"))
	if err != nil {
		return err
	}
	if numvfs != wantVFs {
		return fmt.Errorf("sriov_numvfs of %s is %d, want %d", pf, numvfs, wantVFs)
	}
	vfPCI := make([]string, numvfs)
	for i := 0; i < numvfs; i++ {
		dev := filepath.Join(sysNet, pf, "device", fmt.Sprintf("virtfn%d", i))
		vfPCI[i] = filepath.Base(mustReadlink(dev))
		netdevs, _ := os.ReadDir(filepath.Join(dev, "net"))
		if len(netdevs) != 1 {
			return fmt.Errorf("VF %d (%s) has %d netdevs, want 1", i, vfPCI[i], len(netdevs))
		}
		drv := driverOf(vfPCI[i])
		fmt.Printf("smoke: vf %d  pci %s  netdev %s  driver %s\n", i, vfPCI[i], netdevs[0].Name(), drv)
		if drv != "igbvf" {
			return fmt.Errorf("VF %d (%s) bound to %q, want igbvf", i, vfPCI[i], drv)
		}
	}

	// 2. The PF's VF table as iproute2 shows it on a real host.
	out, err := sh(ipFull, "-d", "link", "show", pf)
	if err != nil {
		return err
	}
	fmt.Print(out)
	for i := 0; i < numvfs; i++ {
		if vfLine(out, i) == "" {
			return fmt.Errorf("no 'vf %d' line in ip-full -d link show %s", i, pf)
		}
	}

	// 3. PF-side settings of VF 0, read back.
	if _, err := sh(ipFull, "link", "set", pf, "vf", "0", "vlan", "100", "qos", "3",
		"spoofchk", "off", "trust", "on", "mac", "02:00:00:00:00:01"); err != nil {
		return err
	}
	out, err = sh(ipFull, "-d", "link", "show", pf)
	if err != nil {
		return err
	}
	line := vfLine(out, 0)
	fmt.Printf("smoke: read back: %s\n", line)
	for _, want := range []string{"link/ether 02:00:00:00:00:01", "vlan 100, qos 3", "spoof checking off", "trust on"} {
		if !strings.Contains(line, want) {
			return fmt.Errorf("vf 0 line %q lacks %q", line, want)
		}
	}

	// 4. VF 1 to vfio-pci, the way a DPDK-mode attachment does it.
	return bindVFIO(vfPCI[1])
}

// findPF returns the netdev of the first PCI device bound to igb.
func findPF() (string, error) {
	if pf := os.Getenv("FASTPATH_PF"); pf != "" {
		return pf, nil
	}
	devs, _ := filepath.Glob(filepath.Join(sysPCI, "drivers", "igb", "0000:*"))
	for _, d := range devs {
		if nets, _ := os.ReadDir(filepath.Join(d, "net")); len(nets) > 0 {
			return nets[0].Name(), nil
		}
	}
	return "", fmt.Errorf("no PCI device bound to igb has a netdev")
}

func bindVFIO(addr string) error {
	dev := filepath.Join(sysPCI, "devices", addr)
	if err := write(filepath.Join(dev, "driver_override"), "vfio-pci"); err != nil {
		return err
	}
	if drv := driverOf(addr); drv != "" {
		if err := write(filepath.Join(dev, "driver", "unbind"), addr); err != nil {
			return err
		}
	}
	if err := write(filepath.Join(sysPCI, "drivers_probe"), addr); err != nil {
		return err
	}
	if drv := driverOf(addr); drv != "vfio-pci" {
		return fmt.Errorf("%s bound to %q after drivers_probe, want vfio-pci", addr, drv)
	}
	group := filepath.Base(mustReadlink(filepath.Join(dev, "iommu_group")))
	node := filepath.Join("/dev/vfio", group)
	st, err := os.Stat(node)
	if err != nil {
		return fmt.Errorf("vfio group node of %s: %w", addr, err)
	}
	if st.Mode()&os.ModeCharDevice == 0 {
		return fmt.Errorf("%s is not a character device", node)
	}
	// The group must be viable (every device of the IOMMU group bound to vfio) for DPDK.
	flags, err := vfioGroupStatus(node)
	if err != nil {
		return err
	}
	fmt.Printf("smoke: %s bound to vfio-pci, iommu group %s, %s exists, viable=%v\n",
		addr, group, node, flags&1 != 0)
	if flags&1 == 0 {
		return fmt.Errorf("vfio group %s is not viable", node)
	}
	return nil
}

// vfioGroupStatus returns the flags of VFIO_GROUP_GET_STATUS on a /dev/vfio/N node.
func vfioGroupStatus(node string) (uint32, error) {
	f, err := os.OpenFile(node, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	const vfioGroupGetStatus = ';'<<8 | (100 + 3) // _IO(VFIO_TYPE, VFIO_BASE + 3)
	status := struct{ argsz, flags uint32 }{argsz: 8}
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), vfioGroupGetStatus,
		uintptr(unsafe.Pointer(&status))); errno != 0 {
		return 0, fmt.Errorf("VFIO_GROUP_GET_STATUS on %s: %w", node, errno)
	}
	return status.flags, nil
}

// vfLine returns the "vf N ..." line of `ip -d link show` output, or "".
func vfLine(out string, n int) string {
	prefix := fmt.Sprintf("vf %d ", n)
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func driverOf(addr string) string {
	l, err := os.Readlink(filepath.Join(sysPCI, "devices", addr, "driver"))
	if err != nil {
		return ""
	}
	return filepath.Base(l)
}

func sh(name string, args ...string) (string, error) {
	fmt.Printf("smoke: $ %s %s\n", name, strings.Join(args, " "))
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func write(path, val string) error {
	if err := os.WriteFile(path, []byte(val), 0); err != nil {
		return fmt.Errorf("write %q to %s: %w", val, path, err)
	}
	return nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func mustReadlink(path string) string {
	l, err := os.Readlink(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "smoke: FAIL: %v\n", err)
		os.Exit(1)
	}
	return l
}
