package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
)

// The records in testdata/v1 were written by the store of fastpath 4209b6f,
// the last release of version 1, for a kernel VF, a vfio VF and a vhost-user
// port. This release reads each exactly, and writes it back as version 2.
func TestReadsVersion1(t *testing.T) {
	want := map[string]*Record{
		"kernel": {
			Network: "sriov-vlan100", ContainerID: "5f3a9c2e7b1d", IfName: "net1", NetNS: "/var/run/netns/cni-1f2e3d4c",
			Mode: attach.ModeKernel, Device: "0000:01:10.0", PCI: "0000:01:10.0", PF: "eth0", PFPCI: "0000:01:00.0", Driver: "igbvf",
			DeviceInfoFile: "/var/run/k8s.cni.cncf.io/devinfo/cni/sriov-vlan100-5f3a9c2e7b1d-net1.json",
			PFOrig:         &sriov.PFSettings{MAC: "00:00:00:00:00:00", VlanProto: 0x8100, SpoofChk: true},
			NetdevOrig:     &sriov.NetdevState{Index: 4, Name: "eth1", MAC: "46:1c:8e:2a:90:11", MTU: 1500, Perm: "46:1c:8e:2a:90:11"},
			Args:           "IgnoreUnknown=1;K8S_POD_NAMESPACE=nfv;K8S_POD_NAME=upf-0;K8S_POD_UID=7f0c3c1e-6d1b-4c55-9b39-2f3c5a1d9e42",
		},
		"userspace": {
			Network: "sriov-vfio", ContainerID: "0c1d2e3f4a5b", IfName: "net1", NetNS: "/var/run/netns/cni-6a7b8c9d",
			Mode: attach.ModeUserspace, Device: "0000:01:10.2", PCI: "0000:01:10.2", PF: "eth0", PFPCI: "0000:01:00.0", VFIndex: 1, Driver: "vfio-pci",
			PFOrig: &sriov.PFSettings{MAC: "02:aa:bb:cc:dd:02", Vlan: 7, QoS: 3, VlanProto: 0x8100, SpoofChk: true, MaxTxRate: 100},
			Args:   "IgnoreUnknown=1;K8S_POD_NAMESPACE=nfv;K8S_POD_NAME=dpdk-0",
		},
		"vhostuser": {
			Network: "dpdk-net", ContainerID: "9e8d7c6b5a4f", IfName: "net1", NetNS: "/var/run/netns/cni-0a0b0c0d",
			Mode: attach.ModeVhostUser, Device: "vhu1a2b3c4d5e",
			Vhost: &Vhost{Backend: "ovs", OVSDB: "unix:/var/run/openvswitch/db.sock", Bridge: "br-dpdk", Port: "vhu1a2b3c4d5e",
				Role: "server", PodDir: "/var/run/fastpath/pods/uid-9e8d", Socket: "/var/run/fastpath/pods/uid-9e8d/net1.sock",
				JSON: "/var/run/fastpath/pods/uid-9e8d/net1.json", Vlan: 100},
			Args: "IgnoreUnknown=1;K8S_POD_UID=uid-9e8d",
		},
	}
	for name, w := range want {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata/v1", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(`"version"`)) {
				t.Fatal("a version 1 fixture with a version member")
			}
			s := newStore(t)
			p := s.recordPath(w.Key())
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := s.Load(w.Key())
			if err != nil {
				t.Fatal(err)
			}
			var orig struct{ Config json.RawMessage }
			if err := json.Unmarshal(b, &orig); err != nil {
				t.Fatal(err)
			}
			w.Config = orig.Config
			if !reflect.DeepEqual(got, w) {
				t.Fatalf("version 1 record read as\n%+v\nwant\n%+v", got, w)
			}
			// Written back, it is version 2, and reads the same.
			if err := save(s, got); err != nil {
				t.Fatal(err)
			}
			b2, _ := os.ReadFile(p)
			var head map[string]json.RawMessage
			if err := json.Unmarshal(b2, &head); err != nil || string(head["version"]) != "2" {
				t.Fatalf("saved as %s", b2)
			}
			if _, flat := head["pfPCI"]; flat || (w.Mode != attach.ModeVhostUser) != (head["vf"] != nil) {
				t.Errorf("version 2 keeps the VF in \"vf\" only: %s", b2)
			}
			again, err := s.Load(w.Key())
			if err != nil || !reflect.DeepEqual(again, w) {
				t.Errorf("version 2 read back as %+v, %v", again, err)
			}
		})
	}
}

// A record that a later release wrote is refused with ErrNewer, and never
// overwritten or set aside: that release's DEL will need it.
func TestRefusesNewerVersion(t *testing.T) {
	s := newStore(t)
	r := record("net1", "c1", "net1")
	if err := save(s, r); err != nil {
		t.Fatal(err)
	}
	p := s.recordPath(r.Key())
	newer := []byte(`{"version":3,"network":"net1","containerID":"c1","ifname":"net1","device":"0000:01:10.2","mode":"kernel","vf3":{}}`)
	if err := os.WriteFile(p, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(r.Key())
	if !errors.Is(err, ErrNewer) || got != nil || !strings.Contains(err.Error(), "version 3") {
		t.Fatalf("Load = %+v, %v; want ErrNewer naming version 3", got, err)
	}
	if errors.Is(err, ErrCorrupt) {
		t.Error("a newer record is not corrupt")
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, newer) {
		t.Errorf("the newer record changed: %s", b)
	}
}

// What version 2 looks like on disk: a change to it shows here first.
func TestVersion2Format(t *testing.T) {
	b, err := encode(record("net1", "c1", "net1"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":2,"network":"net1","containerID":"c1","ifname":"net1","netns":"/var/run/netns/cni-c1","mode":"kernel",` +
		`"device":"0000:01:10.2","config":{"cniVersion":"1.0.0","name":"net1","type":"fastpath","ipam":{"type":"host-local"}},` +
		`"args":"K8S_POD_NAME=p;K8S_POD_UID=u","vf":{"pci":"0000:01:10.2","pf":"ens1f0","pfPCI":"0000:01:00.0","index":1,"driver":"igbvf",` +
		`"pfOrig":{"mac":"02:00:00:00:00:01","vlan":100,"qos":3,"vlanProto":34984,"spoofchk":true,"trust":true,"linkState":2,"minTxRate":10,"maxTxRate":100},` +
		`"netdevOrig":{"index":7,"name":"ens1f0v1","mac":"02:00:00:00:00:09","mtu":1500,"up":true}}}`
	if string(b) != want {
		t.Errorf("version 2 record\n%s\nwant\n%s", b, want)
	}
}
