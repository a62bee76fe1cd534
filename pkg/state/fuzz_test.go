package state_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
	"github.com/fastpath-cni/fastpath/pkg/state"
)

// The attachment whose record the fuzzer writes, the device it claims, and
// another attachment's claim that must survive whatever happens to it.
const (
	fzNetwork   = "sriov-vlan100"
	fzContainer = "8a1f3c0e9b2d4f6a8c1e3b5d7f9a0c2e4b6d8f0a1c3e5b7d9f1a3c5e7b9d1f3a"
	fzIfName    = "net1"
	fzDevice    = "0000:01:10.2"
	fzOther     = "0000:01:10.4"
	fzOtherKey  = fzNetwork + "/0d0e0a0d:net1"
)

// fzRecords are records as ADD makes them, one per mode, all for the
// attachment fzNetwork/fzContainer:fzIfName.
func fzRecords() []*state.Record {
	conf := func(extra string) json.RawMessage {
		return json.RawMessage(`{"cniVersion":"1.1.0","name":"` + fzNetwork + `","type":"fastpath",` + extra +
			`"ipam":{"type":"host-local","ranges":[[{"subnet":"10.100.0.0/24"}]],"dataDir":"/var/lib/cni/networks"}}`)
	}
	args := "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=app-0;K8S_POD_INFRA_CONTAINER_ID=" + fzContainer + ";K8S_POD_UID=6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a"
	netns := "/var/run/netns/cni-6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a"
	base := func() *state.Record {
		return &state.Record{Network: fzNetwork, ContainerID: fzContainer, IfName: fzIfName, NetNS: netns, Args: args}
	}
	kernel := base()
	kernel.Mode, kernel.Device, kernel.PCI, kernel.PF, kernel.PFPCI, kernel.VFIndex, kernel.Driver =
		attach.ModeKernel, fzDevice, fzDevice, "eth0", "0000:01:00.0", 1, "igbvf"
	kernel.PFOrig = &sriov.PFSettings{MAC: "be:7a:1d:02:5e:11", VlanProto: 0x8100, SpoofChk: true, LinkState: 0}
	kernel.NetdevOrig = &sriov.NetdevState{Index: 4, Name: "eth2", MAC: "be:7a:1d:02:5e:11", MTU: 1500, Up: false, Perm: "be:7a:1d:02:5e:11"}
	kernel.Config = conf(`"deviceID":"0000:01:10.2","vlan":100,"vlanQoS":1,"trust":"on","max_tx_rate":50,"mtu":1400,`)

	user := base()
	user.Mode, user.Device, user.PCI, user.PF, user.PFPCI, user.VFIndex, user.Driver =
		attach.ModeUserspace, fzDevice, fzDevice, "eth0", "0000:01:00.0", 1, "vfio-pci"
	user.PFOrig = &sriov.PFSettings{MAC: "00:00:00:00:00:00", Vlan: 0, VlanProto: 0x8100, SpoofChk: true, MaxTxRate: 0}
	user.DeviceInfoFile = "/var/run/k8s.cni.cncf.io/devinfo/cni/" + fzContainer + "-net1.json"
	user.Config = conf(`"deviceID":"0000:01:10.2","vlan":610,"mac":"02:61:00:00:00:01","spoofchk":"off","runtimeConfig":{"CNIDeviceInfoFile":"/var/run/x.json"},`)

	ovs := base()
	ovs.Mode, ovs.Device = attach.ModeVhostUser, "fp-8a1f3c0e9b2d"
	ovs.Vhost = &state.Vhost{Backend: "ovs", OVSDB: "unix:/var/run/openvswitch/db.sock", Bridge: "br-dpdk", Port: "fp-8a1f3c0e9b2d",
		Role: "server", PodDir: "/var/run/fastpath/pods/6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a",
		Socket: "/var/run/fastpath/pods/6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a/net1.sock",
		JSON:   "/var/run/fastpath/pods/6f1c2a4e-3b5d-4c7e-9f8a-0b1c2d3e4f5a/net1.json", Vlan: 42}
	ovs.Config = conf(`"mode":"vhostuser","vhostuser":{"backend":"ovs","bridge":"br-dpdk","vlan":42},`)

	prov := base()
	prov.Mode, prov.Device = attach.ModeVhostUser, "vhp0123456789abcdef"
	prov.Vhost = &state.Vhost{Backend: "provisioned", Role: "client", PodDir: "/var/run/fastpath/pods/u",
		Socket: "/var/run/fastpath/pods/u/net1.sock", JSON: "/var/run/fastpath/pods/u/net1.json"}
	prov.Config = conf(`"mode":"vhostuser","deviceID":"/var/run/vhost/vhost0.sock","vhostuser":{"backend":"provisioned"},`)

	return []*state.Record{kernel, user, ovs, prov}
}

// FuzzStateLoad writes hostile bytes, and Save'd records cut short at every
// length, as an attachment's record: Load returns a record that belongs to
// that attachment or ErrCorrupt, never anything else, and Quarantine then
// clears the way for DEL, GC and the next ADD, as DEL relies on; a record
// Load accepts survives Save and Load unchanged.
func FuzzStateLoad(f *testing.F) {
	base := fzScratch(f)
	// Learn where Save puts the attachment's record.
	recs := fzRecords()
	layout := state.Store{Dir: filepath.Join(base, "layout")}
	var rel string
	saved := make([][]byte, len(recs))
	for i, r := range recs {
		b := fzSaved(f, layout, r)
		if i == 0 {
			rel = fzRecordFile(f, layout)
		}
		saved[i] = b
		for _, cut := range []uint16{0, uint16(len(b)), uint16(len(b) / 2), 1 << 15} {
			f.Add(b, cut)
		}
	}
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`, "\x00\x00\x00\x00",
		`{"network":"` + fzNetwork + `","containerID":"` + fzContainer + `","ifname":"` + fzIfName + `"}`,
		`{"network":"` + fzNetwork + `","containerID":"other","ifname":"` + fzIfName + `","device":"0000:01:10.2"}`,
		`{"network":"` + fzNetwork + `","containerID":"` + fzContainer + `","ifname":"` + fzIfName + `","device":"x","vfIndex":1e3}`,
		`{"network":"` + fzNetwork + `","containerID":"` + fzContainer + `","ifname":"` + fzIfName + `","device":"x","config":{"a":1},"CONFIG":"<&>"}`,
		`{"network":"` + fzNetwork + `","containerID":"` + fzContainer + `","ifname":"` + fzIfName + `","device":"x","pfOrig":{},"vhost":null,"netdevOrig":{"mtu":-1}}`,
		`{"version":2,"network":"` + fzNetwork + `","containerID":"` + fzContainer + `","ifname":"` + fzIfName + `","device":"x","mode":"kernel","vf":{"pci":"x","pfOrig":{"vlan":5}}}`,
		`{"version":3,"network":"` + fzNetwork + `","containerID":"` + fzContainer + `","ifname":"` + fzIfName + `","device":"x","mode":"kernel"}`,
		`{"version":1,"network":"` + fzNetwork + `"}`,
	} {
		f.Add([]byte(s), uint16(len(s)/2))
	}
	key := state.Key(fzNetwork, fzContainer, fzIfName)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		dir := filepath.Join(base, "run")
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		// The fuzzed bytes as the attachment's record, with its claim
		// and another attachment's, as after two ADDs.
		s := state.Store{Dir: filepath.Join(dir, "fuzzed")}
		fzWrite(t, filepath.Join(s.Dir, rel), data)
		if err := fzLocked(s, fzDevice, func(h *state.Held) error { return h.Claim(key) }); err != nil {
			t.Fatal(err)
		}
		if err := fzLocked(s, fzOther, func(h *state.Held) error { return h.Claim(fzOtherKey) }); err != nil {
			t.Fatal(err)
		}
		r, err := s.Load(key)
		switch {
		case errors.Is(err, state.ErrNewer):
			// A later release's record: left as it is, for that release.
			if r != nil {
				t.Errorf("Load returned %+v with its error", r)
			}
			if got, _ := os.ReadFile(filepath.Join(s.Dir, rel)); !bytes.Equal(got, data) {
				t.Errorf("a newer record was changed: %q, was %q", got, data)
			}
			return
		case err != nil:
			if !errors.Is(err, state.ErrCorrupt) {
				t.Fatalf("Load of %q: %v, want ErrCorrupt (DEL gives up on any other error)", data, err)
			}
			if r != nil {
				t.Errorf("Load returned %+v with its error", r)
			}
			fzQuarantine(t, s, key)
		case r == nil:
			t.Fatalf("Load of an existing record %q returned no record and no error", data)
		default:
			if r.Key() != key || r.Device == "" {
				t.Fatalf("Load accepted a record of %q on %q as %q", r.Key(), r.Device, key)
			}
			again := fzSavedLoad(t, state.Store{Dir: filepath.Join(dir, "again")}, r)
			if !fzSameRecord(t, r, again) {
				t.Errorf("Save and Load changed the record:\n%+v\nloaded back as\n%+v", r, again)
			}
		}

		// A Save'd record cut short, as a crash or a full disk leaves it
		// where the file system does not make the rename atomic.
		whole, b := r, []byte(nil)
		ts := state.Store{Dir: filepath.Join(dir, "truncated")}
		if whole != nil {
			b = fzSaved(t, ts, whole)
		} else {
			i := int(cut) % len(recs)
			whole, b = recs[i], saved[i]
		}
		n := int(cut) % (len(b) + 1)
		fzWrite(t, filepath.Join(ts.Dir, rel), b[:n])
		got, err := ts.Load(key)
		switch {
		case n < len(b) && (err == nil || got != nil):
			t.Errorf("Load of the first %d of %d bytes of a record = %+v, %v; want ErrCorrupt", n, len(b), got, err)
		case n < len(b) && !errors.Is(err, state.ErrCorrupt):
			t.Errorf("Load of the first %d of %d bytes: %v, want ErrCorrupt", n, len(b), err)
		case n == len(b) && (err != nil || !fzSameRecord(t, whole, got)):
			t.Errorf("Load of a whole record = %+v, %v; want %+v", got, err, whole)
		}
	})
}

// fzQuarantine does what DEL does with a corrupt record and checks that it
// is out of the way: no record, no claim of the attachment's, the other
// attachment's claim kept.
func fzQuarantine(t *testing.T, s state.Store, key string) {
	t.Helper()
	if err := s.Quarantine(key, nil); err != nil {
		t.Fatalf("Quarantine: %v", err)
	}
	if r, err := s.Load(key); r != nil || err != nil {
		t.Errorf("Load after Quarantine = %+v, %v; want none", r, err)
	}
	if o, err := s.Owner(fzDevice); o != "" || err != nil {
		t.Errorf("claim on %s kept by %q, %v after Quarantine", fzDevice, o, err)
	}
	if o, err := s.Owner(fzOther); o != fzOtherKey || err != nil {
		t.Errorf("another attachment's claim on %s: %q, %v after Quarantine", fzOther, o, err)
	}
}

// fzSameRecord compares records, their configs as JSON values: Save
// compacts the raw config, as encoding/json does.
func fzSameRecord(t *testing.T, a, b *state.Record) bool {
	t.Helper()
	if a == nil || b == nil {
		return a == b
	}
	ca, cb := *a, *b
	ca.Config, cb.Config = nil, nil
	return reflect.DeepEqual(ca, cb) && reflect.DeepEqual(fzJSONValue(t, a.Config), fzJSONValue(t, b.Config))
}

func fzJSONValue(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("a loaded record's config %q is not JSON: %v", raw, err)
	}
	return v
}

// fzSaved saves r in s and returns the file Save wrote.
func fzSaved(tb testing.TB, s state.Store, r *state.Record) []byte {
	tb.Helper()
	if err := fzLocked(s, r.Device, func(h *state.Held) error { return h.Save(r) }); err != nil {
		tb.Fatalf("Save: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, fzRecordFile(tb, s)))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func fzSavedLoad(t *testing.T, s state.Store, r *state.Record) *state.Record {
	t.Helper()
	fzSaved(t, s, r)
	got, err := s.Load(r.Key())
	if err != nil || got == nil {
		t.Fatalf("Load of a record Save wrote: %+v, %v", got, err)
	}
	return got
}

// fzRecordFile is the one record file in s, relative to s.Dir.
func fzRecordFile(tb testing.TB, s state.Store) string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(s.Dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") { // the lock Save was done under
			rel, _ := filepath.Rel(s.Dir, p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil || len(files) != 1 {
		tb.Fatalf("record files %v, %v: want one", files, err)
	}
	return files[0]
}

func fzWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fzScratch is a directory for one fuzzing process, in memory when the
// machine has /dev/shm: a disk would make each input cost more and tell
// nothing more.
func fzScratch(f *testing.F) string {
	if dir, err := os.MkdirTemp("/dev/shm", "fastpath-fuzz-state-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return f.TempDir()
}

// fzLocked runs op under device's lock, as the plugin does.
func fzLocked(s state.Store, device string, op func(h *state.Held) error) error {
	h, err := s.Lock(device, 10*time.Second)
	if err != nil {
		return err
	}
	defer h.Unlock()
	return op(h)
}
