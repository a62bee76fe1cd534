package fakesysfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

func TestVFAddr(t *testing.T) {
	for _, tc := range []struct {
		name           string
		pf             string
		offset, stride int
		i              int
		want           string
	}{
		{"igb VF 0", "0000:01:00.0", 128, 2, 0, "0000:01:10.0"},
		{"igb VF 1", "0000:01:00.0", 128, 2, 1, "0000:01:10.2"},
		{"igb VF 3", "0000:01:00.0", 128, 2, 3, "0000:01:10.6"},
		{"igb VF 4 wraps to the next device", "0000:01:00.0", 128, 2, 4, "0000:01:11.0"},
		{"igb VF 6", "0000:01:00.0", 128, 2, 6, "0000:01:11.4"},
		{"igb second port", "0000:01:00.1", 128, 2, 0, "0000:01:10.1"},
		{"X710 VF 0", "0000:3b:00.0", 16, 1, 0, "0000:3b:02.0"},
		{"X710 VF 7", "0000:3b:00.0", 16, 1, 7, "0000:3b:02.7"},
		{"X710 VF 8", "0000:3b:00.0", 16, 1, 8, "0000:3b:03.0"},
		{"X710 VF 63", "0000:3b:00.0", 16, 1, 63, "0000:3b:09.7"},
		{"X710 second port", "0000:3b:00.1", 79, 1, 0, "0000:3b:0a.0"},
		{"next bus", "0000:81:00.0", 128, 1, 128, "0000:82:00.0"},
		{"several buses on", "0000:10:00.0", 128, 2, 1023, "0000:18:0f.6"},
		{"domain kept", "0001:af:00.0", 2, 1, 3, "0001:af:00.5"},
		{"high domain", "abcd:00:01.0", 8, 1, 0, "abcd:00:02.0"},
		{"last address", "0000:ff:00.0", 255, 1, 0, "0000:ff:1f.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fakesysfs.VFAddr(tc.pf, tc.offset, tc.stride, tc.i)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("VFAddr(%s, %d, %d, %d) = %s, want %s", tc.pf, tc.offset, tc.stride, tc.i, got, tc.want)
			}
			pf := fakesysfs.PF{PCI: tc.pf, Offset: tc.offset, Stride: tc.stride}
			if got := pf.VF(tc.i); got != tc.want {
				t.Errorf("PF.VF(%d) = %s, want %s", tc.i, got, tc.want)
			}
		})
	}
}

func TestVFAddrInvalid(t *testing.T) {
	for _, tc := range []struct {
		name           string
		pf             string
		offset, stride int
		i              int
	}{
		{"beyond bus ff", "0000:ff:00.0", 256, 1, 0},
		{"beyond bus ff later", "0000:ff:00.0", 128, 2, 64},
		{"malformed PF", "0000:01:00", 1, 1, 0},
		{"upper-case PF", "0000:3B:00.0", 1, 1, 0},
		{"zero offset", "0000:01:00.0", 0, 1, 0},
		{"zero stride", "0000:01:00.0", 1, 0, 0},
		{"negative index", "0000:01:00.0", 1, 1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := fakesysfs.VFAddr(tc.pf, tc.offset, tc.stride, tc.i); err == nil {
				t.Errorf("VFAddr = %s, want an error", got)
			}
		})
	}
}

func TestParseFormatAddr(t *testing.T) {
	for _, tc := range []struct {
		pci      string
		dom, rid int
	}{
		{"0000:00:00.0", 0, 0},
		{"0000:01:10.2", 0, 0x182},
		{"0000:3b:02.7", 0, 0x3b17},
		{"0001:ff:1f.7", 1, 0xffff},
		{"ffff:80:08.1", 0xffff, 0x8041},
	} {
		dom, rid, err := fakesysfs.ParseAddr(tc.pci)
		if err != nil || dom != tc.dom || rid != tc.rid {
			t.Errorf("ParseAddr(%s) = %#x, %#x, %v; want %#x, %#x", tc.pci, dom, rid, err, tc.dom, tc.rid)
		}
		if got := fakesysfs.FormatAddr(tc.dom, tc.rid); got != tc.pci {
			t.Errorf("FormatAddr(%#x, %#x) = %s, want %s", tc.dom, tc.rid, got, tc.pci)
		}
	}
	for _, bad := range []string{"", "0000:01:10", "0000:01:20.0", "0000:01:10.8", "000:01:10.0", "0000-01:10.0",
		"0000:01:10.0 ", "0000:0g:10.0", "0000:01:1A.0", "../00:10.0.x"} {
		if _, _, err := fakesysfs.ParseAddr(bad); err == nil {
			t.Errorf("ParseAddr(%q) gave no error", bad)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readlink(t *testing.T, p string) string {
	t.Helper()
	l, err := os.Readlink(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestBuildLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "sys") // Build creates root
	pf := fakesysfs.PF{
		PCI: "0000:01:00.0", Netdev: "ens1f0", NumVFs: 3, TotalVFs: 7, Offset: 128, Stride: 2,
		VFNetdevPrefix: "ens1f0v", VFDriver: "igbvf",
	}
	if err := fakesysfs.Build(root, pf); err != nil {
		t.Fatal(err)
	}
	pfDir := filepath.Join(root, "bus/pci/devices/0000:01:00.0")
	if got := fakesysfs.DevicePath(root, "0000:01:00.0"); got != pfDir {
		t.Errorf("DevicePath = %s, want %s", got, pfDir)
	}
	for file, want := range map[string]string{
		"sriov_numvfs": "3\n", "sriov_totalvfs": "7\n", "sriov_offset": "128\n", "sriov_stride": "2\n",
	} {
		if got := readFile(t, filepath.Join(pfDir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(pfDir, "net/ens1f0")); err != nil || !fi.IsDir() {
		t.Errorf("PF netdev dir: %v", err)
	}
	if exists(filepath.Join(pfDir, "physfn")) {
		t.Error("PF has a physfn link")
	}
	if exists(filepath.Join(pfDir, "virtfn3")) {
		t.Error("PF has a virtfn beyond NumVFs")
	}
	drv := filepath.Join(root, "bus/pci/drivers/igbvf")
	if fi, err := os.Stat(drv); err != nil || !fi.IsDir() {
		t.Errorf("driver dir: %v", err)
	}
	for i, vf := range []string{"0000:01:10.0", "0000:01:10.2", "0000:01:10.4"} {
		if pf.VF(i) != vf {
			t.Errorf("PF.VF(%d) = %s, want %s", i, pf.VF(i), vf)
		}
		virtfn := filepath.Join(pfDir, "virtfn"+string(rune('0'+i)))
		if got := readlink(t, virtfn); got != "../"+vf {
			t.Errorf("virtfn%d -> %s, want ../%s", i, got, vf)
		}
		// The links resolve: virtfn to the VF, physfn back to the PF.
		if real, err := filepath.EvalSymlinks(virtfn); err != nil || filepath.Base(real) != vf {
			t.Errorf("virtfn%d resolves to %s, %v", i, real, err)
		}
		vfDir := filepath.Join(root, "bus/pci/devices", vf)
		if got := readlink(t, filepath.Join(vfDir, "physfn")); got != "../0000:01:00.0" {
			t.Errorf("%s physfn -> %s", vf, got)
		}
		if real, err := filepath.EvalSymlinks(filepath.Join(vfDir, "physfn")); err != nil || real != mustEval(t, pfDir) {
			t.Errorf("%s physfn resolves to %s, %v", vf, real, err)
		}
		if got := readlink(t, filepath.Join(vfDir, "driver")); got != drv {
			t.Errorf("%s driver -> %s, want %s", vf, got, drv)
		}
		nd := "ens1f0v" + string(rune('0'+i))
		if pf.VFNetdev(i) != nd {
			t.Errorf("VFNetdev(%d) = %s", i, pf.VFNetdev(i))
		}
		ents, err := os.ReadDir(filepath.Join(vfDir, "net"))
		if err != nil || len(ents) != 1 || ents[0].Name() != nd || !ents[0].IsDir() {
			t.Errorf("%s net/ = %v, %v; want [%s]", vf, ents, err, nd)
		}
		if exists(filepath.Join(vfDir, "sriov_numvfs")) {
			t.Errorf("VF %s has SR-IOV files", vf)
		}
	}
}

// memDir is a temporary directory from MkdirTemp, removed after the test.
func memDir(t testing.TB) string {
	t.Helper()
	d, err := fakesysfs.MkdirTemp("fakesysfs-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestMkdirTemp(t *testing.T) {
	env := t.TempDir()
	t.Setenv("FAKESYSFS_TMPDIR", env)
	a, b := memDir(t), memDir(t)
	if a == b || filepath.Dir(a) != env || filepath.Dir(b) != env {
		t.Errorf("MkdirTemp with FAKESYSFS_TMPDIR=%s gave %s and %s", env, a, b)
	}
	t.Setenv("FAKESYSFS_TMPDIR", "")
	d := memDir(t)
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		t.Errorf("MkdirTemp gave %s: %v", d, err)
	}
	if _, err := os.Stat("/dev/shm"); err == nil && filepath.Dir(d) != "/dev/shm" {
		t.Errorf("MkdirTemp gave %s though /dev/shm exists", d)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestBuildOptions(t *testing.T) {
	root := t.TempDir()
	pfs := []fakesysfs.PF{
		// Defaults: TotalVFs = NumVFs, offset 1, stride 1, no VF netdev or driver.
		{PCI: "0000:05:00.0", Netdev: "p5", NumVFs: 2},
		// Disabled SR-IOV and no netdev.
		{PCI: "0000:06:00.0", NumVFs: 0, TotalVFs: 8},
		// Old kernel.
		{PCI: "0000:07:00.0", Netdev: "p7", NumVFs: 1, Offset: 16, Stride: 1, NoOffsetFiles: true, VFDriver: "iavf", VFNetdevPrefix: "p7v"},
	}
	if err := fakesysfs.Build(root, pfs...); err != nil {
		t.Fatal(err)
	}
	dev := func(pci, f string) string { return filepath.Join(fakesysfs.DevicePath(root, pci), f) }

	if got := readFile(t, dev("0000:05:00.0", "sriov_totalvfs")); got != "2\n" {
		t.Errorf("default totalvfs = %q", got)
	}
	if got := readFile(t, dev("0000:05:00.0", "sriov_offset")) + readFile(t, dev("0000:05:00.0", "sriov_stride")); got != "1\n1\n" {
		t.Errorf("default offset, stride = %q", got)
	}
	if got := readlink(t, dev("0000:05:00.0", "virtfn1")); got != "../0000:05:00.2" {
		t.Errorf("default-layout virtfn1 -> %s", got)
	}
	for _, f := range []string{"driver", "net"} {
		if exists(dev("0000:05:00.1", f)) {
			t.Errorf("VF without driver or netdev has %s", f)
		}
	}

	if got := readFile(t, dev("0000:06:00.0", "sriov_numvfs")); got != "0\n" {
		t.Errorf("disabled numvfs = %q", got)
	}
	if got := readFile(t, dev("0000:06:00.0", "sriov_totalvfs")); got != "8\n" {
		t.Errorf("disabled totalvfs = %q", got)
	}
	if exists(dev("0000:06:00.0", "net")) || exists(dev("0000:06:00.0", "virtfn0")) {
		t.Error("disabled PF without netdev has net/ or virtfn0")
	}

	for _, f := range []string{"sriov_offset", "sriov_stride"} {
		if exists(dev("0000:07:00.0", f)) {
			t.Errorf("old-kernel PF has %s", f)
		}
	}
	if got := readlink(t, dev("0000:07:00.0", "virtfn0")); got != "../0000:07:02.0" {
		t.Errorf("old-kernel virtfn0 -> %s", got)
	}
	if !exists(dev("0000:07:02.0", "net/p7v0")) || !exists(dev("0000:07:02.0", "driver")) {
		t.Error("old-kernel VF lacks netdev or driver")
	}
}

func TestBuildErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		pfs  []fakesysfs.PF
	}{
		{"malformed PF address", []fakesysfs.PF{{PCI: "01:00.0", NumVFs: 1}}},
		{"more VFs than total", []fakesysfs.PF{{PCI: "0000:01:00.0", NumVFs: 8, TotalVFs: 7}}},
		{"negative VFs", []fakesysfs.PF{{PCI: "0000:01:00.0", NumVFs: -1}}},
		{"VFs beyond bus ff", []fakesysfs.PF{{PCI: "0000:ff:00.0", NumVFs: 300}}},
		{"same PF twice", []fakesysfs.PF{{PCI: "0000:01:00.0"}, {PCI: "0000:01:00.0"}}},
		// PF 1's VF 0 (01:00.1 + 1 = 01:00.2) is PF 0's VF 1.
		{"VF ranges collide", []fakesysfs.PF{{PCI: "0000:01:00.0", NumVFs: 2}, {PCI: "0000:01:00.1", NumVFs: 2}}},
		{"VF collides with the next PF", []fakesysfs.PF{{PCI: "0000:01:00.1"}, {PCI: "0000:01:00.0", NumVFs: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := fakesysfs.Build(t.TempDir(), tc.pfs...); err == nil {
				t.Error("Build gave no error")
			}
		})
	}
	// A PF whose VF addresses cannot exist leaves nothing behind.
	root := t.TempDir()
	if err := fakesysfs.Build(root, fakesysfs.PF{PCI: "0000:ff:00.0", NumVFs: 300}); err == nil {
		t.Fatal("no error")
	}
	if exists(fakesysfs.DevicePath(root, "0000:ff:00.0")) {
		t.Error("PF made despite the error")
	}
}

func TestVariants(t *testing.T) {
	root := t.TempDir()
	pf := fakesysfs.PF{PCI: "0000:3b:00.0", Netdev: "ens2f0", NumVFs: 4, Offset: 16, Stride: 1, VFNetdevPrefix: "ens2f0v", VFDriver: "iavf"}
	if err := fakesysfs.Build(root, pf); err != nil {
		t.Fatal(err)
	}
	dev := func(pci, f string) string { return filepath.Join(fakesysfs.DevicePath(root, pci), f) }
	vf0, vf1 := pf.VF(0), pf.VF(1)

	if err := fakesysfs.Unbind(root, vf0); err != nil {
		t.Fatal(err)
	}
	if exists(dev(vf0, "driver")) {
		t.Error("Unbind left the driver link")
	}
	if err := fakesysfs.Unbind(root, vf0); err != nil {
		t.Errorf("second Unbind: %v", err)
	}
	if err := fakesysfs.Bind(root, vf0, "vfio-pci"); err != nil {
		t.Fatal(err)
	}
	if got := filepath.Base(readlink(t, dev(vf0, "driver"))); got != "vfio-pci" {
		t.Errorf("Bind: driver -> %s", got)
	}
	if !exists(filepath.Join(root, "bus/pci/drivers/vfio-pci")) {
		t.Error("Bind made no driver dir")
	}
	if err := fakesysfs.Bind(root, vf0, "iavf"); err != nil {
		t.Errorf("rebind: %v", err)
	}

	if err := fakesysfs.MoveNetdev(root, vf1); err != nil {
		t.Fatal(err)
	}
	if ents, err := os.ReadDir(dev(vf1, "net")); err != nil || len(ents) != 0 {
		t.Errorf("after MoveNetdev net/ = %v, %v; want present and empty", ents, err)
	}
	if err := fakesysfs.SetNetdev(root, vf1, "renamed"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dev(vf1, "net")); len(ents) != 1 || ents[0].Name() != "renamed" {
		t.Errorf("after SetNetdev net/ = %v", ents)
	}
	if err := fakesysfs.SetNetdev(root, pf.VF(2), "other"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dev(pf.VF(2), "net")); len(ents) != 1 || ents[0].Name() != "other" {
		t.Errorf("SetNetdev did not replace: %v", ents)
	}

	if err := fakesysfs.SetNumVFs(root, pf.PCI, 0); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dev(pf.PCI, "sriov_numvfs")); got != "0\n" {
		t.Errorf("sriov_numvfs = %q", got)
	}
	if !exists(dev(vf0, "physfn")) {
		t.Error("SetNumVFs removed VFs")
	}
	if err := fakesysfs.SetNumVFs(root, vf0, 1); err == nil {
		t.Error("SetNumVFs on a VF gave no error")
	}

	if err := fakesysfs.DropOffsetFiles(root, pf.PCI); err != nil {
		t.Fatal(err)
	}
	if exists(dev(pf.PCI, "sriov_offset")) || exists(dev(pf.PCI, "sriov_stride")) {
		t.Error("DropOffsetFiles left a file")
	}
	if err := fakesysfs.DropOffsetFiles(root, pf.PCI); err != nil {
		t.Errorf("second DropOffsetFiles: %v", err)
	}

	if err := fakesysfs.RemovePFNetdev(root, pf.PCI); err != nil {
		t.Fatal(err)
	}
	if exists(dev(pf.PCI, "net")) {
		t.Error("RemovePFNetdev left net/")
	}

	if err := fakesysfs.AddDevice(root, "0000:00:1f.6", "eno1", "e1000e"); err != nil {
		t.Fatal(err)
	}
	if !exists(dev("0000:00:1f.6", "net/eno1")) || filepath.Base(readlink(t, dev("0000:00:1f.6", "driver"))) != "e1000e" {
		t.Error("AddDevice lacks netdev or driver")
	}
	for _, f := range []string{"physfn", "sriov_numvfs", "sriov_totalvfs"} {
		if exists(dev("0000:00:1f.6", f)) {
			t.Errorf("plain device has %s", f)
		}
	}
	if err := fakesysfs.AddDevice(root, "0000:00:02.0", "", ""); err != nil {
		t.Fatal(err)
	}
	if exists(dev("0000:00:02.0", "net")) || exists(dev("0000:00:02.0", "driver")) {
		t.Error("bare device has net/ or driver")
	}
	if err := fakesysfs.AddDevice(root, "0000:00:1f.6", "", ""); err == nil {
		t.Error("AddDevice over an existing device gave no error")
	}
	if err := fakesysfs.AddDevice(root, "bogus", "", ""); err == nil {
		t.Error("AddDevice of a malformed address gave no error")
	}
}

// A whole benchmark-sized host: 4 PFs of 1024 VFs each.
func TestBuildLarge(t *testing.T) {
	root := memDir(t)
	var pfs []fakesysfs.PF
	for p := range 4 {
		pfs = append(pfs, fakesysfs.PF{
			PCI: fakesysfs.FormatAddr(0, (p+1)<<12), Netdev: "pf" + string(rune('a'+p)), NumVFs: 1024,
			Offset: 128, Stride: 2, VFNetdevPrefix: "pf" + string(rune('a'+p)) + "v", VFDriver: "iavf",
		})
	}
	if err := fakesysfs.Build(root, pfs...); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(root, "bus/pci/devices"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 4+4*1024 {
		t.Errorf("%d devices, want %d", len(ents), 4+4*1024)
	}
	last := pfs[3].VF(1023)
	if last != "0000:48:0f.6" {
		t.Errorf("last VF = %s", last)
	}
	if got := readlink(t, filepath.Join(fakesysfs.DevicePath(root, pfs[3].PCI), "virtfn1023")); got != "../"+last {
		t.Errorf("virtfn1023 -> %s", got)
	}
	if got := readlink(t, filepath.Join(fakesysfs.DevicePath(root, last), "physfn")); !strings.HasSuffix(got, pfs[3].PCI) {
		t.Errorf("last VF physfn -> %s", got)
	}
}

func BenchmarkBuild(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		root := memDir(b)
		b.StartTimer()
		if err := fakesysfs.Build(root, fakesysfs.PF{
			PCI: "0000:10:00.0", Netdev: "pf", NumVFs: 1024, Offset: 128, Stride: 1, VFNetdevPrefix: "v", VFDriver: "iavf",
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBuildPort(t *testing.T) {
	root := t.TempDir()
	pfs := []fakesysfs.PF{
		{PCI: "0000:05:00.0", Netdev: "p5", NumVFs: 1, Speed: 25000, SwitchID: "2ce4530003f1b0e8", PortName: "p0"},
		{PCI: "0000:06:00.0", Netdev: "p6", NumVFs: 1, Speed: -1},
		{PCI: "0000:07:00.0", Netdev: "p7", NumVFs: 1},
	}
	if err := fakesysfs.Build(root, pfs...); err != nil {
		t.Fatal(err)
	}
	net := func(pci, nd, f string) string { return filepath.Join(fakesysfs.DevicePath(root, pci), "net", nd, f) }
	for path, want := range map[string]string{
		net("0000:05:00.0", "p5", "speed"):          "25000\n",
		net("0000:05:00.0", "p5", "phys_switch_id"): "2ce4530003f1b0e8\n",
		net("0000:05:00.0", "p5", "phys_port_name"): "p0\n",
		net("0000:06:00.0", "p6", "speed"):          "-1\n",
	} {
		if got := readFile(t, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	for _, f := range []string{"speed", "phys_switch_id", "phys_port_name"} {
		if exists(net("0000:07:00.0", "p7", f)) || (f != "speed" && exists(net("0000:06:00.0", "p6", f))) {
			t.Errorf("a PF that sets no %s has the file", f)
		}
	}
}
