package integration

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/fastpath-cni/fastpath/test/cnitest"
)

// ADD announces the pod's address at once: the wire sees a gratuitous ARP
// from the VF's MAC for the leased address.
func TestGratuitousARP(t *testing.T) {
	nd := newNode(t, 1)
	mac := hostLink(t, nd.vfs[0]).MAC
	pod := nd.pod()
	fd := wireTap(t, nd)
	defer syscall.Close(fd)
	l := nd.conf("1.1.0", nil)
	r := rt(pod, "c1", "net1")
	_, err := nd.Add(l, r)
	must(t, err)
	defer nd.Del(l, r)
	buf := make([]byte, 128)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("no gratuitous ARP for 10.77.0.10 from %s: %v", mac, err)
		}
		f := buf[:n]
		if n < 42 || binary.BigEndian.Uint16(f[12:]) != syscall.ETH_P_ARP {
			continue
		}
		sha, spa, tpa := net.HardwareAddr(f[22:28]), net.IP(f[28:32]), net.IP(f[38:42])
		if sha.String() == mac && spa.Equal(net.ParseIP("10.77.0.10")) && tpa.Equal(spa) &&
			net.HardwareAddr(f[0:6]).String() == "ff:ff:ff:ff:ff:ff" {
			return
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Two ADDs race for one VF: exactly one wins; the other gets "in use" (101)
// or "try again" (11) and changes nothing.
func TestRacingAdds(t *testing.T) {
	nd := newNode(t, 1)
	l := nd.conf("1.1.0", nil)
	pods := []ns.NetNS{nd.pod(), nd.pod()}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = nd.Add(l, rt(pods[i], []string{"c1", "c2"}[i], "net1"))
		}()
	}
	wg.Wait()
	var wins int
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case cniCode(err) != 101 && cniCode(err) != types.ErrTryAgainLater:
			t.Errorf("losing ADD = %v (code %d), want 101 or 11", err, cniCode(err))
		}
	}
	if wins != 1 {
		t.Fatalf("%d ADDs won, want 1: %v", wins, errs)
	}
	if got := nd.Leases(); len(got) != 1 {
		t.Errorf("leases = %v, want the winner's only", got)
	}
	if got := nd.StateFiles(); len(got) != 2 {
		t.Errorf("state = %v, want the winner's record and claim", got)
	}
}

// Hostile or broken environment is refused before anything happens.
func TestBadEnvironment(t *testing.T) {
	nd := newNode(t, 1)
	before := hostLink(t, nd.vfs[0])
	pod := nd.pod()
	l := nd.conf("1.1.0", nil)
	for _, tc := range []struct {
		name string
		rt   *libcni.RuntimeConf
		code uint
		want string
	}{
		{"container ID too long", rt(pod, strings.Repeat("a", 200), "net1"), types.ErrInvalidEnvironmentVariables, "CNI_CONTAINERID"},
		{"container ID traversal", rt(pod, "../../etc", "net1"), types.ErrInvalidEnvironmentVariables, "containerID"},
		{"ifname with slash", rt(pod, "c1", "a/b"), types.ErrInvalidEnvironmentVariables, "interface name"},
		{"CNI_ARGS malformed", &libcni.RuntimeConf{ContainerID: "c1", NetNS: pod.Path(), IfName: "net1",
			Args: [][2]string{{"IgnoreUnknown", "1"}, {"K8S_POD_UID", "../x"}}}, types.ErrInvalidEnvironmentVariables, "K8S_POD_UID"},
		{"CNI_ARGS MAC", &libcni.RuntimeConf{ContainerID: "c1", NetNS: pod.Path(), IfName: "net1",
			Args: [][2]string{{"MAC", "01:00:5e:00:00:01"}}}, types.ErrInvalidNetworkConfig, `CNI_ARGS MAC "01:00:5e:00:00:01"`},
		{"netns not a namespace", &libcni.RuntimeConf{ContainerID: "c1", NetNS: "/etc/hostname", IfName: "net1"}, types.ErrInvalidNetNS, "/etc/hostname"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nd.Add(l, tc.rt)
			if cniCode(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ADD = %v (code %d), want code %d naming %s", err, cniCode(err), tc.code, tc.want)
			}
			if after := hostLink(t, nd.vfs[0]); after != before {
				t.Errorf("host changed: %+v, was %+v", after, before)
			}
			if got := nd.StateFiles(); len(got) != 0 {
				t.Errorf("state written: %v", got)
			}
		})
	}
}

// GC goes on past an attachment it cannot release and releases the rest; the
// one it could not release stays recorded for the next GC.
func TestGCContinuesPastErrors(t *testing.T) {
	nd := newNode(t, 2)
	pods := []ns.NetNS{nd.pod(), nd.pod()}
	for i, p := range pods {
		_, err := nd.Add(nd.conf("1.1.0", map[string]any{"deviceID": vfPCIAddr(i)}), rt(p, []string{"c1", "c2"}[i], "net1"))
		must(t, err)
	}
	// Break c1's release: its IPAM plugin is gone from the record's config.
	recs := nd.StateFiles()
	var c1 string
	for _, r := range recs {
		if strings.Contains(r, "c1:net1.json") {
			c1 = nd.StateDir + r
		}
	}
	must(t, replaceInFile(c1, `"type":"host-local"`, `"type":"no-such-ipam"`))
	err := nd.CNI.GCNetworkList(t.Context(), nd.conf("1.1.0", nil), &libcni.GCArgs{})
	if err == nil || !strings.Contains(err.Error(), "no-such-ipam") {
		t.Errorf("GC = %v, want the c1 failure reported", err)
	}
	if _, err := netlink.LinkByName(nd.vfs[1]); err != nil {
		t.Errorf("GC stopped before c2: %v", err)
	}
	if got := nd.StateFiles(); len(got) != 2 || !strings.Contains(strings.Join(got, " "), "c1:net1") {
		t.Errorf("state after GC = %v, want c1's record and claim kept", got)
	}
}

func replaceInFile(path, old, new string) error {
	b, err := readFile(path)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), old) {
		return errors.New(path + " has no " + old)
	}
	return writeFile(path, []byte(strings.ReplaceAll(string(b), old, new)))
}

// For an IPv6 address ADD sends an unsolicited neighbour advertisement to
// all nodes, with the override flag and the VF's MAC as target address.
func TestUnsolicitedNA(t *testing.T) {
	nd := newNode(t, 1)
	mac := hostLink(t, nd.vfs[0]).MAC
	pod := nd.pod()
	fd := wireTap(t, nd)
	defer syscall.Close(fd)
	ipam := map[string]any{"type": "host-local", "dataDir": nd.IPAMDir,
		"ranges": [][]map[string]any{{{"subnet": "fd00:77::/64", "rangeStart": "fd00:77::10", "rangeEnd": "fd00:77::20"}}}}
	l := nd.conf("1.1.0", map[string]any{"ipam": ipam})
	r := rt(pod, "c1", "net1")
	_, err := nd.Add(l, r)
	must(t, err)
	defer nd.Del(l, r)
	buf := make([]byte, 256)
	for {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			t.Fatalf("no unsolicited NA for fd00:77::10 from %s: %v", mac, err)
		}
		f := buf[:n]
		// Ethernet, IPv6 (next header 58), ICMPv6 type 136.
		if n < 14+40+32 || binary.BigEndian.Uint16(f[12:]) != 0x86dd || f[14+6] != 58 || f[54] != 136 {
			continue
		}
		flags, target, opt := f[58], net.IP(f[62:78]), f[78:86]
		if flags&0x20 != 0 && target.Equal(net.ParseIP("fd00:77::10")) && opt[0] == 2 &&
			net.HardwareAddr(opt[2:8]).String() == mac && net.IP(f[38:54]).Equal(net.IPv6linklocalallnodes) {
			return
		}
	}
}

// wireTap opens a packet socket on the wire's end of VF 0, with a bound on
// how long a read waits (frames sent during ADD are queued already).
func wireTap(t *testing.T, nd *node) int {
	var fd int
	must(t, nd.wire.Do(func(ns.NetNS) error {
		peer, err := netlink.LinkByName("w0")
		if err != nil {
			return err
		}
		// ETH_P_ALL: w0 is a bridge port, and the bridge consumes frames
		// before protocol-specific sockets would see them.
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: peer.Attrs().Index})
	}))
	tv := syscall.NsecToTimeval(int64(5 * time.Second))
	must(t, syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv))
	return fd
}

// A truncated record must not block DEL or GC: each sets it aside, drops
// its claim and releases the lease.
func TestCorruptRecord(t *testing.T) {
	for _, how := range []string{"DEL", "GC"} {
		t.Run(how, func(t *testing.T) {
			nd := newNode(t, 1)
			pod := nd.pod()
			l := nd.conf("1.1.0", nil)
			r := rt(pod, "c1", "net1")
			_, err := nd.Add(l, r)
			must(t, err)
			rec := filepath.Join(nd.StateDir, "attachments", "fpnet", "c1:net1.json")
			b, err := os.ReadFile(rec)
			must(t, err)
			must(t, os.WriteFile(rec, b[:len(b)/3], 0o600))
			if how == "DEL" {
				must(t, nd.Del(l, r))
			} else {
				must(t, nd.CNI.GCNetworkList(t.Context(), nd.conf("1.1.0", map[string]any{"deviceID": nil}), &libcni.GCArgs{}))
			}
			if got := nd.Leases(); len(got) != 0 {
				t.Errorf("leases = %v", got)
			}
			if _, err := os.Stat(strings.TrimSuffix(rec, ".json") + ".corrupt"); err != nil {
				t.Errorf("record not set aside: %v", err)
			}
			if got := nd.StateFiles(); len(got) != 1 {
				t.Errorf("state = %v, want only the .corrupt file", got)
			}
		})
	}
}

// stdout carries the CNI result and nothing else; the logs go to stderr
// (or logFile) as JSON lines, at debug one per step, each naming the
// container, the interface and the device, with its time in UTC. At info an
// ADD writes one line, which also names the VF.
func TestStdoutOnlyResult(t *testing.T) {
	nd := newNode(t, 1)
	pod := nd.pod()
	conf := nd.conf("1.1.0", map[string]any{"logFile": nil, "logLevel": "debug"}).Plugins[0].Bytes
	var m map[string]any
	must(t, json.Unmarshal(conf, &m))
	m["name"], m["cniVersion"] = "fpnet", "1.1.0"
	stdin, _ := json.Marshal(m)
	run := func(cmd string) (string, string) {
		t.Helper()
		c := exec.Command(filepath.Join(binDir, "fastpath"))
		c.Env = append(os.Environ(), nd.Env(), "CNI_COMMAND="+cmd, "CNI_CONTAINERID=c1", "CNI_NETNS="+pod.Path(),
			"CNI_IFNAME=net1", "CNI_PATH="+binDir)
		c.Stdin = bytes.NewReader(stdin)
		var out, errb bytes.Buffer
		c.Stdout, c.Stderr = &out, &errb
		must(t, c.Run())
		return out.String(), errb.String()
	}
	out, logs := run("ADD")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["cniVersion"] != "1.1.0" {
		t.Fatalf("stdout is not just the result: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) < 4 {
		t.Fatalf("want a log line per step, got:\n%s", logs)
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil || rec["container"] != "c1" || rec["ifname"] != "net1" || rec["deviceID"] != vfPCI {
			t.Errorf("log line without container, ifname and deviceID: %s", l)
		}
		if ts, _ := rec["time"].(string); !strings.HasSuffix(ts, "Z") {
			t.Errorf("log time %q is not in UTC: %s", rec["time"], l)
		}
	}
	if out, _ := run("DEL"); out != "" {
		t.Errorf("DEL wrote to stdout: %q", out)
	}

	m["logLevel"] = "info"
	stdin, _ = json.Marshal(m)
	_, logs = run("ADD")
	lines = strings.Split(strings.TrimSpace(logs), "\n")
	var rec map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &rec) != nil || rec["msg"] != "ADD done" || rec["pf"] == nil || rec["vf"] == nil || rec["mode"] != "kernel" {
		t.Errorf("at info, want one ADD done line naming pf, vf and mode, got:\n%s", logs)
	}
	run("DEL")

	// With logFile the same lines go to that file of the node's log
	// directory, appended, and none to stderr.
	logFile := filepath.Join(nd.Dir, "other.log")
	m["logFile"] = "other.log"
	stdin, _ = json.Marshal(m)
	_, addLogs := run("ADD")
	_, delLogs := run("DEL")
	b, err := os.ReadFile(logFile)
	must(t, err)
	lines = strings.Split(strings.TrimSpace(string(b)), "\n")
	var add, del map[string]any
	if addLogs != "" || delLogs != "" || len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &add) != nil ||
		json.Unmarshal([]byte(lines[1]), &del) != nil || add["msg"] != "ADD done" || del["msg"] != "DEL done" {
		t.Errorf("with logFile, want its ADD done and DEL done lines and an empty stderr, got file:\n%s\nstderr:\n%s%s", b, addLogs, delLogs)
	}
}

// The IPAM plugin gets the runtime's environment, not fastpath's own
// CNI_NETNS_OVERRIDE (which fastpath sets for skel alone): a delegated
// plugin that trusted it would skip its own namespace check.
func TestIPAMEnvironment(t *testing.T) {
	nd := newNode(t, 1)
	dir := t.TempDir()
	dump := filepath.Join(dir, "ipam.env")
	for _, b := range []string{"fastpath", "host-local"} {
		must(t, os.Symlink(filepath.Join(binDir, b), filepath.Join(dir, b)))
	}
	// An IPAM plugin that notes its environment, then is host-local.
	script := "#!/bin/sh\nenv > " + dump + "\nexec " + filepath.Join(binDir, "host-local") + "\n"
	must(t, os.WriteFile(filepath.Join(dir, "env-ipam"), []byte(script), 0o755))
	n := cnitest.NewNet(t, dir)
	n.SetNode("sysfsRoot", nd.sysfs)
	p := n.Plugin("10.77.0.0/24", map[string]any{"deviceID": vfPCI})
	p["ipam"].(map[string]any)["type"] = "env-ipam"
	l := n.List("1.1.0", p)
	r := rt(nd.pod(), "c1", "net1")
	_, err := n.Add(l, r)
	must(t, err)
	must(t, n.Del(l, r))
	b, err := os.ReadFile(dump)
	must(t, err)
	if !strings.Contains(string(b), "CNI_COMMAND=DEL") || strings.Contains(string(b), "CNI_NETNS_OVERRIDE") {
		t.Errorf("the IPAM plugin's environment:\n%s\nwant CNI_COMMAND=DEL and no CNI_NETNS_OVERRIDE", b)
	}
	n.Released(t)
}

// A vhost-user ADD refuses the host's own namespace as the pod's, before it
// makes anything, as a VF's does.
func TestVhostRefusesHostNetNS(t *testing.T) {
	n := cnitest.NewNet(t, binDir)
	src := filepath.Join(n.Dir, "switch", "vhost0.sock")
	listen(t, src)
	l := vhostConf(n, map[string]any{"backend": "provisioned"}, map[string]any{"deviceID": src})
	_, err := n.Add(l, &libcni.RuntimeConf{ContainerID: "c1", NetNS: "/proc/self/ns/net", IfName: "net1"})
	if cniCode(err) != types.ErrInvalidNetNS || !strings.Contains(err.Error(), "host's own namespace") {
		t.Errorf("ADD into the host's namespace = %v, want code 8", err)
	}
	if _, err := os.Stat(filepath.Join(n.Dir, "pods")); !os.IsNotExist(err) {
		t.Errorf("pods directory made: %v", err)
	}
	n.Released(t)
}
