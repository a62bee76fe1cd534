package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// Check statuses.
const (
	statusOK   = "OK"
	statusWarn = "WARN" // only some modes need it
	statusFail = "FAIL" // fastpath cannot work as configured
)

// Check is one thing doctor looked at.
type Check struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"` // how to fix it, "" when OK
}

// DoctorResult is `doctor -o json`.
type DoctorResult struct {
	OK     bool    `json:"ok"` // no check failed
	Checks []Check `json:"checks"`
}

func newDoctor(g *globals) *cobra.Command {
	procRoot := "/proc"
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check what fastpath needs on this node, with a fix for each failure",
		Long: `doctor checks the node for fastpath and prints OK, WARN or FAIL for each check,
with how to fix each one that is not OK:

  sriov      a PF with SR-IOV enabled, and its VF count (numvfs/totalvfs)
  vfio-pci   the vfio-pci driver (WARN: only VFs handed to DPDK pods need it)
  iommu      IOMMU groups (WARN: only vfio-pci needs them)
  hugepages  HugePages_Total and HugePages_Free (WARN: only DPDK apps need them)
  ovsdb      OVSDB answers at --ovsdb (WARN: only vhost-user needs it)
  cni-bin    --cni-bin-dir holds an executable fastpath that answers VERSION
  state-dir  --state-dir is absent (the first ADD makes it) or a directory of mode 0700
  pods-dir   --pods-dir is present (WARN: only vhost-user needs it)

Exit code 1 when a check fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return found(runDoctor(cmd.Context(), g, procRoot))
		},
	}
	cmd.Flags().StringVar(&procRoot, "proc-root", procRoot, "where procfs is mounted (meminfo)")
	return cmd
}

func runDoctor(ctx context.Context, g *globals, procRoot string) error {
	res := DoctorResult{OK: true}
	res.Checks = append(res.Checks, checkSRIOV(g)...)
	res.Checks = append(res.Checks,
		checkVfio(g), checkIOMMU(g), checkHugepages(procRoot), checkOVSDB(ctx, g),
		checkCNIBin(ctx, g), checkStateDir(g), checkPodsDir(g))
	for _, c := range res.Checks {
		if c.Status == statusFail {
			res.OK = false
		}
	}
	var err error
	if g.json() {
		err = writeJSON(g.stdout, res)
	} else {
		t := newTable(g.stdout, "STATUS", "CHECK", "DETAIL")
		for _, c := range res.Checks {
			t.row(c.Status, c.Name, c.Detail)
			if c.Fix != "" {
				t.raw("", "", "fix: "+c.Fix)
			}
		}
		err = t.flush()
	}
	if err == nil && !res.OK {
		err = errQuiet
	}
	return err
}

func ok(name, detail string) Check { return Check{Name: name, Status: statusOK, Detail: detail} }

func bad(name, status, detail, fix string) Check {
	return Check{Name: name, Status: status, Detail: detail, Fix: fix}
}

func checkSRIOV(g *globals) []Check {
	const name = "sriov"
	sys := sriov.Sysfs{Root: g.sysfsRoot}
	pfs, err := sys.PFs()
	if err != nil {
		return []Check{bad(name, statusFail, fmt.Sprintf("reading %s: %v", g.sysfsRoot, err), "mount sysfs, or give its path with --sysfs-root")}
	}
	if len(pfs) == 0 {
		return []Check{bad(name, statusFail,
			fmt.Sprintf("no SR-IOV capable PCI device under %s/bus/pci/devices", g.sysfsRoot),
			"fastpath needs an SR-IOV NIC: enable SR-IOV (and VT-d or AMD-Vi) in the firmware and load the PF's driver (igb, ixgbe, i40e, ice, mlx5_core...)")}
	}
	enabled := 0
	for _, pf := range pfs {
		if pf.NumVFs > 0 {
			enabled++
		}
	}
	var checks []Check
	for _, pf := range pfs {
		numvfs := filepath.Join(g.sysfsRoot, "bus/pci/devices", pf.PCI, "sriov_numvfs")
		detail := fmt.Sprintf("%s (%s, %s): %d/%d VFs", pf.PCI, orDash(pf.Netdev), orDash(pf.Driver), pf.NumVFs, pf.TotalVFs)
		switch {
		case pf.NumVFs == 0:
			status := statusWarn
			if enabled == 0 {
				status = statusFail
			}
			checks = append(checks, bad(name, status, detail+": SR-IOV disabled",
				fmt.Sprintf("echo %d > %s (or an SriovNetworkNodePolicy); make it persistent with a udev rule or systemd unit", pf.TotalVFs, numvfs)))
		case pf.Netdev == "":
			checks = append(checks, bad(name, statusFail, detail+": the PF has no netdev, so its VFs cannot be configured",
				fmt.Sprintf("bind %s to its kernel network driver (not vfio-pci or a DPDK driver)", pf.PCI)))
		default:
			vfs, err := sys.VFs(pf)
			if err != nil {
				checks = append(checks, bad(name, statusFail, detail+": "+err.Error(), "check the PF's driver"))
				continue
			}
			checks = append(checks, ok(name, detail+" ("+vfDrivers(vfs)+")"))
			checks = append(checks, checkPFPort(g, pf))
		}
	}
	return checks
}

func vfDrivers(vfs []sriov.VF) string {
	n := map[string]int{}
	for _, vf := range vfs {
		d := vf.Driver
		if d == "" {
			d = "unbound"
		}
		n[d]++
	}
	var parts []string
	for _, d := range sortedKeys(n) {
		parts = append(parts, fmt.Sprintf("%d %s", n[d], d))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, what string) string {
	switch {
	case n == 1:
		return "1 " + what
	case strings.HasSuffix(what, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(what, "y"))
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func checkVfio(g *globals) Check {
	const name = "vfio-pci"
	dir := filepath.Join(g.sysfsRoot, "bus/pci/drivers/vfio-pci")
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return ok(name, "driver loaded ("+dir+")")
	}
	return bad(name, statusWarn, "vfio-pci is not loaded: only VFs handed to DPDK pods need it",
		"modprobe vfio-pci, and list it in /etc/modules-load.d/ to load it at boot")
}

func checkIOMMU(g *globals) Check {
	const name = "iommu"
	dir := filepath.Join(g.sysfsRoot, "kernel/iommu_groups")
	ents, err := os.ReadDir(dir)
	if err == nil && len(ents) > 0 {
		return ok(name, fmt.Sprintf("%d IOMMU groups", len(ents)))
	}
	return bad(name, statusWarn, "no IOMMU groups in "+dir+": the IOMMU is off; only vfio-pci VFs need it",
		"enable VT-d (Intel) or AMD-Vi in the firmware and boot with intel_iommu=on iommu=pt (Intel) or amd_iommu=on")
}

func checkHugepages(procRoot string) Check {
	const name = "hugepages"
	path := filepath.Join(procRoot, "meminfo")
	m, err := readMeminfo(path)
	if err != nil {
		return bad(name, statusWarn, err.Error(), "mount procfs, or give its path with --proc-root")
	}
	total, free, size := m["HugePages_Total"], m["HugePages_Free"], m["Hugepagesize"]
	const fix = "echo 1024 > /proc/sys/vm/nr_hugepages (2 MB pages), or hugepagesz=2M hugepages=1024 on the kernel command line; mount hugetlbfs on /dev/hugepages"
	switch {
	case total == 0:
		return bad(name, statusWarn, "HugePages_Total 0: no hugepages reserved; only DPDK apps (vfio VFs, vhost-user, OVS-DPDK) need them", fix)
	case free == 0:
		return bad(name, statusWarn, fmt.Sprintf("HugePages_Total %d, HugePages_Free 0: all in use", total), "reserve more: "+fix)
	}
	return ok(name, fmt.Sprintf("HugePages_Total %d, HugePages_Free %d (%d kB pages)", total, free, size))
}

func readMeminfo(path string) (map[string]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if f := strings.Fields(v); ok && len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				m[k] = n
			}
		}
	}
	if _, ok := m["HugePages_Total"]; !ok {
		return nil, fmt.Errorf("%s has no HugePages_Total: a kernel without hugetlbfs", path)
	}
	return m, sc.Err()
}

func checkOVSDB(ctx context.Context, g *globals) Check {
	const name = "ovsdb"
	var conns ovsConns
	defer conns.close()
	if _, err := conns.get(ctx, g.ovsdb); err != nil {
		return bad(name, statusWarn, fmt.Sprintf("OVSDB at %s does not answer (%v); only vhost-user needs it", g.ovsdb, err),
			"start Open vSwitch (systemctl start openvswitch-switch), or give its endpoint with --ovsdb")
	}
	return ok(name, "OVSDB answers at "+g.ovsdb)
}

func checkCNIBin(ctx context.Context, g *globals) Check {
	const name = "cni-bin"
	plugin := filepath.Join(g.cniBinDir, "fastpath")
	install := fmt.Sprintf("install -D -m 0755 fastpath %s (the DaemonSet's init container copies it), or give the directory with --cni-bin-dir", plugin)
	st, err := os.Stat(plugin)
	switch {
	case err != nil:
		return bad(name, statusFail, err.Error(), install)
	case !st.Mode().IsRegular():
		return bad(name, statusFail, plugin+" is not a regular file", install)
	case st.Mode().Perm()&0o111 == 0:
		return bad(name, statusFail, fmt.Sprintf("%s is not executable (mode %04o)", plugin, st.Mode().Perm()), "chmod 0755 "+plugin)
	}
	versions, err := pluginVersions(ctx, plugin)
	if err != nil {
		return bad(name, statusFail, fmt.Sprintf("%s does not answer VERSION: %v", plugin, err),
			"reinstall fastpath built for this node's architecture: "+install)
	}
	detail := fmt.Sprintf("%s (CNI %s)", plugin, strings.Join(versions, ", "))
	for _, p := range []string{g.cniBinDir, plugin} {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o022 != 0 {
			return bad(name, statusWarn, fmt.Sprintf("%s; %s is writable by group or others (mode %04o)", detail, p, st.Mode().Perm()),
				"chmod go-w "+p+": whoever can write it runs code as root on every pod start")
		}
	}
	return ok(name, detail)
}

// pluginVersions runs the plugin's VERSION command.
func pluginVersions(ctx context.Context, plugin string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, plugin)
	cmd.Env = append(envWithoutCNI(), "CNI_COMMAND=VERSION")
	cmd.Stdin = strings.NewReader(`{"cniVersion":"1.0.0"}`)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w %s", err, strings.TrimSpace(stderr.String()+stdout.String()))
	}
	var v struct {
		Supported []string `json:"supportedVersions"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil || len(v.Supported) == 0 {
		return nil, fmt.Errorf("unexpected answer %q", strings.TrimSpace(stdout.String()))
	}
	return v.Supported, nil
}

func checkStateDir(g *globals) Check {
	const name = "state-dir"
	dir := g.stateDir
	st, err := os.Lstat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return ok(name, dir+" absent: the first ADD creates it (0700)")
	case err != nil:
		return bad(name, statusFail, err.Error(), "run as root, or give the state directory with --state-dir")
	case !st.IsDir():
		return bad(name, statusFail, dir+" is not a directory", fmt.Sprintf("move %s aside: fastpath keeps its records in a directory there", dir))
	}
	var loose []string
	for _, d := range []string{dir, filepath.Join(dir, "attachments"), filepath.Join(dir, "devices"), filepath.Join(dir, "locks")} {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o077 != 0 {
			loose = append(loose, fmt.Sprintf("%s has mode %04o", d, st.Mode().Perm()))
		}
	}
	if len(loose) > 0 {
		return bad(name, statusFail,
			strings.Join(loose, ", ")+": group or others may read the records (network configs, pods) or tamper with claims",
			fmt.Sprintf("chmod -R go-rwx %s (fastpath makes it 0700, its files 0600)", dir))
	}
	keys, err := state.Store{Dir: dir}.ListAll()
	if err != nil {
		return bad(name, statusFail, err.Error(), "run as root")
	}
	return ok(name, fmt.Sprintf("%s mode 0700, %s", dir, plural(len(keys), "record")))
}

func checkPodsDir(g *globals) Check {
	const name = "pods-dir"
	dir := g.podsDir
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return bad(name, statusWarn, dir+" absent: only vhost-user uses it (its first ADD creates it, 0755)",
			fmt.Sprintf("mkdir -p -m 0755 %s, and mount it into DPDK pods (hostPath, subPathExpr $(POD_UID))", dir))
	case err != nil:
		return bad(name, statusFail, err.Error(), "run as root, or give the directory with --pods-dir")
	case !st.IsDir():
		return bad(name, statusFail, dir+" is not a directory", fmt.Sprintf("move %s aside; vhost-user needs a directory there", dir))
	}
	ents, _ := os.ReadDir(dir)
	return ok(name, fmt.Sprintf("%s mode %04o, %s", dir, st.Mode().Perm(), plural(len(ents), "pod directory")))
}
