package attach_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/attach"
)

func TestVFMode(t *testing.T) {
	for _, tc := range []struct {
		driver, netdev, mode string
	}{
		{"vfio-pci", "", attach.ModeUserspace},
		{"uio_pci_generic", "", attach.ModeUserspace},
		{"igb_uio", "", attach.ModeUserspace},
		{"igbvf", "eth1", attach.ModeKernel},
		{"iavf", "ens1f0v3", attach.ModeKernel},
		{"", "", ""},
		{"mlx5_core", "", ""}, // bound, no netdev in the host: neither mode
	} {
		mode, err := attach.VFMode("0000:01:10.0", tc.driver, tc.netdev)
		if mode != tc.mode || (mode == "") != errors.Is(err, attach.ErrNoMode) {
			t.Errorf("VFMode(%q, %q) = %q, %v; want %q", tc.driver, tc.netdev, mode, err, tc.mode)
		}
	}
}

func TestReturnedName(t *testing.T) {
	if got := attach.ReturnedName("0000:3b:02.1"); got != "fp00003b021" || len(got) > 15 {
		t.Errorf("ReturnedName = %q: want fp00003b021, at most 15 characters (IFNAMSIZ)", got)
	}
}

func TestLinkStates(t *testing.T) {
	for _, name := range []string{"auto", "enable", "disable"} {
		s, ok := attach.ParseLinkState(name)
		if !ok || attach.LinkStateName(s) != name {
			t.Errorf("%s: parsed to %d %v, named back %q", name, s, ok, attach.LinkStateName(s))
		}
	}
	if _, ok := attach.ParseLinkState("up"); ok {
		t.Error("link state up accepted")
	}
	if attach.LinkStateName(7) != "7" {
		t.Errorf("unknown link state named %q", attach.LinkStateName(7))
	}
}

// A network namespace is alive while its file is one: the file a runtime
// leaves behind after unmounting it is not, nor is a missing path.
func TestNetNSAlive(t *testing.T) {
	if !attach.NetNSAlive("/proc/self/ns/net") {
		t.Error("this process's own namespace is not alive")
	}
	left := filepath.Join(t.TempDir(), "cni-1234")
	if err := os.WriteFile(left, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{left, filepath.Join(t.TempDir(), "missing"), ""} {
		if attach.NetNSAlive(p) {
			t.Errorf("%q is alive", p)
		}
	}
}
