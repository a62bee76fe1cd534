package state

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpath-cni/fastpath/pkg/attach"
	"github.com/fastpath-cni/fastpath/pkg/sriov"
)

// The lock-holder child: the test binary re-run with this variable set takes
// a device lock, says so on stdout, and waits to be killed.
const holderEnv = "FASTPATH_STATE_TEST_LOCK_HOLDER"

func TestMain(m *testing.M) {
	if v := os.Getenv(holderEnv); v != "" {
		dir, device, _ := strings.Cut(v, "|")
		if _, err := (Store{Dir: dir}).Lock(device, 10*time.Second); err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func newStore(t *testing.T) Store {
	t.Helper()
	// A directory Save must create, so that its mode is Save's doing.
	return Store{Dir: filepath.Join(t.TempDir(), "fastpath")}
}

func record(network, cid, ifname string) *Record {
	return &Record{
		Network: network, ContainerID: cid, IfName: ifname,
		NetNS: "/var/run/netns/cni-" + cid, Mode: "kernel",
		Device: "0000:01:10.2", PCI: "0000:01:10.2", PF: "ens1f0", PFPCI: "0000:01:00.0", VFIndex: 1, Driver: "igbvf",
		PFOrig: &sriov.PFSettings{MAC: "02:00:00:00:00:01", Vlan: 100, QoS: 3, VlanProto: 0x88a8,
			SpoofChk: true, Trust: true, LinkState: 2, MinTxRate: 10, MaxTxRate: 100},
		NetdevOrig: &sriov.NetdevState{Index: 7, Name: "ens1f0v1", MAC: "02:00:00:00:00:09", MTU: 1500, Up: true},
		Config:     json.RawMessage(`{"cniVersion":"1.0.0","name":"` + network + `","type":"fastpath","ipam":{"type":"host-local"}}`),
		Args:       "K8S_POD_NAME=p;K8S_POD_UID=u",
	}
}

func TestKey(t *testing.T) {
	if got := Key("net1", "abc", "eth0"); got != "net1/abc:eth0" {
		t.Errorf("Key = %q", got)
	}
	if got := record("net1", "abc", "net0").Key(); got != "net1/abc:net0" {
		t.Errorf("Record.Key = %q", got)
	}
}

func TestSaveLoad(t *testing.T) {
	s := newStore(t)
	minimal := &Record{Network: "net1", ContainerID: "c2", IfName: "eth0", Mode: attach.ModeUserspace, Device: "0000:01:10.0", Config: json.RawMessage(`{}`)}
	for _, r := range []*Record{record("net1", "c1", "net1"), minimal, record("net-2", "c1", "net1")} {
		if err := save(s, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []*Record{record("net1", "c1", "net1"), minimal, record("net-2", "c1", "net1")} {
		got, err := s.Load(want.Key())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Load(%s)\n got %+v\nwant %+v", want.Key(), got, want)
		}
	}
	got, err := s.Load(minimal.Key())
	if err != nil {
		t.Fatal(err)
	}
	if got.PFOrig != nil || got.NetdevOrig != nil {
		t.Errorf("nil originals came back as %+v, %+v", got.PFOrig, got.NetdevOrig)
	}

	// Saving again replaces.
	r := record("net1", "c1", "net1")
	r.VFIndex, r.PFOrig = 5, nil
	if err := save(s, r); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(r.Key()); err != nil || got.VFIndex != 5 || got.PFOrig != nil {
		t.Errorf("after overwrite Load = %+v, %v", got, err)
	}
}

func TestLoadMissing(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(s Store) error
	}{
		{"no state dir", func(Store) error { return nil }},
		{"empty state dir", func(s Store) error { return os.MkdirAll(s.Dir, 0o700) }},
		{"other records only", func(s Store) error { return save(s, record("net1", "other", "eth0")) }},
		{"removed", func(s Store) error {
			if err := save(s, record("net1", "c1", "eth0")); err != nil {
				return err
			}
			return remove(s, Key("net1", "c1", "eth0"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if err := tc.setup(s); err != nil {
				t.Fatal(err)
			}
			r, err := s.Load(Key("net1", "c1", "eth0"))
			if r != nil || err != nil {
				t.Errorf("Load = %+v, %v; want nil, nil", r, err)
			}
		})
	}
}

func TestLoadCorrupt(t *testing.T) {
	key := Key("net1", "c1", "eth0")
	for _, tc := range []struct {
		name    string
		content string
	}{
		{"empty", ""},
		{"truncated", `{"network":"net1","containerID":"c1"`},
		{"garbage", "\x00\x01\x02"},
		{"array", `[1,2]`},
		{"wrong type", `{"network":"net1","vfIndex":"one"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			p := s.recordPath(key)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := s.Load(key)
			if err == nil {
				t.Fatalf("Load = %+v, want an error", r)
			}
			if r != nil {
				t.Errorf("got record %+v with the error", r)
			}
			if !strings.Contains(err.Error(), key) {
				t.Errorf("error %q does not name %s", err, key)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		s := newStore(t)
		// A directory where the record should be: not "missing", an error.
		if err := os.MkdirAll(s.recordPath(key), 0o700); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Load(key); err == nil || r != nil {
			t.Errorf("Load = %+v, %v; want an error", r, err)
		}
	})
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestModes(t *testing.T) {
	s := newStore(t)
	r := record("net1", "c1", "eth0")
	if err := save(s, r); err != nil {
		t.Fatal(err)
	}
	if err := claim(s, "0000:01:10.2", r.Key()); err != nil {
		t.Fatal(err)
	}
	held, err := s.Lock("0000:01:10.2", 0)
	if err != nil {
		t.Fatal(err)
	}
	held.Unlock()
	for _, tc := range []struct {
		path string
		want fs.FileMode
	}{
		{s.Dir, fs.ModeDir | 0o700},
		{filepath.Join(s.Dir, "attachments"), fs.ModeDir | 0o700},
		{filepath.Join(s.Dir, "attachments", "net1"), fs.ModeDir | 0o700},
		{s.recordPath(r.Key()), 0o600},
		{filepath.Join(s.Dir, "devices"), fs.ModeDir | 0o700},
		{filepath.Join(s.Dir, "locks"), fs.ModeDir | 0o700},
		{filepath.Join(s.Dir, "locks", "0000:01:10.2.lock"), 0o600},
	} {
		if got := mode(t, tc.path); got != tc.want {
			t.Errorf("%s: mode %v, want %v", tc.path, got, tc.want)
		}
	}
	// Overwriting keeps 0600.
	if err := save(s, r); err != nil {
		t.Fatal(err)
	}
	if got := mode(t, s.recordPath(r.Key())); got != 0o600 {
		t.Errorf("after overwrite: mode %v", got)
	}
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var tmp []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			tmp = append(tmp, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tmp
}

func TestSaveLeavesNoTempFiles(t *testing.T) {
	s := newStore(t)
	for i := range 20 {
		r := record("net1", fmt.Sprintf("c%d", i%5), "eth0")
		r.VFIndex = i
		if err := save(s, r); err != nil {
			t.Fatal(err)
		}
	}
	if tmp := tempFiles(t, s.Dir); len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}
	ents, err := os.ReadDir(filepath.Join(s.Dir, "attachments", "net1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 5 {
		t.Errorf("%d files in the network dir, want 5", len(ents))
	}

	// A Save that fails at the rename cleans up after itself: the record's
	// place is taken by a non-empty directory.
	r := record("net1", "blocked", "eth0")
	if err := os.MkdirAll(filepath.Join(s.recordPath(r.Key()), "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := save(s, r); err == nil {
		t.Error("Save over a directory gave no error")
	}
	if tmp := tempFiles(t, s.Dir); len(tmp) != 0 {
		t.Errorf("temporary files left after a failed Save: %q", tmp)
	}
}

// A record larger than readFile's first buffer (a config with a long IPAM
// section) comes back whole.
func TestSaveLoadLarge(t *testing.T) {
	s := newStore(t)
	r := record("net1", "big", "eth0")
	r.Config = json.RawMessage(`{"pad":"` + strings.Repeat("x", 20000) + `"}`)
	if err := save(s, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(r.Key())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("a %d-byte config came back as %d bytes", len(r.Config), len(got.Config))
	}
}

func TestSaveUnwritable(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := Store{Dir: f} // a file, not a directory
	if err := save(s, record("net1", "c1", "eth0")); err == nil {
		t.Error("Save under a file gave no error")
	}
	if err := claim(s, "0000:01:10.0", "k"); err == nil || errors.Is(err, ErrClaimed) {
		t.Errorf("Claim under a file = %v, want a non-ErrClaimed error", err)
	}
	if _, err := s.Lock("0000:01:10.0", 0); err == nil || errors.Is(err, ErrBusy) {
		t.Errorf("Lock under a file = %v, want a non-ErrBusy error", err)
	}
}

func TestRemove(t *testing.T) {
	s := newStore(t)
	keep, gone := record("net1", "keep", "eth0"), record("net1", "gone", "eth0")
	for _, r := range []*Record{keep, gone} {
		if err := save(s, r); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 { // idempotent
		if err := remove(s, gone.Key()); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if r, err := s.Load(gone.Key()); r != nil || err != nil {
		t.Errorf("removed record Load = %+v, %v", r, err)
	}
	if r, err := s.Load(keep.Key()); r == nil || err != nil {
		t.Errorf("other record Load = %+v, %v", r, err)
	}
	// Nothing ever saved, not even the directory.
	if err := remove(newStore(t), Key("net9", "c", "eth0")); err != nil {
		t.Errorf("Remove in an empty store: %v", err)
	}
}

func TestList(t *testing.T) {
	s := newStore(t)
	for _, r := range []*Record{
		record("net1", "c1", "eth0"), record("net1", "c1", "net1"), record("net1", "c2", "eth0"),
		record("net2", "c1", "eth0"),
		record("net10", "c9", "eth0"), // a network whose name extends another's
	} {
		if err := save(s, r); err != nil {
			t.Fatal(err)
		}
	}
	// Things in a network's directory that are not records.
	dir := filepath.Join(s.Dir, "attachments", "net1")
	for _, name := range []string{".tmp-123456", "notes.txt", "c3:eth0.json.bak"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := remove(s, Key("net1", "c2", "eth0")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		network string
		want    []string
	}{
		{"net1", []string{"net1/c1:eth0", "net1/c1:net1"}},
		{"net2", []string{"net2/c1:eth0"}},
		{"net10", []string{"net10/c9:eth0"}},
		{"net3", nil},
	} {
		t.Run(tc.network, func(t *testing.T) {
			got, err := s.List(tc.network)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%s) = %q, want %q", tc.network, got, tc.want)
			}
			// Every listed key loads.
			for _, k := range got {
				if r, err := s.Load(k); r == nil || err != nil || r.Key() != k {
					t.Errorf("Load(%s) = %+v, %v", k, r, err)
				}
			}
		})
	}
	if got, err := newStore(t).List("net1"); got != nil || err != nil {
		t.Errorf("List in an empty store = %q, %v", got, err)
	}
}

func TestClaim(t *testing.T) {
	s := newStore(t)
	const dev, other = "0000:01:10.2", "0000:01:10.4"
	k1, k2 := Key("net1", "c1", "eth0"), Key("net1", "c2", "eth0")

	owner := func(d, want string) {
		t.Helper()
		got, err := s.Owner(d)
		if err != nil || got != want {
			t.Errorf("Owner(%s) = %q, %v; want %q", d, got, err, want)
		}
	}
	owner(dev, "") // no claims directory yet

	if err := claim(s, dev, k1); err != nil {
		t.Fatal(err)
	}
	owner(dev, k1)
	owner(other, "")

	for _, k := range []string{k2, k1} { // even the owner cannot claim twice
		err := claim(s, dev, k)
		if !errors.Is(err, ErrClaimed) {
			t.Fatalf("second Claim by %s = %v, want ErrClaimed", k, err)
		}
		if !strings.Contains(err.Error(), k1) || !strings.Contains(err.Error(), dev) {
			t.Errorf("error %q does not name the owner %s and device %s", err, k1, dev)
		}
	}
	owner(dev, k1)

	// Another device is independent.
	if err := claim(s, other, k2); err != nil {
		t.Fatal(err)
	}
	owner(other, k2)

	// Release by a non-owner changes nothing.
	if err := release(s, dev, k2); err != nil {
		t.Fatal(err)
	}
	owner(dev, k1)
	owner(other, k2)
	if err := release(s, dev, ""); err != nil {
		t.Fatal(err)
	}
	owner(dev, k1)

	// Release by the owner frees only its device.
	if err := release(s, dev, k1); err != nil {
		t.Fatal(err)
	}
	owner(dev, "")
	owner(other, k2)
	if err := release(s, dev, k1); err != nil { // again: nothing to do
		t.Errorf("second Release: %v", err)
	}
	if err := release(s, "0000:09:00.0", k1); err != nil { // never claimed
		t.Errorf("Release of an unclaimed device: %v", err)
	}

	// Free again: anyone may claim it.
	if err := claim(s, dev, k2); err != nil {
		t.Fatal(err)
	}
	owner(dev, k2)
}

// Many claims at once: exactly one wins, and it is the one Owner names.
func TestClaimRace(t *testing.T) {
	s := newStore(t)
	const dev, n = "0000:3b:02.0", 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = claim(s, dev, Key("net1", fmt.Sprintf("c%d", i), "eth0"))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("claims %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrClaimed):
			t.Errorf("claim %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no claim won")
	}
	if got, _ := s.Owner(dev); got != Key("net1", fmt.Sprintf("c%d", winner), "eth0") {
		t.Errorf("Owner = %q, winner was %d", got, winner)
	}
}

func lockIn(s Store, dev string, wait time.Duration) <-chan error {
	ch := make(chan error, 1)
	go func() {
		held, err := s.Lock(dev, wait)
		if err == nil {
			held.Unlock()
		}
		ch <- err
	}()
	return ch
}

func TestLockBusy(t *testing.T) {
	s := newStore(t)
	const dev = "0000:01:10.2"
	held, err := s.Lock(dev, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, wait := range []time.Duration{0, 100 * time.Millisecond} {
		err := <-lockIn(s, dev, wait)
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("second Lock (wait %v) = %v, want ErrBusy", wait, err)
		}
		if !strings.Contains(err.Error(), dev) {
			t.Errorf("error %q does not name %s", err, dev)
		}
	}
	// Another device is not held up.
	if err := <-lockIn(s, "0000:01:10.4", 0); err != nil {
		t.Errorf("Lock of another device: %v", err)
	}
	held.Unlock()
	if err := <-lockIn(s, dev, 0); err != nil {
		t.Errorf("Lock after unlock: %v", err)
	}
}

// A waiter gets the lock when the holder lets go during its wait.
func TestLockWaitsForUnlock(t *testing.T) {
	s := newStore(t)
	const dev = "0000:01:10.2"
	held, err := s.Lock(dev, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := lockIn(s, dev, 30*time.Second)
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("Lock returned %v while the lock was held", err)
	default:
	}
	held.Unlock()
	if err := <-got; err != nil {
		t.Errorf("waiting Lock: %v", err)
	}
}

// The lock excludes: no two holders at once among many contenders.
func TestLockExcludes(t *testing.T) {
	s := newStore(t)
	const dev, n, rounds = "0000:01:10.2", 8, 20
	var held, overlaps, done atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				h, err := s.Lock(dev, 30*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if held.Add(1) != 1 {
					overlaps.Add(1)
				}
				time.Sleep(100 * time.Microsecond)
				held.Add(-1)
				h.Unlock()
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Errorf("%d overlapping holds", overlaps.Load())
	}
	if done.Load() != n*rounds {
		t.Errorf("%d holds, want %d", done.Load(), n*rounds)
	}
}

// A process killed while it holds the lock does not keep it.
func TestLockFreedByKill(t *testing.T) {
	s := newStore(t)
	const dev = "0000:3b:02.0"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+s.Dir+"|"+dev)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child said %q, %v", line, err)
	}

	// The child holds it.
	if _, err := s.Lock(dev, 50*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("Lock while the child holds it = %v, want ErrBusy", err)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no chance to clean up
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("child exited cleanly, not killed")
	}
	held, err := s.Lock(dev, 10*time.Second)
	if err != nil {
		t.Fatalf("Lock after the holder was killed: %v", err)
	}
	held.Unlock()
}

// Device names come from configs: one that could walk out of the state
// directory is refused before any file is made.
func TestBadDeviceNames(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	for _, name := range []string{"", ".", "..", "../etc/x", "a/b", "a\x00b"} {
		if _, err := s.Lock(name, 0); !errors.Is(err, ErrBadName) {
			t.Errorf("Lock(%q) = %v, want ErrBadName", name, err)
		}
		if err := claim(s, name, "net/c:i"); !errors.Is(err, ErrBadName) {
			t.Errorf("Claim(%q) = %v, want ErrBadName", name, err)
		}
	}
	if ents, _ := os.ReadDir(s.Dir); len(ents) != 0 {
		t.Errorf("files made: %v", ents)
	}
}

// A record that does not decode, names another attachment or no device, or
// lacks what its mode's undo needs, is ErrCorrupt; Quarantine sets it aside and drops its claims only.
func TestCorruptAndQuarantine(t *testing.T) {
	s := newStore(t)
	r := record("net1", "c1", "net1")
	if err := save(s, r); err != nil {
		t.Fatal(err)
	}
	if err := claim(s, r.Device, r.Key()); err != nil {
		t.Fatal(err)
	}
	if err := claim(s, "0000:01:10.4", "net1/other:net1"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir, "attachments", "net1", "c1:net1.json")
	b, _ := os.ReadFile(path)
	for _, bad := range [][]byte{b[:len(b)/2], []byte(`{"network":"net1","containerID":"c9","ifname":"net1","device":"x"}`), []byte(`{"network":"net1","containerID":"c1","ifname":"net1"}`),
		[]byte(`{"version":2,"network":"net1","containerID":"c1","ifname":"net1","mode":"kernel","device":"0000:01:10.0","vf":{"pci":"0000:01:10.0"}}`)} {
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Load(r.Key()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Load of %q = %v, want ErrCorrupt", bad, err)
		}
	}
	if err := s.Quarantine(r.Key(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(strings.TrimSuffix(path, ".json") + ".corrupt"); err != nil {
		t.Errorf("no .corrupt file: %v", err)
	}
	if got, err := s.Load(r.Key()); got != nil || err != nil {
		t.Errorf("Load after Quarantine = %v, %v", got, err)
	}
	if o, _ := s.Owner(r.Device); o != "" {
		t.Errorf("claim kept by %q", o)
	}
	if o, _ := s.Owner("0000:01:10.4"); o != "net1/other:net1" {
		t.Errorf("another attachment's claim dropped: %q", o)
	}
}

// The store's changing operations, each under its device's lock, as the
// plugin runs them.
func withLock(s Store, device string, op func(h *Held) error) error {
	h, err := s.Lock(device, 10*time.Second)
	if err != nil {
		return err
	}
	defer h.Unlock()
	return op(h)
}

func save(s Store, r *Record) error {
	return withLock(s, r.Device, func(h *Held) error { return h.Save(r) })
}

func claim(s Store, device, key string) error {
	return withLock(s, device, func(h *Held) error { return h.Claim(key) })
}

func release(s Store, device, key string) error {
	return withLock(s, device, func(h *Held) error { return h.Release(key) })
}

// remove deletes key's record under the lock of the device it names (any
// lock for a record that is not there).
func remove(s Store, key string) error {
	device := "none"
	if r, err := s.Load(key); err == nil && r != nil {
		device = r.Device
	}
	return withLock(s, device, func(h *Held) error { return h.Remove(key) })
}

// A DEL or GC that sets aside a dead attachment's corrupt record never drops
// the claim of an ADD that reclaimed the device meanwhile: Quarantine drops
// a claim only under the device's lock, as ADD changes it.
func TestQuarantineRacesReclaim(t *testing.T) {
	s := newStore(t)
	const dev = "0000:01:10.4"
	dead, fresh := Key("net1", "dead", "net1"), Key("net1", "fresh", "net1")
	for round := range 200 {
		r := record("net1", "dead", "net1")
		r.Device = dev
		if err := save(s, r); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(s.recordPath(dead), []byte("{corrupt"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := claim(s, dev, dead); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := s.Quarantine(dead, nil); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			// ADD of another pod on the device, reclaiming it as cmd/fastpath does.
			err := withLock(s, dev, func(h *Held) error {
				if owner, err := s.Owner(dev); err != nil || owner == dead {
					if err := h.Release(dead); err != nil {
						return err
					}
				}
				return h.Claim(fresh)
			})
			if err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		if owner, err := s.Owner(dev); owner != fresh || err != nil {
			t.Fatalf("round %d: the device is held by %q (%v), want the reclaiming ADD's %s", round, owner, err, fresh)
		}
		if err := release(s, dev, fresh); err != nil {
			t.Fatal(err)
		}
		os.Remove(strings.TrimSuffix(s.recordPath(dead), ".json") + ".corrupt")
	}
}
