package devinfo_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/devinfo"
)

// FuzzDeviceInfoRead reads hostile device-info files: Read refuses or
// decodes, never panics, and whatever it decodes Write puts back atomically
// (mode 0644, no temporary file left) so that Read gives the same info again.
func FuzzDeviceInfoRead(f *testing.F) {
	// What fastpath writes, for both types.
	for _, info := range []devinfo.Info{
		devinfo.ForPCI("0000:01:10.2", "0000:01:00.0"),
		devinfo.ForPCI("0000:af:06.0", ""),
		devinfo.ForVhostUser("server", "/var/run/fastpath/pods/6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a/net1.sock"),
		devinfo.ForVhostUser("client", "/var/run/vhost/vhost0.sock"),
	} {
		b, err := json.Marshal(info)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// What device plugins and Multus write (the NPWG device-info
	// specification's examples, with the fields fastpath does not read),
	// and broken ones.
	for _, s := range []string{
		`{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:18:02.5","vhost-net":"/dev/vhost-net","rdma-device":"mlx5_3","pf-pci-address":"0000:18:00.0","representor-device":"pf0vf5"}}`,
		`{"type":"vhost-user","version":"1.0.0","vhost-user":{"mode":"client","path":"/var/run/vhost-user/net1.sock"}}`,
		`{"type":"vdpa","version":"1.1.0","vdpa":{"parent-device":"vdpa:0000:65:00.3","driver":"vhost","path":"/dev/vhost-vdpa-1","pci-address":"0000:65:00.3"}}`,
		`{"type":"memif","version":"1.0.0","memif":{"role":"master","mode":"ethernet","path":"/run/memif.sock"}}`,
		`{"type":"pci","version":"1.1.0","pci":null,"vhost-user":{"mode":"server","path":"/x"}}`,
		`{"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:01:10.2"`,
		`{"TYPE":"vhost-user","Version":"1.1.0","VHOST-USER":{"MODE":"server","PATH":"/x"}}`,
		`{"type":"pci","type":"vhost-user"}`,
		"{\"type\":\"pci\",\"version\":\"\xff\xfe\",\"pci\":{\"pci-address\":\"\\ud800\"}}",
		`null`, `[]`, `{"type":1}`, ``, "\x00",
	} {
		f.Add([]byte(s))
	}
	// One directory per fuzzing process, emptied for each input (a
	// t.TempDir per input costs more than the test), in memory when the
	// machine has /dev/shm: files on a disk make each input cost four times
	// as much and tell nothing more.
	dir := f.TempDir()
	if shm, err := os.MkdirTemp("/dev/shm", "fastpath-fuzz-devinfo-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(shm) })
		dir = shm
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		outDir := filepath.Join(dir, "out")
		if err := os.RemoveAll(outDir); err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(dir, "in.json")
		if err := os.WriteFile(in, data, 0o600); err != nil {
			t.Fatal(err)
		}
		info, err := devinfo.Read(in)
		if err != nil {
			if info != nil {
				t.Errorf("Read returned %+v with its error %v", info, err)
			}
			return
		}
		if info == nil {
			t.Fatal("Read returned neither info nor an error")
		}
		out := filepath.Join(outDir, "net1.json")
		if err := devinfo.Write(out, *info); err != nil {
			t.Fatalf("Write of what Read decoded: %v", err)
		}
		first, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		again, err := devinfo.Read(out)
		if err != nil {
			t.Fatalf("Read of what Write wrote (%q): %v", first, err)
		}
		if !reflect.DeepEqual(info, again) {
			t.Errorf("round trip changed the info:\n%+v\nread back as\n%+v", info, again)
		}
		// Rewriting it is deterministic and leaves nothing behind.
		if err := devinfo.Write(out, *again); err != nil {
			t.Fatal(err)
		}
		if second, _ := os.ReadFile(out); string(second) != string(first) {
			t.Errorf("rewrite changed the file: %q, then %q", first, second)
		}
		if ents, _ := os.ReadDir(outDir); len(ents) != 1 {
			t.Errorf("Write left %d files in its directory, want 1", len(ents))
		}
		if st, err := os.Stat(out); err != nil {
			t.Error(err)
		} else if st.Mode().Perm() != 0o644 {
			t.Errorf("device-info file mode %v: the pod's app must read it", st.Mode())
		}
	})
}
