package sriov_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/test/fakesysfs"
)

// Two NIC layouts as real hosts show them.
var (
	// The emulated igb (QEMU -device igb): VFs at offset 128, stride 2.
	igbPF = fakesysfs.PF{
		PCI: "0000:01:00.0", Netdev: "ens1f0", NumVFs: 7, TotalVFs: 7, Offset: 128, Stride: 2,
		VFNetdevPrefix: "ens1f0v", VFDriver: "igbvf",
	}
	// A two-port X710: the first port's VFs at offset 16, stride 1, the
	// second port's right after them.
	x710PF0 = fakesysfs.PF{
		PCI: "0000:3b:00.0", Netdev: "ens2f0", NumVFs: 64, TotalVFs: 64, Offset: 16, Stride: 1,
		VFNetdevPrefix: "ens2f0v", VFDriver: "iavf",
	}
	x710PF1 = fakesysfs.PF{
		PCI: "0000:3b:00.1", Netdev: "ens2f1", NumVFs: 8, TotalVFs: 64, Offset: 79, Stride: 1,
		VFNetdevPrefix: "ens2f1v", VFDriver: "iavf",
	}
	// A PF whose VFs run over onto the next bus numbers.
	widePF = fakesysfs.PF{
		PCI: "0000:81:00.0", Netdev: "ens3", NumVFs: 200, TotalVFs: 256, Offset: 128, Stride: 1,
		VFNetdevPrefix: "ens3v", VFDriver: "mlx5_core",
	}
)

// memRoot is an empty directory for a fake sysfs, removed after the test.
func memRoot(t testing.TB) string {
	t.Helper()
	d, err := fakesysfs.MkdirTemp("sriov-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func build(t testing.TB, pfs ...fakesysfs.PF) sriov.Sysfs {
	t.Helper()
	root := memRoot(t)
	if err := fakesysfs.Build(root, pfs...); err != nil {
		t.Fatal(err)
	}
	return sriov.Sysfs{Root: root}
}

func TestLookupVF(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layout []fakesysfs.PF
		pci    string
		want   sriov.VF
	}{
		{"igb VF 0", []fakesysfs.PF{igbPF}, "0000:01:10.0",
			sriov.VF{PCI: "0000:01:10.0", PFPCI: "0000:01:00.0", PF: "ens1f0", Index: 0, Driver: "igbvf", Netdev: "ens1f0v0"}},
		{"igb VF 1", []fakesysfs.PF{igbPF}, "0000:01:10.2",
			sriov.VF{PCI: "0000:01:10.2", PFPCI: "0000:01:00.0", PF: "ens1f0", Index: 1, Driver: "igbvf", Netdev: "ens1f0v1"}},
		{"igb VF 4 on the next device", []fakesysfs.PF{igbPF}, "0000:01:11.0",
			sriov.VF{PCI: "0000:01:11.0", PFPCI: "0000:01:00.0", PF: "ens1f0", Index: 4, Driver: "igbvf", Netdev: "ens1f0v4"}},
		{"igb last VF", []fakesysfs.PF{igbPF}, "0000:01:11.4",
			sriov.VF{PCI: "0000:01:11.4", PFPCI: "0000:01:00.0", PF: "ens1f0", Index: 6, Driver: "igbvf", Netdev: "ens1f0v6"}},
		{"X710 VF 0", []fakesysfs.PF{x710PF0, x710PF1}, "0000:3b:02.0",
			sriov.VF{PCI: "0000:3b:02.0", PFPCI: "0000:3b:00.0", PF: "ens2f0", Index: 0, Driver: "iavf", Netdev: "ens2f0v0"}},
		{"X710 VF 7", []fakesysfs.PF{x710PF0, x710PF1}, "0000:3b:02.7",
			sriov.VF{PCI: "0000:3b:02.7", PFPCI: "0000:3b:00.0", PF: "ens2f0", Index: 7, Driver: "iavf", Netdev: "ens2f0v7"}},
		{"X710 VF 8", []fakesysfs.PF{x710PF0, x710PF1}, "0000:3b:03.0",
			sriov.VF{PCI: "0000:3b:03.0", PFPCI: "0000:3b:00.0", PF: "ens2f0", Index: 8, Driver: "iavf", Netdev: "ens2f0v8"}},
		{"X710 VF 63", []fakesysfs.PF{x710PF0, x710PF1}, "0000:3b:09.7",
			sriov.VF{PCI: "0000:3b:09.7", PFPCI: "0000:3b:00.0", PF: "ens2f0", Index: 63, Driver: "iavf", Netdev: "ens2f0v63"}},
		{"X710 port 1 VF 0", []fakesysfs.PF{x710PF0, x710PF1}, "0000:3b:0a.0",
			sriov.VF{PCI: "0000:3b:0a.0", PFPCI: "0000:3b:00.1", PF: "ens2f1", Index: 0, Driver: "iavf", Netdev: "ens2f1v0"}},
		{"X710 port 1 VF 5", []fakesysfs.PF{x710PF0, x710PF1}, "0000:3b:0a.5",
			sriov.VF{PCI: "0000:3b:0a.5", PFPCI: "0000:3b:00.1", PF: "ens2f1", Index: 5, Driver: "iavf", Netdev: "ens2f1v5"}},
		{"last VF on the PF's bus", []fakesysfs.PF{widePF}, "0000:81:1f.7",
			sriov.VF{PCI: "0000:81:1f.7", PFPCI: "0000:81:00.0", PF: "ens3", Index: 127, Driver: "mlx5_core", Netdev: "ens3v127"}},
		{"first VF on the next bus", []fakesysfs.PF{widePF}, "0000:82:00.0",
			sriov.VF{PCI: "0000:82:00.0", PFPCI: "0000:81:00.0", PF: "ens3", Index: 128, Driver: "mlx5_core", Netdev: "ens3v128"}},
		{"last VF of a wide PF", []fakesysfs.PF{widePF}, "0000:82:08.7",
			sriov.VF{PCI: "0000:82:08.7", PFPCI: "0000:81:00.0", PF: "ens3", Index: 199, Driver: "mlx5_core", Netdev: "ens3v199"}},
		{"another domain", []fakesysfs.PF{{PCI: "0001:af:00.0", Netdev: "p1", NumVFs: 4, Offset: 2, Stride: 1, VFNetdevPrefix: "p1v", VFDriver: "iavf"}},
			"0001:af:00.5", sriov.VF{PCI: "0001:af:00.5", PFPCI: "0001:af:00.0", PF: "p1", Index: 3, Driver: "iavf", Netdev: "p1v3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, tc.layout...)
			vf, err := s.LookupVF(tc.pci)
			if err != nil {
				t.Fatal(err)
			}
			if *vf != tc.want {
				t.Errorf("LookupVF(%s)\n got %+v\nwant %+v", tc.pci, *vf, tc.want)
			}
		})
	}
}

// Every VF of every PF of a host resolves to itself, not just the samples.
func TestLookupVFEvery(t *testing.T) {
	layout := []fakesysfs.PF{igbPF, x710PF0, x710PF1, widePF}
	s := build(t, layout...)
	for _, pf := range layout {
		for i := range pf.NumVFs {
			pci := pf.VF(i)
			vf, err := s.LookupVF(pci)
			if err != nil {
				t.Fatalf("VF %d of %s (%s): %v", i, pf.PCI, pci, err)
			}
			want := sriov.VF{PCI: pci, PFPCI: pf.PCI, PF: pf.Netdev, Index: i, Driver: pf.VFDriver, Netdev: pf.VFNetdev(i)}
			if *vf != want {
				t.Errorf("LookupVF(%s) = %+v, want %+v", pci, *vf, want)
			}
		}
	}
}

// Without sriov_offset and sriov_stride (older kernels) the index comes from
// scanning the PF's virtfn links; with wrong ones, the virtfn check catches
// the arithmetic out and the scan still finds the right index.
func TestLookupVFScanFallback(t *testing.T) {
	old := x710PF0
	old.NoOffsetFiles = true
	for _, tc := range []struct {
		name  string
		setup func(root string) error
	}{
		{"no offset files", func(string) error { return nil }},
		{"wrong offset", func(root string) error {
			return os.WriteFile(filepath.Join(fakesysfs.DevicePath(root, old.PCI), "sriov_offset"), []byte("17\n"), 0o644)
		}},
		{"wrong stride", func(root string) error {
			dir := fakesysfs.DevicePath(root, old.PCI)
			if err := os.WriteFile(filepath.Join(dir, "sriov_offset"), []byte("16\n"), 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "sriov_stride"), []byte("2\n"), 0o644)
		}},
		{"zero stride", func(root string) error {
			dir := fakesysfs.DevicePath(root, old.PCI)
			if err := os.WriteFile(filepath.Join(dir, "sriov_offset"), []byte("16\n"), 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "sriov_stride"), []byte("0\n"), 0o644)
		}},
		{"garbage offset", func(root string) error {
			dir := fakesysfs.DevicePath(root, old.PCI)
			if err := os.WriteFile(filepath.Join(dir, "sriov_offset"), []byte("x\n"), 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, "sriov_stride"), []byte("1\n"), 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, old)
			if err := tc.setup(s.Root); err != nil {
				t.Fatal(err)
			}
			// Indexes of one and two digits: virtfn1 sorts next to virtfn10.
			for _, i := range []int{0, 1, 9, 10, 11, 63} {
				vf, err := s.LookupVF(old.VF(i))
				if err != nil {
					t.Fatalf("VF %d: %v", i, err)
				}
				if vf.Index != i || vf.PFPCI != old.PCI || vf.PF != "ens2f0" || vf.Netdev != old.VFNetdev(i) || vf.Driver != "iavf" {
					t.Errorf("LookupVF(%s) = %+v, want index %d", old.VF(i), *vf, i)
				}
			}
		})
	}
}

// With sriov_offset and sriov_stride present, the index comes from the
// routing-ID arithmetic (checked against its virtfn link), not from a scan of
// the PF's directory. A decoy virtfn0 that also points at VF 3 tells the two
// apart: a scan meets virtfn0 first and would answer 0.
func TestLookupVFUsesRoutingID(t *testing.T) {
	for _, tc := range []struct {
		name      string
		noOffsets bool
		want      int
	}{
		{"arithmetic", false, 3},
		{"scan", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pf := x710PF0
			pf.NoOffsetFiles = tc.noOffsets
			s := build(t, pf)
			decoy := filepath.Join(fakesysfs.DevicePath(s.Root, pf.PCI), "virtfn0")
			if err := os.Remove(decoy); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../"+pf.VF(3), decoy); err != nil {
				t.Fatal(err)
			}
			vf, err := s.LookupVF(pf.VF(3))
			if err != nil {
				t.Fatal(err)
			}
			if vf.Index != tc.want {
				t.Errorf("index = %d, want %d", vf.Index, tc.want)
			}
		})
	}
}

// errIs fails unless err matches want and none of the other discovery errors.
func errIs(t *testing.T, err, want error, msgParts ...string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
	for _, other := range []error{sriov.ErrNoDevice, sriov.ErrNotVF, sriov.ErrSRIOVDisabled, sriov.ErrNoPFNetdev} {
		if other != want && errors.Is(err, other) {
			t.Errorf("error %v also matches %v", err, other)
		}
	}
	for _, p := range msgParts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestLookupVFErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pci     string
		setup   func(root string) error
		want    error
		msg     []string
		notInMs string
	}{
		{name: "no such device", pci: "0000:01:1f.0", want: sriov.ErrNoDevice, msg: []string{"0000:01:1f.0"}},
		{name: "no such device on another domain", pci: "0001:01:10.0", want: sriov.ErrNoDevice, msg: []string{"0001:01:10.0"}},
		{name: "PF", pci: igbPF.PCI, want: sriov.ErrNotVF, msg: []string{igbPF.PCI, "is a PF"}},
		{name: "PF with SR-IOV off", pci: "0000:05:00.0", want: sriov.ErrNotVF, msg: []string{"0000:05:00.0", "is a PF"},
			setup: func(root string) error {
				return fakesysfs.Build(root, fakesysfs.PF{PCI: "0000:05:00.0", Netdev: "p5", NumVFs: 0, TotalVFs: 8})
			}},
		{name: "plain device", pci: "0000:00:1f.6", want: sriov.ErrNotVF, msg: []string{"0000:00:1f.6"}, notInMs: "PF",
			setup: func(root string) error { return fakesysfs.AddDevice(root, "0000:00:1f.6", "eno1", "e1000e") }},
		{name: "plain device without driver", pci: "0000:00:02.0", want: sriov.ErrNotVF, msg: []string{"0000:00:02.0"}, notInMs: "PF",
			setup: func(root string) error { return fakesysfs.AddDevice(root, "0000:00:02.0", "", "") }},
		{name: "SR-IOV switched off", pci: "0000:01:10.2", want: sriov.ErrSRIOVDisabled, msg: []string{igbPF.PCI, "0000:01:10.2"},
			setup: func(root string) error { return fakesysfs.SetNumVFs(root, igbPF.PCI, 0) }},
		{name: "PF lost sriov_numvfs", pci: "0000:01:10.2", want: sriov.ErrSRIOVDisabled, msg: []string{igbPF.PCI},
			setup: func(root string) error {
				return os.Remove(filepath.Join(fakesysfs.DevicePath(root, igbPF.PCI), "sriov_numvfs"))
			}},
		{name: "PF without net dir", pci: "0000:01:10.4", want: sriov.ErrNoPFNetdev, msg: []string{igbPF.PCI, "0000:01:10.4"},
			setup: func(root string) error { return fakesysfs.RemovePFNetdev(root, igbPF.PCI) }},
		{name: "PF netdev moved away", pci: "0000:01:10.4", want: sriov.ErrNoPFNetdev, msg: []string{igbPF.PCI},
			setup: func(root string) error { return fakesysfs.MoveNetdev(root, igbPF.PCI) }},
		{name: "VF its PF does not list", pci: "0000:01:10.2", want: sriov.ErrNotVF, msg: []string{"0000:01:10.2", igbPF.PCI, "not listed"},
			setup: func(root string) error {
				return os.Remove(filepath.Join(fakesysfs.DevicePath(root, igbPF.PCI), "virtfn1"))
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, igbPF)
			if tc.setup != nil {
				if err := tc.setup(s.Root); err != nil {
					t.Fatal(err)
				}
			}
			vf, err := s.LookupVF(tc.pci)
			if vf != nil {
				t.Errorf("got VF %+v with the error", *vf)
			}
			errIs(t, err, tc.want, tc.msg...)
			if tc.notInMs != "" && strings.Contains(err.Error(), tc.notInMs) {
				t.Errorf("error %q contains %q", err, tc.notInMs)
			}
		})
	}
}

// A PF without a netdev built that way from the start.
func TestLookupVFPFWithoutNetdev(t *testing.T) {
	pf := igbPF
	pf.Netdev = ""
	s := build(t, pf)
	_, err := s.LookupVF(pf.VF(0))
	errIs(t, err, sriov.ErrNoPFNetdev)
}

// Unbound and namespace-moved VFs are still VFs: they come back with an
// empty Driver or Netdev, the rest intact.
func TestLookupVFPartial(t *testing.T) {
	s := build(t, igbPF)
	if err := fakesysfs.Unbind(s.Root, igbPF.VF(1)); err != nil {
		t.Fatal(err)
	}
	if err := fakesysfs.MoveNetdev(s.Root, igbPF.VF(2)); err != nil {
		t.Fatal(err)
	}
	if err := fakesysfs.Bind(s.Root, igbPF.VF(3), "vfio-pci"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(fakesysfs.DevicePath(s.Root, igbPF.VF(3)), "net")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		i    int
		want sriov.VF
	}{
		{"unbound", 1, sriov.VF{PCI: "0000:01:10.2", PFPCI: igbPF.PCI, PF: "ens1f0", Index: 1, Driver: "", Netdev: "ens1f0v1"}},
		{"netdev moved", 2, sriov.VF{PCI: "0000:01:10.4", PFPCI: igbPF.PCI, PF: "ens1f0", Index: 2, Driver: "igbvf", Netdev: ""}},
		{"vfio-pci", 3, sriov.VF{PCI: "0000:01:10.6", PFPCI: igbPF.PCI, PF: "ens1f0", Index: 3, Driver: "vfio-pci", Netdev: ""}},
		{"untouched", 0, sriov.VF{PCI: "0000:01:10.0", PFPCI: igbPF.PCI, PF: "ens1f0", Index: 0, Driver: "igbvf", Netdev: "ens1f0v0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vf, err := s.LookupVF(igbPF.VF(tc.i))
			if err != nil {
				t.Fatal(err)
			}
			if *vf != tc.want {
				t.Errorf("got %+v, want %+v", *vf, tc.want)
			}
		})
	}
}

func TestNetdev(t *testing.T) {
	pf := igbPF
	s := build(t, pf, fakesysfs.PF{PCI: "0000:02:00.0", Netdev: "p2", NumVFs: 1})
	if err := fakesysfs.MoveNetdev(s.Root, pf.VF(1)); err != nil {
		t.Fatal(err)
	}
	if err := fakesysfs.SetNetdev(s.Root, pf.VF(2), "renamed0"); err != nil {
		t.Fatal(err)
	}
	// net as a file: reading it must fail loudly, not look like "no netdev".
	broken := fakesysfs.DevicePath(s.Root, pf.VF(3))
	if err := os.RemoveAll(filepath.Join(broken, "net")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(broken, "net"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		pci     string
		want    string
		wantErr bool
	}{
		{"VF", pf.VF(0), "ens1f0v0", false},
		{"moved away", pf.VF(1), "", false},
		{"renamed", pf.VF(2), "renamed0", false},
		{"VF without net dir", "0000:02:00.1", "", false},
		{"PF", pf.PCI, "ens1f0", false},
		{"no such device", "0000:09:00.0", "", false},
		{"net is not a directory", pf.VF(3), "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Netdev(tc.pci)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Netdev(%s) error = %v, want error %v", tc.pci, err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.pci) {
				t.Errorf("error %q does not name %s", err, tc.pci)
			}
			if got != tc.want {
				t.Errorf("Netdev(%s) = %q, want %q", tc.pci, got, tc.want)
			}
		})
	}
}

func TestDriver(t *testing.T) {
	s := build(t, igbPF, fakesysfs.PF{PCI: "0000:02:00.0", Netdev: "p2", NumVFs: 1})
	if err := fakesysfs.Unbind(s.Root, igbPF.VF(1)); err != nil {
		t.Fatal(err)
	}
	if err := fakesysfs.Bind(s.Root, igbPF.VF(2), "vfio-pci"); err != nil {
		t.Fatal(err)
	}
	if err := fakesysfs.AddDevice(s.Root, "0000:00:1f.6", "eno1", "e1000e"); err != nil {
		t.Fatal(err)
	}
	// A relative link, as the real sysfs has, reads the same.
	rel := fakesysfs.DevicePath(s.Root, igbPF.VF(3))
	if err := os.Remove(filepath.Join(rel, "driver")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../drivers/igbvf", filepath.Join(rel, "driver")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, pci, want string
	}{
		{"bound", igbPF.VF(0), "igbvf"},
		{"unbound", igbPF.VF(1), ""},
		{"rebound", igbPF.VF(2), "vfio-pci"},
		{"relative link", igbPF.VF(3), "igbvf"},
		{"never bound", "0000:02:00.1", ""},
		{"plain device", "0000:00:1f.6", "e1000e"},
		{"no such device", "0000:09:00.0", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Driver(tc.pci); got != tc.want {
				t.Errorf("Driver(%s) = %q, want %q", tc.pci, got, tc.want)
			}
		})
	}
}

func TestSRIOVPFs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(root string) error
		want  []string
	}{
		{"empty tree", func(root string) error { return os.MkdirAll(filepath.Join(root, "bus/pci/devices"), 0o755) }, nil},
		{"no tree at all", func(string) error { return nil }, nil},
		{"one PF", func(root string) error { return fakesysfs.Build(root, igbPF) }, []string{"0000:01:00.0"}},
		{"a host", func(root string) error {
			if err := fakesysfs.Build(root, igbPF, x710PF0, x710PF1, widePF,
				fakesysfs.PF{PCI: "0000:05:00.0", Netdev: "off", NumVFs: 0, TotalVFs: 8}, // disabled
				fakesysfs.PF{PCI: "0000:06:00.0", NumVFs: 2, NoOffsetFiles: true},        // old kernel, no netdev
			); err != nil {
				return err
			}
			return fakesysfs.AddDevice(root, "0000:00:1f.6", "eno1", "e1000e")
		}, []string{"0000:01:00.0", "0000:06:00.0", "0000:3b:00.0", "0000:3b:00.1", "0000:81:00.0"}},
		{"switched off later", func(root string) error {
			if err := fakesysfs.Build(root, igbPF, x710PF0); err != nil {
				return err
			}
			return fakesysfs.SetNumVFs(root, x710PF0.PCI, 0)
		}, []string{"0000:01:00.0"}},
		{"garbage numvfs", func(root string) error {
			if err := fakesysfs.Build(root, igbPF, x710PF0); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(fakesysfs.DevicePath(root, igbPF.PCI), "sriov_numvfs"), []byte("x"), 0o644)
		}, []string{"0000:3b:00.0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := memRoot(t)
			if err := tc.setup(root); err != nil {
				t.Fatal(err)
			}
			got, err := sriov.Sysfs{Root: root}.SRIOVPFs()
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("SRIOVPFs() = %q, want %q", got, tc.want)
			}
		})
	}
}

// benchHost lays out 4 PFs of n VFs each and returns the last VF of each.
func benchHost(b *testing.B, n int) (sriov.Sysfs, []string) {
	b.Helper()
	var pfs []fakesysfs.PF
	var last []string
	for p := range 4 {
		pf := fakesysfs.PF{
			PCI: fakesysfs.FormatAddr(0, (p+1)<<12), Netdev: fmt.Sprintf("pf%d", p), NumVFs: n,
			Offset: 128, Stride: 2, VFNetdevPrefix: fmt.Sprintf("pf%dv", p), VFDriver: "iavf",
		}
		pfs = append(pfs, pf)
		last = append(last, pf.VF(n-1))
	}
	return build(b, pfs...), last
}

// BenchmarkLookupVF looks up the last VF of each of 4 PFs. The index comes
// from the routing-ID arithmetic, so the time per lookup should not grow
// with the VF count (compare BenchmarkLookupVFScan).
func BenchmarkLookupVF(b *testing.B) {
	for _, n := range []int{8, 64, 256, 1024} {
		b.Run(fmt.Sprintf("vfs=%d", n), func(b *testing.B) {
			s, last := benchHost(b, n)
			i := 0
			for b.Loop() {
				vf, err := s.LookupVF(last[i%4])
				if err != nil || vf.Index != n-1 {
					b.Fatalf("LookupVF: %+v, %v", vf, err)
				}
				i++
			}
		})
	}
}

// BenchmarkLookupVFScan is the same on a kernel without sriov_offset, where
// the lookup scans the PF's directory: here the cost grows with the VFs.
func BenchmarkLookupVFScan(b *testing.B) {
	for _, n := range []int{8, 64, 256, 1024} {
		b.Run(fmt.Sprintf("vfs=%d", n), func(b *testing.B) {
			s, last := benchHost(b, n)
			for p := range 4 {
				if err := fakesysfs.DropOffsetFiles(s.Root, fakesysfs.FormatAddr(0, (p+1)<<12)); err != nil {
					b.Fatal(err)
				}
			}
			i := 0
			for b.Loop() {
				vf, err := s.LookupVF(last[i%4])
				if err != nil || vf.Index != n-1 {
					b.Fatalf("LookupVF: %+v, %v", vf, err)
				}
				i++
			}
		})
	}
}
